"""HLS backend, convolutional layers: generated C++ compiled with g++ (nnfpga's ap_types and Xilinx's) equals the
emulator bit for bit, with the default config and with narrow rounding/saturating accumulators (each layer in
io_parallel; whole CNNs in io_parallel and io_stream)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import nnfpga
from backends.hls.test_csim import assert_bit_exact
from nnfpga.frontends.keras import import_keras

pytestmark = [pytest.mark.tools, pytest.mark.slow]

CONVS: dict[str, tuple[tuple[int, ...], Any]] = {
    "conv2d_valid": ((6, 5, 2), lambda L: L.Conv2D(4, 3)),
    "conv2d_same_strides": ((7, 8, 2), lambda L: L.Conv2D(3, (3, 2), strides=(2, 3), padding="same")),
    "conv2d_dilated_same": ((7, 7, 2), lambda L: L.Conv2D(3, 3, dilation_rate=2, padding="same")),
    "conv2d_groups": ((5, 5, 4), lambda L: L.Conv2D(6, 2, groups=2)),
    "conv1d_same_stride2": ((9, 2), lambda L: L.Conv1D(3, 4, strides=2, padding="same")),
    "conv1d_causal_dilated": ((9, 2), lambda L: L.Conv1D(3, 3, padding="causal", dilation_rate=2)),
    "depthwise2d_multiplier": ((6, 7, 3), lambda L: L.DepthwiseConv2D(3, depth_multiplier=2, strides=2,
                                                                       padding="same")),
    "depthwise1d": ((8, 3), lambda L: L.DepthwiseConv1D(3)),
}
NARROW = {"default": None, "accum_24_12": "ap_fixed<24,12>", "accum_10_4_rnd_sat": "ap_fixed<10,4,AP_RND,AP_SAT>"}


def conv_model(name: str) -> Any:
    keras = import_keras()
    keras.utils.set_random_seed(7)
    shape, make = CONVS[name]
    model = keras.Sequential([keras.Input(shape), make(keras.layers)])
    rng = np.random.default_rng(3)
    for layer in model.layers:  # weights on a wide range, some pruned, nonzero biases
        ws = [rng.normal(0, 1.5, w.shape) * (rng.random(w.shape) > 0.2) for w in layer.get_weights()]
        layer.set_weights(ws)
    return model


@pytest.mark.parametrize("accum", list(NARROW))
@pytest.mark.parametrize("name", list(CONVS))
def test_conv_parallel(tmp_path, ap_types, name, accum):
    model = conv_model(name)
    cfg = nnfpga.config_from_keras_model(model, granularity="name")
    if NARROW[accum]:
        for entry in cfg["LayerName"].values():
            if isinstance(entry.get("Precision"), dict) and "weight" in entry["Precision"]:
                entry["Precision"]["accum"] = NARROW[accum]
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, output_dir=tmp_path / "prj", io_type="io_parallel")
    x = np.random.default_rng(5).uniform(-4, 4, size=(2000, *CONVS[name][0]))
    assert_bit_exact(hw, x, ap_types)


@pytest.mark.parametrize("strategy", ["Latency", "Resource"])
@pytest.mark.parametrize("name", ["conv2d_same_strides", "conv2d_groups", "depthwise2d_multiplier"])
def test_conv_reuse_factor(tmp_path, ap_types, name, strategy):
    """The largest valid ReuseFactor below the group's multiplications (one group's Dense per output pixel),
    with a narrow saturating accumulator: the same bits."""
    model = conv_model(name)
    cfg = nnfpga.config_from_keras_model(model, granularity="name")
    probe = nnfpga.convert_from_keras_model(model, hls_config=cfg)
    (node,) = [n for n in probe.graph if n.op == "conv"]
    rf = nnfpga.ops.OPS["conv"].reuse_factors(node)[-2]
    entry = cfg["LayerName"][node.name]
    entry.update(ReuseFactor=rf, Strategy=strategy)
    entry["Precision"]["accum"] = "ap_fixed<12,5,AP_RND,AP_SAT>"
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, output_dir=tmp_path / "prj", io_type="io_parallel")
    x = np.random.default_rng(6).uniform(-4, 4, size=(2000, *CONVS[name][0]))
    assert_bit_exact(hw, x, ap_types)
    assert f"reuse_factor = {rf};" in (tmp_path / "prj" / "firmware" / "parameters.h").read_text()


SPATIAL: dict[str, tuple[tuple[int, ...], Any]] = {
    "maxpool2d": ((6, 6, 2), lambda L: L.MaxPooling2D(2)),
    "maxpool2d_3x3_same_stride2": ((7, 6, 2), lambda L: L.MaxPooling2D(3, strides=2, padding="same")),
    "maxpool1d_same": ((9, 2), lambda L: L.MaxPooling1D(2, padding="same")),
    "avgpool2d": ((6, 6, 2), lambda L: L.AveragePooling2D(2)),
    "avgpool2d_3x3_same": ((5, 7, 2), lambda L: L.AveragePooling2D(3, strides=1, padding="same")),
    "avgpool1d_3_stride2": ((9, 2), lambda L: L.AveragePooling1D(3, strides=2)),
    "global_avg2d": ((4, 5, 3), lambda L: L.GlobalAveragePooling2D()),
    "global_max1d": ((7, 3), lambda L: L.GlobalMaxPooling1D()),
    "zero_pad2d": ((4, 5, 2), lambda L: L.ZeroPadding2D(((1, 2), (0, 3)))),
    "zero_pad1d": ((6, 2), lambda L: L.ZeroPadding1D((2, 1))),
    "crop2d": ((6, 7, 2), lambda L: L.Cropping2D(((1, 2), (3, 0)))),
    "crop1d": ((8, 2), lambda L: L.Cropping1D((1, 3))),
    "upsample2d": ((3, 4, 2), lambda L: L.UpSampling2D((2, 3))),
    "upsample1d": ((5, 2), lambda L: L.UpSampling1D(3)),
}
# narrow types: every accum and result slot of the layer (rounding and saturating in the mean and in the casts)
SPATIAL_NARROW = {"default": None, "narrow": "ap_fixed<9,3,AP_RND,AP_SAT>", "narrow_wrap": "ap_fixed<8,2>"}


@pytest.mark.parametrize("types", list(SPATIAL_NARROW))
@pytest.mark.parametrize("name", list(SPATIAL))
def test_pool_pad_crop_upsample_parallel(tmp_path, ap_types, name, types):
    keras = import_keras()
    shape, make = SPATIAL[name]
    model = keras.Sequential([keras.Input(shape), make(keras.layers)])
    cfg = nnfpga.config_from_keras_model(model, granularity="name")
    layer = model.layers[-1].name
    if SPATIAL_NARROW[types]:
        prec = cfg["LayerName"][layer]["Precision"]
        for slot in prec:
            prec[slot] = SPATIAL_NARROW[types]
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, output_dir=tmp_path / "prj", io_type="io_parallel")
    x = np.random.default_rng(8).uniform(-40, 40, size=(2000, *shape))  # beyond ap_fixed<16,6>: saturated inputs
    assert_bit_exact(hw, x, ap_types)


def test_avg_pool_count_include_pad_parallel(tmp_path, ap_types):
    """PyTorch's count_include_pad=True (divide by the whole window) with padding, and its exclusion twin."""
    import torch.nn as nn

    m = nn.Sequential(nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=True),
                      nn.AvgPool2d(2, padding=1, count_include_pad=False))
    hw = nnfpga.convert_from_pytorch_model(m, (2, 7, 6), output_dir=tmp_path / "prj", io_type="io_parallel")
    assert [n.attrs.get("count_pad") for n in hw.graph if n.op == "avg_pool"] == [True, False]
    x = np.random.default_rng(9).uniform(-40, 40, size=(2000, 2, 7, 6))
    assert_bit_exact(hw, x, ap_types)


