"""HLS backend, io_parallel convolutions: generated C++ compiled with g++ (nnfpga's ap_types and Xilinx's) equals
the emulator bit for bit, with the default config and with narrow rounding/saturating accumulators."""

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
