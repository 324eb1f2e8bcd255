"""Cycles per image and latency of a streaming image-model design (:mod:`~nnfpga.backends.rtl.stream`), for
``hw.synthesize`` and ``benchmarks/hardware.py``: the design states them (``Design.ii``, ``Design.latency``),
computed by :mod:`~nnfpga.backends.rtl.timing` from the window generators' schedule and the register stages
inside the layers; ``tests/backends/rtl`` checks them against Verilator runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from nnfpga.backends.rtl.design import Design
from nnfpga.ir.graph import Graph


@dataclass(frozen=True)
class StreamTiming:
    """``cycles_per_image``: a new image every so many cycles (the streaming design's II); ``latency``: cycles
    from an image's first input beat to its (last) output beat; ``stated``: taken from the Design (else computed
    from the window generators' schedule)."""

    cycles_per_image: int
    latency: int
    stated: bool


def stream_timing(graph: Graph, design: Design | None = None) -> StreamTiming:
    """The timing ``graph``'s streaming design states (``design``, else built here with the default settings)."""
    if design is None:
        from nnfpga.backends.rtl.lower import build_design, prepare_all

        design = build_design(graph, prep=prepare_all(graph))
    return StreamTiming(int(design.ii), int(design.latency), True)
