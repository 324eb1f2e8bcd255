"""Graph passes: what each removes or folds, the pipeline, and that float outputs are unchanged."""

from __future__ import annotations

import warnings
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

import fxref
import nnfpga
from graphs import chain
from nnfpga.errors import GraphError, PassError
from nnfpga.fixed import FixedType
from nnfpga.frontends.keras import graph_from_keras
from nnfpga.ir.graph import Graph, Node
from nnfpga.passes import PIPELINE, dump_pipeline, infer_types, run_pipeline, typed_pipeline
from nnfpga.passes.fold import fold_scale_shift
from nnfpga.passes.simplify import (
    merge_reshapes,
    remove_dropout,
    remove_linear,
    remove_noop_reshape,
    transposes_as_reshapes,
)


def ops(g: Graph) -> list[tuple[str, str]]:
    return [(n.name, n.op) for n in g]


def keras_pred(model: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(x.astype(np.float32), verbose=0), dtype=np.float64)


def test_pipeline_names_and_order() -> None:
    assert [name for name, _ in PIPELINE] == ["fuse_bias_into_dense", "merge_quantizers", "remove_dropout",
                                              "fuse_linear_activations", "cancel_transposes", "transposes_as_reshapes",
                                              "merge_reshapes", "remove_noop_reshape", "remove_dead"]
    lines = dump_pipeline().splitlines()
    assert lines == [
        "untyped (after a frontend):",
        "1. fuse_bias_into_dense: Fold a constant bias add (ONNX MatMul + Add) into the Dense before it when the "
        "Dense feeds only it.",
        "2. merge_quantizers: Merge an activation quantizer into its producer's result type when it is the "
        "producer's only reader.",
        "3. remove_dropout: Delete Dropout nodes (identity at inference).",
        "4. fuse_linear_activations: Fuse linear (identity) activations into their producer by deleting them.",
        "5. cancel_transposes: Cancel a Transpose that undoes the one before it (and drop identity Transposes).",
        "6. transposes_as_reshapes: Turn a Transpose that only moves axes of size 1 into a Reshape (the flat order "
        "does not change).",
        "7. merge_reshapes: Read through a Flatten/Reshape that feeds a Flatten/Reshape: one reshape of the original "
        "tensor.",
        "8. remove_noop_reshape: Delete Flatten/Reshape nodes whose output shape equals their input shape.",
        "9. remove_dead: Delete nodes whose values reach no output (e.g. a transpose left unread by "
        "cancel_transposes).",
        "typed (after the config is applied):",
        "1. fold_batchnorm: Fold a ScaleShift (batch-norm) into the preceding Dense when the Dense feeds only it.",
        "2. merge_reshapes: Read through a Flatten/Reshape that feeds a Flatten/Reshape: one reshape of the original "
        "tensor.",
        "3. remove_noop_reshape: Delete Flatten/Reshape nodes whose output shape equals their input shape.",
        "4. remove_dead: Delete nodes whose values reach no output (e.g. a transpose left unread by "
        "cancel_transposes).",
        "5. infer_types: Fill open type slots (``None`` / missing) in topological order; returns whether any slot "
        "was filled.",
    ]


def test_run_pipeline_returns_applied_passes_in_order() -> None:
    k, b = np.ones((3, 2)), np.zeros(2)
    g = chain((3,), ("d", "dropout", {}), ("fc", "dense", {"shape": (2,), "weights": {"kernel": k, "bias": b}}),
              ("lin", "linear", {}), ("bn", "scale_shift", {"weights": {"scale": np.ones(2), "shift": np.ones(2)}}),
              ("r", "reshape", {}))
    assert run_pipeline(g) == ["remove_dropout", "fuse_linear_activations", "remove_noop_reshape"]
    assert ops(g) == [("x", "input"), ("fc", "dense"), ("bn", "scale_shift")]  # folded once the config is known
    assert g.outputs == ["bn"]
    assert run_pipeline(g) == []  # a fixed point
    assert set(g.removed) == {"d", "lin", "r"}


def test_run_pipeline_iterates_until_nothing_changes() -> None:
    """Removing the linear node between Dense and batch-norm enables the fold in the same run."""
    k = np.ones((3, 2))
    g = chain((3,), ("fc", "dense", {"shape": (2,), "weights": {"kernel": k, "bias": np.zeros(2)}}),
              ("lin", "linear", {}), ("bn", "scale_shift", {"weights": {"scale": np.ones(2), "shift": np.ones(2)}}))
    calls = []

    def counting(name: str, p: Any) -> tuple[str, Any]:
        return name, lambda graph: calls.append(name) or p(graph)

    assert run_pipeline(g, [counting("fold", fold_scale_shift), counting("lin", remove_linear)]) == ["lin", "fold"]
    assert calls == ["fold", "lin", "fold", "lin", "fold", "lin"]


