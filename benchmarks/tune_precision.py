"""Automatic per-layer precision vs the best uniform precision, on the jet-tagging MLP (16-64-32-32-5 + softmax).

Data: the search set is ``make_jets(N, seed=7)`` (N = 100,000 by default) standardized like the bundled model's
training data (jets the model never saw); the test set is :func:`nnfpga.examples.load_example`'s 20,000 test
jets. The budget (default: the accuracy may drop 0.1 percentage point below the float model's) is met on the
search set by construction and checked on the test set.

Rows: the start config (16 bits, result integer bits calibrated on the search set), the cheapest uniform
``ap_fixed<W,calibrated>`` (every weight, bias and result type W bits with the calibrated integer bits) and
``ap_fixed<W,I>`` (every such type exactly that, W in 2..16, I in 0..W) meeting the budget on the search set,
and ``nnfpga.tune.precision``'s per-layer result, each with the same margin (1 standard error by default); and,
for reference, the cheapest uniform type of both sweeps whose accuracy on the *test* set meets the budget (an
oracle: chosen with the test set, which no search can use). Cost: the search's estimate (:mod:`nnfpga.tune.cost`) and,
unless ``--no-synth``, Yosys 0.23 ``synth_xilinx -family xc7`` of the Verilog backend's design, LUT + 55 x DSP
(about 2-3 minutes per design here).

Run: .venv/bin/python benchmarks/tune_precision.py [--samples N] [--max-drop F | --min-agreement F] [--margin Z]
[--strategy efficiency|saving] [--no-synth]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")

import nnfpga
from nnfpga.datasets import make_jets, standardize
from nnfpga.examples import DEFAULT_JET_MODEL, jet_norm_path, load_example
from nnfpga.model import format_table
from nnfpga.tune.search import MARGIN, STRATEGIES


def search_set(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    with np.load(jet_norm_path(DEFAULT_JET_MODEL)) as norm:
        x, y = make_jets(n, seed=seed)
        x, _, _ = standardize(x, norm["mean"], norm["std"])
    return x.astype(np.float32), y


def test_metrics(model, cfg: dict, x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, int]:
    """Float accuracy, fixed accuracy, argmax agreement, overflowing values on the test set."""
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        fixed = hw.predict(x).argmax(1)
    ref = hw.predict_float(x).argmax(1)
    overflow = sum(o.count for o in hw.last_stats.overflow.values())
    return float(np.mean(ref == y)), float(np.mean(fixed == y)), float(np.mean(fixed == ref)), overflow


def synth(model, cfg: dict) -> tuple[int, int, float]:
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog")
    r = hw.synthesize("xc7", save=False, progress=sys.stderr.isatty())
    return r.lut, r.dsp, r.extra.get("synth_s", 0.0)


def oracle_uniform(model, rows: list, x: np.ndarray, y: np.ndarray, args: argparse.Namespace):
    """The cheapest uniform row whose test-set accuracy (or agreement) meets the budget, margin 0."""
    for row in sorted(rows, key=lambda r: r.cost):
        f_acc, t_acc, t_agr, _ = test_metrics(model, row.config, x, y)
        if (t_agr >= args.min_agreement if args.min_agreement is not None else f_acc - t_acc <= args.max_drop):
            return row
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100_000, help="search-set size (default 100000)")
    budget = ap.add_mutually_exclusive_group()
    budget.add_argument("--max-drop", type=float, default=0.001, help="max_accuracy_drop (default 0.001)")
    budget.add_argument("--min-agreement", type=float, default=None, help="budget the argmax agreement instead")
    ap.add_argument("--margin", type=float, default=MARGIN, help="standard errors (default 1)")
    ap.add_argument("--strategy", default="efficiency", choices=STRATEGIES, help="the search's (default efficiency)")
    ap.add_argument("--no-synth", action="store_true", help="cost model only (no Yosys)")
    args = ap.parse_args()

    model, x_test, y_test = load_example()
    x, y = search_set(args.samples)
    kw = {"max_accuracy_drop": args.max_drop, "min_agreement": args.min_agreement, "margin": args.margin}
    t = time.perf_counter()
    cfg_tuned, res = nnfpga.tune.precision(model, x, y, strategy=args.strategy, **kw)
    t_search = time.perf_counter() - t
    t = time.perf_counter()
    cfg_cal, uni_cal = nnfpga.tune.uniform(model, x, y, **kw)
    cfg_plain, uni_plain = nnfpga.tune.uniform(model, x, y, integer_bits=range(0, 17), **kw)
    t_uniform = time.perf_counter() - t
    print(f"search set: make_jets({args.samples}, seed=7); test set: load_example() (20,000 jets); "
          f"budget on the search set: {res.budget}")
    print(f"precision search ({args.strategy}): {len(res.history) - 1} steps, {res.history[-1].evaluations} "
          f"emulations, {t_search:.1f} s; uniform sweeps: {len(uni_cal.rows) + len(uni_plain.rows)} types, "
          f"{t_uniform:.1f} s\n")
    print(res.table(), "\n")

    cfg_start = nnfpga.config_from_keras_model(model, granularity="name", calibration_data=x)
    rows = [("start: 16 bits, calibrated", res.start_cost, res.history[0].accuracy, res.history[0].agreement,
             cfg_start),
            (f"uniform {uni_cal.best.name}", uni_cal.best.cost, uni_cal.best.accuracy, uni_cal.best.agreement,
             cfg_cal),
            (f"uniform {uni_plain.best.name}", uni_plain.best.cost, uni_plain.best.accuracy,
             uni_plain.best.agreement, cfg_plain),
            ("nnfpga.tune.precision", res.cost, res.accuracy, res.agreement, cfg_tuned)]
    oracle = oracle_uniform(model, [*uni_cal.rows, *uni_plain.rows], x_test, y_test, args)
    if oracle is not None:
        rows.insert(3, (f"oracle uniform {oracle.name}", oracle.cost, oracle.accuracy, oracle.agreement,
                        oracle.config))
    head = ("design", "est. cost", "search acc", "search agree", "test acc (float)", "test drop", "test agree",
            "test overflow")
    table = [head]
    synth_rows = [("design", "LUT", "DSP", "LUT+55*DSP", "yosys s")]
    for name, cost, acc, agr, cfg in rows:
        f_acc, t_acc, t_agr, ov = test_metrics(model, cfg, x_test, y_test)
        table.append((name, f"{cost:,.0f}", f"{acc:.4%}", f"{agr:.4%}", f"{t_acc:.4%} ({f_acc:.4%})",
                      f"{f_acc - t_acc:+.4%}", f"{t_agr:.4%}", str(ov)))
        if not args.no_synth and not name.startswith("start"):  # the 16-bit design: 180k LUTs, long
            lut, dsp, s = synth(model, cfg)
            synth_rows.append((name, str(lut), str(dsp), f"{lut + 55 * dsp:,}", f"{s:.0f}"))
    print(format_table(table), "\n")
    print(format_table(synth_rows) if len(synth_rows) > 1 else "(Yosys not run: --no-synth)")
    best_uniform = min(uni_cal.best.cost, uni_plain.best.cost)
    print(f"\nestimated cost: tuned {res.cost:,.0f} vs best uniform {best_uniform:,.0f} "
          f"({1 - res.cost / best_uniform:.1%} lower)"
          + (f"; oracle uniform {oracle.cost:,.0f} ({1 - res.cost / oracle.cost:.1%} lower)" if oracle else ""))
    print("\nchosen precisions:\n" + str(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
