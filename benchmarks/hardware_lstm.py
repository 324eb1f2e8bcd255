"""LSTM rows of ``benchmarks/hardware.py`` (issue 15): the Verilog backend's sequential recurrent datapath through
Yosys.

The model is issue 15's LSTM (``benchmarks/lstm_cases.py``: 20 steps x 6 features, LSTM 20 units, Dense 5,
softmax; random weights), converted with the Verilog backend in two forms:

- ``default``: the default config (``config_from_keras_model(granularity="name")``); ``AddersPerStage`` 1 places
  registers inside a time step as in a Dense, so a step takes K cycles (the design states K);
- ``comb``: the same with ``AddersPerStage: null`` on the LSTM: one step per cycle (K = 1), a long combinational
  step;
- ``reuse``: the default config with ``ReuseFactor`` 6 and ``RecurrentReuseFactor`` 20 on the LSTM (hls4ml's keys):
  each cell product folded onto 80 multipliers used 6 or 20 times a step, so a step takes longer.

Columns: Yosys ``synth_xilinx -family xc7 -flatten`` cells (LUT, FF, DSP48E1, BRAM in 18 kb units), LUT + 55*DSP,
LUT + FF/2 + 55*DSP, cycles per sequence (the II) and the latency of one sequence as the design states them
(Verilator measures the same, ``tests/backends/rtl/test_rtl_recurrent.py``), and the seconds in Yosys; with
``--ecp5``, nextpnr-ecp5's Fmax and the time per sequence at it. Finished rows are cached in
``benchmarks/.hardware-cache/lstm_<VERSION>_<form>_<target>.json`` (``--fresh`` redoes them).
Run: .venv/bin/python benchmarks/hardware.py lstm [--fresh] [--ecp5] [FORM ...] (FORM: default, comb, reuse).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

VERSION = "v1"  # of the recurrent Verilog lowering: cached rows of an older one are not reused
FORMS = {"default": "default config (AddersPerStage 1)", "comb": "AddersPerStage null on the LSTM (K = 1)",
         "reuse": "ReuseFactor 6, RecurrentReuseFactor 20 on the LSTM"}
CACHE = Path(__file__).with_name(".hardware-cache")


def convert(form: str) -> Any:
    """The HWModel (Verilog backend) of the issue's LSTM in ``form``."""
    import keras

    import nnfpga

    sys.path.insert(0, str(Path(__file__).parent))
    import lstm_cases

    model = lstm_cases.lstm_model(keras)
    cfg = nnfpga.config_from_keras_model(model, granularity="name")
    if form == "comb":
        cfg["LayerName"]["lstm"]["AddersPerStage"] = None
    if form == "reuse":
        cfg["LayerName"]["lstm"].update(ReuseFactor=6, RecurrentReuseFactor=20)
    return nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog", project_name=f"lstm_{form}",
                                           output_dir=tempfile.mkdtemp(prefix="nnfpga-bench-"))


def report(form: str, target: str, fresh: bool, cached: Callable[[str, Callable[[], Any]], Any]) -> Any:
    """The HardwareReport of ``form`` on ``target`` through ``hardware.py``'s ``cached`` (a string says why there is
    none); ``fresh`` redoes it."""
    key = f"lstm_{VERSION}_{form}_{target}"
    if fresh:
        (CACHE / f"{key}.json").unlink(missing_ok=True)
    return cached(key, lambda: convert(form).synthesize(target, save=False, progress=False))


def main(argv: list[str], cached: Callable[[str, Callable[[], Any]], Any]) -> None:
    """The rows; ``cached`` is ``hardware.py``'s (one cache folder, one error convention)."""
    import argparse

    from nnfpga import tools
    from nnfpga.model import format_table

    ap = argparse.ArgumentParser(prog="hardware.py lstm", description="The LSTM rows: Yosys synth_xilinx (and "
                                 "with --ecp5 nextpnr-ecp5) of issue 15's LSTM in the Verilog backend.")
    ap.add_argument("forms", nargs="*", metavar="FORM", help=f"the forms (default: all): {', '.join(FORMS)}")
    ap.add_argument("--fresh", action="store_true", help="redo the forms even where a cached result exists")
    ap.add_argument("--ecp5", action="store_true", help="also place and route on ECP5 (Fmax)")
    args = ap.parse_args(argv)
    fresh, ecp5 = args.fresh, args.ecp5
    forms = args.forms or list(FORMS)
    unknown = [f for f in forms if f not in FORMS]
    if unknown:
        ap.error(f"unknown form(s) {', '.join(unknown)}; expected some of {', '.join(FORMS)}")
    rows = [("design", "LUT", "FF", "DSP", "BRAM18", "LUT+55*DSP", "LUT+FF/2+55*DSP", "II [cycles/sequence]",
             "latency [cycles]", "synth [s]", *(("Fmax ECP5 [MHz]", "ns/sequence at Fmax") if ecp5 else ()))]
    for form in forms:
        r = report(form, "xc7", fresh, cached)
        label = f"nnfpga LSTM(20) 20x6 + Dense 5 + softmax, {FORMS[form]}"
        if isinstance(r, str):
            rows.append((label, r[:70], *[""] * (len(rows[0]) - 2)))
            continue
        cells = (str(r.lut), str(r.ff), str(r.dsp), str(r.bram_18k or 0), str(r.lut + 55 * r.dsp),
                 str(round(r.lut + r.ff / 2 + 55 * r.dsp)), str(r.ii), str(r.latency_cycles),
                 f"{r.extra.get('synth_s', 0):.0f}")
        if ecp5:
            e = report(form, "ecp5", fresh, cached)
            cells += (e[:40], "") if isinstance(e, str) else (f"{e.fmax_mhz:.1f}", f"{r.ii * 1000 / e.fmax_mhz:.0f}")
        rows.append((label, *cells))
    print(f"issue 15's LSTM in the Verilog backend (sequential datapath: the sequence latched, one time step every K "
          f"cycles); {tools.version(tools.find('yosys'), '-V')} synth_xilinx -family xc7 -flatten")
    print(format_table(rows))
    print("hls4ml 1.3 publishes no LSTM resource figures to set beside these; its C simulation is compared in "
          "benchmarks/emulate.py lstm")
