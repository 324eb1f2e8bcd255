"""Cycles per image and latency of a streaming image-model design (:mod:`~nnfpga.backends.rtl.stream`), for
``hw.synthesize`` and ``benchmarks/hardware.py``: the design states them (``Design.ii``, ``Design.latency``),
computed by :mod:`~nnfpga.backends.rtl.timing` from a cycle-by-cycle model of every stream element (window
generators, register stages inside the layers, flatten buffers, global pooling, padding, cropping, upsampling,
forks, FIFOs, merges); ``tests/backends/rtl`` checks them against Verilator runs of every streaming test design.
Only a design whose FIFOs are too small to run (built with explicit ``depths``) states none (``stated`` False).

:func:`check_fifos` runs the same model to check the branch FIFOs
:func:`~nnfpga.backends.rtl.stream_graph.fifo_depths` sizes (before
:func:`~nnfpga.backends.rtl.stream_graph.throughput_depths` grows them): each one's least depth that runs (minimal
where it equals the sized depth; an upper bound for a branch that holds beats itself), and the II the design would
reach with every FIFO an image deep.
"""

from __future__ import annotations

from dataclasses import dataclass

from nnfpga.backends.rtl.design import Design
from nnfpga.backends.rtl.stream_graph import Edge, build_graph_design, fifo_depths, items, timing_net
from nnfpga.backends.rtl.timing import Stage, figures, run
from nnfpga.ir.graph import Graph
from nnfpga.ops.base import Plan


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


@dataclass(frozen=True)
class FifoCheck:
    """A branch FIFO: ``depth``, as built (:func:`~nnfpga.backends.rtl.stream_graph.fifo_depths`: what the other
    branches hold back, counted); ``least``: the least depth with which the design runs without stalls, the other
    FIFOs as built (``least == depth``: minimal, one less deadlocks; less: the branch holds beats itself and
    ``depth`` is an upper bound that also covers stalls)."""

    depth: int
    least: int


def check_fifos(graph: Graph, prep: dict[str, Plan], depths: dict[Edge, int] | None = None
                ) -> tuple[dict[Edge, FifoCheck], int, int]:
    """Each branch FIFO of ``graph``'s streaming design (``depths``, else the sized ones) checked on the schedule
    model, the design's II, and its II with every FIFO an image of its producer deep (what the smaller FIFOs cost
    in throughput; 0: deadlocks)."""
    stages: dict[str, list[Stage] | None] = {}
    depths = fifo_depths(graph) if depths is None else depths  # as sized, before throughput_depths grows them
    design = build_graph_design(graph, prep, depths=depths, record=stages)
    beats_in, beats_out = items(graph[graph.inputs[0]]), items(graph[graph.outputs[0]])

    def ii(ds: dict[Edge, int]) -> int:
        times = run(*timing_net(graph, stages, ds), beats_in, beats_out)
        return figures(times, beats_out)[1] if times else 0

    out = {}
    for edge, depth in depths.items():
        lo, hi = 0, depth
        while lo < hi:  # the least depth that runs (running is monotone in the depth)
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if ii({**depths, edge: mid}) else (mid + 1, hi)
        out[edge] = FifoCheck(depth, hi)
    deep = {e: max(d, items(graph[e[0]])) for e, d in depths.items()}
    return out, design.ii, ii(deep)
