"""Cycles per image and latency of a streaming image-model design (:mod:`~nnfpga.backends.rtl.stream`), for
``hw.synthesize`` and ``benchmarks/hardware.py``: the design states them (``Design.ii``, ``Design.latency``),
computed by :mod:`~nnfpga.backends.rtl.timing` from a cycle-by-cycle model of every stream element (window
generators, register stages inside the layers, flatten buffers, global pooling, padding, cropping, upsampling,
forks, FIFOs, merges); ``tests/backends/rtl`` checks them against Verilator runs of every streaming test design.
Only a design whose FIFOs are too small to run (built with explicit ``depths``) states none (``stated`` False).
"""

from __future__ import annotations

from dataclasses import dataclass

from nnfpga.backends.rtl.design import Design
from nnfpga.ir.graph import Graph


@dataclass(frozen=True)
class StreamTiming:
    """``cycles_per_image``: a new image every so many cycles (the streaming design's II); ``latency``: cycles
    from an image's first input beat to its (last) output beat; ``stated``: whether the Design states them (else
    both are 0: not known without a simulation)."""

    cycles_per_image: int
    latency: int
    stated: bool


def stream_timing(graph: Graph, design: Design | None = None) -> StreamTiming:
    """The timing ``graph``'s streaming design states (``design``, else built here with the default settings)."""
    if design is None:
        from nnfpga.backends.rtl.lower import build_design, prepare_all

        design = build_design(graph, prep=prepare_all(graph))
    if design.latency <= 0:
        return StreamTiming(0, 0, False)
    return StreamTiming(int(design.ii), int(design.latency), True)
