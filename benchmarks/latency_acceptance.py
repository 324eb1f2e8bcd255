"""Issue 16's acceptance: the jet MLP's latency in cycles and ns at a clock target, beside hls4ml's published figures,
and bit-exact in Verilator.

For each case (the jet-tagging MLP 16-64-32-32-5 + softmax, ``nnfpga.examples.load_example``, precisions as in
``benchmarks/hardware.py``: every layer the same ``ap_fixed``, ``granularity="name"``, ReuseFactor 1; pruned cases
with the smallest 75 % of each Dense kernel set to zero by ``prune_dense``) the Verilog design is built with its
registers placed for ``--clock-period`` ns under the ``--target`` delay model (default: the model's part, hls4ml's
xcvu13p, so UltraScale+ "xcup"), and the table gives

- its latency in cycles and ns, the estimated critical path (ns, the layer and op it ends in) and Fmax;
- hls4ml's published figure for that row (its tutorial, Vitis, 5 ns: part 1, 16-bit RF 1: 14 cycles = 70 ns; part 4,
  QKeras 6-bit 75 % pruned: 12 cycles = 60 ns; beside both 6-bit rows) and the acceptance: latency in ns at most
  hls4ml's (at 5 ns: 16-bit <= 14 cycles, 6-bit <= 12 cycles; ``--max-cycles`` adds a bound on every row);
- ``--n`` input vectors (half the quantized test set, rows of the input type's extremes, random corners of
  min / max / 0 / +-1 LSB, the rest uniform over every mantissa) simulated in Verilator (a fresh build cache unless
  ``--cache-dir``), every output mantissa compared with the emulator's (``hw.predict``): the mismatches (must be
  0), the distinct output values, the measured latency and II beside the stated, build and run seconds.

With ``--synth`` also Yosys (``synth_xilinx`` for the delay model's family, xc7 or xcup): LUT / FF / DSP and
LUT + 55 * DSP beside hls4ml's published cost (part 1: 101,839 LUT + 1,502 DSP; part 4: 42,160 LUT + 34 DSP), which
it must not exceed (the issue's other latency acceptance; the 16-bit design takes minutes).

Exit status 1 on any mismatch, missed target (or cost), latency other than stated, or when Verilator is missing
(said so); 0 otherwise. Estimates, not place-and-route: the delay models are in ``nnfpga.backends.rtl.delay``.

Run: nice .venv/bin/python benchmarks/latency_acceptance.py [--clock-period 5] [--target xcup|xc7|ecp5] [--n 10000]
[--seed 1] [--case 16|6|6p75|8p75 ...] [--max-cycles N] [--cache-dir DIR] [--synth]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")


PART4 = "part 4 (6-bit, 75 % pruned): 12 cycles = 60 ns"


@dataclass(frozen=True)
class Case:
    """One row: precision of every layer, fraction of each Dense kernel pruned, hls4ml's published figure."""

    label: str
    precision: str
    pruned: float
    hls4ml: str = ""  # its published row, "" where it published none
    hls4ml_cycles: int | None = None  # at its 5 ns clock
    hls4ml_cost: int | None = None  # its published LUT + 55 * DSP


CASES = {
    "16": Case("16-bit, RF 1", "ap_fixed<16,6>", 0.0, "part 1: 14 cycles = 70 ns", 14, 101_839 + 55 * 1_502),
    "6": Case("6-bit, RF 1", "ap_fixed<6,2>", 0.0, PART4, 12, 42_160 + 55 * 34),
    "6p75": Case("6-bit, 75 % pruned, RF 1", "ap_fixed<6,2>", 0.75, PART4, 12, 42_160 + 55 * 34),
    "8p75": Case("8-bit, 75 % pruned, RF 1", "ap_fixed<8,3>", 0.75),
}
HLS4ML_CLOCK_NS = 5.0  # the clock of hls4ml's published figures
EPS = 1e-9


def hw_model(case: Case, clock_period: float) -> tuple[Any, np.ndarray]:
    """The converted jet MLP of ``case`` (Verilog backend, its clock set) and the test set's inputs."""
    import nnfpga
    from nnfpga.examples import load_example, prune_dense

    model, x_test, _ = load_example()
    prune_dense(model, case.pruned)
    cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision=case.precision)
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog", project_name="jet",
                                         clock_period=clock_period,
                                         output_dir=tempfile.mkdtemp(prefix="nnfpga-latacc-"))
    return hw, np.asarray(x_test)


