"""Issue 15's acceptance: emulator = C simulation (both modes) = Verilator, 0 mismatches on >= 2,000 sequences each.

For each of the issue's four recurrent models (``recurrent_cases.ISSUE``: the LSTM 20 steps x 6 features, 20 units,
Dense 5 + softmax; a GRU with return_sequences into a second GRU; a SimpleRNN; a Bidirectional LSTM; seeded random
weights), with explicit narrow precisions (``recurrent_cases.EXPLICIT``: rounding and saturating state, wrapping
accumulator) and with the default config, N seeded sequences that exercise the input type's range (real values,
values 8x too large, the type's limits and a step beyond, half steps, uniform over 1.25x the range:
``recurrent_cases.range_sequences``) go through

- the emulator (``hw.predict(X)``) of each HWModel,
- the HLS backend's C simulation compiled with g++ (``hw.compile()``, ``engine="csim"``), every recurrent layer
  ``Static: true`` (one cell reused over the steps) and ``Static: false`` (one per step),
- the Verilog backend's design simulated in Verilator (``engine="rtl"``; explicit precisions with
  ``AddersPerStage: null``, one cycle per step; the default config registers inside a step),

and each engine's outputs are compared with its HWModel's emulator value for value (the bits: values of at most 53
bits are exact in float64). The table: mismatching sequences per engine, build seconds (g++ / Verilator, each in a
fresh directory and build cache) and run seconds (the emulator's after a one-sequence warm-up). A case or engine
that cannot run says why in its cell. Exit status 1 on any mismatch or anything not run, 0 otherwise.

Run: nice .venv/bin/python benchmarks/recurrent_acceptance.py [--n 2000] [--seed 1] [--case NAME ...]
[--precision explicit|default ...]   (NAME: lstm, gru_stack, simple_rnn, bidirectional_lstm; ``tiny``, a SimpleRNN
3 on 4 x 2, is for the test in tests/benchmarks/test_recurrent_acceptance.py)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")

sys.path.insert(0, str(Path(__file__).parent))
import recurrent_cases as rc

CASES = {**rc.ISSUE, "tiny": ((4, 2), rc.simple_rnn(3, 2))}
ENGINES = ("csim static", "csim unrolled", "Verilator")


@dataclass
class Outcome:
    """One engine on one case: mismatching sequences (None: not run, ``why`` says why), seconds."""

    mismatches: int | None
    why: str = ""
    build_s: float = 0.0
    run_s: float = 0.0
    emulator: np.ndarray | None = None  # its HWModel's emulator outputs

    def cell(self, n: int) -> str:
        if self.mismatches is None:
            return f"not run: {self.why}"
        return str(self.mismatches) + (f" ({self.why})" if self.why else "")


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def _compare(hw: Any, x: np.ndarray, y: np.ndarray, build_s: float, run_s: float) -> Outcome:
    want = rc.emulate(hw, x)
    bad = rc.differing(y, want)
    why = ""
    if len(bad):
        i = bad[0]
        show = lambda v: ", ".join(f"{f:g}" for f in np.ravel(v)[:4])  # noqa: E731
        why = f"first #{i}: [{show(y[i])}] != emulator [{show(want[i])}]"
    return Outcome(len(bad), why, build_s, run_s, want)


def csim(model: Any, precision: str, static: bool, x: np.ndarray, work: Path) -> Outcome:
    hw = rc.hls_model(model, work / ("static" if static else "unrolled"), precision, static)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, build_s = _timed(hw.compile)
    y, run_s = _timed(lambda: hw.predict(x, engine="csim"))
    return _compare(hw, x, y, build_s, run_s)


def verilator(model: Any, precision: str, x: np.ndarray, work: Path) -> Outcome:
    from nnfpga.backends.rtl import sim

    hw = rc.rtl_model(model, precision)
    cache = work / "rtl-cache"
    _, build_s = _timed(lambda: sim.build(sim.design_of(hw), cache_dir=cache,
                                          optimize=len(x) >= sim.OPTIMIZE_ROWS))
    y, run_s = _timed(lambda: sim.predict(hw, x, cache_dir=cache))  # hw.predict(x, engine="rtl"), this cache
    return _compare(hw, x, y, build_s, run_s)


def _attempt(fn: Callable[[], Outcome]) -> Outcome:
    try:
        return fn()
    except Exception as e:  # a case that cannot run says why in the table, it does not vanish
        return Outcome(None, f"{type(e).__name__}: {' '.join(str(e).split())[:160]}")


def run_case(name: str, precision: str, n: int, seed: int) -> tuple[tuple[str, ...], bool]:
    """One row of the table and whether it passed (every engine run, 0 mismatches)."""
    print(f"[{time.strftime('%H:%M:%S')}] {name} {precision}: building", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="nnfpga-rnn-") as d:
        work = Path(d)
        try:
            model = rc.seeded_model(CASES, name)
            probe = rc.hls_model(model, work / "probe", precision, True)
            x = rc.range_sequences(probe, n, seed)
            rc.emulate(probe, x[:1])  # warm: the first call compiles the numba kernel of these types
            emu_y, emu_s = _timed(lambda: rc.emulate(probe, x))
        except Exception as e:
            why = f"not run: {type(e).__name__}: {' '.join(str(e).split())[:160]}"
            return (name, precision, str(n), why, why, why, "", ""), False
        outs = [_attempt(lambda: csim(model, precision, True, x, work)),
                _attempt(lambda: csim(model, precision, False, x, work)),
                _attempt(lambda: verilator(model, precision, x, work))]
    ran = [o for o in outs if o.emulator is not None]
    cross = {len(rc.differing(o.emulator, emu_y)) for o in ran}
    cells = [o.cell(n) for o in outs]
    if cross - {0}:  # the emulators of the three HWModels should agree too (same types, other backends)
        cells[-1] += f"; emulators of the backends differ on {max(cross)} sequences"
    ok = all(o.mismatches == 0 for o in outs)

    def secs(attr: str) -> str:
        return " / ".join(f"{getattr(o, attr):.1f}" if o.mismatches is not None else "-" for o in outs)

    print(f"[{time.strftime('%H:%M:%S')}] {name} {precision}: {cells}", file=sys.stderr, flush=True)
    return (name, precision, f"{n:,}", *cells, secs("build_s"), f"{emu_s:.2f} / {secs('run_s')}"), ok


def main(argv: list[str] | None = None) -> int:
    from nnfpga.model import format_table

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=2000, help="sequences per case (default 2,000)")
    p.add_argument("--seed", type=int, default=1, help="seed of the input sequences")
    p.add_argument("--case", action="append", choices=list(CASES), help="only these cases (repeatable)")
    p.add_argument("--precision", action="append", choices=rc.PRECISIONS, help="only these precisions")
    a = p.parse_args(argv)
    rows = [("case", "precision", "sequences", *(f"{e} mismatches" for e in ENGINES),
             "build s (static / unrolled / Verilator)", "run s (emulator / static / unrolled / Verilator)")]
    ok = True
    for name in a.case or list(rc.ISSUE):
        for precision in a.precision or rc.PRECISIONS:
            row, passed = run_case(name, precision, a.n, a.seed)
            rows.append(row)
            ok &= passed
    print(f"issue 15: emulator = C simulation (Static true / false) = Verilator, {a.n:,} sequences per case "
          f"(seed {a.seed}); mismatching sequences per engine, every output value compared exactly")
    print(format_table(rows))
    print("result:", "0 mismatches, every engine run" if ok else "FAILED (mismatches or engines not run)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
