"""nnfpga.examples helpers: magnitude pruning of Keras Dense kernels."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nnfpga.errors import ConfigError
from nnfpga.examples import prune_dense


def test_prune_dense_zeroes_the_smallest_weights_of_each_kernel(keras: Any, build: Any) -> None:
    L = keras.layers
    model = build([L.Dense(16, activation="relu", name="a"), L.BatchNormalization(name="bn"), L.Dense(4, name="b")])
    before = {layer.name: [w.copy() for w in layer.get_weights()] for layer in model.layers}
    assert prune_dense(model, 0.75) is model
    for name in ("a", "b"):
        (k0, b0), (k1, b1) = before[name], model.get_layer(name).get_weights()
        kept = k1 != 0
        assert 0.2 <= kept.mean() <= 0.25  # 75 % of each kernel is zero (ties at the cut go too)
        assert np.abs(k0[~kept]).max() <= np.abs(k0[kept]).min()  # the smallest magnitudes went
        np.testing.assert_array_equal(k1[kept], k0[kept])
        np.testing.assert_array_equal(b1, b0)  # biases are kept
    for w0, w1 in zip(before["bn"], model.get_layer("bn").get_weights(), strict=True):
        np.testing.assert_array_equal(w0, w1)  # other layers untouched


def test_prune_dense_fractions(keras: Any, build: Any) -> None:
    model = build([keras.layers.Dense(3, name="a")])
    kernel = model.get_layer("a").get_weights()[0].copy()
    prune_dense(model, 0.0)
    np.testing.assert_array_equal(model.get_layer("a").get_weights()[0], kernel)
    for bad in (1.0, -0.1, 2):
        with pytest.raises(ConfigError, match=rf"^prune_dense: fraction must be in \[0, 1\), got {bad}$"):
            prune_dense(model, bad)


def test_prune_dense_per_layer_fractions_and_the_sweeps_graph_pruning(keras: Any, build: Any) -> None:
    """``layers=`` gives named Dense layers their own fraction; the sweep's ``prune_graph`` does the same to
    nnfpga's untyped graph (the same zeros)."""
    import pickle

    from nnfpga.dse.sweep import prune_graph
    from nnfpga.frontends.keras import graph_from_keras

    model = build([keras.layers.Dense(16, activation="relu", name="a"), keras.layers.Dense(4, name="b")])
    graph = pickle.loads(pickle.dumps(graph_from_keras(model)))
    prune_dense(model, 0.5, layers={"b": 0.0})
    prune_graph(graph, 0.5, {"b": 0.0})
    assert 0.45 <= (model.get_layer("a").get_weights()[0] != 0).mean() <= 0.5
    assert (model.get_layer("b").get_weights()[0] != 0).all()
    for name in ("a", "b"):
        np.testing.assert_array_equal(graph[name].weights["kernel"] != 0, model.get_layer(name).get_weights()[0] != 0)
    with pytest.raises(ConfigError, match="no Dense layer named 'c'"):
        prune_dense(model, 0.5, layers={"c": 0.5})
    with pytest.raises(ConfigError, match="no Dense layer named 'c'"):
        prune_graph(graph, 0.5, {"c": 0.5})
    with pytest.raises(ConfigError, match="fraction for layer 'a' must be in"):
        prune_dense(model, 0.5, layers={"a": 1.5})
