"""Pooling, padding, cropping and upsampling against literal references (Python ints and Fractions).

Pooling (tests/fxref.py ``pool``): padding never counts; max = (result)(accum) max; average = a cast to the
accumulator after each addition, the accumulator's mantissa divided by the count with truncation toward zero
(hls4ml's ``y /= length``), then (result).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from test_conv import random_mantissas, random_type, run_fixed

import fxref
from nnfpga.errors import ShapeError
from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Graph, Node
from nnfpga.ops import OPS
from nnfpga.passes import infer_types

# (spatial, C, pool, strides, pads, count_pad)
POOLS = {
    "1d_stride_pad": ((7,), 2, (3,), (2,), ((1, 1),), False),
    "2d_2x2": ((5, 6), 2, (2, 2), (2, 2), ((0, 1), (0, 0)), False),
    "2d_uneven_same": ((4, 5), 1, (3, 2), (1, 2), ((1, 1), (1, 0)), False),
    "2d_count_pad": ((4, 4), 2, (3, 3), (1, 1), ((1, 1), (1, 1)), True),
    "global_2d": ((3, 4), 2, (3, 4), (3, 4), ((0, 0), (0, 0)), False),
}


def pool_graph(op: str, spatial: tuple[int, ...], c: int, tx: FixedType | None, types: dict | None = None,
               **attrs: object) -> Graph:
    g = Graph(name="g")
    g.add(Node("x", "input", [], (*spatial, c), types={"result": tx} if tx else {}))
    node = Node("p", op, ["x"], (), dict(attrs), types=dict(types or {}))
    node.shape = OPS[op].infer_shape(node, [g["x"].shape])
    g.add(node)
    g.outputs = ["p"]
    return g


@pytest.mark.parametrize("name", sorted(POOLS))
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("narrow", [True, False])
def test_pool_equals_literal_reference(name: str, kind: str, narrow: bool) -> None:
    spatial, c, size, strides, pads, count_pad = POOLS[name]
    rng = np.random.default_rng(sorted(POOLS).index(name) * 4 + 2 * (kind == "avg") + narrow)
    tx = random_type(rng, 3, 10)
    types = {}
    if narrow:  # fewer fractional bits than the input (each partial sum rounds), and a saturating range
        width = int(rng.integers(3, 9))
        types["accum"] = FixedType(width, width - tx.frac + int(rng.integers(1, 3)), bool(rng.integers(0, 2)),
                                   random_type(rng, 2, 3).rounding, ("SAT", "WRAP")[int(rng.integers(0, 2))])
        types["result"] = random_type(rng, 3, 10, overflow="SAT")
    glob = name.startswith("global")
    g = pool_graph(f"{kind}_pool", spatial, c, tx, types, pool=list(size), strides=list(strides),
                   pads=[list(p) for p in pads], count_pad=count_pad, **({"global": True} if glob else {}))
    infer_types(g, FixedType(16, 6))
    xm = random_mantissas(rng, tx, (3, *spatial, c))
    got, _ = run_fixed(g, xm)
    assert run_fixed(g, xm[:0])[0].shape == (0, *g["p"].shape)
    for b in range(3):
        want = fxref.pool(kind, tx, dict(g["p"].types), xm[b], size, strides, pads, count_pad)
        assert got[b].ravel().tolist() == want.ravel().tolist(), f"sample {b}: types {g['p'].types}"


@pytest.mark.parametrize("size", [(2, 2), (4,), (2, 4), (3, 3)])
def test_default_average_is_exact_for_power_of_two_windows(size: tuple[int, ...]) -> None:
    rng = np.random.default_rng(len(size))
    spatial = tuple(2 * k for k in size)
    tx = FixedType(9, 3, signed=True)
    g = pool_graph("avg_pool", spatial, 2, tx, pool=list(size), strides=list(size), pads=[[0, 0]] * len(size))
    infer_types(g, FixedType(16, 6))
    xm = random_mantissas(rng, tx, (4, *spatial, 2))
    got, stats = run_fixed(g, xm)
    tr = g["p"].types["result"]
    n = int(np.prod(size))
    assert stats.overflow[("p", "accum")].count == stats.overflow[("p", "result")].count == 0
    for b, *o, ch in np.ndindex(*got.shape):
        block = xm[(b, *(slice(i * k, (i + 1) * k) for i, k in zip(o, size, strict=True)), ch)]
        mean = sum(fxref.value(int(v), tx) for v in block.ravel()) / n
        if n & (n - 1) == 0:
            assert fxref.value(int(got[(b, *o, ch)]), tr) == mean
        else:  # 3x3: truncated toward zero below 2**-4 of the input's LSB
            assert abs(fxref.value(int(got[(b, *o, ch)]), tr) - mean) < fxref.lsb(tx) / 16


def test_max_pool_keeps_the_input_type_and_ignores_padding() -> None:
    """An unsigned input of all zeros but one value, padded: the padding never wins (hls4ml would pad unsigned
    types with the MSB set)."""
    tx = FixedType(6, 2, signed=False)
    g = pool_graph("max_pool", (3,), 1, tx, pool=[2], strides=[2], pads=[[1, 0]])
    infer_types(g, FixedType(16, 6))
    assert g["p"].types == {"accum": tx, "result": tx}
    got, _ = run_fixed(g, np.array([[[0], [5], [1]]], dtype=object))
    assert got.ravel().tolist() == [0, 5]


def test_global_pool_shapes_and_config_types() -> None:
    for keepdims, shape in ((False, (3,)), (True, (1, 1, 3))):
        g = pool_graph("avg_pool", (2, 4), 3, None, pool=[2, 4], strides=[2, 4], pads=[[0, 0], [0, 0]],
                       keepdims=keepdims, **{"global": True})
        assert tuple(g["p"].shape) == shape
        assert OPS["avg_pool"].config_type(g["p"]) == "GlobalAveragePooling2D"
    g = pool_graph("max_pool", (5,), 2, None, pool=[2], strides=[1], pads=[[0, 0]])
    assert OPS["max_pool"].config_type(g["p"]) == "MaxPooling1D"
    with pytest.raises(ShapeError, match=r"a global pooling's pool and strides are the input's spatial shape"):
        pool_graph("max_pool", (5,), 2, None, pool=[2], strides=[2], pads=[[0, 0]], **{"global": True})
    with pytest.raises(ShapeError, match=r"pads \[\[2, 0\]\] must each be smaller than the pool \(2,\)"):
        pool_graph("max_pool", (5,), 2, None, pool=[2], strides=[1], pads=[[2, 0]])


def test_float_average_divides_by_the_real_positions() -> None:
    g = pool_graph("avg_pool", (3,), 1, None, pool=[2], strides=[1], pads=[[1, 0]])
    y = OPS["avg_pool"].run_float(g["p"], [np.array([[[2.0], [4.0], [8.0]]])])
    assert y.ravel().tolist() == [2.0, 3.0, 6.0]


# -- padding, cropping, upsampling ---------------------------------------------------------------------------

def spatial_graph(op: str, spatial: tuple[int, ...], tx: FixedType, tr: FixedType | None, **attrs: object) -> Graph:
    return pool_graph(op, spatial, 2, tx, {"result": tr} if tr else {}, **attrs)


@pytest.mark.parametrize("narrow", [False, True])
def test_pad_crop_upsample_move_values_and_cast(narrow: bool) -> None:
    rng = np.random.default_rng(int(narrow))
    tx = FixedType(8, 3)
    tr = FixedType(5, 1, rounding="RND", overflow="SAT") if narrow else None
    xm = random_mantissas(rng, tx, (2, 3, 4, 2))
    cases = {
        "zero_pad": ({"pads": [[1, 0], [2, 1]]},
                     lambda b, i, j, c: xm[b, i - 1, j - 2, c] if 1 <= i < 4 and 2 <= j < 6 else 0, (4, 7)),
        "crop": ({"crops": [[1, 1], [0, 2]]}, lambda b, i, j, c: xm[b, i + 1, j, c], (1, 2)),
        "upsample": ({"size": [2, 3]}, lambda b, i, j, c: xm[b, i // 2, j // 3, c], (6, 12)),
    }
    for op, (attrs, source, out) in cases.items():
        g = spatial_graph(op, (3, 4), tx, tr, **attrs)
        infer_types(g, FixedType(16, 6))
        assert tuple(g["p"].shape) == (*out, 2)
        assert g["p"].types["result"] == (tr or tx)
        got, _ = run_fixed(g, xm)
        for idx in np.ndindex(*got.shape):
            assert got[idx] == fxref.cast(fxref.value(int(source(*idx)), tx), tr or tx), (op, idx)
        assert OPS[op].config_type(g["p"]).endswith("2D")


def test_resize_ops_refuse_bad_attributes() -> None:
    tx = FixedType(8, 3)
    with pytest.raises(ShapeError, match=r"cropping \[\[2, 1\], \[0, 0\]\] leaves nothing"):
        spatial_graph("crop", (3, 4), tx, None, crops=[[2, 1], [0, 0]])
    with pytest.raises(ShapeError, match=r"size must be 2 integer\(s\) >= 1"):
        spatial_graph("upsample", (3, 4), tx, None, size=[2, 0])
    with pytest.raises(ShapeError, match=r"expects a channels-last input of 1 spatial axis"):
        spatial_graph("zero_pad", (3, 4), tx, None, pads=[[1, 1]])


def test_float_kernels_move_the_same_values() -> None:
    x = np.arange(24, dtype=np.float64).reshape(1, 3, 4, 2) / 8
    for op, attrs in (("zero_pad", {"pads": [[1, 0], [0, 1]]}), ("crop", {"crops": [[0, 1], [1, 1]]}),
                      ("upsample", {"size": [1, 2]})):
        g = spatial_graph(op, (3, 4), FixedType(8, 3), None, **attrs)
        infer_types(g, FixedType(16, 6))
        fixed, _ = run_fixed(g, (x * 32).astype(np.int64).astype(object))
        assert [Fraction(int(v), 32) for v in fixed.ravel()] == [Fraction(v) for v in
                                                                 OPS[op].run_float(g["p"], [x]).ravel()]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("width", [60, 90])  # int64 and Python-int (object) mantissas
def test_wide_types_beyond_float64(kind: str, width: int) -> None:
    rng = np.random.default_rng(width)
    tx = FixedType(width, 20)
    types = {"accum": FixedType(width + 1, 22, rounding="RND", overflow="SAT"), "result": FixedType(width - 4, 18)}
    g = pool_graph(f"{kind}_pool", (5,), 2, tx, types, pool=[3], strides=[2], pads=[[1, 1]])
    xm = random_mantissas(rng, tx, (3, 5, 2))
    got, _ = run_fixed(g, xm)
    for b in range(3):
        want = fxref.pool(kind, tx, types, xm[b], (3,), (2,), ((1, 1),))
        assert got[b].ravel().tolist() == want.ravel().tolist()
