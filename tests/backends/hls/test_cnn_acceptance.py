"""Issue 13's acceptance CNNs in C simulation: the emulator equals the generated HLS C++ compiled with g++, bit for
bit, on 2,000 inputs, in io_parallel and io_stream, with nnfpga's and Xilinx's ap_types, with the default config and
with narrow rounding/saturating accumulators: the hls4ml tutorial's SVHN-style CNN, a Conv1D model over (32, 3)
sequences, a model with every padding/stride/pooling variant, and a residual CNN (a batch-norm that folds into
its conv and one that stays a per-channel scale/shift because its conv's result precision is pinned).

(The small Conv2D and the depthwise-separable CNN are in test_csim_conv.py::test_cnn_models.)"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import nnfpga
from graphs import randomize_batchnorm
from nnfpga.frontends.keras import import_keras
from tooling import gxx, require_xilinx_ap_types

pytestmark = [pytest.mark.tools, pytest.mark.slow]

NARROW = "ap_fixed<10,4,AP_RND,AP_SAT>"
N_INPUTS = 2000


def svhn_cnn(keras: Any) -> Any:
    """hls4ml's tutorial CNN (part 6): 32x32x3, three blocks Conv2D 3x3 (no bias) + BatchNormalization + ReLU +
    MaxPooling2D 2 of 16/16/24 filters, Flatten, Dense 42 and 64 (each + BatchNormalization + ReLU), Dense 10
    softmax."""
    L = keras.layers
    layers: list[Any] = [keras.Input((32, 32, 3))]
    for i, filters in enumerate((16, 16, 24)):
        layers += [L.Conv2D(filters, 3, use_bias=False, kernel_initializer="lecun_uniform", name=f"conv_{i}"),
                   L.BatchNormalization(name=f"bn_conv_{i}"), L.Activation("relu", name=f"conv_act_{i}"),
                   L.MaxPooling2D(2, name=f"pool_{i}")]
    layers.append(L.Flatten(name="flatten"))
    for i, units in enumerate((42, 64)):
        layers += [L.Dense(units, use_bias=False, kernel_initializer="lecun_uniform", name=f"dense_{i}"),
                   L.BatchNormalization(name=f"bn_dense_{i}"), L.Activation("relu", name=f"dense_act_{i}")]
    layers += [L.Dense(10, name="output_dense"), L.Activation("softmax", name="output_softmax")]
    return keras.Sequential(layers, name="svhn_cnn")


def conv1d_model(keras: Any) -> Any:
    """Conv1D over (32, 3) sequences: strides, same/valid/causal, dilation, zero-pad, crop, upsample, max/average
    pooling, a batch-norm after a pooling (it cannot fold), global average pooling, Dense."""
    L = keras.layers
    return keras.Sequential([
        keras.Input((32, 3)),
        L.Conv1D(8, 5, strides=2, padding="same", activation="relu", name="c1_same_s2"),  # 16x8
        L.Conv1D(8, 3, dilation_rate=2, name="c2_valid_dil2"),  # 12x8
        L.MaxPooling1D(2, name="maxpool"),  # 6x8
        L.BatchNormalization(name="bn_after_pool"),  # not after a conv: a per-channel scale/shift
        L.ZeroPadding1D((1, 2), name="pad"),  # 9x8
        L.Conv1D(12, 3, padding="same", dilation_rate=2, activation="relu", name="c3_same_dil2"),  # 9x12
        L.Cropping1D((0, 1), name="crop"),  # 8x12
        L.AveragePooling1D(2, name="avgpool"),  # 4x12
        L.UpSampling1D(2, name="up"),  # 8x12
        L.Conv1D(12, 3, padding="causal", dilation_rate=2, activation="relu", name="c_causal_dil2"),  # 8x12
        L.Conv1D(10, 2, strides=2, name="c4_valid_s2"),  # 4x10
        L.GlobalAveragePooling1D(name="gap"),
        L.Dense(5, name="out"),
    ], name="conv1d_model")


def padding_model(keras: Any) -> Any:
    """Every 2D padding/stride/pooling variant of the issue: ZeroPadding2D, Cropping2D, UpSampling2D, valid and
    same convs with strides 2, max and average pooling with strides and either padding, GlobalMax and
    GlobalAverage (their results concatenated)."""
    L = keras.layers
    inp = keras.Input((14, 14, 2))
    h = L.ZeroPadding2D(((1, 2), (2, 1)), name="pad")(inp)  # 17x17
    h = L.Conv2D(6, 3, strides=2, activation="relu", name="conv_valid_s2")(h)  # 8x8
    h = L.Conv2D(6, (3, 2), strides=2, padding="same", name="conv_same_s2")(h)  # 4x4
    h = L.UpSampling2D((2, 3), name="up")(h)  # 8x12
    h = L.Cropping2D(((1, 0), (2, 1)), name="crop")(h)  # 7x9
    h = L.MaxPooling2D(3, strides=2, padding="same", name="maxpool_same_s2")(h)  # 4x5
    h = L.AveragePooling2D(2, strides=1, padding="same", name="avgpool_same_s1")(h)  # 4x5
    h = L.Conv2D(8, 2, padding="same", activation="relu", name="conv_same")(h)  # 4x5
    a = L.MaxPooling2D(2, strides=1, name="maxpool_valid_s1")(h)  # 3x4
    a = L.GlobalMaxPooling2D(name="gmax")(a)
    b = L.AveragePooling2D(3, strides=(1, 2), name="avgpool_valid_s12")(h)  # 2x2
    b = L.GlobalAveragePooling2D(name="gavg")(b)
    out = L.Dense(4, name="out")(L.Concatenate(name="cat")([a, b]))
    return keras.Model(inp, out, name="padding_model")


def residual_cnn(keras: Any) -> Any:
    """A residual CNN: conv + batch-norm (folds) + ReLU, then two branches (3x3 conv + batch-norm that does not
    fold, pinned result; 1x1 conv) added, max-pool, conv, global average, Dense softmax."""
    L = keras.layers
    inp = keras.Input((10, 10, 2))
    h = L.Conv2D(6, 3, padding="same", name="stem")(inp)
    h = L.Activation("relu", name="stem_relu")(L.BatchNormalization(name="bn_folded")(h))
    a = L.Conv2D(6, 3, padding="same", name="branch_conv")(h)
    a = L.Activation("relu", name="branch_relu")(L.BatchNormalization(name="bn_kept")(a))
    b = L.Conv2D(6, 1, name="shortcut")(h)
    h = L.Add(name="add")([a, b])
    h = L.MaxPooling2D(2, name="pool")(h)  # 5x5
    h = L.Conv2D(8, 3, activation="relu", name="head")(h)  # 3x3
    out = L.Dense(6, activation="softmax", name="out")(L.GlobalAveragePooling2D(name="gap")(h))
    return keras.Model(inp, out, name="residual_cnn")


MODELS = {"svhn": svhn_cnn, "conv1d": conv1d_model, "padding": padding_model, "residual": residual_cnn}
# the residual CNN pins its branch conv's result: the batch-norm after it stays a per-channel scale/shift
PINNED_RESULTS = {"residual": {"branch_conv": "ap_fixed<16,6>"}}


def build(name: str) -> Any:
    keras = import_keras()
    keras.utils.set_random_seed(13)
    model = MODELS[name](keras)
    rng = np.random.default_rng(14)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            randomize_batchnorm(layer, rng)
    return model


def config(model: Any, name: str, accum: str) -> dict:
    cfg = nnfpga.config_from_keras_model(model, granularity="name")
    for layer, result in PINNED_RESULTS.get(name, {}).items():
        cfg["LayerName"][layer]["Precision"]["result"] = result
    if accum == "narrow":
        for entry in cfg["LayerName"].values():
            if "accum" in entry.get("Precision", {}):
                entry["Precision"]["accum"] = NARROW
    return cfg


def cases() -> list[Any]:
    """Every model x accumulators x io type x ap_types, except the SVHN CNN with Xilinx's ap_types in all but
    one cell: its C simulation takes 25-60 s for 2,000 inputs there (Xilinx's ap_fixed arithmetic, about 16 ns a
    multiply-accumulate, 850k of them per input) against 2-7 s with nnfpga's headers; the other models run
    every layer kind of it with Xilinx's headers in every cell."""
    out = []
    for name in MODELS:
        for accum in ("default", "narrow"):
            for io_type in ("io_parallel", "io_stream"):
                for headers in ("nnfpga", "xilinx"):
                    if name != "svhn" or headers == "nnfpga" or (accum, io_type) == ("default", "io_stream"):
                        out.append(pytest.param(name, accum, io_type, headers,
                                                id=f"{name}-{accum}-{io_type}-{headers}"))
    return out