def test_run_pipeline_refuses_a_pass_that_never_settles() -> None:
    with pytest.raises(PassError, match=r"passes did not converge after 20 rounds"):
        run_pipeline(chain((2,)), [("always", lambda g: True)])


def test_remove_dropout_and_linear_and_noop_reshape_units() -> None:
    g = chain((4,), ("d1", "dropout", {}), ("l1", "linear", {}), ("f", "flatten", {}),
              ("r", "reshape", {"shape": (2, 2)}), ("r2", "reshape", {"shape": (2, 2)}),
              ("f2", "flatten", {"shape": (4,)}))
    assert remove_dropout(g) and not remove_dropout(g)
    assert g.removed["d1"] == "Dropout 'd1' is an identity at inference and was removed"
    assert remove_linear(g) and not remove_linear(g)
    assert g.removed["l1"] == "linear activation 'l1' was fused into 'x'"
    assert remove_noop_reshape(g) and not remove_noop_reshape(g)
    assert g.removed["r2"] == "reshape 'r2' does not change the shape and was removed"
    assert ops(g) == [("x", "input"), ("r", "reshape"), ("f2", "flatten")]
    assert g["r"].inputs == ["x"] and g["f2"].inputs == ["r"]


def test_typed_linear_is_kept() -> None:
    """A linear node with a type of its own is a cast, not an identity."""
    g = chain((4,), ("l1", "linear", {"types": {"result": FixedType(8, 3)}}))
    assert not remove_linear(g)
    assert "l1" in g


def test_fold_is_exact_float_algebra() -> None:
    rng = np.random.default_rng(0)
    k, b = rng.normal(size=(3, 2)), rng.normal(size=2)
    scale, shift = rng.normal(size=2), rng.normal(size=2)
    g = chain((3,), ("fc", "dense", {"shape": (2,), "weights": {"kernel": k.copy(), "bias": b.copy()}}),
              ("bn", "scale_shift", {"weights": {"scale": scale, "shift": shift}}), ("t", "tanh", {}))
    assert fold_scale_shift(g)
    np.testing.assert_array_equal(g["fc"].weights["kernel"], k * scale[None, :])
    np.testing.assert_array_equal(g["fc"].weights["bias"], b * scale + shift)
    assert g["t"].inputs == ["fc"]
    assert g.removed["bn"] == "batch-norm 'bn' was folded into Dense 'fc'"


def test_fold_needs_a_dense_feeding_only_the_batchnorm() -> None:
    ss = {"weights": {"scale": np.ones(2), "shift": np.zeros(2)}}
    k = {"shape": (2,), "weights": {"kernel": np.ones((2, 2)), "bias": np.zeros(2)}}
    g = chain((2,), ("bn", "scale_shift", ss))  # after the input: nothing to fold into
    assert not fold_scale_shift(g)
    g = chain((2,), ("fc", "dense", k), ("r", "relu", {}), ("bn", "scale_shift", ss))
    assert not fold_scale_shift(g)
    g = chain((2,), ("fc", "dense", k), ("bn", "scale_shift", ss))
    g.add(Node("other", "relu", ["fc"], (2,)))  # the Dense output is used twice
    assert not fold_scale_shift(g)
    assert "bn" in g


# -- on Keras models: float outputs unchanged --------------------------------------------------------

def test_keras_dropout_and_linear_are_removed(keras: Any, build: Any) -> None:
    L = keras.layers
    m = build([L.Dense(5, name="fc1"), L.Activation("linear", name="lin"), L.Dropout(0.5, name="drop"),
               L.Dense(3, activation="linear", name="fc2")])
    g = nnfpga.graph_from_keras_model(m)
    assert ops(g) == [("x", "input"), ("fc1", "dense"), ("fc2", "dense")]
    assert g["fc2"].inputs == ["fc1"]
    x = np.random.default_rng(0).normal(size=(20, 6))
    hw = nnfpga.convert_from_keras_model(m)
    np.testing.assert_allclose(hw.predict_float(x), keras_pred(m, x), atol=1e-5)


