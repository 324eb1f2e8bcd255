"""QKeras QLSTM, QGRU, QSimpleRNN files (written with json and h5py as TF 2.x Keras saves them: QKeras is not
installed here) -> the same emulated bits as the Keras 3 layer holding the quantized weights with the quantizers'
types set explicitly in the config; refusals listed at once, naming the layer and the activation."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import nnfpga
from keras2_files import KERAS_VERSION, architecture, write_weights
from nnfpga.errors import UnsupportedLayerError
from nnfpga.frontends.qkeras import parse_quantizer, quantize_weights

STEPS, FEATS, UNITS = 6, 4, 5
QUANTIZERS = {"kernel_quantizer": "quantized_bits(8,2,alpha=1)", "recurrent_quantizer": "quantized_bits(7,1,alpha=1)",
              "bias_quantizer": {"class_name": "quantized_bits", "config": {"bits": 6, "integer": 2, "alpha": 1}},
              "state_quantizer": "quantized_bits(12,3,alpha=1)"}
# the types those quantizers are (nnfpga.frontends.qkeras's docstring): weights, bias, state
EXPLICIT = {"weight": "ap_fixed<8,3>", "recurrent_weight": "ap_fixed<7,2>", "bias": "ap_fixed<6,3>",
            "state": "ap_fixed<12,4,AP_RND_CONV,AP_SAT>"}
LAYERS = {"QLSTM": lambda L: L.LSTM(UNITS, name="rnn"),
          "QGRU": lambda L: L.GRU(UNITS, reset_after=False, return_sequences=True, name="rnn"),
          "QGRU_reset_after": lambda L: L.GRU(UNITS, reset_after=True, go_backwards=True, name="rnn"),
          "QSimpleRNN": lambda L: L.SimpleRNN(UNITS, activation="sigmoid", name="rnn")}


def model_of(keras: Any, kind: str) -> Any:
    keras.utils.set_random_seed(sorted(LAYERS).index(kind))
    L = keras.layers
    inp = keras.Input((STEPS, FEATS), name="x")
    y = LAYERS[kind](L)(inp)
    if len(y.shape) == 3:
        y = L.Flatten(name="flat")(y)
    model = keras.Model(inp, L.Dense(3, name="out")(y))
    for w in model.get_layer("rnn").weights:
        w.assign(np.random.default_rng(1).normal(0, 0.6, w.shape))
    return model


def save_qkeras(model: Any, path: Path, kind: str, **cfg: Any) -> Path:
    """``model`` saved as a TF 2.x .h5 whose layer ``rnn`` is ``kind`` with ``cfg`` (quantizers) added."""
    arch = architecture(model, functional=True)
    for entry in arch["config"]["layers"]:
        if entry["name"] == "rnn":
            entry["class_name"] = kind.split("_")[0]
            entry["config"].update(cfg)
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(arch)
        f.attrs["keras_version"] = KERAS_VERSION
        f.attrs["backend"] = "tensorflow"
        write_weights(f.create_group("model_weights"), model)
    return path


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_qkeras_file_emulates_as_keras3_with_the_quantizer_types(keras: Any, tmp_path: Path, kind: str) -> None:
    model = model_of(keras, kind)
    path = save_qkeras(model, tmp_path / "q.h5", kind, **QUANTIZERS)
    twin = model_of(keras, kind)  # the same layer holding the quantized weights
    rnn = twin.get_layer("rnn")
    quantized = [quantize_weights(*parse_quantizer(QUANTIZERS[q]), w)  # type: ignore[misc]
                 for q, w in zip(("kernel_quantizer", "recurrent_quantizer", "bias_quantizer"), rnn.get_weights(),
                                 strict=True)]
    rnn.set_weights(quantized)
    x = np.random.default_rng(3).normal(size=(300, STEPS, FEATS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        with pytest.warns(UserWarning, match="without an input quantizer"):
            from_q = nnfpga.convert_from_keras_model(str(path))  # dispatches to the QKeras reader
        node = from_q.graph["rnn"]
        assert str(node.types["state"]) == EXPLICIT["state"]
        cfg = {"LayerName": {"rnn": {"Precision": dict(EXPLICIT)}}}
        want = nnfpga.convert_from_keras_model(twin, hls_config=cfg).predict(x)
        got = from_q.predict(x)
    np.testing.assert_array_equal(got, want)
    for slot in ("weight", "recurrent_weight", "bias"):  # the narrowest types that hold the quantized values
        t = node.types[slot]
        assert t.width <= int(EXPLICIT[slot].split("<")[1].split(",")[0])
    assert np.abs(got - model.predict(x, verbose=0)).max() < 0.5  # the float model, unquantized


def test_refusals_name_the_layer_and_the_activation(keras: Any, tmp_path: Path) -> None:
    model = model_of(keras, "QGRU")
    path = save_qkeras(model, tmp_path / "bad.h5", "QGRU", activation="quantized_tanh(8,1)",
                       recurrent_activation="quantized_relu(4)", state_quantizer="quantized_relu(8,2)",
                       return_state=True,
                       kernel_quantizer="quantized_bits(8,2,alpha='auto')")
    with pytest.raises(UnsupportedLayerError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        nnfpga.convert_from_keras_model(str(path))
    text = str(info.value)
    assert "'rnn'" in text
    for what in ("activation='quantized_tanh(8,1)'", "set use_stochastic_rounding=False",
                 "recurrent_activation='quantized_relu(4)'", "'quantized_relu' is not a gate nnfpga has",
                 "state_quantizer='quantized_relu(8,2)'", "set return_state=False",
                 "kernel_quantizer=\"quantized_bits(8,2,alpha='auto')\""):
        assert what in text, (what, text)
