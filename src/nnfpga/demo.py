"""``make demo`` / ``nnfpga demo``: the bundled jet-tagging MLP from Keras to bit-exact firmware.

Steps 1-5 convert and emulate (NumPy only); steps 6-8 (:mod:`nnfpga.demo_firmware`) write the firmware and
check it bit for bit against the emulator with the real tools: the HLS C++ project C-simulated with g++, the
Verilog design simulated in Verilator and synthesized with Yosys. A missing tool skips what needs it, says how
to install it, and the rest still runs.

Everything goes under ``output_dir`` (default ``demo_out/``), one project directory per backend, each written
atomically (:func:`nnfpga.project.write_atomic`): a rerun replaces the demo's own projects, and a directory of
the same name that is not an nnfpga project stops the demo before any work, untouched.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import nnfpga
from nnfpga.demo_firmware import CALIBRATION_ROWS, DemoResult, firmware_steps
from nnfpga.errors import OutputDirError, OverflowWarning
from nnfpga.model import format_table
from nnfpga.project import is_project

if TYPE_CHECKING:
    pass

SWEEP = ("ap_fixed<16,6>", "ap_fixed<12,4>", "ap_fixed<10,4>", "ap_fixed<8,3>", "ap_fixed<6,2>")
HLS_DIR = "jet_hls"  # the default (16-bit) config's HLS project
RTL_DIR = "jet_rtl"  # the 8-bit Verilog design (demo_firmware.RTL_PRECISION, RTL_REUSE)


def run_demo(output_dir: str | Path = "demo_out", *, progress: bool | None = None) -> DemoResult:
    """Run the demo, printing each step; the projects go to ``output_dir/jet_hls`` and ``output_dir/jet_rtl``.
    ``progress``: elapsed-time bars on the tool runs (default: when stderr is a terminal). Raises
    :class:`OutputDirError` before any work when either directory exists, is not empty and is not a project."""
    from nnfpga.examples import load_example

    root = Path(output_dir)
    for name in (HLS_DIR, RTL_DIR):
        d = root / name
        if d.exists() and (not d.is_dir() or (any(d.iterdir()) and not is_project(d))):
            raise OutputDirError(f"{str(d)!r} exists and is not an nnfpga project: the demo replaces only its own "
                                 f"output; move it away or run the demo with another --output-dir")
    result = DemoResult()
    t0 = time.perf_counter()
    model, x, y = load_example()
    print(f"Model: jet-tagging MLP 16->64->32->32->5 (ReLU, softmax), {model.count_params()} parameters; "
          f"{len(x):,} test jets (synthetic, nnfpga.datasets.make_jets). Loaded in {time.perf_counter() - t0:.1f} s.")
    y_keras = model.predict(x, verbose=0)
    hw = emulator_steps(model, x, y, y_keras, root / HLS_DIR)
    firmware_steps(model, x, y, hw, root / RTL_DIR, result, progress=progress)
    result.seconds = time.perf_counter() - t0
    print_outcome(result)
    return result


def emulator_steps(model: object, x: np.ndarray, y: np.ndarray, y_keras: np.ndarray, hls_dir: Path) -> nnfpga.HWModel:
    """Steps 1-5: the default config, bit-exact emulation, overflow, trace, precision sweep. Returns the default
    config's model (backend vitis, to be written to ``hls_dir``)."""
    print('\n1. Default config: config_from_keras_model(model, granularity="name") -- no other argument')
    config = nnfpga.config_from_keras_model(model, granularity="name")
    hw = nnfpga.convert_from_keras_model(model, hls_config=config, output_dir=hls_dir, backend="vitis")
    print(hw.summary())

    t = time.perf_counter()
    y_fixed = hw.predict(x)
    dt = time.perf_counter() - t
    agree = np.mean(y_fixed.argmax(1) == y_keras.argmax(1))
    print(f"\n2. Bit-exact emulation of {len(x):,} jets in {dt * 1e3:.0f} ms ({len(x) / dt:,.0f} samples/s)")
    acc_float, acc_fixed = np.mean(y_keras.argmax(1) == y), np.mean(y_fixed.argmax(1) == y)
    print(f"   accuracy: float (Keras) {acc_float:.2%}   fixed {acc_fixed:.2%}   argmax agreement {agree:.2%}")
    print("\n3. Overflow per layer (values wrapped or saturated):")
    print(hw.overflow_table())

    print("\n4. Per-layer trace (first 1000 jets): fixed vs float of the same graph")
    print(hw.trace(x[:1000]).table())

    print(f"\n5. Precision sweep, with the ranges calibrated on {CALIBRATION_ROWS} training-like jets:")
    rows = [("default precision", "accuracy", "agreement", "overflowed values")]
    for prec in SWEEP:
        cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision=prec,
                                             calibration_data=x[:CALIBRATION_ROWS])
        h = nnfpga.convert_from_keras_model(model, hls_config=cfg)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OverflowWarning)
            yp = h.predict(x)
        n_ov = sum(o.count for o in h.last_stats.overflow.values()) if h.last_stats else 0
        rows.append((prec, f"{np.mean(yp.argmax(1) == y):.2%}", f"{np.mean(yp.argmax(1) == y_keras.argmax(1)):.2%}",
                     str(n_ov)))
    print(format_table(rows))
    return hw


def print_outcome(result: DemoResult) -> None:
    """The closing lines: every file written, every bit-exact check, the missing tools, the wall time."""
    print("\nWritten:")
    for prj in result.projects:
        by_dir: dict[str, list[str]] = {}
        for p in sorted(prj.rglob("*")):
            if p.is_file():
                rel = p.relative_to(prj)
                by_dir.setdefault(f"{rel.parent.as_posix()}/", []).append(rel.name)
        print(f"  {prj}/  ({sum(map(len, by_dir.values()))} files)")
        width = max(len(d) for d in by_dir)
        print("\n".join(f"    {d.ljust(width)}  {', '.join(names)}" for d, names in sorted(by_dir.items())))
    print("Bit-exact checks against the emulator:")
    for engine, differ, total in result.checks:
        print(f"  {engine}: {differ:,} of {total:,} jets differ{'' if differ == 0 else '  <-- NOT BIT-EXACT'}")
    if not result.checks:
        print("  none ran (tools missing)")
    if result.missing:
        print("Skipped, tools missing (`make setup` installs them: scripts/install-tools.sh):")
        print("\n".join(f"  {m}" for m in result.missing))
    print(f"Done in {result.seconds:.1f} s.")
