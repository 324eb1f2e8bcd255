#!/usr/bin/env python3
"""Differential fuzzing beyond the suite's fixed corpus: N random models (tests/fuzz/strategies.py) through the
emulator, the generated C++ (g++) and the Verilog (Verilator), compared bit for bit on inputs that include the
extreme representable values. Every failing case is saved under tests/fuzz/regressions/ (graph + inputs), where
tests/fuzz/test_regressions.py replays it.

    python scripts/fuzz.py -n 500                      # emulator + csim (the default engines)
    python scripts/fuzz.py -n 40 --engines rtl         # the Verilator slice (ReuseFactor 1, Latency models)
    python scripts/fuzz.py -n 500 --seed 10000 --inputs 5000 --jobs 2
    python scripts/fuzz.py -n 100 --kind cnn           # random Keras CNNs (emulator + csim)
    python scripts/fuzz.py -n 30 --kind cnn --engines rtl --rtl-models 30   # CNNs through the streaming Verilog
    AP_TYPES_DIR=/path/to/xilinx/ap_types python scripts/fuzz.py --engines csim   # csim with Xilinx's headers

Engines: ``emulator`` checks the emulator's fast paths against its literal per-input semantics, ``csim``
the C++ against the emulator, ``rtl`` every layer of the Verilog against the emulator. Seeds are
``--seed .. --seed + N - 1``; the suite's corpus is seeds 0..199, so use another range to explore.
Exit status: 0 without mismatch, 1 with.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# tests/ first, and not this script's own directory (where "fuzz" would be this file, not tests/fuzz/)
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(ROOT / "tests"), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]
os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from fuzz.engines import REGRESSIONS, Mismatch, check_csim, check_emulator, check_rtl, save_regression  # noqa: E402
from fuzz.strategies import KNOWN_BUGS, FuzzCase, case_from_seed, graph_case_from_seed, inputs_for  # noqa: E402

ENGINES = ("emulator", "csim", "rtl")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("-n", "--models", type=int, default=100, help="random models per engine (default 100)")
    p.add_argument("--seed", type=int, default=1000, help="first seed (default 1000; the suite uses 0..199)")
    p.add_argument("--inputs", type=int, default=1000, help="input rows per model (default 1000, at least 64)")
    p.add_argument("--engines", default="emulator,csim",
                   help="comma-separated, from emulator,csim,rtl (default emulator,csim)")
    p.add_argument("--rtl-models", type=int, default=None,
                   help="models for the rtl engine (default: --models / 25, at least 1): Verilator builds are slow")
    p.add_argument("--kind", choices=KINDS, default="both",
                   help="mlp: chains (case_from_seed); graph: merges, concatenations, per-channel batch-norm, "
                        "transposes (graph_case_from_seed); both (default): odd seeds graphs, even seeds chains; "
                        "cnn: random Keras CNNs (tests/fuzz/cnn.py; rtl: those the streaming Verilog top builds, the "
                        "others counted as skipped with their reasons and replaced by a CNN of its layers)")
    p.add_argument("--jobs", type=int, default=2, help="parallel g++ compilations (default 2)")
    p.add_argument("--batch", type=int, default=32, help="models compiled per round (default 32)")
    p.add_argument("--regressions", type=Path, default=REGRESSIONS, help=f"where failing cases go ({REGRESSIONS})")
    p.add_argument("--no-save", action="store_true", help="do not save failing cases")
    args = p.parse_args(argv)
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    bad = [e for e in args.engines if e not in ENGINES]
    if bad or not args.engines:
        p.error(f"unknown engine(s) {', '.join(bad) or '(none)'}; choose from {', '.join(ENGINES)}")
    if args.models < 1 or args.inputs < 64 or args.jobs < 1 or args.batch < 1:
        p.error("--models, --jobs and --batch must be >= 1 and --inputs >= 64")
    if args.rtl_models is None:
        args.rtl_models = max(1, args.models // 25)
    return args


KINDS = ("mlp", "graph", "both", "cnn")


def make_case(seed: int, kind: str, *, rtl: bool = False) -> FuzzCase:
    if kind == "cnn":
        from fuzz.cnn import cnn_case_from_seed  # imports Keras: only for this kind

        return cnn_case_from_seed(seed, rtl=rtl)
    graph = kind == "graph" or (kind == "both" and seed % 2)
    return graph_case_from_seed(seed, rtl=rtl) if graph else case_from_seed(seed, rtl=rtl)


def inputs(case: FuzzCase, n: int) -> np.ndarray:
    return inputs_for(case.graph, n, np.random.default_rng([case.seed or 0, 1]))


def rtl_case(seed: int, kind: str, skipped: Counter[str]) -> FuzzCase:
    """The model the rtl engine runs for ``seed``. A CNN as drawn when the streaming Verilog top builds it; else its
    reasons are counted in ``skipped`` (once per model) and the seed's rtl-mode CNN (of the layers it builds) runs."""
    if kind != "cnn":
        return make_case(seed, kind, rtl=True)
    from nnfpga.backends.rtl.stream import stream_problems

    case = make_case(seed, kind)
    problems = stream_problems(case.graph)
    if not problems:
        return case
    skipped["(models)"] += 1
    skipped.update({re.sub(r"^ReuseFactor \d+", "ReuseFactor > 1", p.split(": ", 1)[-1]).split(" (supported:")[0]
                    for p in problems})
    return make_case(seed, kind, rtl=True)


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    found: list[Mismatch] = []
    errors: list[str] = []
    totals = {e: [0, 0] for e in args.engines}  # engine -> [models, input rows]
    skipped: Counter[str] = Counter()  # CNNs the streaming Verilog top cannot build: "(models)" and each reason
    with tempfile.TemporaryDirectory(prefix="nnfpga-fuzz-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        work = Path(tmp)
        seeds = list(range(args.seed, args.seed + args.models))
        if "emulator" in args.engines or "csim" in args.engines:
            bar = tqdm(total=len(seeds), desc="emulator/csim", unit="model")
            for start in range(0, len(seeds), args.batch):
                cases = [make_case(s, args.kind) for s in seeds[start:start + args.batch]]
                xs = [inputs(c, args.inputs) for c in cases]
                if "emulator" in args.engines:
                    for c, x in zip(cases, xs, strict=True):
                        mm = check_emulator(c, x)
                        found += [mm] if mm else []
                    totals["emulator"][0] += len(cases)
                    totals["emulator"][1] += len(cases) * args.inputs
                if "csim" in args.engines:
                    try:
                        found += check_csim(cases, xs, work / f"batch{start}", jobs=args.jobs)
                    except Exception as exc:  # a crash is a finding too: report it, keep fuzzing
                        errors.append(f"csim, seeds {cases[0].seed}..{cases[-1].seed}: {type(exc).__name__}: {exc}")
                    totals["csim"][0] += len(cases)
                    totals["csim"][1] += len(cases) * args.inputs
                bar.update(len(cases))
                bar.set_postfix(mismatches=len(found), errors=len(errors))
            bar.close()
        if "rtl" in args.engines:
            for seed in tqdm(range(args.seed, args.seed + args.rtl_models), desc="rtl", unit="model"):
                try:
                    case = rtl_case(seed, args.kind, skipped)
                    mm = check_rtl(case, inputs(case, args.inputs), work / "rtl-cache")
                    found += [mm] if mm else []
                except Exception as exc:
                    errors.append(f"rtl, seed {seed}: {type(exc).__name__}: {str(exc)[:500]}")
                totals["rtl"][0] += 1
                totals["rtl"][1] += args.inputs
    elapsed = time.perf_counter() - t0
    saved = [] if args.no_save else [save_regression(m, args.regressions) for m in found]
    print(f"\nfuzz: seeds from {args.seed}, {args.inputs} inputs per model, {elapsed:.1f} s")
    for engine, (models, rows) in totals.items():
        n_bad = sum(m.engine == engine for m in found)
        n_err = sum(e.startswith(f"{engine},") for e in errors)
        print(f"  {engine:<8} {models:>5} models  {rows:>9,} inputs  {n_bad} mismatching  {n_err} errors")
    if skipped:
        print(f"  rtl: {skipped['(models)']} of {totals['rtl'][0]} CNNs as drawn are not built by the streaming "
              f"Verilog top (each replaced by the seed's CNN of the layers it builds); reasons (models):")
        for reason, count in skipped.most_common():
            if reason != "(models)":
                print(f"    {count:>4}  {reason}")
    for m in found:
        print(f"MISMATCH {m.message()}")
    for e in errors:
        print(f"ERROR {e}")
    for p in saved:
        print(f"saved regression case: {p}")
    if KNOWN_BUGS:
        print("known bugs (tests/fuzz/strategies.py KNOWN_BUGS): " + ", ".join(KNOWN_BUGS))
    return 1 if found or errors else 0


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
