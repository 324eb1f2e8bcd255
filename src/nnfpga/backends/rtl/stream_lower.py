"""Single-input layers of the streaming Verilog top (:mod:`~nnfpga.backends.rtl.stream`): a window generator and
its kernel, the flatten buffer, a stream stage or per-pixel logic, with registers inside kernels stalled with the
stream (:func:`stall_pipeline`). :mod:`~nnfpga.backends.rtl.stream_graph` walks the graph and calls
:func:`lower_layer` for each."""

from __future__ import annotations

import numpy as np

from nnfpga.backends.rtl.cast import Library
from nnfpga.backends.rtl.context import DEFAULT_ADDERS_PER_STAGE, Ctx, In, node_adders_per_stage
from nnfpga.backends.rtl.stream_layers import (
    STAGES,
    WINDOW_OPS,
    avg_kernel,
    conv_kernel,
    elementwise,
    is_global,
    per_pixel,
    stage_key,
)
from nnfpga.backends.rtl.stream_reuse import reuse_factor, reuse_handshake
from nnfpga.backends.rtl.stream_stages import Stream
from nnfpga.backends.rtl.timing import Stage
from nnfpga.backends.rtl.verilog import Always, Arith, If, Module, NonBlocking, Val, Wire, identifier, literal
from nnfpga.backends.rtl.window import geometry, window_module
from nnfpga.errors import GraphError
from nnfpga.ir.graph import Graph, Node
from nnfpga.ops import OPS
from nnfpga.ops.base import Plan


class TextModule:
    """A module given as finished Verilog text (the window generators)."""

    def __init__(self, name: str, text: str) -> None:
        self.name, self.text = name, text

    def render(self) -> str:
        return self.text


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
        rf = reuse_factor(node)
        go = top.wire(f"{pre}_go", 1) if rf > 1 else valid  # a beat taken (ReuseFactor > 1: stream_reuse)
        ctx = Ctx(ar, lib, pre, aps, node.attrs.get("multipliers", multipliers), go,
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
        if rf > 1:
            valid, ready = reuse_handshake(top, pre, en, go, first, rf, valid, ready)
            geo = stages.pop().geometry if window else None
            stages.append(Stage("reuse", geo, cycles=rf))
        elif ctx.cycles:
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
