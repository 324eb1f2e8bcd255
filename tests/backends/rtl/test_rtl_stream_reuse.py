"""ReuseFactor > 1 in the streaming Verilog top (backends/rtl/stream_reuse.py): Verilator = emulator with random
stalls on both sides, the cycles per image and latency Verilator measures = what the design states, the refusal
of ReuseFactors the kernel cannot fold, and DSPs in a Yosys synthesis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnfpga
from nnfpga.backends.rtl import stream
from nnfpga.backends.rtl.design import Design
from nnfpga.backends.rtl.timing import Stage, measured, schedule, stated
from nnfpga.backends.rtl.window import geometry
from nnfpga.errors import BackendSupportError
from nnfpga.fixed import from_float, to_float
from nnfpga.ops.spatial import Window


def convert(model: Any, rfs: dict[str, int], **kw: Any) -> nnfpga.HWModel:
    cfg = nnfpga.utils.config_from_keras_model(model, granularity="name")
    for name, rf in rfs.items():
        cfg["LayerName"][name]["ReuseFactor"] = rf
    return nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog", **kw)


def conv_model(keras: Any) -> Any:
    """8x8x4, Conv2D 4 3x3 same + ReLU (36 window inputs per output), MaxPooling2D 2, Flatten, Dense 5."""
    L = keras.layers
    keras.utils.set_random_seed(7)
    inp = keras.Input((8, 8, 4), name="x")
    h = L.MaxPooling2D(2, name="pool")(L.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inp))
    return keras.Model(inp, L.Dense(5, name="out")(L.Flatten(name="flat")(h)), name="reuse_conv")


def separable_model(keras: Any) -> Any:
    """8x8x4, DepthwiseConv2D 3x3 same (9 inputs per group), pointwise Conv2D 8 1x1 + ReLU, max pool, Dense 5."""
    L = keras.layers
    keras.utils.set_random_seed(8)
    inp = keras.Input((8, 8, 4), name="x")
    h = L.Conv2D(8, 1, activation="relu", name="pw")(L.DepthwiseConv2D(3, padding="same", name="dw")(inp))
    h = L.MaxPooling2D(2, name="pool")(h)
    return keras.Model(inp, L.Dense(5, name="out")(L.Flatten(name="flat")(h)), name="reuse_sep")


def two_conv_model(keras: Any) -> Any:
    """8x8x4, Conv2D 4 3x3 same + ReLU, max pool, Conv2D 4 3x3 same + ReLU (the reused one), max pool, Dense 5."""
    L = keras.layers
    keras.utils.set_random_seed(9)
    inp = keras.Input((8, 8, 4), name="x")
    h = L.MaxPooling2D(2, name="pool1")(L.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inp))
    h = L.MaxPooling2D(2, name="pool2")(L.Conv2D(4, 3, padding="same", activation="relu", name="conv2")(h))
    return keras.Model(inp, L.Dense(5, name="out")(L.Flatten(name="flat")(h)), name="reuse_two")


def timed(hw: nnfpga.HWModel, cache: Path, images: int = 12) -> tuple[Design, tuple[int, int]]:
    """The design and its (latency, II) measured in Verilator without stalls; its outputs = the emulator's."""
    g = hw.graph
    d = stream.build_stream_design(g, hw.interpreter.prep)
    x = np.random.default_rng(1).uniform(-1.5, 1.5, (images, *g[g.inputs[0]].shape))
    m, _ = from_float(x, g[g.inputs[0]].types["result"])
    y, _, (in_at, out_at) = stream.simulate_stream_timed(d, np.asarray(m, dtype=np.int64), stream.output_beats(g),
                                                         cache_dir=cache, cycles_per_image=2000)
    want = hw.predict(x)
    assert np.array_equal(to_float(y, d.out_type).reshape(want.shape), want)
    return d, measured(in_at, out_at, images)


