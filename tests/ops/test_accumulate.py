"""The batched accumulation kernels (ops/accumulate.py) against the literal input-by-input loop
(``Interpreter(graph, reference=True)``) on random narrow accumulators in every rounding and overflow mode."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest

import nnfpga
from graphs import dense_graph
from nnfpga.emulate import Interpreter
from nnfpga.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedType
from nnfpga.ops import OPS, QArray, RunStats
from nnfpga.ops.accumulate import ProductSum, never_leaves_range
from nnfpga.passes import infer_types


def narrow_layer(rng: np.random.Generator, rounding: str, overflow: str, *, n_in: int, n_out: int,
                 tx: FixedType | None = None, extra_frac: int | None = None, width: int | None = None):
    """A Dense graph with ``ap_fixed<16,6>``-like weights and an accumulator of ``width`` bits that keeps
    ``extra_frac`` fewer fractional bits than the product (negative: more)."""
    tx = tx or FixedType(int(rng.integers(4, 17)), int(rng.integers(1, 7)), bool(rng.integers(0, 4)))
    tw = FixedType(int(rng.integers(4, 17)), int(rng.integers(-1, 4)))
    tb = FixedType(int(rng.integers(4, 17)), int(rng.integers(1, 6)))
    fp = tx.frac + tw.frac
    k = int(rng.integers(-2, 12)) if extra_frac is None else extra_frac
    width = width or int(rng.integers(6, 30))
    ta = FixedType(width, width - (fp - k), bool(rng.integers(0, 6)), rounding, overflow)
    span = max(abs(tw.min_value), tw.max_value)
    kernel = rng.uniform(-span, span, (n_in, n_out)) * rng.choice([0.05, 0.3, 1.0])
    kernel[rng.random(kernel.shape) < 0.2] = 0.0
    kernel[int(rng.integers(n_in))] = 0.0  # a pruned row
    bias = rng.uniform(-1, 1, n_out) * max(abs(tb.min_value), tb.max_value)
    types = {"weight": tw, "bias": tb, "accum": ta, "result": FixedType(18, 8, rounding="RND", overflow="SAT")}
    g = dense_graph(kernel, bias, input_type=tx, types=types)
    infer_types(g, FixedType(16, 6))
    return g


def inputs(rng: np.random.Generator, g, n: int) -> np.ndarray:
    t = g["x"].types["result"]
    m = rng.integers(t.min_mantissa, t.max_mantissa + 1, (n, *g["x"].shape)).astype(np.float64)
    ends = rng.random(m.shape) < 0.15
    m[ends] = rng.choice([t.min_mantissa, t.max_mantissa, 0], int(ends.sum()))
    m[rng.random(m.shape) < 0.2] = 0
    return np.ldexp(m, -t.frac)


def compare(g, x: np.ndarray) -> tuple[str, nnfpga.ops.RunStats, nnfpga.ops.RunStats]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        fast = Interpreter(g)
        ref = Interpreter(g, reference=True)
        got, want = fast.run(x), ref.run(x)
    np.testing.assert_array_equal(got.outputs[0], want.outputs[0], err_msg=str(g["fc"].types))
    return fast.prep["fc"].path, got.stats, want.stats


@pytest.mark.parametrize("overflow", OVERFLOW_MODES)
@pytest.mark.parametrize("rounding", ROUNDING_MODES)
def test_batched_paths_equal_the_literal_loop(rounding: str, overflow: str) -> None:
    rng = np.random.default_rng(ROUNDING_MODES.index(rounding) * 4 + OVERFLOW_MODES.index(overflow))
    paths = set()
    for _ in range(12):
        g = narrow_layer(rng, rounding, overflow, n_in=int(rng.integers(1, 40)), n_out=int(rng.integers(1, 20)))
        path, got, want = compare(g, inputs(rng, g, 300))
        paths.add(path)
        assert path != "sequential"
        ga, wa = got.overflow[("fc", "accum")], want.overflow[("fc", "accum")]
        plan = Interpreter(g).prep["fc"]
        if plan.counts == "sequential":  # every saturating accumulator, and WRAP ones that provably never wrap
            assert (ga.count, ga.total) == (wa.count, wa.total)
        else:  # WRAP: the final sums that wrapped (the documented rule)
            assert overflow == "WRAP" and ga.total == 300 * g["fc"].shape[0]
        assert got.overflow[("fc", "result")] == want.overflow[("fc", "result")]


@pytest.mark.parametrize("rounding", ROUNDING_MODES)
def test_jet_like_accumulator_ap_fixed_24_12(rounding: str) -> None:
    """The issue's case: ap_fixed<16,6> inputs and weights, ap_fixed<24,12> accumulators (8 bits dropped per
    product), wide layers."""
    rng = np.random.default_rng(len(rounding))
    for overflow in ("WRAP", "SAT"):
        g = narrow_layer(rng, rounding, overflow, n_in=64, n_out=32, tx=FixedType(16, 6), extra_frac=8, width=24)
        g["fc"].types["weight"] = FixedType(16, 6)
        g = dense_graph(g["fc"].weights["kernel"], g["fc"].weights["bias"], input_type=FixedType(16, 6),
                        types={**g["fc"].types, "accum": FixedType(24, 12, True, rounding, overflow)})
        infer_types(g, FixedType(16, 6))
        plan = Interpreter(g).prep["fc"]
        assert plan.products is not None
        assert plan.products.split is (rounding in ("TRN", "RND", "RND_MIN_INF", "RND_CONV"))
        _, got, want = compare(g, inputs(rng, g, 500))
        if overflow == "SAT":
            assert got.overflow[("fc", "accum")] == want.overflow[("fc", "accum")]


def test_split_kernel_equals_generic_kernel() -> None:
    rng = np.random.default_rng(5)
    for rounding in ("RND_CONV", "TRN", "RND", "RND_MIN_INF"):
        for k, n_in in ((1, 30), (3, 30), (8, 30), (12, 30), (20, 30), (8, 700)):  # 700: sums of 257, then uint64
            tx, ta = FixedType(12, 4), FixedType(20, 8, rounding=rounding)
            wm = rng.integers(-2000, 2000, (n_in, 7)).astype(np.float64)
            wm[3] = 0
            live = np.flatnonzero(np.any(wm != 0, axis=1))
            split = ProductSum.build(wm, live, tx, ta, k, 21)
            assert split.split
            generic = replace(split, split=False)
            xm = rng.integers(tx.min_mantissa, tx.max_mantissa + 1, (257, n_in)).astype(np.float64)
            xm[:, 5] = 0  # an input that is zero on every row
            xm[:, 6] = (tx.max_mantissa >> k) << k  # its low part is zero
            np.testing.assert_array_equal(split(xm), generic(xm))
        assert (split.small, split.small_sum, split.group) == (np.uint16, np.uint64, 65535 // 255)


def test_guarded_path_reruns_only_rows_that_may_saturate() -> None:
    """A saturating accumulator that saturates on large inputs only: small rows take the batched sum, large ones
    the sequential kernel, and the overflow count is the literal loop's."""
    tx, tw = FixedType(10, 4), FixedType(10, 2)
    ta = FixedType(14, 5, rounding="RND", overflow="SAT")  # [-16, 16), products rounded by 5 bits
    kernel = np.full((8, 3), 1.5)
    g = dense_graph(kernel, np.zeros(3), input_type=tx,
                    types={"weight": tw, "bias": tw, "accum": ta, "result": FixedType(16, 6)})
    infer_types(g, FixedType(16, 6))
    x = np.zeros((4, 8))
    x[1] = 0.25
    x[2] = 7.0  # 8 * 10.5 saturates
    x[3, 0] = -7.0
    path, got, want = compare(g, x)
    assert path == "guarded"
    assert got.overflow[("fc", "accum")] == want.overflow[("fc", "accum")]
    assert got.overflow[("fc", "accum")].count > 0


