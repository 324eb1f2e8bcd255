"""Streaming Verilog top for image models (first increment of issue 14): a chain of layers between a valid/ready
source and sink.

Pixels enter in raster order, one pixel's channels per beat (channel 0 in the low bits of ``in_data``); each
output beat is one output pixel (raster order) or, after a Flatten, one whole output vector per image. A layer
is one of:

- Conv (one group, ReuseFactor 1): a sliding-window generator (:mod:`~nnfpga.backends.rtl.window`) whose window
  vector, in the emulator's im2col order, feeds the Dense lowering of the kernel (CSD adder graph with shared
  subexpressions; ``multipliers`` as for Dense), a register after every ``adders_per_stage`` adders;
- max pooling: a window generator (padding holds the input type's minimum: it never wins) and a maximum tree per
  channel, then the accumulator and result casts;
- elementwise ReLU and linear: combinational on each beat;
- Flatten of a pixel stream: a buffer of every pixel of the image, emitted as one beat when full;
- Dense after the Flatten: pipelined as the conv kernels;
- grouped/depthwise/pointwise conv, average pooling, global pooling, zero padding, cropping, upsampling and the
  per-pixel elementwise ops: :mod:`~nnfpga.backends.rtl.stream_layers` and :mod:`~nnfpga.backends.rtl.stream_stages`.

Graphs that are not chains (forks, FIFOs, merge layers) are :mod:`~nnfpga.backends.rtl.stream_graph`'s, which
walks the graph and calls :func:`lower_layer` for each single-input layer.

A layer's register stages advance together when its last stage is empty or the next layer takes it
(:func:`stall_pipeline`); the window generators and the flatten buffer give a ``ready`` that depends on their
registers only. The Design states the cycles per image (II) and latency (:mod:`~nnfpga.backends.rtl.timing`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from nnfpga.backends.rtl.cast import Library
from nnfpga.backends.rtl.context import DEFAULT_ADDERS_PER_STAGE, DEFAULT_MULTIPLIERS, Ctx, In, node_adders_per_stage
from nnfpga.backends.rtl.design import Design
from nnfpga.backends.rtl.stream_layers import (
    ELEMENTWISE,
    MERGE_OPS,
    STAGES,
    STREAM_OPS,
    WINDOW_OPS,
    avg_kernel,
    conv_kernel,
    cycles_bound,
    elementwise,
    is_global,
    layer_problem,
    per_pixel,
    stage_key,
)
from nnfpga.backends.rtl.stream_stages import Stream
from nnfpga.backends.rtl.timing import Stage
from nnfpga.backends.rtl.verilator import build_sources, port_bytes, run_stream_timed, stream_harness
from nnfpga.backends.rtl.verilog import Always, Arith, If, Module, NonBlocking, Val, Wire, identifier, literal
from nnfpga.backends.rtl.window import geometry, window_module
from nnfpga.errors import EmulationError, GraphError
from nnfpga.ir.graph import Graph, Node
from nnfpga.ops import OPS
from nnfpga.ops.base import Plan

if TYPE_CHECKING:
    from nnfpga.model import HWModel

__all__ = ["ELEMENTWISE", "MERGE_OPS", "STREAM_OPS", "Stream", "build_stream_design", "lower_layer", "predict",
           "simulate_stream", "stream_problems"]


class TextModule:
    """A module given as finished Verilog text (the window generators)."""

    def __init__(self, name: str, text: str) -> None:
        self.name, self.text = name, text

    def render(self) -> str:
        return self.text


def stream_problems(graph: Graph) -> list[str]:
    """Why the streaming top cannot build ``graph`` (every reason at once; empty: it can)."""
    problems = []
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        return [f"the streaming Verilog top needs one input and one output, got {graph.inputs} and {graph.outputs}"]
    flat: dict[str, bool] = {}  # whether a node's stream is one vector per image (after a Flatten)
    for node in graph:
        inputs_flat = any(flat[i] for i in node.inputs)
        flat[node.name] = inputs_flat or node.op == "flatten" or (is_global(node) and len(node.shape) == 1)
        if node.op in MERGE_OPS:
            from nnfpga.backends.rtl.stream_graph import merge_problem

            problem = merge_problem(graph, node)
            problems += [f"{node.describe()}: {problem}"] if problem else []
        else:
            problem = layer_problem(graph, node, inputs_flat)  # keepdims global pooling: a 1x1 image
            problems += [problem] if problem else []
    if not problems:
        from nnfpga.backends.rtl.stream_graph import schedule_problems

        problems += schedule_problems(graph)
    return problems


def build_stream_design(graph: Graph, prep: dict[str, Plan], project: str = "myproject",
                        multipliers: str = DEFAULT_MULTIPLIERS,
                        adders_per_stage: int | None = DEFAULT_ADDERS_PER_STAGE) -> Design:
    """Lower ``graph`` to a streaming :class:`Design` (``n_in``: values per input beat, ``n_out``: values per
    output beat; ``latency`` and ``ii``: cycles per image, :mod:`~nnfpga.backends.rtl.timing`, 0 where not stated):
    the graph traversal, forks, FIFOs and merges are :mod:`~nnfpga.backends.rtl.stream_graph`'s, each
    single-input layer :func:`lower_layer`'s. ``adders_per_stage`` (or a node's attribute) places registers inside
    conv and dense kernels, stalled with the stream (None: none). Raises BackendSupportError listing every layer it
    cannot build."""
    from nnfpga.backends.rtl.stream_graph import build_graph_design

    return build_graph_design(graph, prep, project, multipliers, adders_per_stage=adders_per_stage)


def lower_layer(top: Module, lib: Library, subs: list[TextModule], graph: Graph, node: Node, s: Stream,
                prep: dict[str, Plan], multipliers: str, adders_per_stage: int | None = DEFAULT_ADDERS_PER_STAGE,
                timing: dict[str, list[Stage] | None] | None = None) -> Stream:
    """One single-input layer of the streaming top on the stream ``s`` of its input; returns its output stream.
    ``timing[node.name]``: the layer's stages for :func:`nnfpga.backends.rtl.timing.stated` (None: a layer whose
    schedule the stated timing does not model yet)."""
    name = lib.prefix
    ar = Arith(top)
    valid, ready, vals = s.valid, s.ready, s.vals
    src = graph[node.inputs[0]]
    tx, t = src.types["result"], node.types["result"]
    pre = identifier(node.name)
    stages: list[Stage] | None = []
    top.comment("")
    top.comment(f"{node.describe()}: {t}")
    xs = vals
    window = node.op in WINDOW_OPS and not is_global(node) and not per_pixel(node)
    if window:
        win = OPS[node.op].window(node)
        spatial, ch = tuple(src.shape[:-1]), int(src.shape[-1])
        mod = f"{name}_{pre}_window"
        fill = tx.min_mantissa if node.op == "max_pool" else 0
        subs.append(TextModule(mod, window_module(mod, spatial, ch, win, tx.width, fill)))
        stages.append(Stage("window", geometry(spatial, win)))
        wv, wr = top.wire(f"{pre}_wvalid", 1), top.wire(f"{pre}_wready", 1)
        n_win = win.positions() * ch
        wd = top.wire(f"{pre}_window", n_win * tx.width)
        top.instance(mod, f"{pre}_win", [("clk", "clk"), ("rst", "rst"), ("in_valid", valid),
                                         ("in_ready", ready), ("in_data", ar.pack(f"{pre}_in", vals, tx.width)),
                                         ("out_valid", wv), ("out_ready", wr), ("out_data", wd)])
        xs = [Val.of(wd, tx.width, tx.signed, lsb=i * tx.width, full=n_win == 1) for i in range(n_win)]
        valid, ready = wv, wr
    if node.op == "flatten" and len(src.shape) > 1:
        pixels = int(np.prod(src.shape[:-1]))
        valid, ready, vals = _flatten_buffer(top, pre, valid, ready, vals, pixels, tx)
        stages.append(Stage("flatten", pixels=pixels))
    elif stage_key(node) in STAGES:  # global pooling, padding, cropping, upsampling: their own handshake
        ctx = Ctx(ar, lib, pre, None, node.attrs.get("multipliers", multipliers), valid,
                  ins=[In(xs, tx, tuple(src.shape))])
        out = STAGES[stage_key(node)](ctx, node, tuple(src.shape), Stream(valid, ready, vals, tx))
        valid, ready, vals, stages = out.valid, out.ready, out.vals, None
        if ctx.cycles:
            raise GraphError(f"{node.describe()}: its lowering placed {ctx.cycles} register stage(s) inside a "
                             f"stream stage, which the streaming top cannot stall")
    else:
        # registers inside the kernel, stalled with the stream (not in average pooling: its divisor follows a
        # position counter on the window handshake)
        aps = None if node.op == "avg_pool" else node_adders_per_stage(node, adders_per_stage)
        ctx = Ctx(ar, lib, pre, aps, node.attrs.get("multipliers", multipliers), valid,
                  ins=[In(xs, tx, tuple(src.shape))])
        en = top.wire(f"{pre}_en", 1)  # the layer's registers advance (declared before them)
        first = len(top.items)
        if node.op == "conv" and window:
            vals = conv_kernel(ctx, node, xs, ch, tx, prep[node.name])
        elif node.op == "avg_pool":
            vals = avg_kernel(ctx, node, xs, ch, tx, spatial, win, f"{wv} && {wr}")
        elif node.op == "max_pool":
            vals = _max_pool(ctx, node, xs, ch, tx)
        else:
            vals = elementwise(ctx, node, xs, tx, prep[node.name])
        if ctx.cycles:
            valid, ready = stall_pipeline(top, pre, en, first, ctx.cycles, valid, ready)
            stages.append(Stage("delay", cycles=ctx.cycles))
        else:
            top.items.remove(next(i for i in top.items if isinstance(i, Wire) and i.name == en))
    if timing is not None:
        timing[node.name] = stages
    return Stream(valid, ready, vals, t)


def stall_pipeline(top: Module, pre: str, en: str, first: int, cycles: int, valid: str,
                   ready: str) -> tuple[str, str]:
    """Make the ``cycles`` register stages a lowering placed (the clocked blocks from ``top.items[first]`` on)
    advance together when ``en``: when their last stage is empty or the sink takes it, so a stalled sink holds
    the whole layer and nothing is lost. A valid bit per stage; returns the layer's output (valid, ready)."""
    for item in top.items[first:]:
        if isinstance(item, Always) and item.clock:
            item.body = [If(en, item.body)]
    vq, out_ready = top.reg(f"{pre}_vq", cycles), top.wire(f"{pre}_oready", 1)
    last = f"{vq}[{cycles - 1}]" if cycles > 1 else vq
    shifted = valid if cycles == 1 else f"{{{vq}[{cycles - 2}:0], {valid}}}"
    top.always([If("rst", [NonBlocking(vq, literal(0, cycles))], [If(en, [NonBlocking(vq, shifted)])])], clock="clk")
    top.assign(en, f"!{last} || {out_ready}")
    top.assign(ready, en)
    return last, out_ready


