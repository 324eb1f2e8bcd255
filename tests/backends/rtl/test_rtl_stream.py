"""Image models in the Verilog backend: the streaming top (valid/ready, one pixel per beat) simulated in Verilator
equals the emulator, with random input stalls and output backpressure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnfpga
from nnfpga.backends.rtl import stream
from nnfpga.errors import BackendSupportError


def small_cnn(keras: Any) -> Any:
    L = keras.layers
    keras.utils.set_random_seed(3)
    inp = keras.Input((8, 8, 1), name="x")
    h = L.Conv2D(3, 3, padding="same", activation="relu", name="conv1")(inp)
    h = L.MaxPooling2D(2, name="pool1")(h)
    h = L.Conv2D(4, 3, activation="relu", name="conv2")(h)
    return keras.Model(inp, L.Dense(10, name="out")(L.Flatten(name="flat")(h)), name="small_cnn")


def conv1d_model(keras: Any) -> Any:
    L = keras.layers
    keras.utils.set_random_seed(4)
    inp = keras.Input((32, 3), name="x")
    h = L.Conv1D(4, 3, padding="same", activation="relu", name="conv1")(inp)
    h = L.MaxPooling1D(2, name="pool1")(h)
    h = L.Conv1D(4, 5, strides=2, name="conv2")(h)
    return keras.Model(inp, L.Dense(5, name="out")(L.Flatten(name="flat")(h)), name="conv1d")


def check(hw: nnfpga.HWModel, x: np.ndarray, cache: Path) -> None:
    want = hw.predict(x)
    assert len(np.unique(want)) > 50  # not a few saturated values
    for seed in (0, 2026):  # 0: no stalls; else about 1 cycle in 4 without in_valid, 1 in 4 without out_ready
        got = stream.predict(hw, x, seed=seed, cache_dir=cache)
        bad = np.argwhere(got != want)
        assert bad.size == 0, f"{len(bad)} of {want.size} outputs differ; first at {tuple(bad[0])}"


@pytest.mark.tools
def test_small_cnn_rtl_equals_emulator(keras, verilator_exe, rtl_cache, monkeypatch, tmp_path) -> None:
    hw = nnfpga.convert_from_keras_model(small_cnn(keras), backend="verilog", output_dir=tmp_path / "prj")
    x = np.random.default_rng(0).uniform(-1.5, 1.5, (300, 8, 8, 1))
    check(hw, x, rtl_cache / "rtl")
    monkeypatch.setenv("NNFPGA_CACHE_DIR", str(rtl_cache))  # the same build, through the public engine
    assert np.array_equal(hw.predict(x[:20], engine="rtl"), hw.predict(x[:20]))
    prj = hw.write()
    top, lib = (prj / "rtl" / "myproject.v").read_text(), (prj / "rtl" / "myproject_lib.v").read_text()
    assert "in_ready" in top and "out_ready" in top and "module myproject_conv1_window" in lib


@pytest.mark.tools
def test_conv1d_rtl_equals_emulator(keras, verilator_exe, rtl_cache) -> None:
    hw = nnfpga.convert_from_keras_model(conv1d_model(keras), backend="verilog")
    x = np.random.default_rng(1).uniform(-1.5, 1.5, (200, 32, 3))
    check(hw, x, rtl_cache / "rtl")


def test_unsupported_image_layers_refused_at_conversion_all_at_once(keras) -> None:
    L = keras.layers
    inp = keras.Input((8, 8, 2), name="x")
    h = L.AveragePooling2D(2, name="avg")(L.DepthwiseConv2D(3, name="dw")(inp))
    model = keras.Model(inp, L.Dense(3, name="out")(L.GlobalAveragePooling2D(name="gap")(h)))
    with pytest.raises(BackendSupportError) as info:
        nnfpga.convert_from_keras_model(model, backend="verilog")
    msg = str(info.value)
    assert "'dw'" in msg and "grouped/depthwise" in msg and "avg_pool 'avg'" in msg and "gap" in msg
