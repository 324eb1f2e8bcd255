"""The compiled result cast (ops/cast_jit.py) against ``requantize``: the same integers and overflow counts for
every rounding and overflow mode it takes, signed and unsigned, rounding (k > 0) and shifting left (k <= 0),
on contiguous arrays and on the batch-innermost views the convolution kernel returns (layout kept); ``cast``
falls back to ``requantize`` for what it does not take and with NNFPGA_NUMBA=0."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nnfpga.fixed import FixedType, requantize
from nnfpga.ir.graph import Node
from nnfpga.ops import cast_jit
from nnfpga.ops.base import QArray, RunStats, cast


def mantissas(rng: np.random.Generator, t: FixedType, shape: tuple[int, ...]) -> np.ndarray:
    m = rng.integers(t.min_mantissa, t.max_mantissa + 1, size=shape).astype(np.float64)
    m.flat[:4] = [t.min_mantissa, t.max_mantissa, 0, -1 if t.signed else 1]
    return m


@pytest.mark.parametrize(("rounding", "overflow"), list(itertools.product(
    sorted(cast_jit.ROUNDINGS), sorted(cast_jit.OVERFLOWS))))
def test_kernel_equals_requantize(rounding: str, overflow: str) -> None:
    if not cast_jit.accumulate_jit.enabled():
        pytest.fail("numba is a dependency: the compiled kernel must run here (NNFPGA_NUMBA=0 set?)")
    rng = np.random.default_rng(sorted(cast_jit.ROUNDINGS).index(rounding) * 7 + len(overflow))
    overflowed = 0
    for src, (w, i, signed) in itertools.product(
            (FixedType(24, 12), FixedType(18, 3), FixedType(12, 9, signed=False), FixedType(40, 20)),
            ((16, 6, True), (8, 5, True), (10, 2, False), (30, 20, True), (6, 8, True))):
        dst = FixedType(w, i, signed=signed, rounding=rounding, overflow=overflow)
        assert cast_jit.usable(src, dst), (src, dst)
        base = mantissas(rng, src, (6, 5, 4, 30))
        for m in (base, np.moveaxis(base, -1, 0)):  # contiguous; a batch-innermost view
            want, want_ov = requantize(m, src.frac, src.width, dst)
            got, got_ov = cast_jit.cast(m, src, dst)
            np.testing.assert_array_equal(got, want, err_msg=f"{src} -> {dst}")
            assert (got_ov.count, got_ov.total) == (want_ov.count, want_ov.total), (src, dst)
            assert got.strides == m.strides or m is base
            overflowed += got_ov.count
    assert overflowed > 0


def test_cast_falls_back_where_the_kernel_does_not_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    """Roundings without a constant offset, wide sources and NNFPGA_NUMBA=0 run ``requantize``: same result."""
    src = FixedType(24, 12)
    assert not cast_jit.usable(src, FixedType(16, 6, rounding="RND_ZERO"))
    assert not cast_jit.usable(FixedType(60, 30), FixedType(16, 6))
    m = mantissas(np.random.default_rng(1), src, (50, 20))
    node = Node("n", "relu", [], (20,), types={"result": FixedType(8, 3, rounding="RND", overflow="SAT")})
    on = cast(node, QArray(m, src), "result", RunStats())
    monkeypatch.setenv("NNFPGA_NUMBA", "0")
    stats = RunStats()
    off = cast(node, QArray(m, src), "result", stats)
    np.testing.assert_array_equal(on.m, off.m)
    assert stats.overflow[("n", "result")].count > 0


@pytest.mark.parametrize("dst", [FixedType(8, 3, signed=False, rounding="RND", overflow="SAT"),
                                 FixedType(7, 2, rounding="RND_CONV"), FixedType(15, 5, signed=False)])
def test_relu_and_its_cast_in_one_pass(dst: FixedType, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ReLU whose result type differs from its input's: the fused pass gives the NumPy path's bits and counts."""
    from nnfpga.ops import OPS

    src = FixedType(16, 6)
    m = np.moveaxis(mantissas(np.random.default_rng(2), src, (8, 6, 40)), -1, 0)
    node = Node("r", "relu", [], (8, 6), types={"result": dst})
    fused_stats, numpy_stats = RunStats(), RunStats()
    fused = OPS["relu"].run_fixed(node, [QArray(m, src)], None, fused_stats)
    monkeypatch.setenv("NNFPGA_NUMBA", "0")
    ref = OPS["relu"].run_fixed(node, [QArray(m, src)], None, numpy_stats)
    np.testing.assert_array_equal(fused.m, ref.m)
    assert fused.t == ref.t == dst
    ov, want = fused_stats.overflow[("r", "result")], numpy_stats.overflow[("r", "result")]
    assert (ov.count, ov.total) == (want.count, want.total)
    assert ov.count > 0 or dst.width == 15  # the narrow types overflowed (a wrapping signed one may go negative)


