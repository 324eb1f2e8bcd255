"""Steps 6-8 of the demo (:mod:`nnfpga.demo`): the firmware, checked bit for bit against the emulator.

6. The default (16-bit) config's HLS C++ project, compiled with g++ and C-simulated on every test jet.
7. A Verilog design of the 8-bit row of the precision sweep (calibrated, ``ap_fixed<8,3>``) at ReuseFactor 16,
   simulated in Verilator on every test jet.
8. Its Yosys synthesis (``synth_xilinx -family xc7``, coarse step without alumacc: ``synth.yosys_script``): LUT,
   FF, DSP, BRAM; latency and II from the design.

Why 8-bit at ReuseFactor 16: the whole demo should end within about a minute on 2 cores, Yosys included.
Measured on the 2-core development machine (CPU seconds of the Verilator build + simulation of 20,000 jets /
of Yosys 0.23; accuracy of the emulator = Verilator's):

    8-bit, ReuseFactor 16                 9.5 / 15.8 s   5146 LUT  5023 FF  271 DSP   80 cycles, II 16   73.2 %
    8-bit, ReuseFactor 4, 75 % pruned     9.1 / 16.9 s   5491 LUT  3529 FF  303 DSP   33 cycles, II 4    55.6 %
    8-bit, ReuseFactor 4, 50 % pruned     9.8 / 28.8 s   9787 LUT  4379 FF  589 DSP   33 cycles, II 4    72.4 %
    8-bit, ReuseFactor 4                  Yosys 100 s (wall, loaded machine) 10711 LUT 1066 DSP              73.2 %

(the first row with today's lowering and Yosys flow, 2026-12-06; the others from before issue 16's registers.)

Pruning without retraining (:func:`nnfpga.examples.prune_dense`) costs accuracy, so the demo keeps every weight
and shares each multiplier among 16 of them instead. The 16-bit model at ReuseFactor 1 takes 4-9 min in Yosys
(``benchmarks/hardware.py``).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import nnfpga
from nnfpga import tools
from nnfpga.errors import ToolNotFoundError
from nnfpga.model import format_table

if TYPE_CHECKING:
    from nnfpga.reports import HardwareReport

CALIBRATION_ROWS = 5000  # jets whose ranges the calibrated configs follow
RTL_PRECISION = "ap_fixed<8,3>"
RTL_REUSE = 16
RTL_PROJECT = "jet"
SYNTH_TARGET = "xc7"


@dataclass
class DemoResult:
    """What a demo run produced: the project directories, each bit-exact check as (engine, differing samples,
    samples), the Yosys report (None when Yosys is missing), the missing tools' messages, the wall time."""

    projects: list[Path] = field(default_factory=list)
    checks: list[tuple[str, int, int]] = field(default_factory=list)
    report: HardwareReport | None = None
    missing: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def bit_exact(self) -> bool:
        return all(differ == 0 for _, differ, _ in self.checks)


def _tool(name: str, result: DemoResult) -> bool:
    """Whether tool ``name`` is installed; when not, print and record how to install it."""
    try:
        tools.find(name)
    except ToolNotFoundError as exc:
        print(f"   skipped: {exc}")
        result.missing.append(str(exc))
        return False
    return True


def _check(engine: str, y_engine: np.ndarray, y_emu: np.ndarray, result: DemoResult, seconds: float) -> None:
    """Count the jets whose outputs differ from the emulator's in any bit, record and print it."""
    differ = int(np.count_nonzero(np.any(y_engine.reshape(len(y_engine), -1) != y_emu.reshape(len(y_emu), -1),
                                         axis=1)))
    result.checks.append((engine, differ, len(y_emu)))
    verdict = "bit-exact" if differ == 0 else "NOT BIT-EXACT"
    print(f"   {engine} vs emulator: {differ:,} of {len(y_emu):,} jets differ ({verdict}; {seconds:.1f} s)")


def firmware_steps(model: Any, x: np.ndarray, y: np.ndarray, hw: nnfpga.HWModel, rtl_dir: Path, result: DemoResult,
                   *, progress: bool | None = None) -> None:
    """Steps 6-8 (see the module doc): ``hw`` is the default config's model (backend vitis, written to its
    ``output_dir``); the Verilog design goes to ``rtl_dir``. Fills ``result``."""
    if progress is None:
        progress = sys.stderr.isatty()
    y_emu = hw.predict(x)
    print(f"\n6. HLS C++ firmware (Vitis HLS project) of the default config -> {hw.output_dir}/")
    if _tool("g++", result):
        t = time.perf_counter()
        hw.compile()
        print(f"   written and compiled with g++ in {time.perf_counter() - t:.1f} s: "
              f"{hw.output_dir}/build/lib{hw.settings['project_name']}.so")
        t = time.perf_counter()
        _check("C simulation (g++)", hw.predict(x, engine="csim"), y_emu, result, time.perf_counter() - t)
    else:
        hw.write()
        print(f"   written, not compiled: {hw.output_dir}/firmware/{hw.settings['project_name']}.cpp")
    result.projects.append(hw.output_dir)
    print(f"   Vitis HLS synthesis, where vitis_hls is installed: nnfpga build {hw.output_dir}")

    print(f"\n7. Verilog firmware of the sweep's {RTL_PRECISION} row at ReuseFactor {RTL_REUSE} -> {rtl_dir}/")
    cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision=RTL_PRECISION,
                                         default_reuse_factor=RTL_REUSE, calibration_data=x[:CALIBRATION_ROWS])
    hv = nnfpga.convert_from_keras_model(model, hls_config=cfg, output_dir=rtl_dir, backend="verilog",
                                         project_name=RTL_PROJECT)
    hv.write()
    result.projects.append(rtl_dir)
    yv = hv.predict(x)
    print(f"   accuracy {np.mean(yv.argmax(1) == y):.2%} (emulator); design {rtl_dir}/rtl/{RTL_PROJECT}.v")
    if _tool("verilator", result):
        print(f"   building with Verilator and simulating {len(x):,} jets ...", flush=True)
        t = time.perf_counter()
        _check("Verilator simulation", hv.predict(x, engine="rtl"), yv, result, time.perf_counter() - t)

    print(f"\n8. Synthesis of the Verilog with Yosys ({SYNTH_TARGET}: cell counts before place and route)")
    if _tool("yosys", result):
        t = time.perf_counter()
        r = hv.synthesize(SYNTH_TARGET, progress=progress)
        result.report = r
        print(f"   {r.tool}, {time.perf_counter() - t:.1f} s; saved {rtl_dir}/reports/{SYNTH_TARGET}.json")
        print(resource_table(r))


def resource_table(r: HardwareReport) -> str:
    """One row: LUT, FF, DSP, BRAM (18 kb), latency in cycles and ns, II."""
    def num(v: Any) -> str:
        return "-" if v is None else f"{v:,.0f}" if isinstance(v, float) else f"{v:,}"

    return format_table([("LUT", "FF", "DSP", "BRAM 18k", "latency [cycles]", "latency [ns]", "II [cycles]"),
                         tuple(num(v) for v in (r.lut, r.ff, r.dsp, r.bram_18k, r.latency_cycles, r.latency_ns,
                                                r.ii))])