def check_stalls(hw: nnfpga.HWModel, cache: Path, images: int = 300) -> None:
    """Verilator = emulator over ``images`` images with about 1 cycle in 4 without in_valid and 1 in 4 without
    out_ready."""
    x = np.random.default_rng(2).uniform(-1.5, 1.5, (images, *hw.graph[hw.graph.inputs[0]].shape))
    want = hw.predict(x)
    assert len(np.unique(want)) > 100  # not a few saturated values
    got = stream.predict(hw, x, seed=2026, cache_dir=cache)
    bad = np.argwhere(got != want)
    assert bad.size == 0, f"{len(bad)} of {want.size} outputs differ; first at {tuple(bad[0])}"


@pytest.mark.tools
@pytest.mark.parametrize(("rf", "rf_dense", "ii"), [(2, 1, 136), (4, 4, 260)])
def test_conv_reuse_rtl_equals_emulator_and_stated_timing(rf: int, rf_dense: int, ii: int, keras: Any,
                                                          verilator_exe: str, rtl_cache: Path) -> None:
    """The conv takes a window every R cycles: 64 windows per image, II = 64 R plus the cycles the window
    generator's first row (no window: 'same' padding) leaves the kernel idle; the Dense after the Flatten at R=4
    too. Stated = measured, and the multipliers are Verilog ``*`` (36 x 4 / R in the conv)."""
    hw = convert(conv_model(keras), {"conv": rf, "out": rf_dense})
    d, (latency, got_ii) = timed(hw, rtl_cache / "rtl")
    assert (latency, got_ii) == (d.latency, d.ii) and d.ii == ii and d.ii >= 64 * rf
    assert f"II {d.ii}, latency {d.latency}" in d.modules[0].render()
    text = d.modules[0].render()
    assert sum(f"conv_p{g}_{j} =" in text for g in range(36 // rf) for j in range(4)) == 36 * 4 // rf
    check_stalls(hw, rtl_cache / "rtl")


@pytest.mark.tools
def test_depthwise_and_pointwise_reuse(keras: Any, verilator_exe: str, rtl_cache: Path) -> None:
    """Depthwise 3x3 at R=3 (a folded Dense per channel group), then a pointwise conv at R=2 on its output beats
    (one every 3 cycles: never held back, so the stated schedule holds below the first layer)."""
    hw = convert(separable_model(keras), {"dw": 3, "pw": 2})
    d, timing = timed(hw, rtl_cache / "rtl")
    assert timing == (d.latency, d.ii) and d.ii >= 3 * 64
    check_stalls(hw, rtl_cache / "rtl")


@pytest.mark.tools
@pytest.mark.parametrize("rf", [2, 4])
def test_reuse_below_the_first_layer(rf: int, keras: Any, verilator_exe: str, rtl_cache: Path) -> None:
    """conv2 (on the pooled 4x4 image) reused: at R=2 it keeps up with its input; at R=4 it holds the pooling and
    conv1 above it back (their FIFOs fill, the window generators wait). Both state their timing from the
    cycle-by-cycle model (the kernel an element of it), = Verilator, and stay bit-exact with stalls."""
    hw = convert(two_conv_model(keras), {"conv2": rf})
    d, timing = timed(hw, rtl_cache / "rtl")
    assert timing == (d.latency, d.ii) and d.ii == 81  # conv1's pace either way (latency 119 at R=2, 135 at R=4)
    check_stalls(hw, rtl_cache / "rtl", images=200)


def test_reuse_element_by_hand() -> None:
    """The kernel in the cycle-by-cycle model (timing._Reuse, as reuse_handshake): a beat taken when idle or in the
    last of its R busy cycles, the result R + 1 cycles after the take; behind a 4x4 'valid' window generator
    (windows leave at 11, 12, 15, 16) at R=2 the second and fourth wait one cycle; at R=8 the kernel sets the pace
    and holds the window generator (and the next image) back."""
    assert schedule([Stage("reuse", cycles=3)], 4, images=2) == [4, 7, 10, 13, 16, 19, 22, 25]
    assert stated([Stage("reuse", cycles=3)], 4) == (13, 12)
    g = geometry((4, 4), Window((3, 3), (1, 1), (1, 1), ((0, 0), (0, 0))))
    assert schedule([Stage("window", g), Stage("reuse", cycles=2)], 16, images=2) == [14, 16, 18, 20, 30, 32, 34, 36]
    assert schedule([Stage("window", g), Stage("reuse", cycles=8)], 16, images=2) == [20, 28, 36, 44, 52, 60, 68, 76]


def one_channel_model(keras: Any) -> Any:
    """8x8x1, Conv2D 8 3x3 same + ReLU (9 inputs per output), MaxPooling2D 2, Flatten (128), Dense 5."""
    L = keras.layers
    keras.utils.set_random_seed(11)
    inp = keras.Input((8, 8, 1), name="x")
    h = L.MaxPooling2D(2, name="pool")(L.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inp))
    return keras.Model(inp, L.Dense(5, name="out")(L.Flatten(name="flat")(h)), name="reuse_fold")


@pytest.mark.tools
def test_reuse_factor_not_dividing_the_inputs(keras: Any, verilator_exe: str, rtl_cache: Path) -> None:
    """R=4 on a conv with 9 inputs per output (72 products: 18 multipliers, some serving two outputs) and R=5 on a
    Dense of 128 inputs (640 products: 128 multipliers): the products dealt without input slots (dense_fold)."""
    hw = convert(one_channel_model(keras), {"conv": 4, "out": 5})
    d, timing = timed(hw, rtl_cache / "rtl")
    assert timing == (d.latency, d.ii) and d.ii >= 4 * 64
    text = d.modules[0].render()
    assert sum(f"conv_fp{g} =" in text for g in range(40)) == 72 // 4
    assert sum(f"out_fp{g} =" in text for g in range(200)) == 640 // 5
    assert "conv_fg" in text  # a multiplier whose products go to two outputs, gated by the cycle
    check_stalls(hw, rtl_cache / "rtl")


def test_reuse_with_a_saturating_accumulator_is_refused(keras: Any) -> None:
    """A saturating accumulator needs the products in input order, which the folded kernel does not keep: refused
    at conversion, naming the layer and what to do; R=1 converts."""
    model = one_channel_model(keras)
    cfg = nnfpga.utils.config_from_keras_model(model, granularity="name")
    cfg["LayerName"]["conv"]["Precision"]["accum"] = "ap_fixed<10,3,AP_TRN,AP_SAT>"
    cfg["LayerName"]["conv"]["ReuseFactor"] = 2
    with pytest.raises(BackendSupportError, match=r"conv.*saturate.*ReuseFactor 1"):
        nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog")
    cfg["LayerName"]["conv"]["ReuseFactor"] = 1
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog")
    assert stream.build_stream_design(hw.graph, hw.interpreter.prep).ii > 0


@pytest.mark.tools
@pytest.mark.slow
def test_reuse_conv_maps_to_dsps(keras: Any, tmp_path: Path, yosys_exe: str) -> None:
    """Yosys synth_xilinx: the reused conv's multipliers (16-bit variable x 16-bit ROM weight) become DSP48E1s, one
    per multiplier: 6x6x4 input, conv 2 3x3 at R=4 -> 36 x 2 / 4 = 18 more than the same model at R=1 (its
    kernel shift-and-add; the flatten buffer's index arithmetic takes the same DSPs in both), 2 min of Yosys each."""
    L = keras.layers
    keras.utils.set_random_seed(5)
    inp = keras.Input((6, 6, 4), name="x")
    h = L.MaxPooling2D(2, name="pool")(L.Conv2D(2, 3, padding="same", activation="relu", name="conv")(inp))
    model = keras.Model(inp, L.Dense(3, name="out")(L.Flatten(name="flat")(h)), name="tiny_reuse")
    dsp = {}
    for rf in (1, 4):
        hw = convert(model, {"conv": rf}, output_dir=tmp_path / f"prj{rf}", project_name="tiny")
        r = hw.synthesize("xc7", progress=False, save=False)
        dsp[rf] = r.dsp
        assert r.ii == stream.build_stream_design(hw.graph, hw.interpreter.prep).ii >= rf * 36
    assert dsp[4] - dsp[1] == 18, dsp