@pytest.mark.parametrize(("tx", "tw", "tb", "dst"), [
    (FixedType(16, 6), FixedType(16, 6), FixedType(16, 6), FixedType(16, 6)),
    (FixedType(12, 4), FixedType(8, 2), FixedType(18, 10), FixedType(9, 3, rounding="RND_CONV", overflow="SAT")),
    (FixedType(10, 8, signed=False), FixedType(6, 1), FixedType(4, 4), FixedType(30, 20, rounding="RND")),
    (FixedType(14, 3), FixedType(10, 4), FixedType(12, 2), FixedType(7, 1, signed=False, overflow="SAT_ZERO")),
])
def test_batch_norm_and_its_cast_in_one_pass(tx: FixedType, tw: FixedType, tb: FixedType, dst: FixedType,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """ScaleShift (per-channel scale and shift) on a contiguous tensor and on a batch-innermost view: the fused
    pass gives the NumPy path's bits and counts."""
    from nnfpga.ops import OPS

    rng = np.random.default_rng(tx.width + dst.width)
    node = Node("bn", "scale_shift", [], (5, 4, 6), weights={"scale": rng.normal(size=6) * 2,
                                                            "shift": rng.normal(size=6) * 3},
                types={"weight": tw, "bias": tb, "result": dst})
    plan = OPS["scale_shift"].prepare(node, [tx])
    base = mantissas(rng, tx, (5, 4, 6, 30))
    for m in (np.moveaxis(base, -1, 0), np.ascontiguousarray(np.moveaxis(base, -1, 0))):
        assert cast_jit.affine_cast(m, tx, plan.sm, tw, plan.bm, tb, dst) is not None
        fused_stats, numpy_stats = RunStats(), RunStats()
        fused = OPS["scale_shift"].run_fixed(node, [QArray(m, tx)], plan, fused_stats)
        with monkeypatch.context() as mp:
            mp.setenv("NNFPGA_NUMBA", "0")
            ref = OPS["scale_shift"].run_fixed(node, [QArray(m, tx)], plan, numpy_stats)
        np.testing.assert_array_equal(fused.m, ref.m)
        ov, want = fused_stats.overflow[("bn", "result")], numpy_stats.overflow[("bn", "result")]
        assert (ov.count, ov.total) == (want.count, want.total)


@pytest.mark.parametrize("relu", [False, True])
def test_float_kernel_at_its_bounds_and_the_int_kernel_past_them(relu: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """``cast`` runs the float64 kernel where every value is an integer below ``2**52`` (``float_usable``) and the
    int64 one past that: both give ``requantize``'s integers and counts at the widest source each takes (its
    extreme mantissas included), for every rounding and overflow of the float kernel, rounding and shifting left;
    and the int64 kernel forced where the float one would run gives the same bits."""
    rng = np.random.default_rng(5)
    cases = [(FixedType(51, 30), FixedType(20, 8), True), (FixedType(52, 30), FixedType(20, 8), False),
             (FixedType(40, 20), FixedType(20, 20), True), (FixedType(40, 20), FixedType(50, 20), True),
             (FixedType(43, 19), FixedType(50, 18), True), (FixedType(44, 20), FixedType(50, 18), False),
             (FixedType(30, 10), FixedType(51, 40), True), (FixedType(30, 10), FixedType(52, 40), False)]
    for (src, shape, floats), rounding, overflow in itertools.product(cases, ("TRN", "RND", "RND_MIN_INF"),
                                                                       sorted(cast_jit.OVERFLOWS)):
        dst = FixedType(shape.width, shape.integer, rounding=rounding, overflow=overflow)
        assert cast_jit.usable(src, dst) and cast_jit.float_usable(src, dst) == floats, (src, dst)
        m = mantissas(rng, src, (40, 25))
        want, want_ov = requantize(np.maximum(m, 0) if relu else m, src.frac, src.width, dst)
        got, got_ov = cast_jit.cast(m, src, dst, relu=relu)
        np.testing.assert_array_equal(got, want, err_msg=f"{src} -> {dst}")
        assert (got_ov.count, got_ov.total) == (want_ov.count, want_ov.total), (src, dst)
        with monkeypatch.context() as mp:
            mp.setattr(cast_jit, "float_usable", lambda *a: False)
            wide, wide_ov = cast_jit.cast(m, src, dst, relu=relu)
        np.testing.assert_array_equal(wide, got)
        assert wide_ov == got_ov
    assert not cast_jit.float_usable(FixedType(24, 12), FixedType(16, 6, rounding="RND_CONV"))


@pytest.mark.parametrize(("tx", "tw", "kernel"), [
    (FixedType(16, 6), FixedType(16, 6), "affine_cast_float"),
    (FixedType(33, 13), FixedType(16, 6), "affine_cast_float"),  # products and sums of 51 bits: still below 2**52
    (FixedType(36, 16), FixedType(16, 6), "affine_cast"),  # 54 bits: the int64 kernel
])
def test_batch_norm_float_kernel_and_its_bound(tx: FixedType, tw: FixedType, kernel: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch-norm cast runs in float64 where every term and sum is an integer below ``2**52``, else in int64:
    each gives ``requantize``'s integers and counts of the exact ``m * scale + shift`` (Python ints), with the
    extreme mantissas and scales, over every rounding and overflow of the float kernel."""
    rng = np.random.default_rng(tx.width)
    tb, c = FixedType(20, 8), 6
    sm = rng.integers(tw.min_mantissa, tw.max_mantissa + 1, c)
    sm[:2] = tw.min_mantissa, tw.max_mantissa
    bm = rng.integers(tb.min_mantissa, tb.max_mantissa + 1, c)
    bm[:2] = tb.max_mantissa, tb.min_mantissa
    m = mantissas(rng, tx, (50, 3, c))
    f = max(tx.frac + tw.frac, tb.frac)
    exact = np.array([[[int(v) * int(sm[j]) * 2 ** (f - tx.frac - tw.frac) + int(bm[j]) * 2 ** (f - tb.frac)
                        for j, v in enumerate(row)] for row in px] for px in m], dtype=object)
    called = []
    real = cast_jit.accumulate_jit.call
    monkeypatch.setattr(cast_jit.accumulate_jit, "call", lambda name, *a: called.append(name) or real(name, *a))
    for rounding, overflow in itertools.product(("TRN", "RND", "RND_MIN_INF"), sorted(cast_jit.OVERFLOWS)):
        dst = FixedType(18, 8, rounding=rounding, overflow=overflow)
        want, want_ov = requantize(exact, f, 64, dst)
        got = cast_jit.affine_cast(m, tx, sm, tw, bm, tb, dst)
        assert got is not None and called[-1] == kernel
        np.testing.assert_array_equal(got[0], np.asarray(want, dtype=np.float64), err_msg=str(dst))
        assert (got[1].count, got[1].total) == (want_ov.count, want_ov.total)
        assert want_ov.count > 0


def test_input_conversion_equals_from_float(monkeypatch: pytest.MonkeyPatch) -> None:
    """The input's compiled conversion (TRN types, ``frac >= 0``, up to 50 bits) gives ``from_float``'s mantissas and
    counts for every overflow mode, with values at the type's edges, off its grid, just inside the bound the kernel
    takes (``2**(integer + 1)``), and falls back (None) on a value at the bound, on a non-TRN rounding, a negative
    ``frac`` and a width over 50 bits."""
    from nnfpga.fixed import from_float

    rng = np.random.default_rng(3)
    for (w, i), overflow in itertools.product(((16, 6), (8, 8), (50, 20), (10, 1)), sorted(cast_jit.OVERFLOWS)):
        dst = FixedType(w, i, overflow=overflow)
        bound = 2.0 ** (i + 1)
        x = rng.uniform(-bound, bound, size=(64, 7, 3))
        x.flat[:8] = [dst.min_mantissa * 2.0**-dst.frac, dst.max_mantissa * 2.0**-dst.frac, -0.0, 2.0**-60,
                      -(2.0**-60), np.nextafter(bound, 0), -np.nextafter(bound, 0), 2.0 ** (i - 1) + 2.0**-40]
        got = cast_jit.from_float(x, dst)
        want = from_float(x, dst)
        assert got is not None, dst
        np.testing.assert_array_equal(got[0], want[0], err_msg=str(dst))
        assert (got[1].count, got[1].total) == (want[1].count, want[1].total)
        assert got[1].count > 0 or i == 20
        x.flat[9] = -bound
        assert cast_jit.from_float(x, dst) is None
    x = rng.uniform(-4, 4, size=(10, 3))
    for dst in (FixedType(16, 6, rounding="RND"), FixedType(8, 10), FixedType(51, 20)):
        assert cast_jit.from_float(x, dst) is None, dst
