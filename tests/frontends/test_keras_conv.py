"""Keras 3 convolutional layers: every layer and option against Keras's own outputs (the float kernels), the
graphs they make, the config type names, batch-norm folding, the refusals, and what the backends say."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnfpga
from nnfpga.errors import ConfigError, UnsupportedLayerError
from nnfpga.frontends.keras import graph_from_keras

# name -> (input shape, layer factory taking keras.layers)
LAYER_CASES: dict[str, tuple[tuple[int, ...], Any]] = {
    "conv1d_valid": ((9, 2), lambda L: L.Conv1D(4, 3)),
    "conv1d_same_stride2": ((9, 2), lambda L: L.Conv1D(3, 4, strides=2, padding="same")),
    "conv1d_causal_dilated": ((9, 2), lambda L: L.Conv1D(3, 3, padding="causal", dilation_rate=2)),
    "conv1d_no_bias_relu": ((7, 3), lambda L: L.Conv1D(3, 2, use_bias=False, activation="relu")),
    "conv2d_valid": ((6, 5, 2), lambda L: L.Conv2D(4, 3)),
    "conv2d_same_strides": ((7, 8, 2), lambda L: L.Conv2D(3, (3, 2), strides=(2, 3), padding="same")),
    "conv2d_same_even_kernel": ((7, 6, 1), lambda L: L.Conv2D(2, 4, strides=2, padding="same")),
    "conv2d_dilated_same": ((7, 7, 2), lambda L: L.Conv2D(3, 3, dilation_rate=2, padding="same")),
    "conv2d_groups_tanh": ((5, 5, 4), lambda L: L.Conv2D(6, 2, groups=2, activation="tanh")),
    "depthwise2d_multiplier": ((6, 7, 3), lambda L: L.DepthwiseConv2D(3, depth_multiplier=2, strides=2,
                                                                       padding="same")),
    "depthwise1d": ((8, 3), lambda L: L.DepthwiseConv1D(3, activation="relu")),
    "separable2d": ((6, 6, 3), lambda L: L.SeparableConv2D(4, 3, depth_multiplier=2, padding="same",
                                                            activation="relu")),
    "separable1d": ((9, 2), lambda L: L.SeparableConv1D(3, 3, strides=2)),
    "maxpool1d_same": ((9, 2), lambda L: L.MaxPooling1D(2, padding="same")),
    "maxpool2d": ((6, 7, 2), lambda L: L.MaxPooling2D(2)),
    "maxpool2d_3x3_same_stride2": ((7, 6, 2), lambda L: L.MaxPooling2D(3, strides=2, padding="same")),
    "avgpool1d_stride1": ((8, 2), lambda L: L.AveragePooling1D(3, strides=1)),
    "avgpool2d": ((6, 6, 2), lambda L: L.AveragePooling2D(2)),
    # symmetric padding: for an uneven one, Keras's torch backend averages replicated edge values, where TensorFlow
    # (and hls4ml, and nnfpga) leave the padding out (tests/ops/test_pool.py checks uneven padding)
    "avgpool2d_same": ((5, 7, 2), lambda L: L.AveragePooling2D((3, 3), strides=1, padding="same")),
    "globalmax1d": ((7, 3), lambda L: L.GlobalMaxPooling1D()),
    "globalavg1d": ((8, 3), lambda L: L.GlobalAveragePooling1D()),
    "globalmax2d_keepdims": ((4, 5, 3), lambda L: L.GlobalMaxPooling2D(keepdims=True)),
    "globalavg2d": ((4, 4, 3), lambda L: L.GlobalAveragePooling2D()),
    "zeropad1d": ((5, 2), lambda L: L.ZeroPadding1D((2, 1))),
    "zeropad2d": ((4, 5, 2), lambda L: L.ZeroPadding2D(((1, 2), (0, 3)))),
    "crop1d": ((7, 2), lambda L: L.Cropping1D((1, 2))),
    "crop2d": ((6, 5, 2), lambda L: L.Cropping2D(((2, 1), (1, 0)))),
    "upsample1d": ((4, 2), lambda L: L.UpSampling1D(3)),
    "upsample2d": ((3, 4, 2), lambda L: L.UpSampling2D((2, 3))),
}


def one_layer(keras: Any, name: str) -> tuple[Any, np.ndarray]:
    shape, make = LAYER_CASES[name]
    keras.utils.set_random_seed(sorted(LAYER_CASES).index(name))
    inp = keras.Input(shape, name="x")
    layer = make(keras.layers)
    model = keras.Model(inp, layer(inp), name=name)
    for w in layer.weights:  # Keras starts biases at zero: make them matter
        if w.path.endswith("bias"):
            w.assign(np.random.default_rng(0).normal(0, 0.5, w.shape))
    return model, np.random.default_rng(1).normal(scale=1.5, size=(30, *shape))


@pytest.mark.parametrize("name", sorted(LAYER_CASES))
def test_float_kernels_equal_keras(keras: Any, name: str) -> None:
    model, x = one_layer(keras, name)
    hw = nnfpga.convert_from_keras_model(model)
    want = np.asarray(model.predict(x.astype(np.float32), verbose=0), dtype=np.float64)
    got = hw.predict_float(x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)  # tanh's table and the input at ap_fixed<16,6>
        fixed = hw.predict(x)
    assert np.abs(fixed - want).max() < 0.02  # the default config: ap_fixed<16,6> results, exact accumulators


def test_separable_is_split_and_depthwise_is_grouped(keras: Any) -> None:
    model, _ = one_layer(keras, "separable2d")
    g = graph_from_keras(model)
    layer = model.layers[-1].name
    assert [(n.op, n.name) for n in g][1:] == [("conv", f"{layer}_depthwise"), ("conv", f"{layer}_pointwise"),
                                               ("relu", f"{layer}_relu")]
    dw, pw = g[f"{layer}_depthwise"], g[f"{layer}_pointwise"]
    assert dw.attrs["groups"] == 3 and dw.attrs["depthwise"] and dw.weights["kernel"].shape == (3, 3, 1, 6)
    assert dw.attrs["pads"] == [[1, 1], [1, 1]] and not dw.weights["bias"].any()
    assert pw.weights["kernel"].shape == (1, 1, 6, 4) and tuple(pw.shape) == (6, 6, 4)
    hw = nnfpga.convert_from_keras_model(model)
    assert [hw.graph[n].source for n in (dw.name, pw.name)] == [f"SeparableConv2D {layer!r}"] * 2


def test_batchnorm_after_a_conv_folds_unless_its_result_is_pinned(keras: Any) -> None:
    from graphs import randomize_batchnorm

    L = keras.layers
    keras.utils.set_random_seed(3)
    inp = keras.Input((6, 6, 2), name="x")
    h = L.BatchNormalization(name="bn")(L.Conv2D(3, 3, padding="same", name="c")(inp))
    model = keras.Model(inp, L.Dense(2, name="out")(L.Flatten(name="f")(h)))
    randomize_batchnorm(model.get_layer("bn"), np.random.default_rng(0))
    x = np.random.default_rng(2).normal(size=(20, 6, 6, 2))
    want = model.predict(x.astype(np.float32), verbose=0)
    folded = nnfpga.convert_from_keras_model(model)
    assert "scale_shift" not in [n.op for n in folded.graph]
    assert folded.graph["c"].attrs["folded_batchnorm"] == ["bn"]
    np.testing.assert_allclose(folded.predict_float(x), want, rtol=1e-5, atol=1e-5)
    cfg = {"Model": {"Precision": "ap_fixed<16,6>"}, "LayerName": {"c": {"Precision": {"result": "ap_fixed<18,8>"}}}}
    kept = nnfpga.convert_from_keras_model(model, hls_config=cfg)
    assert [n.op for n in kept.graph].count("scale_shift") == 1
    np.testing.assert_allclose(kept.predict_float(x), want, rtol=1e-5, atol=1e-5)
    # the name and type configs list the batch-norm's result as the conv's (what it types after the fold)
    name_cfg = nnfpga.config_from_keras_model(model, granularity="name")
    assert "c" in name_cfg["LayerName"] and "bn" in name_cfg["LayerName"]
    assert "scale_shift" not in [n.op for n in nnfpga.convert_from_keras_model(model, hls_config=name_cfg).graph]


def test_layer_types_select_conv_and_pool_layers(keras: Any) -> None:
    L = keras.layers
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 2), name="x")
    h = L.DepthwiseConv2D(3, name="dw")(L.Conv2D(4, 3, name="c")(inp))
    h = L.GlobalAveragePooling2D(name="gap")(L.MaxPooling2D(name="mp")(h))
    model = keras.Model(inp, h)
    cfg = {"Model": {"Precision": "ap_fixed<16,6>"},
           "LayerType": {"Conv2D": {"Precision": {"accum": "ap_fixed<24,12>"}},
                         "DepthwiseConv2D": {"Precision": {"accum": "ap_fixed<20,10>"}},
                         "MaxPooling2D": {"Precision": {"result": "ap_fixed<12,5>"}},
                         "GlobalAveragePooling2D": {"Precision": {"accum": "ap_fixed<30,12>"}}}}
    g = nnfpga.convert_from_keras_model(model, hls_config=cfg).graph
    assert str(g["c"].types["accum"]) == "ap_fixed<24,12>" and str(g["dw"].types["accum"]) == "ap_fixed<20,10>"
    assert str(g["mp"].types["result"]) == "ap_fixed<12,5>" and str(g["gap"].types["accum"]) == "ap_fixed<30,12>"
    type_cfg = nnfpga.config_from_keras_model(model, granularity="type")
    assert {"Conv2D", "DepthwiseConv2D", "MaxPooling2D", "GlobalAveragePooling2D"} <= set(type_cfg["LayerType"])
    with pytest.raises(ConfigError, match=r"LayerType\.SeparableConv2D: nnfpga splits a separable convolution"):
        nnfpga.convert_from_keras_model(model, hls_config={"LayerType": {"SeparableConv2D": {"ReuseFactor": 1}}})
    with pytest.raises(ConfigError, match=r"ReuseFactor 5 \(from LayerName.c\) is not valid for Conv2D layer 'c' "
                                          r"with 18 inputs x 4 outputs = 72 multiplications"):
        nnfpga.convert_from_keras_model(model, hls_config={"LayerName": {"c": {"ReuseFactor": 5}}})


def test_unrepresentable_layers_are_listed_at_once(keras: Any) -> None:
    L = keras.layers
    inp = keras.Input((8, 8, 8), name="x")
    h = L.Conv2D(3, 3, data_format="channels_first", name="cf")(inp)
    h = L.UpSampling2D(2, interpolation="bilinear", name="bil")(h)
    h = L.Conv2D(2, 2, activation="gelu", name="gel")(h)
    h = L.MaxPooling2D(2, data_format="channels_first", name="mpcf")(h)
    with pytest.raises(UnsupportedLayerError) as info:
        graph_from_keras(keras.Model(inp, h))
    assert info.value.layers == [
        ("cf", "Conv2D with data_format='channels_first' (nnfpga reads channels-last layers)"),
        ("bil", "UpSampling2D with interpolation='bilinear' (nnfpga upsamples by nearest neighbour: it has no "
                "fixed-point bilinear semantics yet)"),
        ("gel", "Conv2D activation 'gelu'"),
        ("mpcf", "MaxPooling2D with data_format='channels_first' (nnfpga reads channels-last layers)"),
    ]


def small_cnn(keras: Any) -> Any:
    L = keras.layers
    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 1), name="x")
    h = L.MaxPooling2D(2, name="pool")(L.Conv2D(8, 3, activation="relu", name="conv1")(inp))
    h = L.Conv2D(16, 3, activation="relu", name="conv2")(h)
    return keras.Model(inp, L.Dense(10, name="out")(L.Flatten(name="flat")(h)), name="small_cnn")


def test_hls_writes_conv_layers_and_verilog_streams_them(keras: Any, tmp_path: Path) -> None:
    model = small_cnn(keras)
    x = np.random.default_rng(0).uniform(0, 1, (50, 16, 16, 1))
    hw = nnfpga.convert_from_keras_model(model, output_dir=tmp_path / "prj")  # default backend: vitis
    assert hw.predict(x).shape == (50, 10) and "conv1" in hw.trace(x[:5]).table()
    hw.write()  # io_parallel lowers every conv op (tests/backends/hls/test_csim_conv.py runs them)
    assert (tmp_path / "prj" / "firmware" / "nnfpga" / "nnfpga_conv.h").exists()
    nnfpga.convert_from_keras_model(model, output_dir=tmp_path / "stream", io_type="io_stream").write()
    assert "layer_conv1(" in (tmp_path / "stream" / "firmware" / "myproject.cpp").read_text()
    # the Verilog backend accepts this chain for its streaming top (tests/backends/rtl/test_rtl_stream.py simulates
    # a smaller one; writing this one takes minutes: its 400x10 Dense adder-graph search, a known cost)
    rtl = nnfpga.convert_from_keras_model(model, output_dir=tmp_path / "rtl", backend="verilog")
    assert rtl.settings["backend"] == "verilog"
