"""Image models in the Verilog backend: the streaming top (valid/ready, one pixel per beat) simulated in Verilator
equals the emulator, with random input stalls and output backpressure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnfpga
from nnfpga.backends.rtl import stream


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
def test_small_cnn_cycles_per_image_measured_equal_stated(keras, verilator_exe, rtl_cache) -> None:
    """No stalls: the first image's latency and the steady-state II measured in Verilator are what the design
    states (the build test_small_cnn_rtl_equals_emulator made, from the same cache). II = (8+1)*(8+1): a pixel
    every cycle plus conv1's right/bottom padding steps; adders_per_stage=None (no registers inside the kernels)
    states fewer cycles of latency, the same II."""
    from nnfpga.backends.rtl.lower import build_design
    from nnfpga.backends.rtl.timing import measured
    from nnfpga.fixed import from_float, to_float

    hw = nnfpga.convert_from_keras_model(small_cnn(keras), backend="verilog")
    g = hw.graph
    d = build_design(g, prep=hw.interpreter.prep)
    x = np.random.default_rng(5).uniform(-1.5, 1.5, (12, 8, 8, 1))
    m, _ = from_float(x, g[g.inputs[0]].types["result"])
    y, _, (in_at, out_at) = stream.simulate_stream_timed(d, np.asarray(m, dtype=np.int64), 1,
                                                         cache_dir=rtl_cache / "rtl")
    assert measured(in_at, out_at, len(x)) == (d.latency, d.ii)
    assert d.ii == 81 and d.latency > 81 + 6 and sum(d.inner.values()) >= 6
    assert f"II {d.ii}, latency {d.latency}" in d.modules[0].render()
    want = hw.predict(x)
    assert np.array_equal(to_float(y, d.out_type).reshape(want.shape), want)
    flat = build_design(g, prep=hw.interpreter.prep, adders_per_stage=None)
    assert flat.ii == d.ii and flat.latency == d.latency - sum(d.inner.values()) and not flat.inner


@pytest.mark.tools
def test_conv1d_rtl_equals_emulator(keras, verilator_exe, rtl_cache) -> None:
    hw = nnfpga.convert_from_keras_model(conv1d_model(keras), backend="verilog")
    x = np.random.default_rng(1).uniform(-1.5, 1.5, (200, 32, 3))
    check(hw, x, rtl_cache / "rtl")



@pytest.mark.slow
@pytest.mark.tools
def test_issue_14_acceptance_small_conv2d_1000_images(keras, verilator_exe, rtl_cache) -> None:
    """Issue 14's small Conv2D (16x16x1: conv 8 3x3 relu, max-pool 2, conv 16 3x3 relu, Dense 10; every type
    ap_fixed<16,6>, accumulators ap_fixed<24,12> as in benchmarks/cnn_cases.py): Verilator = emulator over 1,000
    images with random input stalls and output backpressure, and its stated cycles per image (16 x 16)."""
    import sys
    import time

    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
    from cnn_cases import by_hand
    from cnn_cases import small_cnn as issue_small_cnn

    model = issue_small_cnn(keras)
    cfg = by_hand(nnfpga.utils.config_from_keras_model(model, granularity="name"))
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog")
    x = np.random.default_rng(16).uniform(-4, 4, (1000, 16, 16, 1))
    want = hw.predict(x)
    t0 = time.perf_counter()
    got = stream.predict(hw, x, seed=14, cache_dir=rtl_cache / "rtl")
    bad = np.argwhere(got != want)
    assert bad.size == 0, f"{len(bad)} of {want.size} outputs differ; first at {tuple(bad[0])}"
    assert len(np.unique(want, axis=0)) > 900
    from nnfpga.backends.rtl.lower import build_design

    assert build_design(hw.graph, prep=hw.interpreter.prep).ii == 16 * 16
    print(f"small Conv2D 16x16, 1000 images with stalls: {time.perf_counter() - t0:.1f} s")
