"""The LSTM's compiled time loop (:mod:`nnfpga.ops.recurrent_jit`) against the NumPy step it replaces and the
reference plan: the same output bits and the same overflow tallies, at the types' extremes (inputs at the input
type's ends and far beyond, state and result types that round every way the kernel knows and overflow every way,
a wrapping accumulator on the matmul path, tiny tables, every step order), and it is really taken where it
applies (a test that would pass through the NumPy step proves nothing) and not where it does not."""

from __future__ import annotations

import numpy as np
import pytest

from nnfpga.emulate import Interpreter
from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Graph, Node
from nnfpga.ops import OPS
from nnfpga.passes import infer_types

U, STEPS, FEATS = 5, 7, 3


def lstm_graph(types: dict[str, FixedType | None], attrs: dict, tx: FixedType, seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    n = 4 * U
    weights = {"kernel": rng.normal(0, 1.5, (FEATS, n)), "recurrent_kernel": rng.normal(0, 1.5, (U, n)),
               "bias": rng.normal(0, 1, n), "recurrent_bias": rng.normal(0, 1, n)}
    g = Graph(name="lstm")
    g.add(Node("x", "input", [], (STEPS, FEATS), types={"result": tx}))
    node = Node("cell", "lstm", ["x"], (), {"units": U, "activation": "tanh", "recurrent_activation": "sigmoid",
                                            **attrs}, weights, types=dict(types))
    node.shape = OPS["lstm"].infer_shape(node, [(STEPS, FEATS)])
    g.add(node)
    g.outputs = ["cell"]
    infer_types(g, FixedType(16, 6))
    return g


def extreme_inputs(tx: FixedType, n: int, seed: int) -> np.ndarray:
    """Values at the input type's two ends, zero, random in range and far beyond it (saturated or wrapped)."""
    rng = np.random.default_rng(seed)
    lo, hi = tx.min_mantissa * 2.0**-tx.frac, tx.max_mantissa * 2.0**-tx.frac
    x = rng.uniform(lo, hi, (n, STEPS, FEATS))
    pick = rng.random(x.shape)
    x[pick < 0.15] = lo
    x[(pick >= 0.15) & (pick < 0.3)] = hi
    x[(pick >= 0.3) & (pick < 0.35)] = 0.0
    x[(pick >= 0.35) & (pick < 0.4)] *= 16
    return x


def run_three(g: Graph, x: np.ndarray):
    """The fused plan's run, the NumPy step's (the same plan without the kernel), the reference plan's."""
    fused = Interpreter(g)
    assert fused.prep["cell"].fused is not None, g["cell"].types
    numpy_step = Interpreter(g)
    numpy_step.prep["cell"].fused = None
    return fused.run(x), numpy_step.run(x), Interpreter(g, reference=True).run(x)


def check(g: Graph, x: np.ndarray) -> None:
    got, step, ref = run_three(g, x)
    assert np.array_equal(got.outputs[0], step.outputs[0]), g["cell"].types
    assert np.array_equal(got.outputs[0], ref.outputs[0]), g["cell"].types
    for slot in ("accum", "state", "result"):
        assert got.stats.overflow[("cell", slot)] == step.stats.overflow[("cell", slot)], slot


STATES = [FixedType(10, 2, True, r, o) for r, o in (("TRN", "WRAP"), ("RND", "SAT"), ("RND_CONV", "SAT_SYM"),
                                                     ("RND_MIN_INF", "SAT_ZERO"), ("RND_CONV", "WRAP"),
                                                     ("TRN", "SAT_ZERO"))]


@pytest.mark.parametrize("state", STATES, ids=lambda t: f"{t.rounding}-{t.overflow}")
@pytest.mark.parametrize("order", ["forward", "backwards", "sequences", "flipped"])
def test_narrow_state_equals_numpy_step(state: FixedType, order: str) -> None:
    attrs = {"return_sequences": order in ("sequences", "flipped"), "go_backwards": order == "backwards",
             "flip_output": order == "flipped"}
    # a tiny coarse table, or one fine enough (step = the state's LSB, 16 fractional bits) that every state
    # value reads its own entry: a state cast off by one LSB shows in the output
    attrs.update({"table_size": 64} if order == "forward" else {"table_size": 1024, "table_range": 2.0})
    table = FixedType(9 if order == "forward" else 18, 2, True, "TRN", "SAT")
    result = FixedType(8, 2, True, "RND", "SAT") if order == "sequences" else None
    g = lstm_graph({"state": state, "table": table, "result": result}, attrs, FixedType(8, 3), seed=1)
    check(g, extreme_inputs(FixedType(8, 3), 203, 2))
    got = Interpreter(g).run(extreme_inputs(FixedType(8, 3), 203, 2))
    assert got.stats.overflow[("cell", "state")].count > 0  # the state's overflow mode really acted


def test_wrapping_accumulator_on_the_matmul_path() -> None:
    """An accumulator with the products' fractional bits but few integer bits: no product rounds (the kernel's
    matmul path) and the sums wrap; the wraps counted as the Dense's final-sum rule counts them."""
    tx, tw = FixedType(8, 3), FixedType(8, 3, True, "RND", "SAT")
    types = {"weight": tw, "recurrent_weight": tw, "bias": FixedType(8, 3), "accum": FixedType(18, 5),
             "state": FixedType(12, 4, True, "RND", "SAT")}
    g = lstm_graph(types, {"table_size": 128, "table_range": 4.0}, tx, seed=3)
    plan = Interpreter(g).prep["cell"]
    assert (plan.x.path, plan.h.path) == ("matmul", "matmul") and plan.x.counts == "final"
    x = extreme_inputs(tx, 150, 4)
    check(g, x)
    assert Interpreter(g).run(x).stats.overflow[("cell", "accum")].count > 0


def test_default_types_identity_casts() -> None:
    """The default (exact) accumulator: the kernel skips its casts, proven never to act."""
    g = lstm_graph({}, {"return_sequences": True}, FixedType(16, 6))
    fused = Interpreter(g).prep["cell"].fused
    assert all(fused.cz[i][9] == 1.0 for i in (0, 1, 4))
    check(g, extreme_inputs(FixedType(16, 6), 257, 5))


@pytest.mark.parametrize("change", ["hard_sigmoid", "RND_ZERO state", "rounding accum", "numba off"])
def test_not_taken_where_it_does_not_apply(change: str, monkeypatch) -> None:
    types: dict[str, FixedType | None] = {}
    attrs: dict = {}
    if change == "hard_sigmoid":
        attrs["recurrent_activation"] = "hard_sigmoid"
    elif change == "RND_ZERO state":
        types["state"] = FixedType(10, 3, True, "RND_ZERO", "SAT")
    elif change == "rounding accum":  # fewer fractional bits than the products: each product rounds
        types["accum"] = FixedType(16, 8)
    else:
        monkeypatch.setenv("NNFPGA_NUMBA", "0")
    g = lstm_graph(types, attrs, FixedType(8, 3))
    assert Interpreter(g).prep["cell"].fused is None
    x = extreme_inputs(FixedType(8, 3), 40, 6)
    assert np.array_equal(Interpreter(g).run(x).outputs[0], Interpreter(g, reference=True).run(x).outputs[0])
