"""Graphs that are not chains in the streaming Verilog top (nnfpga.backends.rtl.stream_graph): forks, FIFOs sized
from the schedule and every merge layer, in Verilator equal to the emulator with random input stalls and output
backpressure; a FIFO one beat too small deadlocks."""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np
import pytest

import nnfpga
from backends.rtl.test_rtl_timing import predict_timed
from nnfpga.backends.rtl import stream
from nnfpga.backends.rtl.stream_graph import OUT, build_graph_design, fifo_depths
from nnfpga.backends.rtl.stream_timing import FifoCheck, check_fifos
from nnfpga.errors import BackendSupportError, ToolError
from nnfpga.fixed import from_float, to_float


def residual_cnn(keras: Any, size: int = 8) -> Any:
    """conv -> [conv 3x3 "same" -> relu] + skip -> max-pool -> conv -> flatten -> dense."""
    L = keras.layers
    keras.utils.set_random_seed(5)
    inp = keras.Input((size, size, 1), name="x")
    h = L.Conv2D(3, 3, padding="same", activation="relu", name="conv1")(inp)
    r = L.Conv2D(3, 3, padding="same", activation="relu", name="conv2")(h)
    h = L.Add(name="add")([r, h])
    h = L.MaxPooling2D(2, name="pool")(h)
    h = L.Conv2D(4, 3, name="conv3")(h)
    return keras.Model(inp, L.Dense(10, name="out")(L.Flatten(name="flat")(h)), name="residual_cnn")


def every_merge(keras: Any) -> Any:
    """Two conv branches and the input joined by every merge op, a Concatenate of channels, and an Add of two
    Dense layers after the Flatten (a merge of one-vector-per-image streams)."""
    L = keras.layers
    keras.utils.set_random_seed(6)
    x = keras.Input((6, 7, 2), name="x")
    a = L.Conv2D(2, 3, padding="same", name="a")(x)
    b = L.Conv2D(2, 1, name="b")(x)
    h = L.Subtract(name="sub")([a, b])
    h = L.Maximum(name="max")([x, h])
    h = L.Multiply(name="mul")([h, b])
    h = L.Minimum(name="min")([L.ReLU(name="relu")(h), a])
    h = L.Average(name="avg")([h, x])
    h = L.Concatenate(name="cat")([h, L.Conv2D(3, 3, padding="same", name="c")(h)])
    h = L.MaxPooling2D(2, name="pool")(h)
    f = L.Flatten(name="flat")(h)
    y = L.Add(name="sum")([L.Dense(4, name="d1")(f), L.Dense(4, name="d2")(f)])
    return keras.Model(x, y, name="every_merge")


def check(hw: nnfpga.HWModel, x: np.ndarray, cache: Any, seeds: tuple[int, ...] = (0, 2026)) -> None:
    want = hw.predict(x)
    assert len(np.unique(want)) > 50  # not a few saturated values
    for seed in seeds:  # 0: no stalls; else about 1 cycle in 4 without in_valid, 1 in 4 without out_ready
        got = predict_timed(hw, x, cache) if seed == 0 else stream.predict(hw, x, seed=seed, cache_dir=cache)
        bad = np.argwhere(got != want)
        assert bad.size == 0, f"seed {seed}: {len(bad)} of {want.size} outputs differ; first at {tuple(bad[0])}"


def test_fifo_depth_of_a_residual_skip_is_what_the_conv_holds_back(keras) -> None:
    hw = nnfpga.convert_from_keras_model(residual_cnn(keras), backend="verilog")
    # conv2's window at output (y, x) (3x3 "same") ends at input step (y + 1, x + 1): 8 + x + 2 pixels pass the fork
    # before the add takes the skip's pixel x of row 0, x + 1 of them for the skip: 9 held in the FIFO; the eager
    # fork holds the next one
    assert fifo_depths(hw.graph) == {("conv1_relu", "add", 1): 8 + 1}


@pytest.mark.tools
def test_residual_cnn_rtl_equals_emulator(keras, verilator_exe, rtl_cache, tmp_path) -> None:
    hw = nnfpga.convert_from_keras_model(residual_cnn(keras), backend="verilog", output_dir=tmp_path / "prj")
    check(hw, np.random.default_rng(0).uniform(-1.5, 1.5, (200, 8, 8, 1)), rtl_cache / "rtl")
    top = (hw.write() / "rtl" / "myproject.v").read_text()
    # 9 beats cannot deadlock; throughput_depths adds the round trip through conv2's registers (19 beats in all)
    # so that the conv runs at its full rate, II 81 (the stated II, which check measured)
    depth = int(re.search(r"conv1_relu -> add: (\d+)", top).group(1))
    assert "FIFO depths" in top and "fork of" in top and 9 < depth <= 64 and "II 81," in top


