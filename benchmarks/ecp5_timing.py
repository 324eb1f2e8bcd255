"""Issue 16's ECP5 check: designs whose registers were placed by ECP5's delay model for a clock target, placed and
routed by nextpnr-ecp5 (LFE5U-85F, speed 6), the measured critical path beside the model's estimate.

Cases: ``dense8`` (a 16x8 Dense+ReLU layer, ap_fixed<8,3>), ``jet8p`` (the jet MLP at ap_fixed<8,3>, 75 % of each
Dense kernel pruned, with its softmax) and ``fc2p`` (that model's 64x32 fc2 + ReLU alone: a mid-size layer). For
each case and clock period it prints the latency (cycles and ns), the estimated critical path (where it ends),
nextpnr's Fmax and critical path, and the estimate's error. Exit 1 when a measured Fmax misses its target or an
estimate is off by more than ``--tolerance`` (default 15 %).

    PYTHONPATH=src .venv/bin/python benchmarks/ecp5_timing.py [--case dense8|jet8p|fc2p ...] [--period 10 ...]

The 16x8 layer takes a few minutes a period, fc2p about 5, the pruned jet MLP 10-40 min (synthesis and routing,
2 cores shared).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

import nnfpga
from nnfpga.backends.rtl.lower import build_design
from nnfpga.examples import load_example, prune_dense
from nnfpga.model import format_table
from nnfpga.reports.hardware import path_line

CASES = ("dense8", "jet8p", "fc2p")


def case_hw(case: str, period: float) -> nnfpga.HWModel:
    if case == "dense8":
        import keras

        keras.utils.set_random_seed(3)
        model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(8, activation="relu", name="fc")], name="d8")
    else:
        model, _, _ = load_example()
        prune_dense(model, 0.75)
        if case == "fc2p":  # the pruned jet's 64x32 fc2 (+ ReLU) alone: a mid-size layer
            import keras

            w, b = model.get_layer("fc2").get_weights()
            model = keras.Sequential([keras.Input((w.shape[0],)), keras.layers.Dense(w.shape[1], activation="relu",
                                                                                     name="fc2")], name="fc2p")
            model.get_layer("fc2").set_weights([w, b])
    cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision="ap_fixed<8,3>")
    return nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog", project_name=case,
                                           clock_period=period)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="ecp5_timing.py", description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", choices=CASES, help="a case (repeatable; default: all)")
    ap.add_argument("--period", action="append", type=float, help="clock period in ns (repeatable; default 10, 6.7)")
    ap.add_argument("--tolerance", type=float, default=15.0, help="largest estimate error allowed, %% (default 15)")
    args = ap.parse_args(argv)
    cases, periods = args.case or list(CASES), args.period or [10.0, 6.7]
    rows = [("design", "clock [ns]", "latency [cyc / ns]", "estimate [ns] (where)", "nextpnr [ns]", "Fmax [MHz]",
             "error", "met", "LUT4 + CCU2C / FF / DSP", "time [s]")]
    bad = []
    for case in cases:
        for period in periods:
            hw = case_hw(case, period)
            d = build_design(hw.graph, case, prep=hw.interpreter.prep, clock_period=period, target="ecp5")
            t = time.perf_counter()
            r = hw.synthesize("ecp5", save=False, design=d, progress=False)
            meas = 1000.0 / r.fmax_mhz if r.fmax_mhz else float("nan")
            err = 100.0 * (d.critical_path_ns - meas) / meas
            met = r.fmax_mhz is not None and r.fmax_mhz >= 1000.0 / period - 1e-6
            rows.append((case, f"{period:g}", f"{d.latency} / {d.latency_ns:g}",
                         f"{d.critical_path_ns:.2f} ({d.critical_where})", f"{meas:.2f}", f"{r.fmax_mhz:.1f}",
                         f"{err:+.1f} %", "yes" if met else "NO",
                         f"{r.lut} + {int(r.extra.get('carry', 0))} / {r.ff} / {r.dsp}",
                         f"{time.perf_counter() - t:.0f}"))
            if not met or abs(err) > args.tolerance:
                bad.append(f"{case} at {period:g} ns: Fmax {r.fmax_mhz:.1f} MHz, estimate off by {err:+.1f} %")
            print(format_table(rows[-1:]), flush=True)
            if r.critical_path:
                print(f"  nextpnr's critical path: {path_line(r.critical_path)}", flush=True)
    print(format_table(rows))
    for b in bad:
        print("MISSED:", b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
