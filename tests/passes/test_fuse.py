"""The passes that fuse what a frontend marked: a bias add into its Dense, a quantizer into its producer."""

from __future__ import annotations

from typing import Any

import numpy as np

from graphs import chain
from nnfpga.ir.graph import Graph, Node
from nnfpga.passes import run_pipeline
from nnfpga.passes.fuse import BIAS_ADD, CAST, QUANTIZER, SIGN, SIGN_TYPE, fuse_bias_into_dense, merge_quantizers

T8 = "ap_fixed<8,4,AP_RND_CONV,AP_SAT>"
U6 = "ap_ufixed<6,3,AP_RND_INF,AP_SAT>"


def ops(g: Graph) -> list[tuple[str, str]]:
    return [(n.name, n.op) for n in g]


def dense(n_in: int = 3, n_out: int = 2, **attrs: Any) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {"shape": (n_out,), "attrs": dict(attrs),
            "weights": {"kernel": rng.normal(size=(n_in, n_out)), "bias": rng.normal(size=n_out)}}


def bias_add(shift: np.ndarray, spec: dict[str, str] | None = None) -> dict[str, Any]:
    return {"weights": {"scale": np.ones(len(shift)), "shift": shift}, "attrs": {BIAS_ADD: dict(spec or {})}}


def cast(t: str = T8) -> dict[str, Any]:
    return {"attrs": {"qtypes": {"result": t}, QUANTIZER: CAST}}


def qtypes(g: Graph, name: str) -> dict[str, str]:
    return dict(g[name].attrs.get("qtypes", {}))


# -- fuse_bias_into_dense ------------------------------------------------------------------------------------
def test_bias_add_folds_into_its_dense() -> None:
    g = chain((3,), ("fc", "dense", dense()), ("add", "scale_shift", bias_add(np.array([0.5, -1.0]))),
              ("t", "tanh", {}))
    bias = g["fc"].weights["bias"].copy()
    assert fuse_bias_into_dense(g) and not fuse_bias_into_dense(g)
    assert ops(g) == [("x", "input"), ("fc", "dense"), ("t", "tanh")]
    np.testing.assert_array_equal(g["fc"].weights["bias"], bias + np.array([0.5, -1.0]))
    assert g["t"].inputs == ["fc"] and "qtypes" not in g["fc"].attrs
    assert g.removed["add"] == "bias add 'add' was folded into Dense 'fc'"


def test_a_quantized_bias_pins_the_bias_type() -> None:
    g = chain((3,), ("fc", "dense", dense(qtypes={"weight": "ap_fixed<6,2>"})),
              ("add", "scale_shift", bias_add(np.array([0.25, 0.5]), {"type": "ap_fixed<8,2>"})))
    assert fuse_bias_into_dense(g)
    assert qtypes(g, "fc") == {"weight": "ap_fixed<6,2>", "bias": "ap_fixed<8,2>"}
    assert g.outputs == ["fc"]


def test_bias_add_that_cannot_fold_stays_a_plain_scale_shift() -> None:
    shift = np.array([0.5, -1.0])
    cases = [
        chain((2,), ("add", "scale_shift", bias_add(shift))),  # after the input
        chain((3,), ("fc", "dense", dense()), ("r", "relu", {}), ("add", "scale_shift", bias_add(shift))),
        chain((3,), ("fc", "dense", dense(qtypes={"bias": "ap_fixed<8,2>"})),  # a pinned bias
              ("add", "scale_shift", bias_add(shift))),
        chain((3,), ("fc", "dense", dense(qtypes={"result": T8})),  # a pinned result: the add is after the cast
              ("add", "scale_shift", bias_add(shift))),
    ]
    two = chain((3,), ("fc", "dense", dense()), ("add", "scale_shift", bias_add(shift)))
    two.add(Node("other", "relu", ["fc"], (2,)))  # the Dense has two readers
    cases.append(two)
    for g in cases:
        before = {n.name: dict(n.weights) for n in g}
        assert fuse_bias_into_dense(g)  # the marker is dropped: decided once
        assert not fuse_bias_into_dense(g)
        assert "add" in g and g["add"].attrs == {} and not g.removed
        assert all(np.array_equal(w, before[n.name][k]) for n in g for k, w in n.weights.items())


def test_unmarked_scale_shift_is_not_a_bias_add() -> None:
    g = chain((3,), ("fc", "dense", dense()), ("bn", "scale_shift",
                                               {"weights": {"scale": np.ones(2), "shift": np.ones(2)}}))
    assert not fuse_bias_into_dense(g)
    assert "bn" in g


# -- merge_quantizers ----------------------------------------------------------------------------------------
def test_quantizer_merges_into_its_producer() -> None:
    for op, kw in [("input", None), ("dense", dense()), ("relu", {}), ("leaky_relu", {"attrs": {"alpha": 0.1}}),
                   ("scale_shift", {"weights": {"scale": np.ones(3), "shift": np.zeros(3)}})]:
        nodes = [("p", op, kw)] if kw is not None else []
        g = chain((3,), *nodes, ("q", "linear", cast()))
        prod = "p" if kw is not None else "x"
        assert merge_quantizers(g) and not merge_quantizers(g)
        assert "q" not in g and g.outputs == [prod]
        assert qtypes(g, prod)["result"] == T8
        assert g.removed["q"] == f"quantizer 'q' was merged into the result type of {op} {prod!r}"