def _max_pool(c: Ctx, node: Node, xs: list[Val], ch: int, tx) -> list[Val]:
    """The maximum over the window per channel (a balanced tree), cast to the accumulator then the result type."""
    ta, tr = node.types["accum"], node.types["result"]
    out = []
    for k in range(ch):
        level = xs[k::ch]
        while len(level) > 1:
            nxt = []
            for i in range(0, len(level) - 1, 2):
                a, b = level[i], level[i + 1]
                nxt.append(c.ar.mux(c.ar.ge(a, b), a, b, c.name(f"m{k}")))
            level = nxt + level[len(level) - len(level) % 2:]
        acc = c.cast(level[0], tx.frac, ta, f"a{k}")
        out.append(c.cast(acc, ta.frac, tr, f"y{k}"))
    return out


def _flatten_buffer(top: Module, pre: str, valid: str, ready: str, vals: list[Val], pixels: int,
                    t) -> tuple[str, str, list[Val]]:
    """Collect ``pixels`` beats into one vector; emit it as one beat when full, then take the next image."""
    ch = len(vals)
    width = pixels * ch * t.width
    buf, count, full = top.reg(f"{pre}_buf", width), top.reg(f"{pre}_count", 32), top.reg(f"{pre}_full", 1)
    out_ready = top.wire(f"{pre}_ready", 1)
    top.assign(ready, f"!{full}")
    beat = Arith(top).pack(f"{pre}_beat", vals, t.width)
    cw = ch * t.width
    take = f"{valid} && !{full}"
    top.always([If("rst", [NonBlocking(count, literal(0, 32)), NonBlocking(full, "1'b0")], [
        If(take, [NonBlocking(f"{buf}[{count} * {cw} +: {cw}]", beat),
                  If(f"{count} == {pixels - 1}", [NonBlocking(count, literal(0, 32)), NonBlocking(full, "1'b1")],
                     [NonBlocking(count, f"{count} + 1")])]),
        If(f"{full} && {out_ready}", [NonBlocking(full, "1'b0")])])], clock="clk")
    out = [Val.of(buf, t.width, t.signed, lsb=i * t.width, full=False) for i in range(pixels * ch)]
    return full, out_ready, out


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
