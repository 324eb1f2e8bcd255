"""Merge ops (several inputs) and transpose: exact default types, casts against an independent reference, arity
and shape errors, and the layout helpers every backend uses."""

from __future__ import annotations

import numpy as np
import pytest

from nnfpga.errors import GraphError, NnfpgaError, ShapeError
from nnfpga.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedType, from_float
from nnfpga.frontends.merge import add_merge
from nnfpga.ir.graph import Graph, Node
from nnfpga.ir.layout import broadcast_flat, channel_constants, check_broadcast, concat_order, transpose_order
from nnfpga.ops import OPS, QArray, RunStats
from nnfpga.passes import infer_types

MERGES = ("add", "subtract", "multiply", "average", "maximum", "minimum")
FLOAT = {"add": lambda xs: sum(xs[1:], xs[0]), "subtract": lambda xs: xs[0] - xs[1],
         "multiply": lambda xs: np.prod(xs, axis=0), "average": lambda xs: sum(xs[1:], xs[0]) / len(xs),
         "maximum": lambda xs: np.max(xs, axis=0), "minimum": lambda xs: np.min(xs, axis=0)}


def random_type(rng: np.random.Generator, modes: bool = False) -> FixedType:
    width = int(rng.integers(1, 12))
    t = FixedType(width, int(rng.integers(-3, width + 3)), signed=bool(rng.random() < 0.7))
    if modes:
        t = t.with_(rounding=str(rng.choice(ROUNDING_MODES)), overflow=str(rng.choice(OVERFLOW_MODES)))
    return t


def merge_graph(op: str, types: list[FixedType], shape: tuple[int, ...], result: FixedType | None = None,
                axis: int = -1) -> Graph:
    g = Graph()
    for k, t in enumerate(types):
        g.add(Node(f"x{k}", "input", [], shape, types={"result": t}))
    add_merge(g, op, "m", [f"x{k}" for k in range(len(types))], f"{op} 'm'", axis=axis)
    if result is not None:
        g["m"].types["result"] = result
    g.outputs = ["m"]
    infer_types(g, FixedType(16, 6))
    return g


def all_mantissas(types: list[FixedType], rng: np.random.Generator, n: int = 4000) -> list[QArray]:
    """Random mantissas covering each input type, with its extremes."""
    out = []
    for t in types:
        m = rng.integers(t.min_mantissa, t.max_mantissa, size=n, endpoint=True)
        m[:4] = [t.min_mantissa, t.max_mantissa, 0, t.max_mantissa]
        out.append(QArray(m.reshape(n, 1).astype(np.float64), t))
    return out


@pytest.mark.parametrize("op", MERGES)
def test_default_result_is_exact_and_casts_match_the_reference(op: str) -> None:
    """The default result holds the exact expression (fixed == float expression of the quantized inputs); an
    explicit result in any rounding/overflow mode equals ap_fixed's conversion of that exact value."""
    rng = np.random.default_rng(MERGES.index(op))
    for trial in range(40):
        n_in = 2 if op == "subtract" else int(rng.choice([2, 4])) if op == "average" else int(rng.integers(2, 4))
        types = [random_type(rng) for _ in range(n_in)]
        xs = all_mantissas(types, rng)
        expected = FLOAT[op](np.stack([x.values() for x in xs]))
        for result in (None, random_type(rng, modes=True)):
            g = merge_graph(op, types, (1,), result)
            node = g["m"]
            y = OPS[op].run_fixed(node, xs, OPS[op].prepare(node, types), stats := RunStats())
            if result is None:
                assert np.array_equal(y.values(), expected), (op, types, trial)
                assert stats.overflow[("m", "result")].count == 0
            else:
                ref, _ = from_float(expected, result)
                assert np.array_equal(y.m.astype(np.float64), ref.astype(np.float64)), (op, types, result, trial)


def test_exact_types() -> None:
    a, b = FixedType(8, 3), FixedType(6, 2, signed=False)
    assert str(merge_graph("add", [a, b], (4,))["m"].types["result"]) == "ap_fixed<9,4>"
    assert str(merge_graph("subtract", [a, b], (4,))["m"].types["result"]) == "ap_fixed<9,4>"
    assert str(merge_graph("multiply", [a, b], (4,))["m"].types["result"]) == "ap_fixed<14,5>"
    assert str(merge_graph("average", [a, b], (4,))["m"].types["result"]) == "ap_fixed<9,3>"
    assert str(merge_graph("maximum", [a, b], (4,))["m"].types["result"]) == "ap_fixed<8,3>"  # holds both
    assert str(merge_graph("concatenate", [a, b], (4,))["m"].types["result"]) == "ap_fixed<8,3>"


