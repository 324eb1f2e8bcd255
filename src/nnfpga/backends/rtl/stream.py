"""Streaming Verilog top for image models (first increment of issue 14): a chain of layers between a valid/ready
source and sink.

Pixels enter in raster order, one pixel's channels per beat (channel 0 in the low bits of ``in_data``); each
output beat is one output pixel (raster order) or, after a Flatten, one whole output vector per image. A layer
is one of:

- Conv (one group): a sliding-window generator (:mod:`~nnfpga.backends.rtl.window`) whose window vector, in the
  emulator's im2col order, feeds the Dense lowering of the kernel (CSD adder graph with shared subexpressions;
  ``multipliers`` as for Dense), a register after every ``adders_per_stage`` adders; with ReuseFactor ``R > 1``
  (conv, grouped conv and Dense) a folded kernel taking a beat every ``R`` cycles
  (:mod:`~nnfpga.backends.rtl.stream_reuse`);
- max pooling: a window generator (padding holds the input type's minimum: it never wins) and a maximum tree per
  channel, then the accumulator and result casts;
- elementwise ReLU and linear: combinational on each beat;
- Flatten of a pixel stream: a buffer of every pixel of the image, emitted as one beat when full;
- Dense after the Flatten: pipelined as the conv kernels;
- grouped/depthwise/pointwise conv, average pooling, global pooling, zero padding, cropping, upsampling and the
  per-pixel elementwise ops: :mod:`~nnfpga.backends.rtl.stream_layers` and :mod:`~nnfpga.backends.rtl.stream_stages`.

Graphs that are not chains (forks, FIFOs, merge layers) are :mod:`~nnfpga.backends.rtl.stream_graph`'s, which
walks the graph and calls :func:`lower_layer` for each single-input layer.

A layer's register stages run free (no enable) with a valid bit per stage, into an output FIFO whose credit
counter admits a beat only while every beat in flight has a place (:func:`stall_pipeline`), so backpressure needs
no enable net across the layer; the window generators, these FIFOs and the flatten buffer give a ``ready`` that
depends on their registers only. The Design states the cycles per image (II) and latency
(:mod:`~nnfpga.backends.rtl.timing`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from nnfpga.backends.rtl.context import DEFAULT_ADDERS_PER_STAGE, DEFAULT_MULTIPLIERS
from nnfpga.backends.rtl.design import Design
from nnfpga.backends.rtl.stream_graph import build_graph_design, stream_problems
from nnfpga.backends.rtl.stream_layers import ELEMENTWISE, MERGE_OPS, STREAM_OPS, cycles_bound
from nnfpga.backends.rtl.stream_lower import TextModule, lower_layer, stall_pipeline
from nnfpga.backends.rtl.stream_stages import Stream
from nnfpga.backends.rtl.verilator import build_sources, port_bytes, run_stream_timed, stream_harness
from nnfpga.errors import EmulationError
from nnfpga.ir.graph import Graph
from nnfpga.ops.base import Plan

if TYPE_CHECKING:
    from nnfpga.model import HWModel


__all__ = [
    "ELEMENTWISE",
    "MERGE_OPS",
    "STREAM_OPS",
    "Stream",
    "TextModule",
    "build_stream_design",
    "lower_layer",
    "predict",
    "simulate_stream",
    "stall_pipeline",
    "stream_problems",
]


def build_stream_design(graph: Graph, prep: dict[str, Plan], project: str = "myproject",
                        multipliers: str = DEFAULT_MULTIPLIERS,
                        adders_per_stage: int | str | None = DEFAULT_ADDERS_PER_STAGE) -> Design:
    """Lower ``graph`` to a streaming :class:`Design` (``n_in``: values per input beat, ``n_out``: values per
    output beat; ``latency`` and ``ii``: cycles per image, :mod:`~nnfpga.backends.rtl.timing`, 0 where not stated):
    the graph traversal, forks, FIFOs and merges are :mod:`~nnfpga.backends.rtl.stream_graph`'s, each
    single-input layer :func:`lower_layer`'s. ``adders_per_stage`` (or a node's attribute) places registers inside
    conv and dense kernels, stalled with the stream (None: none). Raises BackendSupportError listing every layer it
    cannot build."""
    return build_graph_design(graph, prep, project, multipliers, adders_per_stage=adders_per_stage)


def simulate_stream(design: Design, x_mantissas: np.ndarray, beats_out: int, *, seed: int = 0,
                    cache_dir: str | os.PathLike[str] | None = None,
                    cycles_per_image: int | None = None) -> tuple[np.ndarray, int]:
    """Stream images ``x_mantissas`` ``(B, *spatial, C)`` through the streaming ``design`` in Verilator (``seed``
    != 0: random input stalls and output backpressure); ``beats_out`` output beats per image. Returns the output
    mantissas ``(B, beats_out * n_out)`` and the cycles the run took (``cycles_per_image``: a bound without
    stalls, :func:`~nnfpga.backends.rtl.stream_layers.cycles_bound`, for designs that state no II)."""
    y, cycles, _ = simulate_stream_timed(design, x_mantissas, beats_out, seed=seed, cache_dir=cache_dir,
                                         cycles_per_image=cycles_per_image)
    return y, cycles


def simulate_stream_timed(design: Design, x_mantissas: np.ndarray, beats_out: int, *, seed: int = 0,
                          cache_dir: str | os.PathLike[str] | None = None, cycles_per_image: int | None = None
                          ) -> tuple[np.ndarray, int, tuple[np.ndarray, np.ndarray]]:
    """:func:`simulate_stream`, also returning the cycle each input beat was taken and each output beat given
    (:func:`nnfpga.backends.rtl.timing.measured` turns them into latency and II)."""
    x = np.asarray(x_mantissas)
    if x.ndim < 2 or x.shape[-1] != design.n_in:
        raise EmulationError(f"x_mantissas must have shape (batch, *spatial, {design.n_in}), got {x.shape}")
    t = design.in_type
    if x.size and (np.any(x < t.min_mantissa) or np.any(x > t.max_mantissa)):
        raise EmulationError(f"input mantissas must lie in {t.min_mantissa}..{t.max_mantissa} ({t})")
    b = len(x)
    binary = build_sources(design.name, design.sources(), stream_harness(), cache_dir=cache_dir)
    n_in, n_out = x.size // design.n_in, b * beats_out
    per_image = max(4 * (n_in // max(b, 1)) + 8 * beats_out + 2 * design.ii, cycles_per_image or 0)
    y, cycles, stamps = run_stream_timed(binary, x.reshape(n_in, design.n_in), t, port_bytes(design.in_width), n_out,
                                         design.n_out, design.out_type, port_bytes(design.out_width), seed=seed,
                                         max_cycles=4 * b * per_image + 1000 + 4 * design.latency, drain=8)
    return y.reshape(b, beats_out * design.n_out), cycles, stamps


def output_beats(graph: Graph) -> int:
    """Output beats per image: one per output pixel, or one after a Flatten."""
    node = graph[graph.outputs[0]]
    return int(np.prod(node.shape[:-1])) if len(node.shape) > 1 else 1


def predict(hw: HWModel, x: Any, *, seed: int = 0, cache_dir: str | os.PathLike[str] | None = None) -> np.ndarray:
    """``hw.predict(x, engine="rtl")`` for image models: float inputs quantized to the input type, streamed
    through the Verilog in Verilator, outputs as float values of the output type (shaped like the emulator's)."""
    from nnfpga.fixed import from_float, to_float

    g = hw.graph
    x = hw.interpreter.check_input(x)
    tin, tout = g[g.inputs[0]].types["result"], g[g.outputs[0]].types["result"]
    m, _ = from_float(x, tin)
    design = build_stream_design(g, hw.interpreter.prep, hw.settings["project_name"])
    y, _ = simulate_stream(design, np.asarray(m, dtype=np.int64), output_beats(g), seed=seed, cache_dir=cache_dir,
                           cycles_per_image=cycles_bound(g))
    return to_float(y, tout).reshape((len(x), *g[g.outputs[0]].shape))
