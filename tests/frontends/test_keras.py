"""Keras 3 frontend: every supported layer, functional and Sequential models, model files, and errors."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnfpga
from nnfpga.errors import ModelLoadError, ShapeError, UnsupportedLayerError
from nnfpga.frontends.keras import ACTIVATIONS, LAYERS, graph_from_keras, load_keras_model

ACTIVATION_NAMES = ["linear", "relu", "relu6", "leaky_relu", "elu", "sigmoid", "tanh", "hard_sigmoid", "hard_tanh",
                    "softmax"]
SUPPORTED_HINT = (
    "Remove or replace them; supported Keras layers: InputLayer, Dense, Activation, ReLU, LeakyReLU, ELU, Softmax, "
    "BatchNormalization, Dropout, Flatten, Reshape, Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, "
    "Conv1D, Conv2D, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D, MaxPooling1D, MaxPooling2D, "
    "AveragePooling1D, AveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalAveragePooling1D, "
    "GlobalAveragePooling2D, ZeroPadding1D, ZeroPadding2D, Cropping1D, Cropping2D, UpSampling1D, UpSampling2D, LSTM, "
    "GRU, SimpleRNN, Bidirectional, TimeDistributed; "
    "activations: linear, relu, relu6, leaky_relu, elu, sigmoid, tanh, "
    "hard_sigmoid, hard_tanh, softmax.")


def assert_float_matches_keras(model: Any, x: np.ndarray) -> None:
    hw = nnfpga.convert_from_keras_model(model)
    want = np.asarray(model.predict(x.astype(np.float32), verbose=0), dtype=np.float64)
    got = hw.predict_float(x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    y = hw.predict(x)  # and the bit-exact emulation runs on the same graph
    assert y.shape == want.shape and np.all(np.isfinite(y))


def ops(g: Any) -> list[tuple[str, str]]:
    return [(n.name, n.op) for n in g]


@pytest.fixture
def x6() -> np.ndarray:
    return np.random.default_rng(1).normal(scale=2.0, size=(40, 6))


def test_supported_lists() -> None:
    assert list(ACTIVATIONS) == ACTIVATION_NAMES
    assert LAYERS == ("InputLayer", "Dense", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "BatchNormalization",
                      "Dropout", "Flatten", "Reshape", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
                      "Concatenate", "Conv1D", "Conv2D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D",
                      "SeparableConv2D", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
                      "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
                      "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D", "UpSampling1D", "UpSampling2D")


@pytest.mark.parametrize("act", ACTIVATION_NAMES)
def test_dense_with_each_activation(keras: Any, build: Any, x6: np.ndarray, act: str) -> None:
    m = build([keras.layers.Dense(5, activation=act, name="fc")], seed=3)
    g = nnfpga.graph_from_keras_model(m)
    op, attrs = ACTIVATIONS[act]
    if act == "linear":
        assert ops(g) == [("x", "input"), ("fc", "dense")]
    else:
        assert ops(g) == [("x", "input"), ("fc", "dense"), (f"fc_{act}", op)]
        assert g[f"fc_{act}"].attrs == attrs and g[f"fc_{act}"].source == "Dense 'fc'"
    np.testing.assert_array_equal(g["fc"].weights["kernel"], m.get_layer("fc").get_weights()[0])
    assert_float_matches_keras(m, x6)


@pytest.mark.parametrize("act", ACTIVATION_NAMES)
def test_activation_layer(keras: Any, build: Any, x6: np.ndarray, act: str) -> None:
    m = build([keras.layers.Dense(5, name="fc"), keras.layers.Activation(act, name="a")], seed=4)
    assert_float_matches_keras(m, x6)


@pytest.mark.parametrize(("layer", "op", "attrs"), [
    (lambda L: L.ReLU(name="a"), "relu", {}),
    (lambda L: L.ReLU(max_value=1.5, name="a"), "relu", {"max_value": 1.5}),
    (lambda L: L.ReLU(negative_slope=0.1, name="a"), "leaky_relu", {"alpha": 0.1}),
    (lambda L: L.LeakyReLU(name="a"), "leaky_relu", {"alpha": 0.3}),
    (lambda L: L.LeakyReLU(negative_slope=0.05, name="a"), "leaky_relu", {"alpha": 0.05}),
    (lambda L: L.ELU(name="a"), "elu", {"alpha": 1.0}),
    (lambda L: L.ELU(alpha=0.5, name="a"), "elu", {"alpha": 0.5}),
    (lambda L: L.Softmax(name="a"), "softmax", {}),
])
def test_activation_layers(keras: Any, build: Any, x6: np.ndarray, layer: Any, op: str, attrs: dict) -> None:
    m = build([keras.layers.Dense(5, name="fc"), layer(keras.layers)], seed=5)
    g = nnfpga.graph_from_keras_model(m)
    assert ops(g)[-1] == ("a", op)
    assert {k: pytest.approx(v) for k, v in g["a"].attrs.items()} == attrs
    assert_float_matches_keras(m, x6)


def test_batchnorm_dropout_flatten_reshape(keras: Any, build: Any) -> None:
    L = keras.layers
    m = build([L.BatchNormalization(name="bn0"), L.Reshape((4, 3), name="r"), L.Softmax(name="sm2d"),
               L.BatchNormalization(center=False, scale=False, name="bn1"), L.Flatten(name="flat"),
               L.Dropout(0.3, name="drop"), L.Dense(7, use_bias=False, name="fc"), L.BatchNormalization(name="bn2"),
               L.Dense(3, activation="softmax", name="out")], input_shape=(3, 4), seed=6)
    g = nnfpga.graph_from_keras_model(m)
    assert ops(g) == [("x", "input"), ("bn0", "scale_shift"), ("r", "reshape"), ("sm2d", "softmax"),
                      ("bn1", "scale_shift"), ("flat", "flatten"), ("fc", "dense"), ("bn2", "scale_shift"),
                      ("out", "dense"), ("out_softmax", "softmax")]
    assert "bn2" not in nnfpga.convert_from_keras_model(m).graph  # folded into fc once the config is applied
    assert g["r"].shape == (4, 3) and g["flat"].shape == (12,)
    np.testing.assert_array_equal(g["bn1"].weights["scale"] > 0, True)
    x = np.random.default_rng(2).normal(size=(30, 3, 4))
    assert_float_matches_keras(m, x)


def test_sequential_and_functional_give_the_same_graph(keras: Any, build: Any, x6: np.ndarray) -> None:
    def layers() -> list[Any]:
        L = keras.layers
        return [L.Dense(8, activation="relu", name="fc1"), L.BatchNormalization(name="bn"),
                L.Dense(3, activation="softmax", name="fc2")]

    seq = build(layers(), seed=7, sequential=True)
    fun = build(layers(), seed=7)
    fun.set_weights(seq.get_weights())
    gs, gf = nnfpga.graph_from_keras_model(seq), nnfpga.graph_from_keras_model(fun)
    assert ops(gs) == ops(gf)
    for n in gs:
        for k, v in n.weights.items():
            np.testing.assert_array_equal(v, gf[n.name].weights[k])
    assert_float_matches_keras(seq, x6)
    assert_float_matches_keras(fun, x6)


def test_model_files_load_like_the_model(keras: Any, tiny_mlp: Any, tmp_path: Path, X: np.ndarray) -> None:
    ref = nnfpga.convert_from_keras_model(tiny_mlp).predict(X)
    for suffix in (".keras", ".h5"):
        path = tmp_path / f"m{suffix}"
        tiny_mlp.save(path)
        assert isinstance(load_keras_model(path), keras.Model)
        np.testing.assert_array_equal(nnfpga.convert_from_keras_model(str(path)).predict(X), ref)
        np.testing.assert_array_equal(nnfpga.convert_from_keras_model(path).predict(X), ref)


# -- errors -----------------------------------------------------------------------------------------

def test_all_unsupported_layers_in_one_error(keras: Any, build: Any) -> None:
    L = keras.layers
    m = build([L.Conv1DTranspose(3, 3, name="conv"), L.LayerNormalization(name="ln"), L.Dense(3, activation="gelu",
                                                                                     name="fc")],
              input_shape=(8, 2))
    with pytest.raises(UnsupportedLayerError) as info:
        graph_from_keras(m)
    assert info.value.layers == [("conv", "Conv1DTranspose"), ("ln", "LayerNormalization"),
                                 ("fc", "Dense activation 'gelu'")]
    assert str(info.value) == ("3 unsupported Keras layer(s):\n  - 'conv' (Conv1DTranspose)\n  - 'ln' "
                               "(LayerNormalization)\n  - 'fc' (Dense activation 'gelu')\n" + SUPPORTED_HINT)
    assert isinstance(info.value, nnfpga.NnfpgaError)


def test_unsupported_layer_configurations(keras: Any, build: Any) -> None:
    L = keras.layers
    m = build([L.Dense(6, name="fc"), L.ReLU(threshold=0.5, name="thr"), L.ReLU(negative_slope=0.1, max_value=2.0,
               name="both"), L.Activation("selu", name="selu"), L.Reshape((2, 3), name="r"),
               L.Softmax(axis=1, name="sm1"), L.BatchNormalization(axis=1, name="bn1"), L.Flatten(name="f"),
               L.Dense(2, activation="silu", name="out")])
    with pytest.raises(UnsupportedLayerError) as info:
        graph_from_keras(m)
    assert info.value.layers == [
        ("thr", "ReLU(threshold=0.5, negative_slope=0.0, max_value=None)"),
        ("both", "ReLU(threshold=0.0, negative_slope=0.1, max_value=2.0)"),
        ("selu", "Activation 'selu'"),
        ("sm1", "Softmax over axis 1"),
        ("bn1", "BatchNormalization over axis 1"),
        ("out", "Dense activation 'silu'"),
    ]


def test_multi_input_layers_are_unsupported_and_later_layers_are_not_blamed(keras: Any) -> None:
    L = keras.layers
    inp = keras.Input((6,), name="x")
    a, b = L.Dense(4, name="a")(inp), L.Dense(4, name="b")(inp)
    out = L.Dense(2, name="out")(L.Dot(axes=1, name="dot")([a, b]))
    with pytest.raises(UnsupportedLayerError) as info:
        graph_from_keras(keras.Model(inp, out))
    assert info.value.layers == [("dot", "Dot with 2 inputs")]


def test_dense_on_a_2d_input(keras: Any, build: Any) -> None:
    m = build([keras.layers.Dense(3, name="fc")], input_shape=(3, 4))
    with pytest.raises(ShapeError) as info:
        graph_from_keras(m)
    assert str(info.value) == ("Dense 'fc' receives per-sample shape (3, 4); nnfpga supports Dense on flat vectors: "
                               "add a Flatten before it")


def test_model_shape_errors(keras: Any) -> None:
    L = keras.layers
    i1, i2 = keras.Input((3,), name="i1"), keras.Input((3,), name="i2")
    two = keras.Model([i1, i2], L.Dense(2)(L.Concatenate()([i1, i2])), name="two")
    with pytest.raises(ShapeError, match=r"^model 'two' has 2 inputs and 1 outputs; nnfpga supports one input and "
                                         r"one output$"):
        graph_from_keras(two)
    i3 = keras.Input((None, 3), name="seq")
    with pytest.raises(ShapeError, match=r"^model input shape \(None, None, 3\) has unknown dimensions; give "
                                         r"keras.Input a full shape$"):
        graph_from_keras(keras.Model(i3, L.Dense(2)(i3)))


def test_not_a_model() -> None:
    with pytest.raises(ModelLoadError, match=r"^expected a keras.Model, got int$"):
        graph_from_keras(3)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, tiny_mlp: Any) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("saved")
    tiny_mlp.save(d / "m.keras")
    tiny_mlp.save(d / "m.h5")
    return {s: (d / f"m.{s}").read_bytes() for s in ("keras", "h5")}


def test_missing_and_non_model_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.keras"
    with pytest.raises(ModelLoadError) as info:
        nnfpga.convert_from_keras_model(missing)
    assert str(info.value) == f"model file {str(missing)!r} does not exist"
    txt = tmp_path / "model.txt"
    txt.write_text("hello")
    with pytest.raises(ModelLoadError) as info:
        nnfpga.graph_from_keras_model(txt)
    assert str(info.value) == (f"cannot read {str(txt)!r}: expected a Keras model file ending in .keras or .h5, "
                               "got '.txt'")
    bare = tmp_path / "model"
    bare.write_text("hello")
    with pytest.raises(ModelLoadError, match=r"got 'no suffix'$"):
        nnfpga.graph_from_keras_model(bare)


def test_truncated_and_corrupt_keras_files(tmp_path: Path, saved: dict[str, bytes]) -> None:
    cut = tmp_path / "cut.keras"
    cut.write_bytes(saved["keras"][: len(saved["keras"]) // 2])
    with pytest.raises(ModelLoadError) as info:
        nnfpga.graph_from_keras_model(cut)
    assert str(info.value) == (f"cannot read {str(cut)!r}: a .keras file is a zip archive, but this file is not (it "
                               f"starts with {saved['keras'][:8]!r}); is it truncated or of another format?")
    text = tmp_path / "text.keras"
    text.write_text("not a zip at all")
    with pytest.raises(ModelLoadError, match=r"starts with b'not a zi'\); is it truncated or of another format\?$"):
        nnfpga.graph_from_keras_model(text)
    other = tmp_path / "other.keras"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("readme.txt", "a zip, but no Keras model in it")
    with pytest.raises(ModelLoadError) as info:
        nnfpga.graph_from_keras_model(other)
    assert str(info.value).startswith(f"cannot read {str(other)!r} as a Keras model: ")


def test_truncated_and_corrupt_h5_files(tmp_path: Path, saved: dict[str, bytes]) -> None:
    cut = tmp_path / "cut.h5"
    cut.write_bytes(saved["h5"][: len(saved["h5"]) // 2])
    with pytest.raises(ModelLoadError) as info:
        nnfpga.graph_from_keras_model(cut)
    assert str(info.value).startswith(f"cannot read {str(cut)!r} as a Keras model: OSError: ")
    assert "truncated file" in str(info.value)
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError) as info:
        nnfpga.graph_from_keras_model(junk)
    assert str(info.value) == (f"cannot read {str(junk)!r}: an .h5 model is an HDF5 file, but this file does not "
                               "start with the HDF5 signature")


def test_hgq_v1_files_say_what_is_supported(keras: Any, tmp_path: Any) -> None:
    """An HGQ v1 proxy model (FixedPointQuantizer layers) is not a bare 'Unknown layer' error."""
    import json
    import zipfile

    L = keras.layers
    i = keras.Input((4,), name="x")
    model = keras.Model(i, L.Dense(2, name="fc")(L.Activation("linear", name="q")(i)))
    good, bad = tmp_path / "m.keras", tmp_path / "hgq1.keras"
    model.save(good)
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "config.json":
                cfg = json.loads(data)
                layer = next(la for la in cfg["config"]["layers"] if la["config"]["name"] == "q")
                layer.update(module="HGQ.proxy.fixed_point_quantizer", class_name="FixedPointQuantizer")
                data = json.dumps(cfg).encode()
            zout.writestr(item, data)
    with pytest.raises(ModelLoadError, match=r"is an HGQ v1 model \(package HGQ: HDense, HQuantize, or a proxy "
                                             r"model's FixedPointQuantizer\), which nnfpga does not read: it reads "
                                             r"HGQ2 models"):
        graph_from_keras(str(bad))