def test_keras_batchnorm_folds_into_dense(keras: Any, build: Any) -> None:
    L = keras.layers
    m = build([L.Dense(5, name="fc1"), L.BatchNormalization(name="bn"), L.Activation("tanh", name="t")], seed=4)
    raw = graph_from_keras(m)
    assert ops(raw) == [("x", "input"), ("fc1", "dense"), ("bn", "scale_shift"), ("t", "tanh")]
    g = nnfpga.graph_from_keras_model(m)
    assert ops(g) == ops(raw)  # the fold waits for the config (a pinned Dense result keeps the batch-norm)
    x = np.random.default_rng(1).normal(size=(30, 6)) * 3
    hw = nnfpga.convert_from_keras_model(m)
    assert ops(hw.graph) == [("x", "input"), ("fc1", "dense"), ("t", "tanh")]
    assert hw.graph["fc1"].attrs["folded_batchnorm"] == ["bn"]
    np.testing.assert_allclose(hw.predict_float(x), keras_pred(m, x), atol=1e-5)
    # the folded Dense alone reproduces Dense -> BatchNormalization
    inner = keras.Model(m.inputs, m.get_layer("bn").output)
    np.testing.assert_allclose(hw.trace(x)["fc1"].float, keras_pred(inner, x), atol=1e-5)


