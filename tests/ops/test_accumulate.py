"""The batched accumulation kernels (ops/accumulate.py) against the literal input-by-input loop
(``Interpreter(graph, reference=True)``) on random narrow accumulators in every rounding and overflow mode; the
split kernel both compiled (numba, ops/accumulate_jit.py) and as the NumPy loop (``NNFPGA_NUMBA=0``)."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest

import nnfpga
from graphs import dense_graph
from nnfpga.emulate import Interpreter
from nnfpga.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedType
from nnfpga.ops import OPS, QArray, RunStats, accumulate_jit
from nnfpga.ops.accumulate import ProductSum, never_leaves_range
from nnfpga.passes import infer_types


@pytest.fixture(params=["numba", "numpy"])
def kernel(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test with the compiled split kernel and again with the NumPy loop (``NNFPGA_NUMBA=0``)."""
    monkeypatch.setenv("NNFPGA_NUMBA", "1" if request.param == "numba" else "0")
    assert accumulate_jit.enabled() is (request.param == "numba")
    return request.param


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
def test_batched_paths_equal_the_literal_loop(rounding: str, overflow: str, kernel: str) -> None:
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
def test_jet_like_accumulator_ap_fixed_24_12(rounding: str, kernel: str) -> None:
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


def test_split_kernel_equals_generic_kernel(kernel: str) -> None:
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


def split_plan(rng: np.random.Generator, rounding: str, k: int, n_in: int, tx: FixedType, n_out: int = 7,
               wmax: int = 2000) -> ProductSum:
    wm = rng.integers(-wmax, wmax, (n_in, n_out)).astype(np.float64)
    wm[rng.random(wm.shape) < 0.1] = 0
    wm[1] = 0  # a pruned row
    live = np.flatnonzero(np.any(wm != 0, axis=1))
    plan = ProductSum.build(wm, live, tx, FixedType(30, 8, rounding=rounding), k, 31)
    assert plan.split
    return plan


