"""Streaming image-model designs: their stated timing (cycles per image, latency) against a Verilator run, and
their synthesis with Yosys (window generators as separate modules under the top)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_rtl_stream import conv1d_model, small_cnn

import nnfpga
from nnfpga.backends.rtl import stream
from nnfpga.backends.rtl.stream_timing import stream_timing
from nnfpga.fixed import from_float

RESET, DRAIN = 2, 8  # the stream harness's reset cycles; the cycles it waits after the last output, plus one


def tiny_cnn(keras: Any) -> Any:
    """6x6x1, Conv2D 2 3x3 same + ReLU, MaxPooling2D 2, Flatten, Dense 3: small enough to synthesize in seconds."""
    L = keras.layers
    keras.utils.set_random_seed(5)
    inp = keras.Input((6, 6, 1), name="x")
    h = L.MaxPooling2D(2, name="pool")(L.Conv2D(2, 3, padding="same", activation="relu", name="conv")(inp))
    return keras.Model(inp, L.Dense(3, name="out")(L.Flatten(name="flat")(h)), name="tiny_cnn")


@pytest.mark.tools
@pytest.mark.parametrize("make", [small_cnn, conv1d_model])
def test_stated_timing_matches_verilator(make: Any, keras: Any, verilator_exe: str, rtl_cache: Path,
                                         tmp_path: Path) -> None:
    hw = nnfpga.convert_from_keras_model(make(keras), backend="verilog", output_dir=tmp_path / "prj")
    g = hw.graph
    design = stream.build_stream_design(g, hw.interpreter.prep)
    timing = stream_timing(g, design)
    assert (timing.cycles_per_image, timing.latency, timing.stated) == (design.ii, design.latency, True)
    assert timing.cycles_per_image > 1 and timing.latency > 1
    x = np.random.default_rng(0).uniform(-1.5, 1.5, (3, *g[g.inputs[0]].shape))
    m = np.asarray(from_float(x, g[g.inputs[0]].types["result"])[0], dtype=np.int64)
    _, one = stream.simulate_stream(design, m[:1], stream.output_beats(g), cache_dir=rtl_cache / "rtl")
    _, three = stream.simulate_stream(design, m, stream.output_beats(g), cache_dir=rtl_cache / "rtl")
    assert one - RESET - DRAIN - 1 == timing.latency
    assert (three - one) // 2 == timing.cycles_per_image and (three - one) % 2 == 0


@pytest.mark.tools
@pytest.mark.slow
def test_tiny_cnn_xc7_cell_counts(keras: Any, tmp_path: Path, yosys_exe: str) -> None:
    """The streaming top and its window generators synthesize for xc7 (Yosys: 20 s of CPU); the flip-flops hold at least
    the line buffers and shift-register windows (conv: 2 rows of 6 pixels + 3x3; pool: 1 row of 6 x 2 channels +
    2x2) and the flatten buffer, and the report gives cycles per image as its II."""
    hw = nnfpga.convert_from_keras_model(tiny_cnn(keras), backend="verilog", output_dir=tmp_path / "prj",
                                         project_name="tiny")
    r = hw.synthesize("xc7", progress=False, save=False)
    timing = stream_timing(hw.graph)
    assert (r.ii, r.latency_cycles) == (timing.cycles_per_image, timing.latency)
    assert timing.cycles_per_image == (6 + 1) * (6 + 1)  # a pixel per cycle, plus the right/bottom padding steps
    t_conv, t_pool = (hw.graph[n].types["result"].width for n in ("x", "conv_relu"))
    rows = (2 * 6 + 3 * 3) * t_conv + (1 * 6 + 2 * 2) * 2 * t_pool  # line buffer rows + shift-register windows
    flat = 9 * 2 * t_pool
    assert rows + flat <= r.ff <= 20 * (rows + flat), r  # and the registers inside the kernels (adder trees)
    assert r.lut > 100 and r.extra["carry"] > 0 and r.bram_18k == 0 and r.fmax_mhz is None