def test_static_proof_matches_what_the_loop_sees() -> None:
    """When the bounds prove no cast leaves the range, the literal loop never counts anything but the bias."""
    rng = np.random.default_rng(9)
    proven = 0
    for _ in range(40):
        g = narrow_layer(rng, "RND", "SAT", n_in=int(rng.integers(1, 10)), n_out=3)
        node, tx = g["fc"], g["x"].types["result"]
        plan = OPS["dense"].prepare(node, [tx])
        if never_leaves_range(plan.wm, plan.b_acc, tx, node.types["accum"], -plan.shift):
            proven += 1
            x = inputs(rng, g, 200)
            m = np.ldexp(x, tx.frac)
            stats = RunStats()
            OPS["dense"].run_fixed(node, [QArray(m, tx)], plan.reference(), stats)
            assert stats.overflow[("fc", "accum")].count == plan.bias_overflow * 200
    assert proven >= 5


def test_emulation_runs_blas_single_threaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The small matrix products of a run use one BLAS thread (no oversubscription on a busy machine)."""
    from threadpoolctl import threadpool_info

    from nnfpga.emulate import interpreter

    seen: list[int] = []
    run_chunk = interpreter.Interpreter._run_chunk

    def spy(self, *args):
        seen.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
        return run_chunk(self, *args)

    monkeypatch.setattr(interpreter.Interpreter, "_run_chunk", spy)
    g = narrow_layer(np.random.default_rng(0), "TRN", "WRAP", n_in=8, n_out=4)
    Interpreter(g).run(np.zeros((3, 8)))
    assert seen and set(seen) == {1}
