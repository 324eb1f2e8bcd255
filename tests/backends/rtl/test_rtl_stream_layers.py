"""The streaming Verilog top's layers beyond conv/max-pool (issue 14): grouped and depthwise conv, average
pooling (power-of-two windows, padded windows' divisors, count_pad, narrow rounding/saturating/wrapping types),
global max/average pooling, zero padding, cropping, upsampling, per-pixel elementwise ops; each simulated in
Verilator equals the emulator bit for bit, with no stalls and with random input stalls and output backpressure.
Then issue 14's acceptance models over 1,000 images: a depthwise-separable CNN, the Conv1D model with every 1D
padding/stride/pooling variant, and a 2D chain with every 2D one (the layer sets of the HLS acceptance tests)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnfpga
from backends.hls.test_cnn_acceptance import conv1d_model
from backends.hls.test_csim_conv import CONVS, SPATIAL, SPATIAL_NARROW, separable_cnn
from backends.rtl.test_rtl_timing import predict_timed
from graphs import randomize_batchnorm
from nnfpga.backends.rtl import stream
from nnfpga.backends.rtl.stream_stages import reciprocal
from nnfpga.errors import BackendSupportError
from nnfpga.frontends.keras import import_keras

pytestmark = pytest.mark.tools

SEEDS = (0, 2026)  # 0: no stalls; else about 1 cycle in 4 without in_valid, 1 in 4 without out_ready


def check(hw: nnfpga.HWModel, x: np.ndarray, cache: Path, min_unique: int = 20) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)  # saturating inputs and narrow types on purpose
        want = hw.predict(x)
    assert len(np.unique(want.reshape(len(x), -1), axis=0)) > min_unique  # the inputs reach the outputs
    for seed in SEEDS:
        got = predict_timed(hw, x, cache) if seed == 0 else stream.predict(hw, x, seed=seed, cache_dir=cache)
        bad = np.argwhere(got != want)
        assert bad.size == 0, (f"seed {seed}: {len(bad)} of {want.size} outputs differ; first at {tuple(bad[0])}: "
                               f"rtl {got[tuple(bad[0])]!r} emulator {want[tuple(bad[0])]!r}")


def test_reciprocal_division_is_exact_over_the_range() -> None:
    """The average's division by a constant that is not a power of two: ``n // d == (n * m) >> s`` for every ``n``
    up to the bound (exhaustively to 2**16, then the top of a 24-bit range), and ``s`` no larger than needed."""
    rng = np.random.default_rng(3)
    for d in (3, 5, 6, 7, 9, 12, 15, 20, 25, 49, 100, 255):
        for top in (1, 9, 1000, (1 << 16) - 1, (1 << 24) - 1):
            m, s = reciprocal(top, d)
            n = np.unique(np.concatenate([np.arange(min(top, 1 << 16) + 1), top - np.arange(min(top, 4096)),
                                          rng.integers(0, top, 4096, endpoint=True)])).astype(object)
            assert np.array_equal(n // d, (n * m) >> s), (d, top)
            assert s <= top.bit_length() + d.bit_length()


# new layers alone (SPATIAL: the HLS tests' pooling/padding/cropping/upsampling layers) where the acceptance models
# below do not already stream them at default types (each such build costs 5-15 s of the suite): the average
# poolings with narrow types (partial sums rounded and saturated, or wrapped) and the 1D global max pooling; the
# others (zero-pad, crop, upsample 1D/2D, strided/padded max and average pooling, 2D global max/average) are in the
# 1D and 2D padding acceptance chains, 1,000 images each
LAYERS = [("global_max1d", "default"), ("avgpool2d_3x3_same", "narrow"), ("avgpool1d_3_stride2", "narrow_wrap"),
          ("global_avg2d", "narrow"), ("avgpool2d", "narrow")]


@pytest.mark.parametrize(("name", "types"), LAYERS, ids=[f"{n}-{t}" for n, t in LAYERS])
def test_spatial_layer_rtl_equals_emulator(verilator_exe, rtl_cache, name, types) -> None:
    keras = import_keras()
    shape, make = SPATIAL[name]
    model = keras.Sequential([keras.Input(shape), make(keras.layers)])
    cfg = nnfpga.config_from_keras_model(model, granularity="name")
    if SPATIAL_NARROW[types]:
        prec = cfg["LayerName"][model.layers[-1].name]["Precision"]
        for slot in prec:
            prec[slot] = SPATIAL_NARROW[types]
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog")
    x = np.random.default_rng(8).uniform(-40, 40, size=(200, *shape))  # beyond ap_fixed<16,6>: saturated inputs
    check(hw, x, rtl_cache / "rtl")


@pytest.mark.parametrize("name", ["conv2d_groups", "depthwise2d_multiplier", "depthwise1d"])
def test_grouped_and_depthwise_conv_rtl_equals_emulator(verilator_exe, rtl_cache, name) -> None:
    keras = import_keras()
    keras.utils.set_random_seed(9)
    shape, make = CONVS[name]
    hw = nnfpga.convert_from_keras_model(keras.Sequential([keras.Input(shape), make(keras.layers)]),
                                         backend="verilog")
    assert any(n.attrs.get("groups", 1) > 1 for n in hw.graph if n.op == "conv")
    check(hw, np.random.default_rng(10).uniform(-4, 4, size=(200, *shape)), rtl_cache / "rtl")


def test_avg_pool_count_include_pad_rtl_equals_emulator(verilator_exe, rtl_cache) -> None:
    """``count_pad`` (PyTorch's count_include_pad=True: divide by the whole window) with padding, then a padded
    pooling without it. Set on the Keras model's graph: the PyTorch frontend's NCHW layout adds transposes, which
    the streaming top does not build."""
    keras = import_keras()
    L = keras.layers
    model = keras.Sequential([keras.Input((7, 6, 2)), L.AveragePooling2D(3, strides=2, padding="same", name="a"),
                              L.AveragePooling2D(2, strides=1, padding="same", name="b")])
    hw = nnfpga.convert_from_keras_model(model, backend="verilog")
    hw.graph["a"].attrs["count_pad"] = True
    x = np.random.default_rng(9).uniform(-40, 40, size=(200, 7, 6, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        assert not np.array_equal(hw.predict(x), nnfpga.convert_from_keras_model(model).predict(x))  # it counts
    check(hw, x, rtl_cache / "rtl")


def test_per_pixel_elementwise_ops_rtl_equals_emulator(verilator_exe, rtl_cache) -> None:
    """A batch-norm that cannot fold (after a pooling: a per-channel scale/shift), table activations, leaky
    ReLU, a capped ReLU and a softmax over each pixel's channels, on a pixel stream."""
    keras = import_keras()
    L = keras.layers
    keras.utils.set_random_seed(12)
    model = keras.Sequential([keras.Input((5, 4, 3)), L.MaxPooling2D(1, name="id_pool"),
                              L.BatchNormalization(name="bn"), L.Activation("tanh", name="tanh"),
                              L.Conv2D(4, 1, name="pw"), L.LeakyReLU(0.25, name="leaky"), L.ReLU(1.5, name="relu6"),
                              L.Activation("sigmoid", name="sig"), L.Softmax(name="softmax")])
    randomize_batchnorm(model.get_layer("bn"), np.random.default_rng(13))
    hw = nnfpga.convert_from_keras_model(model, backend="verilog")
    assert {"scale_shift", "tanh", "leaky_relu", "relu", "sigmoid", "softmax"} <= {n.op for n in hw.graph}
    check(hw, np.random.default_rng(14).uniform(-3, 3, size=(200, 5, 4, 3)), rtl_cache / "rtl")


def test_layers_still_refused_are_named_all_at_once(keras) -> None:
    L = keras.layers
    inp = keras.Input((8, 8, 2), name="x")
    h = L.Reshape((36, 4), name="reshape")(L.Conv2D(4, 3, name="conv")(inp))
    model = keras.Model(inp, L.Dense(2, name="out")(L.Flatten(name="flat")(L.Conv1D(3, 1, name="c1")(h))))
    cfg = nnfpga.config_from_keras_model(model, granularity="name")
    cfg["LayerName"]["conv"]["ReuseFactor"] = 2  # with a saturating accumulator (stream_reuse.reuse_problem)
    cfg["LayerName"]["conv"]["Precision"]["accum"] = "ap_fixed<10,3,AP_TRN,AP_SAT>"
    with pytest.raises(BackendSupportError) as info:
        nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog")
    msg = str(info.value)
    assert "'conv'" in msg and "may saturate" in msg and "op 'reshape'" in msg and "Use ReuseFactor 1" in msg


# -- issue 14's acceptance models ------------------------------------------------------------------------

def padding_chain(keras: Any) -> Any:
    """The HLS acceptance's 2D padding/stride/pooling model as a chain (the streaming top has no merge yet): zero
    padding, valid and same convs with strides 2, upsampling, cropping, max and average pooling with strides and
    either padding, GlobalMaxPooling2D (keepdims) then GlobalAveragePooling2D, Dense."""
    L = keras.layers
    return keras.Sequential([
        keras.Input((14, 14, 2)),
        L.ZeroPadding2D(((1, 2), (2, 1)), name="pad"),  # 17x17
        L.Conv2D(6, 3, strides=2, activation="relu", name="conv_valid_s2"),  # 8x8
        L.Conv2D(6, (3, 2), strides=2, padding="same", name="conv_same_s2"),  # 4x4
        L.UpSampling2D((2, 3), name="up"),  # 8x12
        L.Cropping2D(((1, 0), (2, 1)), name="crop"),  # 7x9
        L.MaxPooling2D(3, strides=2, padding="same", name="maxpool_same_s2"),  # 4x5
        L.AveragePooling2D(2, strides=1, padding="same", name="avgpool_same_s1"),  # 4x5
        L.Conv2D(8, 2, padding="same", activation="relu", name="conv_same"),  # 4x5
        L.AveragePooling2D(3, strides=(1, 2), name="avgpool_valid_s12"),  # 2x2
        L.MaxPooling2D(2, strides=1, name="maxpool_valid_s1"),  # 1x1
        L.GlobalMaxPooling2D(keepdims=True, name="gmax"),
        L.GlobalAveragePooling2D(name="gavg"),
        L.Dense(4, name="out"),
    ], name="padding_chain")


ACCEPTANCE = {"separable": separable_cnn, "conv1d": conv1d_model, "padding": padding_chain}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ACCEPTANCE))
def test_acceptance_cnn_rtl_equals_emulator(verilator_exe, rtl_cache, name) -> None:
    keras = import_keras()
    keras.utils.set_random_seed(13)
    model = ACCEPTANCE[name](keras)
    rng = np.random.default_rng(14)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            randomize_batchnorm(layer, rng)
    hw = nnfpga.convert_from_keras_model(model, backend="verilog")
    x = np.random.default_rng(15).uniform(-1, 2, size=(1000, *model.inputs[0].shape[1:]))
    check(hw, x, rtl_cache / "rtl", min_unique=len(x) // 4)