def small_cnn(keras: Any) -> Any:
    """The issue's small Conv2D model: 16x16x1, conv 8 3x3, max-pool 2, conv 16 3x3, flatten, dense 10."""
    L = keras.layers
    return keras.Sequential([keras.Input((16, 16, 1)), L.Conv2D(8, 3, activation="relu", name="conv1"),
                             L.MaxPooling2D(2, name="pool"), L.Conv2D(16, 3, activation="relu", name="conv2"),
                             L.Flatten(name="flat"), L.Dense(10, name="out")], name="small_cnn")


def separable_cnn(keras: Any) -> Any:
    """Depthwise-separable: separable conv (same padding), max-pool, depthwise, pointwise, global average, dense."""
    L = keras.layers
    return keras.Sequential([keras.Input((12, 12, 3)),
                             L.SeparableConv2D(8, 3, depth_multiplier=2, padding="same", activation="relu", name="sep"),
                             L.MaxPooling2D(2, name="pool"), L.DepthwiseConv2D(3, activation="relu", name="dw"),
                             L.Conv2D(12, 1, activation="relu", name="pw"), L.GlobalAveragePooling2D(name="gap"),
                             L.Dense(5, activation="softmax", name="out")], name="separable_cnn")


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
@pytest.mark.parametrize("accum", ["default", "accum_10_4_rnd_sat"])
@pytest.mark.parametrize("build", [small_cnn, separable_cnn], ids=["small_cnn", "separable_cnn"])
def test_cnn_models(tmp_path, ap_types, build, accum, io_type):
    keras = import_keras()
    keras.utils.set_random_seed(11)
    model = build(keras)
    cfg = nnfpga.config_from_keras_model(model, granularity="name")
    if NARROW[accum]:
        for entry in cfg["LayerName"].values():
            if "accum" in entry.get("Precision", {}):
                entry["Precision"]["accum"] = NARROW[accum]
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, output_dir=tmp_path / "prj", io_type=io_type)
    x = np.random.default_rng(12).uniform(0, 1, size=(2000, *model.inputs[0].shape[1:]))
    assert_bit_exact(hw, x, ap_types)