@pytest.mark.tools
def test_a_fifo_one_beat_too_small_deadlocks(keras, verilator_exe, rtl_cache) -> None:
    hw = nnfpga.convert_from_keras_model(residual_cnn(keras), backend="verilog")
    g = hw.graph
    (edge, depth), = fifo_depths(g).items()
    x = np.random.default_rng(1).uniform(-1.5, 1.5, (3, 8, 8, 1))
    m = np.asarray(from_float(hw.interpreter.check_input(x), g[g.inputs[0]].types["result"])[0], dtype=np.int64)
    for d, ok in ((depth, True), (depth - 1, False)):
        design = build_graph_design(g, hw.interpreter.prep, depths={edge: d})
        if ok:
            y, _ = stream.simulate_stream(design, m, stream.output_beats(g), cache_dir=rtl_cache / "rtl")
            want = hw.predict(x)
            assert np.array_equal(to_float(y, g[g.outputs[0]].types["result"]).reshape(want.shape), want)
        else:
            with pytest.raises(ToolError, match="timeout: 0 of 3 outputs"):
                stream.simulate_stream(design, m, stream.output_beats(g), cache_dir=rtl_cache / "rtl")


@pytest.mark.tools
def test_every_merge_rtl_equals_emulator(keras, verilator_exe, rtl_cache) -> None:
    hw = nnfpga.convert_from_keras_model(every_merge(keras), backend="verilog")
    assert {n.op for n in hw.graph} >= {"add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate"}
    depths = fifo_depths(hw.graph)
    assert depths[("x", "max", 0)] > 0 and all(c != OUT for (_, c, _) in depths)
    check(hw, np.random.default_rng(2).uniform(-1.5, 1.5, (200, 6, 7, 2)), rtl_cache / "rtl")


def test_concatenate_along_rows_is_refused(keras) -> None:
    L = keras.layers
    x = keras.Input((4, 4, 1), name="x")
    h = L.Concatenate(axis=1, name="rows")([L.Conv2D(1, 3, padding="same", name="c")(x), x])
    model = keras.Model(x, L.Dense(2, name="out")(L.Flatten(name="flat")(h)))
    with pytest.raises(BackendSupportError, match=r"'rows'.*concatenates channels"):
        nnfpga.convert_from_keras_model(model, backend="verilog")


@pytest.mark.slow
@pytest.mark.tools
def test_issue_14_acceptance_residual_cnn_1000_images(keras, verilator_exe, rtl_cache) -> None:
    """Issue 14's acceptance: a CNN with a residual Add (8x8), 0 mismatches over 1,000 images streamed with random
    input stalls and output backpressure."""
    hw = nnfpga.convert_from_keras_model(residual_cnn(keras), backend="verilog")
    t0 = time.perf_counter()
    check(hw, np.random.default_rng(3).uniform(-1.5, 1.5, (1000, 8, 8, 1)), rtl_cache / "rtl", seeds=(14,))
    print(f"residual CNN 8x8, 1000 images with stalls: {time.perf_counter() - t0:.1f} s")


def branchy_layers(keras: Any) -> Any:
    """Merges around the streaming layers of stream_layers.py: a depthwise conv and an average pooling on one
    branch, a pointwise conv on the other, a Concatenate, a global average pooling, Dense."""
    L = keras.layers
    keras.utils.set_random_seed(7)
    x = keras.Input((6, 6, 2), name="x")
    a = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw")(x)
    a = L.AveragePooling2D(3, strides=1, padding="same", name="ap")(a)
    b = L.Conv2D(4, 1, activation="relu", name="pw")(x)
    h = L.Add(name="add")([a, b])
    h = L.Concatenate(name="cat")([h, L.Conv2D(2, 3, padding="same", name="c")(h)])
    h = L.GlobalAveragePooling2D(name="gap")(h)
    return keras.Model(x, L.Dense(3, name="out")(h), name="branchy_layers")


@pytest.mark.tools
def test_merges_around_depthwise_average_pooling_and_global_pooling(keras, verilator_exe, rtl_cache) -> None:
    hw = nnfpga.convert_from_keras_model(branchy_layers(keras), backend="verilog")
    assert {"avg_pool", "conv", "add", "concatenate"} <= {n.op for n in hw.graph}
    assert fifo_depths(hw.graph)
    check(hw, np.random.default_rng(4).uniform(-1.5, 1.5, (150, 6, 6, 2)), rtl_cache / "rtl")


def padded_branches(keras: Any) -> Any:
    """Padding, upsampling and cropping between forks and their merges: a valid conv padded back to 8x8 beside
    the skip, a max-pool upsampled back beside the skip, a crop padded back concatenated with the skip."""
    L = keras.layers
    keras.utils.set_random_seed(8)
    x = keras.Input((8, 8, 2), name="x")
    h = L.Conv2D(3, 3, padding="same", activation="relu", name="conv1")(x)
    r = L.ZeroPadding2D(1, name="pad")(L.Conv2D(3, 3, name="conv2")(h))
    h = L.Add(name="add")([r, h])
    u = L.UpSampling2D(2, name="up")(L.MaxPooling2D(2, name="pool")(h))
    h = L.Add(name="add2")([u, h])
    c = L.ZeroPadding2D(((2, 0), (1, 1)), name="pad2")(L.Cropping2D(((0, 2), (1, 1)), name="crop")(h))
    h = L.Concatenate(name="cat")([c, h])
    return keras.Model(x, L.Dense(4, name="out")(L.Flatten(name="flat")(h)), name="padded_branches")


