"""Cycles per image of the streaming top (:mod:`~nnfpga.backends.rtl.stream`): what the design states, from its
geometry and register stages, and what a Verilator run measures; the two agree (tests/backends/rtl).

The stated figures come from the schedule of every stage with the source always valid and the sink always ready:
a window generator steps once per cycle over its image and virtual positions, waiting for each input pixel
(:func:`~nnfpga.backends.rtl.window.geometry`); a window leaves one cycle after its step; a layer with ``D``
register stages inside adds ``D`` cycles; the flatten buffer gives its vector one cycle after its last pixel and
takes no pixel in that cycle. Latency: from taking an image's first input beat to giving its last output beat.
Initiation interval (II): cycles between the first output beats of consecutive images in the steady state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nnfpga.backends.rtl.window import Geometry
from nnfpga.errors import EmulationError

IMAGES = 4  # images the stated schedule runs through (the last two give the steady-state II)


@dataclass(frozen=True)
class Stage:
    """One stage of the chain: ``kind`` "window" (``geometry``), "delay" (``cycles`` registers), "flatten"
    (``pixels`` beats gathered into one) or "reuse" (a kernel with ReuseFactor ``cycles``, behind the window
    generator ``geometry`` or none: :mod:`~nnfpga.backends.rtl.stream_reuse`)."""

    kind: str
    geometry: Geometry | None = None
    cycles: int = 0
    pixels: int = 0


def _window(arrivals: list[int], g: Geometry) -> list[int]:
    t, n, out = -1, 0, []
    while n < len(arrivals):
        for y in range(g.h + g.vy):
            for x in range(g.w + g.vx):
                t += 1
                if y < g.h and x < g.w:
                    t = max(t, arrivals[n])
                    n += 1
                if g.row_hit[y] and g.col_hit[x]:
                    out.append(t + 1)
    return out


def _flatten(arrivals: list[int], pixels: int) -> list[int]:
    t, blocked, out = -1, -1, []
    for n, a in enumerate(arrivals):
        t = max(a, t + 1, blocked + 1)
        if n % pixels == pixels - 1:
            out.append(t + 1)
            blocked = t + 1  # full: no pixel taken while the vector is given
    return out


def schedule(stages: Sequence[Stage], beats_in: int, images: int = IMAGES) -> list[int]:
    """Cycle of every output beat of ``images`` images whose ``beats_in`` input beats are offered back to back."""
    times = list(range(beats_in * images))
    for i, s in enumerate(stages):
        if s.kind == "window":
            assert s.geometry is not None
            times = _window(times, s.geometry)
        elif s.kind == "delay":
            times = [t + s.cycles for t in times]
        elif s.kind == "flatten":
            times = _flatten(times, s.pixels)
        elif s.kind == "reuse":  # ReuseFactor cycles (raises Unstated where the model does not hold)
            from nnfpga.backends.rtl.stream_reuse import ReuseStage, reuse_schedule

            times = reuse_schedule(times, ReuseStage(s.cycles, s.geometry), head=i == 0)
    return times


def stated(stages: Sequence[Stage], beats_in: int) -> tuple[int, int]:
    """(latency, II) of the chain ``stages`` in cycles (see the module doc); (0, 0) where a ReuseFactor > 1 layer
    below the first holds its input back (:mod:`~nnfpga.backends.rtl.stream_reuse`: not modeled)."""
    from nnfpga.backends.rtl.stream_reuse import Unstated

    try:
        times = schedule(stages, beats_in)
    except Unstated:
        return 0, 0
    per = len(times) // IMAGES
    return times[per - 1], times[(IMAGES - 1) * per] - times[(IMAGES - 2) * per]


def measured(in_at: np.ndarray, out_at: np.ndarray, images: int) -> tuple[int, int]:
    """(latency, II) of a run without stalls from the cycle stamps of its beats: the first image's latency, and
    the spacing of the images' first output beats over the second half of the run (EmulationError when it is
    not constant there: no steady state)."""
    if images < 4 or len(in_at) % images or len(out_at) % images:
        raise EmulationError(f"measuring cycles per image needs >= 4 whole images, got {images} images with "
                             f"{len(in_at)} input and {len(out_at)} output beats")
    per_out = len(out_at) // images
    firsts = out_at[::per_out]
    gaps = np.diff(firsts[images // 2:])
    if len(set(gaps.tolist())) != 1:
        raise EmulationError(f"no steady state: image spacing in the second half of the run varies: {gaps.tolist()}")
    return int(out_at[per_out - 1] - in_at[0]), int(gaps[0])
