"""The stated schedule of the streaming top (nnfpga.backends.rtl.timing) on small cases worked out by hand; the
Verilator runs that check it against the real design are in test_rtl_window.py, test_rtl_stream.py and, through
:func:`predict_timed` (the no-stall run of every design those tests stream), test_rtl_stream_graph.py and
test_rtl_stream_layers.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nnfpga
from nnfpga.backends.rtl import stream
from nnfpga.backends.rtl.stream_layers import cycles_bound
from nnfpga.backends.rtl.timing import Stage, measured, schedule, stated
from nnfpga.backends.rtl.window import geometry
from nnfpga.errors import EmulationError
from nnfpga.fixed import from_float, to_float
from nnfpga.ops.spatial import Window

VALID = Window((3, 3), (1, 1), (1, 1), ((0, 0), (0, 0)))
SAME = Window((3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)))


def test_window_schedule_by_hand():
    # 4x4 "valid": windows end at steps (2,2) (2,3) (3,2) (3,3) = cycles 10, 11, 14, 15, leave one cycle later
    g = geometry((4, 4), VALID)
    assert (g.vy, g.vx, g.steps) == (0, 0, 16)
    assert schedule([Stage("window", g)], 16, images=2) == [11, 12, 15, 16, 27, 28, 31, 32]
    assert stated([Stage("window", g)], 16) == (16, 16)
    # 3 register stages, then a flatten of the 4 windows: the vector one cycle after the last
    assert stated([Stage("window", g), Stage("delay", cycles=3), Stage("flatten", pixels=4)], 16) == (20, 16)
    # "same": one virtual column per row and one virtual row: 5x5 steps, the last window at the last step
    s = geometry((4, 4), SAME)
    assert (s.vy, s.vx, s.steps) == (1, 1, 25)
    assert stated([Stage("window", s)], 16) == (25, 25)


def test_input_slower_than_a_pixel_per_cycle():
    # a pool after a "same" conv: its pixels come at the conv's pace; II stays the first layer's
    conv, pool = geometry((4, 4), SAME), geometry((4, 4), Window((2, 2), (2, 2), (1, 1), ((0, 0), (0, 0))))
    lat, ii = stated([Stage("window", conv), Stage("window", pool)], 16)
    assert ii == 25 and lat == stated([Stage("window", conv)], 16)[0] + 1


def test_measured_needs_a_steady_state():
    in_at = np.arange(40)
    assert measured(in_at, np.array([12, 13, 22, 23, 32, 33, 42, 43]), 4) == (13, 10)
    with pytest.raises(EmulationError, match="steady state"):
        measured(np.arange(60), np.array([12, 13, 22, 23, 32, 33, 43, 44, 52, 53, 64, 65]), 6)


def predict_timed(hw: nnfpga.HWModel, x: np.ndarray, cache: Path) -> np.ndarray:
    """``stream.predict(hw, x)`` without stalls (the same design and build), asserting that the latency and II the
    run measures are those the design states (and that it states them)."""
    g = hw.graph
    design = stream.build_stream_design(g, hw.interpreter.prep, hw.settings["project_name"])
    m, _ = from_float(hw.interpreter.check_input(x), g[g.inputs[0]].types["result"])
    y, _, (in_at, out_at) = stream.simulate_stream_timed(design, np.asarray(m, dtype=np.int64), stream.output_beats(g),
                                                         cache_dir=cache, cycles_per_image=cycles_bound(g))
    assert design.ii > 0 and design.latency > 0
    assert measured(in_at, out_at, len(x)) == (design.latency, design.ii), "measured (latency, II) != stated"
    assert f"II {design.ii}, latency {design.latency}" in design.modules[0].render()
    return to_float(y, design.out_type).reshape((len(x), *g[g.outputs[0]].shape))
