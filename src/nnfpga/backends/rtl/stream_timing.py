"""Cycles per image and latency of a streaming image-model design (:mod:`~nnfpga.backends.rtl.stream`).

One place decides them, for ``hw.synthesize`` and ``benchmarks/hardware.py``: a design that states its timing
(``Design.latency > 0``: the streaming lowering sets it once its schedule is computed there) is taken at its
word; otherwise both follow from the window generator's documented schedule (:mod:`~nnfpga.backends.rtl.window`),
with the source always valid and the sink always ready:

- a window layer over an ``H x W`` image with ``H_out x W_out`` windows takes ``H*W + H_out*W_out + 1`` cycles
  per image (it stalls its input while it emits); the layers run concurrently under the handshake, so the chain
  takes a new image every ``max`` of these cycles (the first layer's, in practice: the input side is slowest);
- latency (cycles from the one in which an image's first input beat is taken to the one in which its last
  output beat is valid): the first window layer's ``H*W + H_out*W_out - 1``,
  plus, for each later window layer, the windows it emits after its last input row (``W_out`` per output row
  whose last input row is the image's last), plus one cycle for a flatten buffer.

``tests/backends/rtl/test_rtl_stream_synth.py`` checks both against a Verilator run.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from nnfpga.backends.rtl.design import Design
from nnfpga.backends.rtl.window import as_2d
from nnfpga.ir.graph import Graph
from nnfpga.ops import OPS

WINDOW_OPS = ("conv", "max_pool")
MODELED_OPS = ("input", *WINDOW_OPS, "flatten", "relu", "linear", "dense")  # the rest: no cycles of their own here


@dataclass(frozen=True)
class StreamTiming:
    """``cycles_per_image``: a new image every so many cycles (the streaming design's II); ``latency``: cycles
    from an image's first input beat to its (last) output beat; ``stated``: taken from the Design (else computed
    from the window generator's schedule)."""

    cycles_per_image: int
    latency: int
    stated: bool


def stream_timing(graph: Graph, design: Design | None = None) -> StreamTiming:
    """The timing of ``graph``'s streaming design (``design``'s own when it states one; see the module doc)."""
    if design is not None and design.latency > 0:
        return StreamTiming(int(design.ii), int(design.latency), True)
    other = sorted({n.op for n in graph if n.op not in MODELED_OPS})
    if other:
        warnings.warn(f"stream_timing: the window schedule models {', '.join(MODELED_OPS[1:])} only; op(s) "
                      f"{', '.join(other)} are counted as taking no cycles (the figures may be low): state the "
                      f"timing in the Design", UserWarning, stacklevel=2)
    per_layer: list[int] = []  # cycles per image of each buffering layer
    latency = 0
    for node in graph:
        src = graph[node.inputs[0]] if node.inputs else None
        if node.op in WINDOW_OPS and src is not None:
            (h, w), win = as_2d(tuple(src.shape[:-1]), OPS[node.op].window(node))
            ho, wo = win.out_spatial((h, w))
            if not per_layer:
                latency += h * w + ho * wo - 1  # the cycle its last window leaves
            else:
                (pt, _), _ = win.pads
                eh = win.extent()[0]
                latency += wo * sum(1 for r in range(ho) if min(r * win.strides[0] - pt + eh - 1, h - 1) == h - 1)
            per_layer.append(h * w + ho * wo + 1)
        elif node.op == "flatten" and src is not None and len(src.shape) > 1:
            pixels = int(np.prod(src.shape[:-1]))
            latency += 1 if per_layer else pixels  # full one cycle after its last pixel
            per_layer.append(pixels + 1)  # takes every pixel, then one cycle to hand the vector on
    return StreamTiming(max(per_layer, default=1), max(latency, 1), False)