SKIPS = {("conv1_relu", "add", 1): 18, ("add", "add2", 1): 15, ("add2", "cat", 1): 1}


def test_fifo_depths_around_padding_upsampling_and_cropping(keras) -> None:
    """The stages' schedules (stream_stages.inputs_before_outputs) size the skips' FIFOs: "pad" gives its first
    beats (padding) only once conv2's first window is valid, which ends at input (2, 2): 19 beats of conv1 moved
    while the add takes the skip's first, 18 held; the upsampler gives its first row once pool's first output
    row is in, which ends at input (1, 7): 16 moved, 15 held; "pad2" waits for the crop's first pixel, (0, 1): 1
    held. The crop branch itself drops rows the merge needs later (an upper bound: it holds beats too). The
    schedule model (nnfpga.backends.rtl.timing) runs with these depths and stops with a skip one beat smaller."""
    hw = nnfpga.convert_from_keras_model(padded_branches(keras), backend="verilog")
    g, prep = hw.graph, hw.interpreter.prep
    depths = fifo_depths(g)
    assert depths == {**SKIPS, ("add2", "crop", 0): 18}
    assert build_graph_design(g, prep).ii > 0
    for edge, depth in SKIPS.items():
        assert build_graph_design(g, prep, depths={**depths, edge: depth - 1}).ii == 0, edge


@pytest.mark.tools
def test_padding_upsampling_and_cropping_inside_branches_rtl_equals_emulator(keras, verilator_exe, rtl_cache) -> None:
    """Verilator = emulator with and without random stalls (measured = stated II and latency without); the skip
    of the padded branch one beat smaller deadlocks, as the schedule model says."""
    hw = nnfpga.convert_from_keras_model(padded_branches(keras), backend="verilog")
    assert {"zero_pad", "upsample", "crop"} <= {n.op for n in hw.graph}
    check(hw, np.random.default_rng(9).uniform(-1.5, 1.5, (200, 8, 8, 2)), rtl_cache / "rtl")
    g = hw.graph
    edge = ("conv1_relu", "add", 1)
    design = build_graph_design(g, hw.interpreter.prep, depths={**fifo_depths(g), edge: SKIPS[edge] - 1})
    x = np.random.default_rng(10).uniform(-1.5, 1.5, (3, 8, 8, 2))
    m = np.asarray(from_float(hw.interpreter.check_input(x), g[g.inputs[0]].types["result"])[0], dtype=np.int64)
    with pytest.raises(ToolError, match="timeout: 0 of 3 outputs"):
        stream.simulate_stream(design, m, stream.output_beats(g), cache_dir=rtl_cache / "rtl")


def test_fifo_depths_checked_on_the_schedule_model(keras) -> None:
    """The sized FIFOs against the schedule model (no Verilator): a skip beside a conv is minimal (one beat less
    deadlocks); a branch whose layers hold beats themselves (the pointwise conv's register stages) gets an upper
    bound. Minimal skips cost throughput: residual_cnn's II is about 600 with its 9-beat skip, the full rate of its
    "same" conv ((8 + 1) * (8 + 1) steps) with an image-deep one."""
    hw = nnfpga.convert_from_keras_model(residual_cnn(keras), backend="verilog")
    checks, ii, deep = check_fifos(hw.graph, hw.interpreter.prep)
    assert checks == {("conv1_relu", "add", 1): FifoCheck(9, 9)} and deep == 81 < ii
    hw = nnfpga.convert_from_keras_model(branchy_layers(keras), backend="verilog")
    checks, ii, deep = check_fifos(hw.graph, hw.interpreter.prep)
    assert checks[("add", "cat", 0)] == FifoCheck(7, 7)  # beside conv "c" (3x3 "same" over 6 columns): 6 + 1
    assert 0 < checks[("x", "pw", 0)].least < checks[("x", "pw", 0)].depth
    assert 0 < deep < ii


def test_fifos_are_grown_until_the_design_runs_at_its_full_rate(keras) -> None:
    """The deadlock-free depths make every beat wait for a round trip through the other branch (residual_cnn: II
    556); the built FIFOs reach the II the design has with image-deep ones, and the least common extra does:
    one beat less on every FIFO and the II is slower."""
    from nnfpga.backends.rtl.stream_graph import throughput_depths

    for make in (residual_cnn, every_merge, branchy_layers, padded_branches):
        hw = nnfpga.convert_from_keras_model(make(keras), backend="verilog")
        stages: dict = {}
        design = build_graph_design(hw.graph, hw.interpreter.prep, record=stages)
        sized = fifo_depths(hw.graph)
        _, slow, deep = check_fifos(hw.graph, hw.interpreter.prep, sized)
        grown = throughput_depths(hw.graph, stages, sized)
        assert design.ii == deep < slow, make.__name__
        assert all(grown[e] >= d for e, d in sized.items()) and grown != sized, make.__name__
        less = {e: max(d, grown[e] - 1) for e, d in sized.items()}
        _, ii_less, _ = check_fifos(hw.graph, hw.interpreter.prep, less)
        assert ii_less > deep, make.__name__