def test_keras_batchnorm_after_relu_stays_and_emulates(keras: Any, build: Any) -> None:
    L = keras.layers
    m = build([L.Dense(5, activation="relu", name="fc1"), L.BatchNormalization(name="bn"), L.Dense(2, name="out")],
              seed=5)
    g = nnfpga.graph_from_keras_model(m)
    assert ops(g) == [("x", "input"), ("fc1", "dense"), ("fc1_relu", "relu"), ("bn", "scale_shift"), ("out", "dense")]
    x = np.random.default_rng(2).normal(size=(40, 6))
    hw = nnfpga.convert_from_keras_model(m)
    np.testing.assert_allclose(hw.predict_float(x), keras_pred(m, x), atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", nnfpga.OverflowWarning)
        tr = hw.trace(x)
    bn = hw.graph["bn"]
    tw, tb, tr_t, tin = bn.types["weight"], bn.types["bias"], bn.types["result"], hw.graph["fc1_relu"].types["result"]
    sq = [fxref.quantize_const(float(v), tw) for v in bn.weights["scale"]]
    hq = [fxref.quantize_const(float(v), tb) for v in bn.weights["shift"]]
    for xin, yout in zip(tr["fc1_relu"].fixed, tr["bn"].fixed, strict=True):
        for j in range(5):
            xv = Fraction(float(xin[j]))
            assert fxref.cast(xv, tin) == int(xv / fxref.lsb(tin))  # on the input's grid
            want = fxref.cast(xv * fxref.value(sq[j], tw) + fxref.value(hq[j], tb), tr_t)
            assert Fraction(float(yout[j])) == fxref.value(want, tr_t)
    assert np.abs(tr["bn"].fixed - tr["bn"].float).max() < 0.05


def test_keras_noop_reshape_and_flatten_removed(keras: Any, build: Any) -> None:
    L = keras.layers
    m = build([L.Flatten(name="flat0"), L.Reshape((6,), name="same"), L.Reshape((2, 3), name="r23"),
               L.Flatten(name="flat"), L.Dense(2, name="fc")])
    g = nnfpga.graph_from_keras_model(m)
    assert ops(g) == [("x", "input"), ("fc", "dense")]  # reshapes of reshapes merge, then are no-ops
    assert g.removed["r23"] == "reshape 'r23' (from Reshape 'r23') does not reach the output and was removed"
    x = np.random.default_rng(3).normal(size=(10, 6))
    hw = nnfpga.convert_from_keras_model(m)
    np.testing.assert_allclose(hw.predict_float(x), keras_pred(m, x), atol=1e-5)


def test_infer_types_fills_open_slots_once() -> None:
    g = chain((3,), ("fc", "dense", {"shape": (2,), "weights": {"kernel": np.ones((3, 2)), "bias": np.zeros(2)}}),
              ("r", "relu", {}))
    assert infer_types(g, FixedType(10, 4)) is True
    assert g["x"].types == {"result": FixedType(10, 4)}
    assert g["r"].types["result"] == FixedType(9, 3, signed=False)
    assert infer_types(g, FixedType(10, 4)) is False


# -- the pass manager verifies and names the failing pass ----------------------------------------------------

def test_a_pass_that_breaks_the_graph_is_named() -> None:
    g = chain((4,), ("r", "relu", {}))

    def bad(graph: Graph) -> bool:
        graph["r"].shape = (5,)
        return True

    with pytest.raises(PassError, match=r"^invalid graph 'g' after pass 'shrink': relu 'r': shape \(5,\), but "
                                        r"its inputs give \(4,\)$"):
        run_pipeline(g, [("shrink", bad)])


def test_a_pass_that_crashes_is_named() -> None:
    def crash(graph: Graph) -> bool:
        return {}["missing"]

    with pytest.raises(PassError, match=r"^pass 'crash' failed on graph 'g': KeyError: 'missing'$"):
        run_pipeline(chain((2,)), [("crash", crash)])


def test_an_invalid_frontend_graph_is_refused_before_any_pass() -> None:
    g = chain((4,), ("bn", "scale_shift", {"weights": {"scale": np.ones(3), "shift": np.ones(3)}}))
    with pytest.raises(GraphError, match=r"after its frontend: scale_shift 'bn': scale: a constant of shape \(3,\) "
                                         r"does not apply to a tensor of per-sample shape \(4,\)"):
        run_pipeline(g)


def test_transposes_that_meet_cancel() -> None:
    """Channels-first frontends wrap channel ops in transposes; where two meet, both go."""
    g = chain((3, 5), ("to_last", "transpose", {"shape": (5, 3), "attrs": {"perm": (1, 0)}}),
              ("back", "transpose", {"shape": (3, 5), "attrs": {"perm": (1, 0)}}),
              ("f", "flatten", {"shape": (15,)}))
    assert run_pipeline(g) == ["cancel_transposes", "remove_dead"]
    assert ops(g) == [("x", "input"), ("f", "flatten")] and g["f"].inputs == ["x"]
    g = chain((2, 3, 4), ("t1", "transpose", {"shape": (3, 4, 2), "attrs": {"perm": (1, 2, 0)}}),
              ("t2", "transpose", {"shape": (2, 3, 4), "attrs": {"perm": (2, 0, 1)}}),
              ("t3", "transpose", {"shape": (4, 3, 2), "attrs": {"perm": (2, 1, 0)}}))
    run_pipeline(g)
    assert ops(g) == [("x", "input"), ("t3", "transpose")] and g["t3"].inputs == ["x"]
    g = chain((2, 3), ("same", "transpose", {"attrs": {"perm": (0, 1)}}), ("r", "relu", {}))
    run_pipeline(g)
    assert ops(g) == [("x", "input"), ("r", "relu")]


def test_size_one_transposes_become_reshapes_and_reshapes_merge() -> None:
    g = chain((4, 1), ("t", "transpose", {"shape": (1, 4), "attrs": {"perm": (1, 0)}}),
              ("r", "reshape", {"shape": (2, 2)}), ("f", "flatten", {"shape": (4,)}), ("s", "relu", {}))
    assert transposes_as_reshapes(g) and g["t"].op == "reshape" and "perm" not in g["t"].attrs
    assert (merge_reshapes(g) and g["f"].inputs == ["r"]) or g["f"].inputs == ["x"]
    run_pipeline(g)
    assert ops(g) == [("x", "input"), ("f", "flatten"), ("s", "relu")] and g["f"].inputs == ["x"]
    g = chain((2, 3), ("t", "transpose", {"shape": (3, 2), "attrs": {"perm": (1, 0)}}))
    assert not transposes_as_reshapes(g)  # a real transpose stays


def test_batchnorm_folds_through_reshapes() -> None:
    """Dense -> (4,) -> reshape (4, 1) -> batch-norm over... the flat order is the Dense's outputs."""
    k, b = np.arange(12.0).reshape(3, 4), np.ones(4)
    g = chain((3,), ("fc", "dense", {"shape": (4,), "weights": {"kernel": k.copy(), "bias": b.copy()}}),
              ("r", "reshape", {"shape": (1, 4)}),
              ("bn", "scale_shift", {"weights": {"scale": np.array([1.0, 2, 3, 4]), "shift": np.full(4, 0.5)}}),
              ("f", "flatten", {"shape": (4,)}))
    run_pipeline(g)
    run_pipeline(g, typed_pipeline(FixedType(16, 6)), typed=True)
    assert ops(g) == [("x", "input"), ("fc", "dense")]
    np.testing.assert_allclose(g["fc"].weights["kernel"], k * np.array([1.0, 2, 3, 4]))
    np.testing.assert_allclose(g["fc"].weights["bias"], b * np.array([1.0, 2, 3, 4]) + 0.5)