def split_inputs(rng: np.random.Generator, plan: ProductSum, tx: FixedType, rows: int, n_in: int) -> np.ndarray:
    """Random mantissas with the cases the kernels treat apart: rows and inputs whose low parts are all zero, an
    input zero on every row, the type's ends."""
    kl = plan.k + plan.conv
    xm = rng.integers(tx.min_mantissa, tx.max_mantissa + 1, (rows, n_in)).astype(np.float64)
    xm[rng.random(xm.shape) < 0.3] = 0  # ReLU-like
    ends = rng.random(xm.shape) < 0.05
    xm[ends] = rng.choice([tx.min_mantissa, tx.max_mantissa], int(ends.sum()))
    xm[: rows // 4] = np.trunc(xm[: rows // 4] / 2**kl) * 2**kl  # every low part of these rows is 0
    xm[:, 0] = 0  # an input that is zero on every row
    xm[:, 2] = np.trunc(xm[:, 2] / 2**kl) * 2**kl  # an input whose low part is zero on every row
    return xm


@pytest.mark.parametrize("rounding", ["TRN", "RND", "RND_MIN_INF", "RND_CONV"])
def test_numba_and_numpy_split_kernels_give_identical_bits(rounding: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled kernel against the NumPy loop and the generic kernel (products rounded one by one), for small
    dtypes of 16, 32 and 64 bits, sums flushed from the small dtype (more inputs than ``group``), C and Fortran
    order inputs, one row and no rows."""
    rng = np.random.default_rng(ROUNDING_MODES.index(rounding))
    smalls = set()
    cases = [(1, 30, FixedType(12, 4)), (3, 20, FixedType(16, 6)), (8, 64, FixedType(16, 6)),
             (8, 700, FixedType(16, 6)),  # uint16 sums flushed every ~256 inputs
             (11, 40, FixedType(9, 3, False)), (16, 30, FixedType(20, 8)),
             (27, 100, FixedType(24, 4)),  # uint32 flushed every 32 inputs
             (30, 12, FixedType(24, 4)), (44, 6, FixedType(24, 4))]
    for k, n_in, tx in cases:
        plan = split_plan(rng, rounding, k, n_in, tx, n_out=int(rng.integers(1, 40)))
        smalls.add(plan.small)
        for rows in (300, 1, 0):
            xm = split_inputs(rng, plan, tx, rows, n_in) if rows else np.zeros((0, n_in))
            bias = rng.integers(-1000, 1000, plan.w.shape[1]).astype(np.float64)
            monkeypatch.setenv("NNFPGA_NUMBA", "0")
            want = plan(xm, bias)
            np.testing.assert_array_equal(want, replace(plan, split=False)(xm, bias))
            monkeypatch.setenv("NNFPGA_NUMBA", "1")
            for x in (xm, np.asfortranarray(xm), np.hstack([xm, xm])[:, :n_in]):  # C, Fortran, neither
                got = plan(x, bias)
                assert got.dtype == want.dtype and got.shape == want.shape
                np.testing.assert_array_equal(got, want, err_msg=f"{rounding} k={k} n_in={n_in} {plan.small}")
            np.testing.assert_array_equal(plan(xm), want - bias)
        assert (plan.conv, plan.small.str) == (rounding == "RND_CONV", plan.wl.dtype.str)
    assert smalls == {np.dtype(np.uint16), np.dtype(np.uint32), np.dtype(np.uint64)}
    name = "m_conv" if rounding == "RND_CONV" else "m"
    assert {key[1] for key in accumulate_jit._ready if key[0] == name} >= {"<u22C", "<u42C", "<u82C"}  # it ran


@pytest.mark.parametrize(("rounding", "x_low"), [("TRN", 255), ("RND", 127), ("RND_MIN_INF", 128), ("RND_CONV", 128)])
def test_small_sums_flush_before_they_wrap(rounding: str, x_low: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every term at its largest (``2**k - 1``; RND_CONV: a tie, ``2**k``) on 700 inputs: a uint16 sum wraps
    after about 256 of them unless flushed in time."""
    k, n_in, tx = 8, 700, FixedType(16, 6)
    wm = np.full((n_in, 3), 257.0)  # low part 1
    wm[:, 1] = -255.0  # low part 1 too
    plan = ProductSum.build(wm, np.arange(n_in), tx, FixedType(30, 8, rounding=rounding), k, 31)
    assert plan.split and plan.small == np.uint16 and n_in > max(plan.group, plan.jit_group)
    xm = np.full((4, n_in), float(x_low))
    xm[1] += 256 * 7
    xm[2] -= 256 * 3
    xm[3] = 0
    want = replace(plan, split=False)(xm)
    for env in ("1", "0"):
        monkeypatch.setenv("NNFPGA_NUMBA", env)
        np.testing.assert_array_equal(plan(xm), want)


def test_numba_switch_is_read_at_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    tx = FixedType(16, 6)
    plan = split_plan(np.random.default_rng(1), "RND", 8, 10, tx)
    calls = []
    compiled = accumulate_jit.split_sum
    monkeypatch.setattr(accumulate_jit, "split_sum", lambda *a: calls.append(1) or compiled(*a))
    xm = np.ones((5, 10)) * 3
    for env, expect in (("0", 0), ("1", 1), (" 0 ", 1), ("", 2)):
        monkeypatch.setenv("NNFPGA_NUMBA", env)
        plan(xm)
        assert len(calls) == expect, env


@pytest.mark.slow
@pytest.mark.parametrize("failure", ["no cache directory", "cache directory read-only"])
def test_read_only_cache_compiles_in_memory_without_warnings(failure: str, monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path) -> None:
    """A wheel installed read-only: numba finds no writable cache directory (it raises when the kernel is
    decorated), or finds one that then refuses the write (it raises at the first compilation). The kernels
    compile in memory instead; nothing is printed or warned."""
    import numba.core.caching as caching

    class RefusesWrites(caching.InTreeCacheLocator):  # found writable, then read-only when numba saves
        checked = 0

        def get_cache_path(self) -> str:
            return str(tmp_path)

        def ensure_cache_path(self) -> None:
            RefusesWrites.checked += 1
            if RefusesWrites.checked > 1:
                raise PermissionError(13, "Read-only file system", str(tmp_path))

    locators = [] if failure == "no cache directory" else [RefusesWrites]
    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", locators)
    monkeypatch.setattr(accumulate_jit, "_kernels", {})
    monkeypatch.setattr(accumulate_jit, "_ready", set())
    monkeypatch.setenv("NNFPGA_NUMBA", "1")
    tx = FixedType(16, 6)
    rng = np.random.default_rng(2)
    plan = split_plan(rng, "TRN", 8, 12, tx)
    xm = split_inputs(rng, plan, tx, 50, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = plan(xm)
    caches = {name: type(d._cache).__name__ for name, d in accumulate_jit._kernels.items()}
    assert "m" in caches and set(caches.values()) == {"NullCache"}, caches
    assert RefusesWrites.checked == 0 if failure == "no cache directory" else RefusesWrites.checked >= 2
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv("NNFPGA_NUMBA", "0")
    np.testing.assert_array_equal(got, plan(xm))


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
