"""Convolutions against a literal reference (Python ints and Fractions, tests/fxref.py: one output pixel, one
output channel, one window input at a time) of the documented semantics: per pixel, the Dense contract

    acc = (accum) bias;  for each window input, in (positions row-major, channel) order:
    acc = (accum)(acc + (accum)(x * w));  y = (result) acc

for every variant: 1D and 2D, strides, dilation, explicit padding, groups (depthwise with depth multipliers 1 and
2, and two groups of two channels), with narrow rounding-and-saturating, narrow wrapping and exact accumulators.
"""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np
import pytest

import fxref
from nnfpga.emulate import Interpreter
from nnfpga.errors import ShapeError
from nnfpga.fixed import FixedType, storage_dtype
from nnfpga.ir.graph import Graph, Node
from nnfpga.ops import OPS, QArray, RunStats
from nnfpga.passes import infer_types

ROUNDINGS = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")

# (spatial, C_in, window, C_out, strides, dilation, pads, groups)
CASES = {
    "1d_valid": ((7,), 2, (3,), 3, (1,), (1,), ((0, 0),), 1),
    "1d_stride_pad": ((8,), 3, (2,), 2, (2,), (1,), ((1, 0),), 1),
    "1d_dilated_causal": ((9,), 2, (3,), 2, (1,), (2,), ((4, 0),), 1),
    "2d_same": ((5, 4), 2, (3, 3), 3, (1, 1), (1, 1), ((1, 1), (1, 1)), 1),
    "2d_strides_uneven_pads": ((6, 5), 2, (2, 3), 2, (2, 1), (1, 1), ((0, 1), (1, 1)), 1),
    "2d_dilated": ((7, 6), 1, (2, 2), 2, (1, 2), (2, 1), ((0, 0), (0, 1)), 1),
    "depthwise": ((5, 5), 3, (3, 3), 3, (1, 1), (1, 1), ((1, 1), (1, 1)), 3),
    "depthwise_multiplier_2": ((5, 4), 2, (2, 2), 4, (2, 1), (1, 1), ((0, 1), (0, 1)), 2),
    "two_groups": ((4, 4), 4, (2, 2), 4, (1, 1), (1, 1), ((0, 0), (0, 0)), 2),
    "depthwise_1d": ((6,), 2, (3,), 2, (1,), (1,), ((1, 1),), 2),
}


def random_type(rng: np.random.Generator, wmin: int, wmax: int, *, signed: bool | None = None,
                overflow: str = "WRAP") -> FixedType:
    width = int(rng.integers(wmin, wmax + 1))
    signed = bool(rng.integers(0, 2)) if signed is None else signed
    return FixedType(width, int(rng.integers(-1, width + 2)), signed, ROUNDINGS[int(rng.integers(7))], overflow)


def random_mantissas(rng: np.random.Generator, t: FixedType, shape: tuple[int, ...]) -> np.ndarray:
    """A third at the type's extremes or zero, the rest uniform (Python ints in an object array)."""
    lo, hi = fxref.mantissa_range(t)
    py = random.Random(int(rng.integers(2**31)))
    flat = [py.choice((lo, hi, 0)) if py.random() < 0.33 else py.randint(lo, hi) for _ in range(int(np.prod(shape)))]
    return np.array(flat, dtype=object).reshape(shape)


def conv_graph(kernel: np.ndarray, bias: np.ndarray, spatial: tuple[int, ...], tx: FixedType | None,
               types: dict[str, FixedType] | None = None, **attrs: object) -> Graph:
    g = Graph(name="g")
    g.add(Node("x", "input", [], (*spatial, kernel.shape[-2] * int(attrs.get("groups", 1))),
               types={"result": tx} if tx else {}))
    node = Node("c", "conv", ["x"], (), dict(attrs), weights={"kernel": kernel, "bias": bias}, types=dict(types or {}))
    node.shape = OPS["conv"].infer_shape(node, [g["x"].shape])
    g.add(node)
    g.outputs = ["c"]
    return g


def run_fixed(g: Graph, xm: np.ndarray) -> tuple[np.ndarray, RunStats]:
    node, tx = g.nodes[g.outputs[0]], g[g.inputs[0]].types["result"]
    stats = RunStats()
    out = OPS[node.op].run_fixed(node, [QArray(xm.astype(storage_dtype(tx.width)), tx)],
                                 OPS[node.op].prepare(node, [tx]), stats)
    assert out.t == node.types["result"] and out.m.shape == (xm.shape[0], *node.shape)
    return np.array([int(v) for v in out.m.ravel()], dtype=object).reshape(out.m.shape), stats


