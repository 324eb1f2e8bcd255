"""Dense and ScaleShift against a slow reference (Python ints and Fractions) of the documented semantics:

    acc = (accum) bias
    for i in inputs, in order:  acc = (accum)(acc + (accum)(x[i] * w[i, j]))
    y = (result) acc

with weights and bias clamped to their types and rounded by the type's rounding mode.
"""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest

import fxref
from graphs import dense_graph
from nnfpga.emulate import Interpreter
from nnfpga.fixed import FixedType, storage_dtype
from nnfpga.ir.graph import Graph, Node
from nnfpga.ops import OPS, QArray, RunStats
from nnfpga.passes import infer_types

ROUNDINGS = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")


# -- helpers ----------------------------------------------------------------------------------------

def random_type(rng: np.random.Generator, wmin: int, wmax: int, *, signed: bool | None = None,
                rounding: str | None = None, overflow: str = "WRAP") -> FixedType:
    width = int(rng.integers(wmin, wmax + 1))
    integer = int(rng.integers(-2, width + 3))
    signed = bool(rng.integers(0, 2)) if signed is None else signed
    rounding = rounding or ROUNDINGS[int(rng.integers(len(ROUNDINGS)))]
    return FixedType(width, integer, signed, rounding, overflow)


def random_layer(rng: np.random.Generator, tw: FixedType, tb: FixedType, *, n_in: int | None = None,
                 n_out: int | None = None, pruned: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Float weights spanning (and a little beyond) the weight/bias types, some of them exactly zero."""
    n_in = n_in or int(rng.integers(1, 7))
    n_out = n_out or int(rng.integers(1, 5))
    wspan = max(abs(tw.min_value), tw.max_value) * 1.2
    bspan = max(abs(tb.min_value), tb.max_value) * 1.2
    kernel = rng.uniform(-wspan, wspan, (n_in, n_out))
    bias = rng.uniform(-bspan, bspan, n_out)
    if pruned:
        kernel[rng.random(kernel.shape) < 0.25] = 0.0
        if n_in > 1:
            kernel[int(rng.integers(n_in))] = 0.0  # a fully pruned input row
    return kernel, bias


def random_mantissas(rng: np.random.Generator, t: FixedType, shape: tuple[int, int]) -> list[list[int]]:
    """A third of the values at the extremes of the type (or zero), the rest uniform; Python ints, any width."""
    lo, hi = fxref.mantissa_range(t)
    py = random.Random(int(rng.integers(2**31)))
    return [[py.choice((lo, hi, 0)) if py.random() < 0.33 else py.randint(lo, hi) for _ in range(shape[1])]
            for _ in range(shape[0])]


def to_storage(rows: list[list[int]], t: FixedType) -> np.ndarray:
    return np.array(rows, dtype=object).astype(storage_dtype(t.width))


def run_dense(kernel: np.ndarray, bias: np.ndarray, tx: FixedType, types: dict[str, FixedType | None],
              xm: list[list[int]], *, default: FixedType | None = None) -> tuple[list[list[int]], dict, RunStats, dict]:
    """Type the graph, run the Dense kernel on the input mantissas; returns (mantissas, types, stats, prep)."""
    default = default or FixedType(16, 6)
    g = dense_graph(kernel, bias, input_type=tx, types=types)
    infer_types(g, default)
    node = g["fc"]
    prep = OPS["dense"].prepare(node, [tx])
    stats = RunStats()
    out = OPS["dense"].run_fixed(node, [QArray(to_storage(xm, tx), tx)], prep, stats)
    assert out.t == node.types["result"]
    return [[int(v) for v in row] for row in out.m.tolist()], dict(node.types), stats, prep


def check_against_reference(rng: np.random.Generator, tx: FixedType, tw: FixedType, tb: FixedType, ta: FixedType,
                            tr: FixedType, *, batch: int = 5, **layer: object) -> dict:
    kernel, bias = random_layer(rng, tw, tb, **layer)  # type: ignore[arg-type]
    xm = random_mantissas(rng, tx, (batch, kernel.shape[0]))
    types = {"weight": tw, "bias": tb, "accum": ta, "result": tr}
    got, _, stats, prep = run_dense(kernel, bias, tx, types, xm)
    want, acc_events, res_events = fxref.dense(kernel, bias, tx, types, xm)
    assert got == want, f"x={xm}\nkernel={kernel.tolist()}\nbias={bias.tolist()}\ntypes={types}"
    assert stats.overflow[("fc", "result")].count == res_events
    return {"prep": prep, "stats": stats, "acc_events": acc_events,
            "casts": batch * kernel.shape[1] * (1 + 2 * kernel.shape[0])}


# -- bit-exactness against the reference -------------------------------------------------------------

@pytest.mark.parametrize("seed", range(40))
def test_narrow_rounding_saturating_accumulator_equals_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    tx = random_type(rng, 2, 12)
    tw, tb = random_type(rng, 2, 10, signed=True), random_type(rng, 2, 10, signed=True)
    sat = ("SAT", "SAT_ZERO")[seed % 2]
    ta = random_type(rng, 3, 12, signed=bool(seed % 5), overflow=sat)
    tr = random_type(rng, 2, 12, overflow=("WRAP", "SAT", "SAT_ZERO")[seed % 3])
    res = check_against_reference(rng, tx, tw, tb, ta, tr)
    assert res["prep"].path != "sequential"  # batched where bounds allow, sequential rows otherwise
    # every product, partial sum or bias that saturated is counted, out of every cast to the accumulator
    ov = res["stats"].overflow[("fc", "accum")]
    assert ov.count == res["acc_events"]
    assert ov.total == res["casts"] and ov.count <= ov.total


def test_sequential_path_really_rounds_every_product() -> None:
    """Three products of 0.75 with a 1-fractional-bit RND accumulator: each rounds to 1.0, sum 3.0 (an exact
    sum rounded once would give 2.25 -> 2.5)."""
    tx, tw = FixedType(4, 2), FixedType(4, 1)  # x = 1.5, w = 0.5
    ta = FixedType(6, 5, rounding="RND", overflow="SAT")
    types = {"weight": tw, "bias": tw, "accum": ta, "result": FixedType(8, 6)}
    got, _, _, prep = run_dense(np.full((3, 1), 0.5), np.zeros(1), tx, types, [[6, 6, 6]])
    assert prep.path == "products"  # the batched rounded products (no partial sum can saturate)
    assert got == [[3 * 4]]  # 3.0 with 2 fractional bits


def test_saturating_accumulator_saturates_partial_sums_in_input_order() -> None:
    """acc saturates at 7.5 on the way up; the later negative product then brings it down from 7.5, not from
    the exact partial sum 12: the order of accumulation is visible."""
    tx, tw = FixedType(8, 5), FixedType(8, 4)
    ta = FixedType(5, 4, overflow="SAT")  # [-8, 7.5], LSB 0.5
    types = {"weight": tw, "bias": tw, "accum": ta, "result": FixedType(8, 5)}
    kernel = np.array([[1.0], [1.0], [-1.0]])
    got, _, stats, _ = run_dense(kernel, np.zeros(1), tx, types, [[6 * 8, 6 * 8, 4 * 8]])  # x = 6, 6, 4
    assert got == [[int(3.5 * 8)]]  # min(12, 7.5) - 4 = 3.5 (exact sum: 8)
    assert stats.overflow[("fc", "accum")].count == 1


def test_bias_overflowing_a_saturating_accumulator_is_counted() -> None:
    tx, tw = FixedType(8, 4), FixedType(8, 4)
    ta = FixedType(4, 2, overflow="SAT")  # [-2, 1.75]
    types = {"weight": tw, "bias": FixedType(8, 5), "accum": ta, "result": FixedType(8, 4)}
    got, _, stats, _ = run_dense(np.zeros((2, 1)), np.array([5.0]), tx, types, [[0, 0], [3, 3]])
    assert got == [[int(1.75 * 16)]] * 2
    assert stats.overflow[("fc", "accum")].count == 2  # one saturated bias per sample: never silent


@pytest.mark.parametrize("seed", range(30))
def test_wrap_accumulator_takes_exact_fast_path(seed: int) -> None:
    """A narrow WRAP accumulator with at least the product's fractional bits: modular sums, one BLAS product."""
    rng = np.random.default_rng(100 + seed)
    tx = random_type(rng, 2, 12)
    tw, tb = random_type(rng, 2, 10, signed=True), random_type(rng, 2, 10, signed=True)
    fp = tx.frac + tw.frac
    width = int(rng.integers(3, 14))
    frac = fp + int(rng.integers(0, 3))
    ta = FixedType(width, width - frac, bool(seed % 4), ROUNDINGS[seed % 7], "WRAP")
    tr = random_type(rng, 2, 12, overflow=("WRAP", "SAT")[seed % 2])
    res = check_against_reference(rng, tx, tw, tb, ta, tr)
    assert res["prep"].fast is True


def test_fast_wrap_path_does_wrap() -> None:
    tx, tw = FixedType(8, 5), FixedType(8, 4)
    ta = FixedType(11, 4)  # [-8, 8), the product's 7 fractional bits
    types = {"weight": tw, "bias": tw, "accum": ta, "result": FixedType(8, 4)}
    got, _, stats, prep = run_dense(np.ones((2, 1)), np.zeros(1), tx, types, [[5 * 8, 4 * 8]])
    assert prep.fast is True
    assert got == [[-7 * 16]]  # 9 wraps to -7
    assert stats.overflow[("fc", "accum")].count == 1


@pytest.mark.parametrize("seed", range(20))
def test_wrap_accumulator_with_fewer_fractional_bits_rounds_each_product(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    tx = random_type(rng, 4, 12)
    tw, tb = random_type(rng, 4, 10, signed=True), random_type(rng, 2, 10, signed=True)
    fp = tx.frac + tw.frac
    width = int(rng.integers(4, 14))
    ta = FixedType(width, width - (fp - int(rng.integers(1, 4))), True, ROUNDINGS[seed % 7], "WRAP")
    res = check_against_reference(rng, tx, tw, tb, ta, random_type(rng, 4, 12))
    assert res["prep"].path == "products"


@pytest.mark.parametrize(("wx", "ww", "wa", "wr"), [
    (30, 28, 60, 40),   # int64 sums
    (40, 36, 90, 70),   # Python-int (object) products, sums and results
    (60, 20, 70, 60),   # int64 input, object accumulator
])
@pytest.mark.parametrize("overflow", ["WRAP", "SAT"])
def test_wide_types_beyond_float64(wx: int, ww: int, wa: int, wr: int, overflow: str) -> None:
    rng = np.random.default_rng(wx + ww + wa + len(overflow))
    tx = FixedType(wx, 8, signed=True, rounding="RND")
    tw = FixedType(ww, 2)
    tb = FixedType(ww, 4)
    fp = tx.frac + tw.frac
    ta = FixedType(wa, wa - fp - (0 if overflow == "WRAP" else 3), rounding="RND_CONV", overflow=overflow)
    tr = FixedType(wr, 12, rounding="RND", overflow="SAT")
    for _ in range(3):
        check_against_reference(rng, tx, tw, tb, ta, tr, batch=4)


def test_wide_auto_accumulator_is_exact_python_ints() -> None:
    rng = np.random.default_rng(7)
    tx = FixedType(50, 10)
    kernel, bias = random_layer(rng, FixedType(48, 2), FixedType(48, 3), n_in=5, n_out=3)
    xm = random_mantissas(rng, tx, (4, 5))
    got, types, _, prep = run_dense(kernel, bias, tx, {"weight": FixedType(48, 2), "bias": FixedType(48, 3)}, xm,
                                    default=FixedType(64, 20))
    assert types["accum"].width > 62 and prep.fast is True
    want, events, _ = fxref.dense(kernel, bias, tx, types, xm)
    assert got == want and events == 0


# -- the default ("auto") accumulator ------------------------------------------------------------------

def corner_inputs(wq: list[list[int]], tx: FixedType) -> list[list[int]]:
    """For each output column the inputs giving its largest and its smallest sum."""
    lo, hi = fxref.mantissa_range(tx)
    rows = []
    for j in range(len(wq[0])):
        rows.append([hi if row[j] > 0 else lo for row in wq])
        rows.append([lo if row[j] > 0 else hi for row in wq])
    return rows


@pytest.mark.parametrize("seed", range(25))
def test_auto_accumulator_is_exact_and_narrowest(seed: int) -> None:
    rng = np.random.default_rng(300 + seed)
    default = FixedType(int(rng.integers(4, 20)), int(rng.integers(1, 8)))
    tx = random_type(rng, 2, 14)
    kernel, bias = random_layer(rng, FixedType(default.width, 3), FixedType(default.width, 4))
    kernel *= rng.uniform(0.01, 4)
    g = dense_graph(kernel, bias, input_type=tx)
    infer_types(g, default)
    node = g["fc"]
    tw, tb, ta = node.types["weight"], node.types["bias"], node.types["accum"]
    # the default weight/bias types hold every value: quantization only rounds (never clamps)
    for w, t in [(w, tw) for w in kernel.ravel()] + [(b, tb) for b in bias]:
        assert abs(fxref.value(fxref.quantize_const(float(w), t), t) - Fraction(float(w))) < fxref.lsb(t)
    wq = [[fxref.quantize_const(float(w), tw) for w in row] for row in kernel]
    bq = [fxref.quantize_const(float(b), tb) for b in bias]
    xm = corner_inputs(wq, tx) + random_mantissas(rng, tx, (6, kernel.shape[0]))
    node.types["result"] = ta  # look at the accumulator itself: the result cast is then the identity
    prep = OPS["dense"].prepare(node, [tx])
    stats = RunStats()
    out = OPS["dense"].run_fixed(node, [QArray(to_storage(xm, tx), tx)], prep, stats)
    assert stats.overflow[("fc", "accum")].count == 0
    sums = []
    for r, xrow in enumerate(xm):
        for j in range(kernel.shape[1]):
            exact = fxref.value(bq[j], tb) + sum(fxref.value(xrow[i], tx) * fxref.value(wq[i][j], tw)
                                                 for i in range(kernel.shape[0]))
            assert fxref.value(int(out.m[r, j]), ta) == exact
            sums.append(exact)
    # narrowest: one bit less (same LSB) cannot hold the extreme sums
    if ta.width > 1:
        smaller = FixedType(ta.width - 1, ta.integer - 1, ta.signed)
        assert any(fxref.overflows(s, smaller) for s in sums)
    if ta.signed:  # and it is signed only when some sum can be negative
        assert min(sums) < 0


def test_auto_accumulator_by_hand() -> None:
    """x: ap_ufixed<4,2> (0..3.75, 2 fractional bits); w = 1.0 and 0.5 -> ap_fixed<16,2> (14); b = 0.25 ->
    ap_fixed<16,0> (16). Sums lie in [0.25, 0.25 + 3.75 * 1.5 = 5.875] with 16 fractional bits: 5.875 * 2**16
    needs 19 bits, and nothing is negative: ap_ufixed<19,3>."""
    g = dense_graph(np.array([[1.0], [0.5]]), np.array([0.25]), input_type=FixedType(4, 2, signed=False))
    infer_types(g, FixedType(16, 6))
    assert g["fc"].types == {"weight": FixedType(16, 2), "bias": FixedType(16, 0),
                             "accum": FixedType(19, 3, signed=False), "result": FixedType(16, 6)}
    g2 = dense_graph(np.array([[1.0], [-0.5]]), np.array([0.25]), input_type=FixedType(4, 2, signed=False))
    infer_types(g2, FixedType(16, 6))
    # now [0.25 - 1.875, 0.25 + 3.75] = [-1.625, 4.0]: 4.0 * 2**16 needs 19 bits plus a sign
    assert g2["fc"].types["accum"] == FixedType(20, 4)


def test_auto_accumulator_default_pipeline_through_interpreter_matches_reference(X: np.ndarray) -> None:
    """Float inputs -> input cast -> Dense with the default types, all via the interpreter (fast and
    reference=True sequential kernels)."""
    rng = np.random.default_rng(11)
    kernel = rng.normal(size=(6, 3))
    kernel[2] = 0.0
    bias = rng.normal(size=3)
    g = dense_graph(kernel, bias)
    infer_types(g, FixedType(10, 3, rounding="RND", overflow="SAT"))
    tx = g["x"].types["result"]
    x = X[:20] * 3
    fast = Interpreter(g).run(x)
    slow = Interpreter(g, reference=True).run(x)
    np.testing.assert_array_equal(fast.outputs[0], slow.outputs[0])
    xm = [[fxref.from_float(v, tx) for v in row] for row in x]
    want, _, _ = fxref.dense(kernel, bias, tx, dict(g["fc"].types), xm)
    got = [[fxref.cast(Fraction(float(v)), g["fc"].types["result"]) for v in row] for row in fast.outputs[0]]
    assert got == want
    assert fast.stats.overflow[("fc", "accum")].count == 0


def test_float_kernel_is_affine_map() -> None:
    rng = np.random.default_rng(3)
    kernel, bias = rng.normal(size=(4, 3)), rng.normal(size=3)
    x = rng.normal(size=(5, 4))
    y = OPS["dense"].run_float(dense_graph(kernel, bias)["fc"], [x])
    np.testing.assert_allclose(y, np.einsum("bi,ij->bj", x, kernel) + bias, rtol=1e-12)


# -- ScaleShift (a batch-norm that was not folded) -------------------------------------------------

@pytest.mark.parametrize("seed", range(10))
def test_scale_shift_matches_reference(seed: int) -> None:
    rng = np.random.default_rng(400 + seed)
    n = 4
    tx = random_type(rng, 3, 14)
    tw, tb = random_type(rng, 3, 12, signed=True), random_type(rng, 3, 12, signed=True)
    tr = random_type(rng, 3, 14, overflow=("WRAP", "SAT", "SAT_ZERO")[seed % 3])
    scale = rng.uniform(-1.2, 1.2, n) * max(abs(tw.min_value), tw.max_value)
    shift = rng.uniform(-1.2, 1.2, n) * max(abs(tb.min_value), tb.max_value)
    g = Graph()
    g.add(Node("x", "input", [], (n,), types={"result": tx}))
    node = g.add(Node("bn", "scale_shift", ["x"], (n,), weights={"scale": scale, "shift": shift},
                      types={"weight": tw, "bias": tb, "result": tr}))
    infer_types(g, FixedType(16, 6))
    xm = random_mantissas(rng, tx, (6, n))
    out = OPS["scale_shift"].run_fixed(node, [QArray(to_storage(xm, tx), tx)],
                                       OPS["scale_shift"].prepare(node, [tx]), RunStats())
    sq = [fxref.quantize_const(float(s), tw) for s in scale]
    hq = [fxref.quantize_const(float(h), tb) for h in shift]
    want = [[fxref.cast(fxref.value(row[j], tx) * fxref.value(sq[j], tw) + fxref.value(hq[j], tb), tr)
             for j in range(n)] for row in xm]
    assert [[int(v) for v in row] for row in out.m.tolist()] == want