def test_quantizer_that_cannot_merge_stays_a_pinned_cast() -> None:
    cases = [
        chain((3,), ("fc", "dense", dense(qtypes={"result": U6})), ("q", "linear", cast())),  # pinned already
        chain((3,), ("s", "sigmoid", {}), ("q", "linear", cast())),  # not computed exactly
        chain((3,), ("s", "sigmoid", {}), ("q0", "linear", cast(U6)), ("q", "linear", cast())),  # after a cast
    ]
    two = chain((3,), ("fc", "dense", dense()), ("q", "linear", cast()))
    two.add(Node("other", "relu", ["fc"], (2,)))  # the Dense has two readers
    cases.append(two)
    out = chain((3,), ("fc", "dense", dense()), ("q", "linear", cast()))
    out.add(Node("other", "relu", ["q"], (2,)))
    out.outputs = ["fc", "other"]  # the Dense is an output as well
    cases.append(out)
    for g in cases:
        pinned = {n.name: qtypes(g, n.name) for n in g if n.name != "q"}
        assert merge_quantizers(g)
        assert "q" in g and g["q"].attrs == {"qtypes": {"result": T8}}
        assert {n.name: qtypes(g, n.name) for n in g if n.name != "q"} == pinned


def test_quantizers_merge_in_graph_order() -> None:
    """The first of two casts merges; the second then sees a pinned producer and stays."""
    g = chain((3,), ("fc", "dense", dense()), ("q1", "linear", cast(U6)), ("q2", "linear", cast()))
    assert merge_quantizers(g)
    assert ops(g) == [("x", "input"), ("fc", "dense"), ("q2", "linear")]
    assert qtypes(g, "fc") == {"result": U6} and g["q2"].inputs == ["fc"]


def test_relu_cast_moves_before_the_relu() -> None:
    """round(relu(x)) == relu(round(x)): the Dense before the ReLU gets the type, plus a sign bit if unsigned."""
    g = chain((3,), ("fc", "dense", dense()), ("r", "relu", {}), ("q", "linear", cast(U6)))
    assert merge_quantizers(g)
    assert qtypes(g, "r") == {"result": U6}
    assert qtypes(g, "fc") == {"result": "ap_fixed<7,4,AP_RND_INF,AP_SAT>"}
    g = chain((3,), ("fc", "dense", dense()), ("r", "relu", {"attrs": {"max_value": 2.0}}), ("q", "linear", cast()))
    assert merge_quantizers(g)  # a capped ReLU does not commute with the rounding's saturation
    assert qtypes(g, "r") == {"result": T8} and "qtypes" not in g["fc"].attrs
    g = chain((3,), ("fc", "dense", dense()), ("r", "relu", {}), ("q", "linear", cast()))
    g.add(Node("other", "tanh", ["fc"], (2,)))
    assert merge_quantizers(g)  # the Dense has another reader: only the ReLU takes the type
    assert qtypes(g, "r") == {"result": T8} and "qtypes" not in g["fc"].attrs


def test_bipolar_step_pins_a_sign_type_and_stays() -> None:
    def step() -> dict[str, Any]:
        return {"attrs": {"slope": 1.0, "offset": 1.0, QUANTIZER: SIGN}}

    g = chain((3,), ("fc", "dense", dense()), ("step", "hard_sigmoid", step()))
    assert merge_quantizers(g) and not merge_quantizers(g)
    assert qtypes(g, "fc") == {"result": SIGN_TYPE}
    assert g["step"].attrs == {"slope": 1.0, "offset": 1.0} and g.outputs == ["step"]
    g = chain((3,), ("fc", "dense", dense()), ("step", "hard_sigmoid", step()))
    g.add(Node("other", "tanh", ["fc"], (2,)))
    assert merge_quantizers(g)
    assert "qtypes" not in g["fc"].attrs


def test_unmarked_linear_is_not_a_quantizer() -> None:
    g = chain((3,), ("fc", "dense", dense()), ("q", "linear", {"attrs": {"qtypes": {"result": T8}}}))
    assert not merge_quantizers(g)
    assert "q" in g


def test_pipeline_fuses_bias_then_merges_the_quantizer() -> None:
    """MatMul + Add + Quant: the add folds first, then the cast merges into the Dense."""
    g = chain((3,), ("fc", "dense", dense(qtypes={"weight": "ap_fixed<6,2>"})),
              ("add", "scale_shift", bias_add(np.array([0.25, 0.5]), {"type": "ap_fixed<8,2>"})),
              ("q", "linear", cast()))
    assert run_pipeline(g) == ["fuse_bias_into_dense", "merge_quantizers"]
    assert ops(g) == [("x", "input"), ("fc", "dense")]
    assert qtypes(g, "fc") == {"weight": "ap_fixed<6,2>", "bias": "ap_fixed<8,2>", "result": T8}