def input_mantissas(x_real: np.ndarray, t: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rows of input mantissas of type ``t``: the quantized real rows (up to half), 7 rows of extremes (all
    min, all max, 0, +1 LSB, -1 LSB, min/max alternating both ways), up to 200 rows drawn from {min, max, 0, +-1
    LSB, min + 1, max - 1} per feature, the rest uniform over every mantissa (they overflow the layers' types)."""
    from nnfpga.fixed import from_float

    k = x_real.shape[1]
    lo, hi = t.min_mantissa, t.max_mantissa
    real = np.asarray(from_float(x_real[: n // 2], t)[0], dtype=np.int64)
    alt = np.array([lo if i % 2 else hi for i in range(k)])
    extremes = np.array([[lo] * k, [hi] * k, [0] * k, [1] * k, [max(lo, -1)] * k, alt, lo + hi - alt])
    n_corners = min(200, max(0, (n - len(real) - len(extremes)) // 2))
    corners = rng.choice([lo, hi, 0, 1, max(lo, -1), lo + 1, hi - 1], size=(n_corners, k))
    uniform = rng.integers(lo, hi, size=(max(0, n - len(real) - len(extremes) - n_corners), k), endpoint=True)
    return np.concatenate([real, extremes, corners, uniform]).astype(np.int64)[:n]


def emulate(hw: Any, m: np.ndarray) -> np.ndarray:
    """The emulator's (``hw.predict``) output mantissas for input mantissas ``m`` (batch, n_in)."""
    import nnfpga
    from nnfpga.fixed import to_float

    g = hw.graph
    tin, tout = g[g.inputs[0]].types["result"], g[g.outputs[0]].types["result"]
    x = to_float(m, tin).reshape((len(m), *g[g.inputs[0]].shape))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)  # the uniform and extreme rows overflow on purpose
        y = hw.predict(x)
    return np.ldexp(np.asarray(y, dtype=np.float64), tout.frac).astype(np.int64).reshape(len(m), -1)


def limit_ns(case: Case, max_cycles: int | None, clock_period: float) -> float | None:
    """The latency bound of ``case`` in ns: hls4ml's published latency, and ``max_cycles`` cycles if given."""
    bounds = [c * HLS4ML_CLOCK_NS for c in [case.hls4ml_cycles] if c is not None]
    bounds += [max_cycles * clock_period] if max_cycles is not None else []
    return min(bounds, default=None)


def synth_cells(hw: Any, d: Any, case: Case) -> tuple[tuple[str, str], bool]:
    """``--synth``: Yosys on ``d`` for its delay model's Xilinx family: (LUT / FF / DSP, LUT + 55 * DSP beside
    hls4ml's published figure), and whether the cost is at most hls4ml's (True where it published none)."""
    from nnfpga.errors import NnfpgaError

    if d.model.target not in ("xc7", "xcup"):
        return ("-", f"no Xilinx synthesis for {d.model.target}"), True
    print(f"[{time.strftime('%H:%M:%S')}] {case.label}: Yosys {d.model.target}", file=sys.stderr, flush=True)
    try:
        r = hw.synthesize(d.model.target, save=False, design=d)
    except NnfpgaError as e:  # ToolError, ToolNotFoundError: the cell says why, the run fails
        return ("not run", f"{type(e).__name__}: {str(e).splitlines()[0][:80]}"), False
    cost = r.lut + 55 * r.dsp
    ok = case.hls4ml_cost is None or cost <= case.hls4ml_cost
    beside = "" if case.hls4ml_cost is None else f" (hls4ml {case.hls4ml_cost:,})" + ("" if ok else " MISSED")
    secs = r.extra.get("synth_s", 0)
    return (f"{r.lut:,} / {r.ff:,} / {r.dsp} ({secs:.0f} s)", f"{cost:,}{beside}"), ok


def run_case(key: str, a: argparse.Namespace, cache: Path, verilator_missing: str) -> tuple[tuple[str, ...], bool]:
    """One row of the table and whether it passed."""
    from nnfpga.backends.rtl import sim
    from nnfpga.backends.rtl.lower import build_design

    case = CASES[key]
    stamp = lambda: time.strftime("%H:%M:%S")  # noqa: E731
    print(f"[{stamp()}] {case.label}: building", file=sys.stderr, flush=True)
    hw, x_test = hw_model(case, a.clock_period)
    t0 = time.perf_counter()
    d = build_design(hw.graph, "jet", prep=hw.interpreter.prep, clock_period=a.clock_period, target=a.target,
                     part=hw.settings.get("part"))
    design_s = time.perf_counter() - t0
    bound = limit_ns(case, a.max_cycles, a.clock_period)
    met = bound is None or d.latency_ns <= bound + EPS
    target = "-" if bound is None else f"<= {bound:g} ns" + ("" if met else " MISSED")
    ok = met
    timing = (f"{d.critical_path_ns:.2f} ({d.critical_where or 'registers only'})", f"{d.fmax_mhz:.0f}")
    row = (case.label, d.model.target, str(d.latency), f"{d.latency_ns:g}", *timing, case.hls4ml or "-", target)
    if a.synth:
        cells, cheap = synth_cells(hw, d, case)
        row, ok = (*row, *cells), ok and cheap
    if verilator_missing:
        return (*row, f"{a.n:,}", "not run: Verilator missing", "-", "-", f"{design_s:.1f} / - / - / -"), False
    tin = hw.graph[hw.graph.inputs[0]].types["result"]
    m = input_mantissas(x_test, tin, a.n, np.random.default_rng(a.seed))
    emulate(hw, m[:1])  # warm: the first call compiles the emulator's kernels
    t0 = time.perf_counter()
    want = emulate(hw, m)
    emu_s = time.perf_counter() - t0
    print(f"[{stamp()}] {case.label}: {d.latency} cycles; Verilator build", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    sim.build(d, cache_dir=cache)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    y, latency, ii = sim.simulate(d, m, cache_dir=cache)
    sim_s = time.perf_counter() - t0
    bad = np.argwhere(y != want)
    mism = str(len(bad))
    if len(bad):
        i, j = bad[0]
        mism += f" (first: input #{i} output {j}: Verilator {y[i, j]} != emulator {want[i, j]})"
    same = (latency, ii) == (d.latency, d.ii)
    ok &= not len(bad) and same
    measured = f"{latency} / {ii}" + ("" if same else f" != stated {d.latency} / {d.ii}")
    secs = f"{design_s:.1f} / {emu_s:.2f} / {build_s:.1f} / {sim_s:.1f}"
    print(f"[{stamp()}] {case.label}: {mism} mismatches", file=sys.stderr, flush=True)
    return (*row, f"{len(m):,}", mism, str(len(np.unique(want))), measured, secs), ok


def main(argv: list[str] | None = None) -> int:
    from nnfpga.backends.rtl import sim
    from nnfpga.backends.rtl.delay import MODELS
    from nnfpga.errors import ToolNotFoundError
    from nnfpga.model import format_table

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clock-period", type=float, default=5.0, help="clock target in ns (default 5, hls4ml's)")
    p.add_argument("--target", choices=list(MODELS), default=None,
                   help="delay model (default: from the model's part, xcvu13p: xcup)")
    p.add_argument("--n", type=int, default=10_000, help="input vectors per case (default 10,000)")
    p.add_argument("--seed", type=int, default=1, help="seed of the random input rows")
    p.add_argument("--case", action="append", choices=list(CASES), help="only these cases (repeatable)")
    p.add_argument("--max-cycles", type=int, default=None, help="also require every case in at most this many cycles")
    p.add_argument("--cache-dir", type=Path, default=None, help="Verilator build cache (default: a fresh one)")
    p.add_argument("--synth", action="store_true", help="also synthesize with Yosys (the delay model's Xilinx "
                   "family) and require LUT + 55 * DSP at most hls4ml's published figure (16-bit: minutes)")
    a = p.parse_args(argv)
    if a.n < 1:
        p.error("--n must be at least 1")
    try:
        sim.verilator()
        missing = ""
    except ToolNotFoundError as e:
        missing = str(e)
    rows = [("design", "model", "cycles", "ns", "critical path est. [ns] (where)", "Fmax est. [MHz]",
             "hls4ml (5 ns clock)", "target", *(("LUT / FF / DSP", "LUT+55*DSP") if a.synth else ()), "inputs",
             "mismatches", "distinct outputs", "measured latency / II",
             "seconds (design / emulator / Verilator build / sim)")]
    ok = True
    with tempfile.TemporaryDirectory(prefix="nnfpga-latacc-rtl-") as tmp:
        cache = a.cache_dir or Path(tmp)
        for key in a.case or list(CASES):
            row, passed = run_case(key, a, cache, missing)
            rows.append(row)
            ok &= passed
    print(f"issue 16: jet MLP latency at a {a.clock_period:g} ns clock, registers placed under the "
          f"{rows[1][1]} delay model (estimates); every output of {a.n:,} inputs per case compared with the "
          f"emulator in Verilator (seed {a.seed})")
    print(format_table(rows))
    if missing:
        print(f"FAILED: Verilator is missing, nothing was simulated: {missing}")
        return 1
    print("result:", "targets met, 0 mismatches, measured latency = stated" if ok else
          "FAILED (a missed target, a mismatch or a latency other than stated)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