def test_concatenate_along_each_axis() -> None:
    rng = np.random.default_rng(3)
    t = FixedType(10, 4)
    for axis, shapes in ((0, [(2, 3), (4, 3)]), (1, [(2, 3), (2, 1)]), (-1, [(2, 2, 1), (2, 2, 3)])):
        g = Graph()
        for k, s in enumerate(shapes):
            g.add(Node(f"x{k}", "input", [], s, types={"result": t}))
        add_merge(g, "concatenate", "m", ["x0", "x1"], "Concatenate 'm'", axis=axis)
        infer_types(g, t)
        xs = [QArray(rng.integers(-512, 512, size=(5, *s)).astype(np.float64), t) for s in shapes]
        y = OPS["concatenate"].run_fixed(g["m"], xs, {}, RunStats())
        assert y.m.shape == (5, *g["m"].shape)
        assert np.array_equal(y.m, np.concatenate([x.m for x in xs], axis=g["m"].attrs["axis"] + 1))
        # the flat order every backend uses
        flat = [x.m.reshape(5, -1) for x in xs]
        order = concat_order(shapes, g["m"].attrs["axis"])
        assert np.array_equal(y.m.reshape(5, -1), np.stack([flat[k][:, i] for k, i in order], axis=1))


def test_arity_and_shape_errors() -> None:
    t = FixedType(8, 3)
    with pytest.raises(GraphError, match=r"averages 3 inputs; nnfpga averages a power of two of inputs"):
        merge_graph("average", [t, t, t], (2,))
    with pytest.raises(GraphError, match=r"has 3 input\(s\); subtract takes 2$"):
        merge_graph("subtract", [t, t, t], (2,))
    with pytest.raises(ShapeError, match=r"^add 'm': add needs inputs of one shape, got \(2,\), \(3,\)"):
        g = Graph()
        g.add(Node("a", "input", [], (2,)))
        g.add(Node("b", "input", [], (3,)))
        add_merge(g, "add", "m", ["a", "b"], "add 'm'")
    with pytest.raises(ShapeError, match=r"must agree on every axis but 0, got \(2, 3\), \(2, 4\)"):
        g = Graph()
        g.add(Node("a", "input", [], (2, 3)))
        g.add(Node("b", "input", [], (2, 4)))
        add_merge(g, "concatenate", "m", ["a", "b"], "c", axis=0)
    with pytest.raises(ShapeError, match=r"axis 2 is out of range for a per-sample tensor of 2 axes"):
        merge_graph("concatenate", [t, t], (2, 3), axis=2)


def test_transpose_kernel_and_order() -> None:
    rng = np.random.default_rng(5)
    shape, perm = (2, 3, 4), (2, 0, 1)
    x = rng.integers(-8, 8, size=(7, *shape)).astype(np.float64)
    node = Node("t", "transpose", ["x"], (4, 2, 3), {"perm": perm}, types={"result": FixedType(4, 4)})
    y = OPS["transpose"].run_fixed(node, [QArray(x, FixedType(4, 4))], {}, RunStats())
    assert np.array_equal(y.m, np.transpose(x, (0, 3, 1, 2)))
    assert np.array_equal(y.m.reshape(7, -1), x.reshape(7, -1)[:, transpose_order(shape, perm)])


def test_broadcast_rule() -> None:
    c = np.array([1, 2, 3])
    assert broadcast_flat(c, (2, 3)).tolist() == [1, 2, 3, 1, 2, 3]
    assert broadcast_flat(np.arange(6).reshape(2, 3), (2, 3)).tolist() == list(range(6))
    values, period = channel_constants(c, (4, 4, 3))
    assert values.tolist() == [1, 2, 3] and period == 3
    values, period = channel_constants(np.array([[1], [2]]), (2, 3))  # per row: expanded per element
    assert values.tolist() == [1, 1, 1, 2, 2, 2] and period == 6
    with pytest.raises(ShapeError, match=r"a constant of shape \(4,\) does not apply to a tensor of per-sample shape "
                                         r"\(4, 3\); per-axis constants align with the last \(channel\) axis"):
        check_broadcast((4,), (4, 3), "batch-norm 'bn'")
    assert issubclass(ShapeError, NnfpgaError)


def test_float_kernels_match_numpy() -> None:
    rng = np.random.default_rng(9)
    xs = [rng.normal(size=(5, 3)) for _ in range(2)]
    for op in MERGES:
        node = Node("m", op, ["a", "b"], (3,))
        assert np.allclose(OPS[op].run_float(node, xs), FLOAT[op](np.stack(xs)))
