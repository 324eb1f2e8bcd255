"""Convolutional models: with every precision explicit, the emulator's logits equal hls4ml 1.3's C simulation of
the same Keras model and config (io_parallel, Latency), bit for bit."""

from __future__ import annotations

import copy
import importlib.util
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnfpga
from nnfpga.errors import Hls4mlKeyWarning
from tooling import gxx, require


def cnn(keras: Any, kind: str) -> Any:
    L = keras.layers
    keras.utils.set_random_seed(0)
    if kind == "conv2d_maxpool":
        inp = keras.Input((10, 10, 2), name="x")
        h = L.MaxPooling2D(2, name="mp")(L.Conv2D(4, 3, activation="relu", name="c1")(inp))
    elif kind == "avgpool":  # 3x3 'same' windows: divisors 4, 6 and 9, the mean truncated toward zero
        inp = keras.Input((9, 9, 2), name="x")
        h = L.AveragePooling2D(3, strides=2, padding="same", name="ap")(L.Conv2D(3, 3, padding="same", name="c1")(inp))
        h = L.AveragePooling2D(2, name="ap2")(h)
    elif kind == "conv1d":
        inp = keras.Input((16, 3), name="x")
        h = L.Conv1D(4, 3, strides=2, padding="same", activation="relu", name="c1")(inp)
        h = L.AveragePooling1D(3, strides=1, name="ap")(L.Conv1D(3, 2, name="c2")(L.MaxPooling1D(2, name="mp")(h)))
    else:  # depthwise, then a global average
        inp = keras.Input((8, 8, 3), name="x")
        h = L.GlobalAveragePooling2D(name="gap")(L.DepthwiseConv2D(3, name="dw")(inp))
    model = keras.Model(inp, keras.layers.Dense(5, name="out")(keras.layers.Flatten(name="f")(h)), name=kind)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        for w in layer.weights:
            if w.path.endswith("bias"):  # Keras starts biases at zero
                w.assign(rng.normal(0, 0.5, w.shape))
    return model


@pytest.mark.slow
@pytest.mark.tools
@pytest.mark.parametrize(("kind", "precision", "accum"), [
    ("conv2d_maxpool", "ap_fixed<16,6>", "ap_fixed<24,12>"),
    ("avgpool", "ap_fixed<16,6>", "ap_fixed<24,12>"),
    ("conv1d", "ap_fixed<16,6>", "ap_fixed<24,12>"),
    ("depthwise", "ap_fixed<16,6>", "ap_fixed<24,12>"),
    # narrow: products and partial sums round and saturate, so the order of accumulation shows
    ("conv1d", "ap_fixed<10,4,AP_RND,AP_SAT>", "ap_fixed<11,4,AP_RND_CONV,AP_SAT>"),
    ("avgpool", "ap_fixed<10,4,AP_RND,AP_SAT>", "ap_fixed<11,4,AP_RND_CONV,AP_SAT>"),
])
def test_cnn_logits_equal_hls4ml(keras: Any, tmp_path: Path, kind: str, precision: str, accum: str) -> None:
    require(importlib.util.find_spec("hls4ml"), "hls4ml", "make setup: extra [test]")
    gxx()
    import hls4ml

    model = cnn(keras, kind)
    x = np.random.default_rng(1).uniform(-4, 4, (2000, *model.inputs[0].shape[1:]))
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    for layer in cfg["LayerName"].values():
        layer["Precision"] = {k: accum if k == "accum" else precision for k in layer["Precision"]}
    theirs = hls4ml.converters.convert_from_keras_model(model, hls_config=copy.deepcopy(cfg), backend="Vitis",
                                                        output_dir=str(tmp_path / "hls4ml"), io_type="io_parallel")
    theirs.compile()
    expected = theirs.predict(np.ascontiguousarray(x)).reshape(len(x), -1)
    cfg["Model"] = {k: v for k, v in cfg["Model"].items() if k in ("Precision", "ReuseFactor", "Strategy")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Hls4mlKeyWarning)  # the ReLU's table type: no such slot here
        ours = nnfpga.convert_from_keras_model(model, hls_config=cfg, output_dir=tmp_path / "nnfpga")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        got = ours.predict(x)
    assert np.array_equal(got, expected), f"{int((got != expected).sum())} of {got.size} logits differ"
    if "AP_SAT" in accum:  # the saturating accumulators did saturate: the order of the sums was visible
        assert sum(ov.count for (_, slot), ov in ours.last_stats.overflow.items() if slot == "accum") > 0
