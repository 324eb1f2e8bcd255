"""Legacy Keras 2 files (model JSON + save_weights .h5, and a whole-model .h5 of TF 2.x Keras), read without
TensorFlow: the graph computes what a Keras 3 model with the same weights computes. The fixture files are
written with json/h5py in Keras 2's exact layout (tests/keras2_files.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import nnfpga
from keras2_files import architecture, save_json_and_weights, save_whole_h5
from nnfpga.api import _optimized
from nnfpga.errors import ModelLoadError, UnsupportedLayerError
from nnfpga.frontends.keras2 import graph_from_keras2_h5, graph_from_keras2_json, is_keras2_h5
from nnfpga.model import HWModel


def float_outputs(graph: Any, x: np.ndarray) -> np.ndarray:
    from nnfpga.config import apply_config, parse_config

    return HWModel(apply_config(_optimized(graph), parse_config({})), {}).predict_float(x)


def keras_outputs(model: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(x.astype(np.float32), verbose=0), dtype=np.float64)


@pytest.fixture(scope="module")
def mlp(keras: Any, build: Any) -> Any:
    """Every single-input layer kind the reader maps."""
    L = keras.layers
    return build([L.Dense(12, activation="relu", name="fc1"), L.BatchNormalization(name="bn"),
                  L.Dense(8, name="fc2"), L.LeakyReLU(negative_slope=0.1, name="lrelu"), L.Dropout(0.2, name="drop"),
                  L.Dense(8, activation="tanh", name="fc3"), L.ELU(name="elu"), L.Reshape((2, 4), name="rs"),
                  L.Flatten(name="flat"), L.Dense(8, name="fc4"), L.ReLU(name="relu"),
                  L.Activation("sigmoid", name="sig"), L.Dense(5, name="out"), L.Softmax(name="sm")],
                 seed=3, sequential=True)


@pytest.mark.parametrize("old_sequential", [False, True])
def test_json_and_weights_compute_like_keras(mlp: Any, tmp_path: Path, X: np.ndarray, old_sequential: bool) -> None:
    js, h5 = save_json_and_weights(mlp, tmp_path, old_sequential=old_sequential)
    g = graph_from_keras2_json(js, h5)
    assert g.inputs == ["input1" if old_sequential else "x"]  # hls4ml's name for an implicit input
    np.testing.assert_allclose(float_outputs(g, X), keras_outputs(mlp, X), rtol=1e-5, atol=1e-6)


def test_whole_model_h5_computes_like_keras_through_every_entry_point(mlp: Any, tmp_path: Path,
                                                                       X: np.ndarray) -> None:
    path = save_whole_h5(mlp, tmp_path / "model.h5")
    assert is_keras2_h5(path)
    np.testing.assert_allclose(float_outputs(graph_from_keras2_h5(path), X), keras_outputs(mlp, X),
                               rtol=1e-5, atol=1e-6)
    hw = nnfpga.convert_from_keras_model(str(path))  # the ordinary Keras entry point dispatches to the reader
    np.testing.assert_allclose(hw.predict_float(X), keras_outputs(mlp, X), rtol=1e-5, atol=1e-6)


def test_functional_merges(keras: Any, tmp_path: Path, X: np.ndarray) -> None:
    L = keras.layers
    inp = keras.Input((6,), name="x")
    a = L.Dense(4, activation="relu", name="a")(inp)
    b = L.Dense(4, name="b")(inp)
    s = L.Add(name="add")([a, b])
    c = L.Concatenate(axis=1, name="cat")([s, L.Multiply(name="mul")([a, b])])
    model = keras.Model(inp, L.Dense(3, name="out")(c), name="branchy")
    js, h5 = save_json_and_weights(model, tmp_path, functional=True)
    np.testing.assert_allclose(float_outputs(graph_from_keras2_json(js, h5), X), keras_outputs(model, X),
                               rtol=1e-5, atol=1e-6)


def test_unsupported_layers_are_listed_at_once(mlp: Any, tmp_path: Path) -> None:
    arch = architecture(mlp)
    layers = arch["config"]["layers"]
    layers[2]["class_name"] = "Conv3D"  # bn
    layers[8]["class_name"] = "GRU"  # rs
    layers[4]["config"]["activation"] = "swish"  # lrelu is no Dense: ignored; make fc3's activation unknown instead
    layers[6]["config"]["activation"] = "swish"
    _, h5 = save_json_and_weights(mlp, tmp_path)
    with pytest.raises(UnsupportedLayerError) as e:
        graph_from_keras2_json(arch, h5)
    assert [name for name, _ in e.value.layers] == ["bn", "fc3", "rs"]
    assert "'fc3' (Dense activation 'swish')" in str(e.value)


def test_file_errors_say_what_was_expected(mlp: Any, tmp_path: Path) -> None:
    js, h5 = save_json_and_weights(mlp, tmp_path)
    with h5py.File(h5, "a") as f:
        del f["fc1"]["fc1/kernel:0"]
    with pytest.raises(ModelLoadError, match="layer 'fc1' lists weight 'fc1/kernel:0', which the file lacks"):
        graph_from_keras2_json(js, h5)
    with pytest.raises(ModelLoadError, match="with class_name Sequential, Model or Functional, got 'Dense'"):
        graph_from_keras2_json({"class_name": "Dense", "config": {}}, h5)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ModelLoadError, match="cannot read the Keras model JSON"):
        graph_from_keras2_json(tmp_path / "bad.json", h5)
    with pytest.raises(ModelLoadError, match="holds weights only; give the architecture JSON too"):
        graph_from_keras2_h5(h5)
    assert json.loads(js.read_text())["keras_version"].startswith("2.")