def layer(rng: np.random.Generator, case: tuple, tw: FixedType, tb: FixedType) -> tuple[np.ndarray, np.ndarray]:
    _, c_in, size, c_out, _, _, _, groups = case
    wspan = max(abs(tw.min_value), tw.max_value) * 1.2
    kernel = rng.uniform(-wspan, wspan, (*size, c_in // groups, c_out))
    kernel[rng.random(kernel.shape) < 0.2] = 0.0
    bias = rng.uniform(-1.2, 1.2, c_out) * max(abs(tb.min_value), tb.max_value)
    return kernel, bias


def check_case(name: str, seed: int, ta_kind: str) -> None:
    rng = np.random.default_rng(seed)
    case = CASES[name]
    spatial, c_in, _, _, strides, dilation, pads, groups = case
    tx = random_type(rng, 2, 10)
    tw, tb = random_type(rng, 2, 8, signed=True), random_type(rng, 2, 8, signed=True)
    fp = tx.frac + tw.frac
    width = int(rng.integers(4, 12))
    if ta_kind == "exact":
        ta = None
    else:  # fewer fractional bits than the products: each product rounds; SAT: partial sums saturate in order
        frac = fp - int(rng.integers(1, 4))
        ta = FixedType(width, width - frac, True, ROUNDINGS[seed % 7], "SAT" if ta_kind == "sat" else "WRAP")
    tr = random_type(rng, 3, 12, overflow=("WRAP", "SAT")[seed % 2])
    kernel, bias = layer(rng, case, tw, tb)
    types = {"weight": tw, "bias": tb, "accum": ta, "result": tr}
    g = conv_graph(kernel, bias, spatial, tx, {k: v for k, v in types.items() if v is not None},
                   strides=list(strides), dilation=list(dilation), pads=[list(p) for p in pads], groups=groups)
    infer_types(g, FixedType(16, 6))
    xm = random_mantissas(rng, tx, (3, *spatial, c_in))
    got, stats = run_fixed(g, xm)
    full = dict(g["c"].types)
    events = 0
    for b in range(xm.shape[0]):
        want, ev = fxref.conv(kernel, bias, tx, full, xm[b], strides, dilation, pads, groups)
        events += ev
        assert got[b].tolist() == want.tolist(), f"sample {b}, types {full}"
    if ta_kind != "wrap":  # saturating and exact accumulators count every cast that overflowed, exactly
        assert stats.overflow[("c", "accum")].count == events
    if ta_kind == "exact":
        assert events == 0


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("ta_kind", ["sat", "wrap", "exact"])
def test_conv_equals_literal_reference(name: str, ta_kind: str) -> None:
    check_case(name, sorted(CASES).index(name) * 3 + ["sat", "wrap", "exact"].index(ta_kind), ta_kind)


def test_saturating_accumulator_sees_the_window_in_hls4ml_order() -> None:
    """1D, one channel, window 3: inputs 6, 6, -4 (x w = 1) with an accumulator saturating at 7.5: the order
    (positions left to right) shows, min(12, 7.5) - 4 = 3.5, where the exact sum is 8."""
    tx, tw = FixedType(8, 5), FixedType(8, 4)
    types = {"weight": tw, "bias": tw, "accum": FixedType(5, 4, overflow="SAT"), "result": FixedType(8, 5)}
    g = conv_graph(np.ones((3, 1, 1)), np.zeros(1), (3,), tx, types)
    got, stats = run_fixed(g, np.array([[[48], [48], [-32]]], dtype=object))
    assert got.tolist() == [[[28]]]  # 3.5 * 8
    assert stats.overflow[("c", "accum")].count == 1


def test_fast_paths_equal_the_reference_interpreter() -> None:
    """The interpreter's fast plans (BLAS products, batched rounding) against reference=True (input by input)."""
    rng = np.random.default_rng(5)
    kernel, bias = rng.normal(size=(3, 3, 2, 4)), rng.normal(size=4)
    for ta in (None, FixedType(12, 5, rounding="RND", overflow="SAT"), FixedType(10, 4, rounding="RND_CONV")):
        g = conv_graph(kernel, bias, (6, 6), None, {"accum": ta} if ta else {}, strides=[2, 1],
                       pads=[[1, 1], [0, 1]])
        infer_types(g, FixedType(10, 3, rounding="RND", overflow="SAT"))
        x = rng.normal(size=(40, 6, 6, 2)) * 2
        fast, slow = Interpreter(g).run(x), Interpreter(g, reference=True).run(x)
        np.testing.assert_array_equal(fast.outputs[0], slow.outputs[0])
        assert fast.stats.overflow[("c", "accum")].count == slow.stats.overflow[("c", "accum")].count or \
            (ta is not None and ta.overflow == "WRAP")


def test_default_accumulator_is_exact_over_every_group() -> None:
    rng = np.random.default_rng(9)
    kernel = rng.normal(size=(2, 2, 1, 4)) * np.array([0.01, 0.1, 1.0, 8.0])  # one scale per output channel
    g = conv_graph(kernel, rng.normal(size=4), (5, 5), FixedType(8, 3), groups=2)
    infer_types(g, FixedType(16, 6))
    node = g["c"]
    assert node.types["accum"] == OPS["conv"].exact_accum(node, FixedType(8, 3))
    xm = random_mantissas(rng, FixedType(8, 3), (4, 5, 5, 2))
    node.types["result"] = node.types["accum"]
    got, stats = run_fixed(g, xm)
    assert stats.overflow[("c", "accum")].count == 0
    tw, tb = node.types["weight"], node.types["bias"]
    for b in range(2):  # every output is the exact sum
        want, _ = fxref.conv(kernel, g["c"].weights["bias"], FixedType(8, 3), dict(node.types), xm[b], (1, 1),
                             (1, 1), ((0, 0), (0, 0)), 2)
        assert got[b].tolist() == want.tolist()
    assert tw.width == tb.width == 16


def test_im2col_steps_bound_memory_and_keep_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """A budget of a few windows per step: the same bits as one step."""
    import nnfpga.ops.conv as conv_module

    rng = np.random.default_rng(2)
    g = conv_graph(rng.normal(size=(3, 2, 2, 3)), rng.normal(size=3), (8, 5), None, pads=[[1, 1], [0, 0]])
    infer_types(g, FixedType(12, 4))
    x = rng.normal(size=(9, 8, 5, 2))
    one = Interpreter(g).run(x).outputs[0]
    monkeypatch.setattr(conv_module, "rows_per_step", lambda per_sample: 2)
    np.testing.assert_array_equal(Interpreter(g).run(x).outputs[0], one)
    for mode in ("fixed", "float"):  # and an empty batch
        assert Interpreter(g).run(x[:0], mode=mode).outputs[0].shape == (0, *g["c"].shape)


def test_float_kernel_is_the_convolution_sum() -> None:
    rng = np.random.default_rng(4)
    kernel, bias = rng.normal(size=(2, 3, 1, 4)), rng.normal(size=4)
    g = conv_graph(kernel, bias, (4, 5), None, groups=2, dilation=[1, 2], pads=[[0, 1], [2, 0]])
    x = rng.normal(size=(2, 4, 5, 2))
    y = OPS["conv"].run_float(g["c"], [x])
    xp = np.pad(x, [(0, 0), (0, 1), (2, 0), (0, 0)])
    for b, i, j, o in np.ndindex(*y.shape):
        c = o // 2  # two groups of one input channel, two outputs each
        want = bias[o] + sum(xp[b, i + u, j + 2 * v, c] * kernel[u, v, 0, o] for u in range(2) for v in range(3))
        assert y[b, i, j, o] == pytest.approx(want, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(("attrs", "spatial", "match"), [
    ({"groups": 2}, (4, 4), r"reads 4 input channels and needs output channels divisible by 2"),
    ({"strides": [1]}, (4, 4), r"strides must be 2 integer\(s\) >= 1"),
    ({"pads": [[0, 0], [0, -1]]}, (4, 4), r"pads must be 2 \(before, after\) pair\(s\)"),
    ({}, (1, 4), r"does not fit the input's spatial shape \(1, 4\)"),
])
def test_bad_geometry_is_a_shape_error(attrs: dict, spatial: tuple[int, ...], match: str) -> None:
    with pytest.raises(ShapeError, match=match):
        conv_graph(np.ones((2, 2, 2, 3)), np.zeros(3), spatial, None, **attrs)


def test_a_pixel_value_by_hand() -> None:
    """x = 0.5 everywhere (ap_fixed<8,4>), 2x2 kernel of 0.25, bias 1 -> 1 + 4 * 0.125 = 1.5 at every pixel."""
    g = conv_graph(np.full((2, 2, 1, 1), 0.25), np.ones(1), (3, 3), FixedType(8, 4))
    infer_types(g, FixedType(16, 6))
    got, _ = run_fixed(g, np.full((1, 3, 3, 1), 8, dtype=object))
    assert {fxref.value(int(v), g["c"].types["result"]) for v in got.ravel()} == {Fraction(3, 2)}


@pytest.mark.parametrize("widths", [(30, 28, 60), (40, 36, 90)])  # int64 sums; Python-int (object) sums
def test_wide_types_beyond_float64(widths: tuple[int, int, int]) -> None:
    wx, ww, wa = widths
    rng = np.random.default_rng(wx)
    tx, tw = FixedType(wx, 8, rounding="RND"), FixedType(ww, 2)
    ta = FixedType(wa, wa - (tx.frac + tw.frac) + 3, rounding="RND_CONV", overflow="SAT")  # rounds each product
    types = {"weight": tw, "bias": FixedType(ww, 4), "accum": ta, "result": FixedType(wa - 10, 12)}
    kernel, bias = rng.uniform(-2, 2, (2, 2, 2, 3)), rng.uniform(-8, 8, 3)
    g = conv_graph(kernel, bias, (3, 4), tx, types, pads=[[1, 0], [0, 1]], groups=1)
    xm = random_mantissas(rng, tx, (2, 3, 4, 2))
    got, _ = run_fixed(g, xm)
    for b in range(2):
        want, _ = fxref.conv(kernel, bias, tx, types, xm[b], (1, 1), (1, 1), ((1, 0), (0, 1)), 1)
        assert got[b].tolist() == want.tolist()