_EMULATED: dict[str, np.ndarray] = {}


def emulated(hw: nnfpga.HWModel, x: np.ndarray) -> np.ndarray:
    """The emulator's outputs, computed once per typed graph (its summary: every layer, shape, type and reuse
    factor; the io type and the headers are not part of it): the emulator takes ~20 s on the SVHN CNN with
    saturating accumulators (the sequential path: every product and partial sum cast, over 1.8 million windows)."""
    key = hw.summary()
    if key not in _EMULATED:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", nnfpga.OverflowWarning)  # narrow accumulators saturate on purpose
            _EMULATED[key] = hw.predict(x)
    return _EMULATED[key]


@pytest.mark.parametrize(("name", "accum", "io_type", "headers"), cases())
def test_acceptance_cnn(tmp_path, name, accum, io_type, headers):
    gxx()
    ap_types = str(require_xilinx_ap_types()) if headers == "xilinx" else None
    model = build(name)
    hw = nnfpga.convert_from_keras_model(model, hls_config=config(model, name, accum), output_dir=tmp_path / "prj",
                                         io_type=io_type)
    x = np.random.default_rng(15).uniform(-1, 2, size=(N_INPUTS, *model.inputs[0].shape[1:]))
    hw.compile(ap_types_dir=ap_types)
    y_csim = hw.predict(x, engine="csim")
    y_emu = emulated(hw, x)
    bad = np.argwhere(y_csim != y_emu)
    assert bad.size == 0, (f"{len(bad)} of {y_emu.size} outputs differ; first at {tuple(bad[0])}: "
                           f"csim {y_csim[tuple(bad[0])]!r} emulator {y_emu[tuple(bad[0])]!r}")
    assert len(np.unique(y_emu.reshape(N_INPUTS, -1), axis=0)) > N_INPUTS // 4  # the inputs reach the outputs


@pytest.mark.parametrize(("name", "folded", "kept"), [("residual", {"stem": ["bn_folded"]}, ["bn_kept"]),
                                                    ("conv1d", {}, ["bn_after_pool"]),
                                                    ("svhn", {f"conv_{i}": [f"bn_conv_{i}"] for i in range(3)}, [])])
def test_batchnorms_fold_into_their_conv_unless_pinned_or_not_after_a_conv(name, folded, kept):
    model = build(name)
    g = nnfpga.convert_from_keras_model(model, hls_config=config(model, name, "default")).graph
    assert {n.name: n.attrs["folded_batchnorm"] for n in g if n.op == "conv" and "folded_batchnorm" in n.attrs} \
        == folded
    assert [n.name for n in g if n.op == "scale_shift"] == kept
