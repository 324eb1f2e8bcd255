"""Single-input layers of the streaming Verilog top (:mod:`~nnfpga.backends.rtl.stream`): a window generator and
its kernel, the flatten buffer, a stream stage or per-pixel logic; registers inside kernels run free, an output
FIFO with a credit counter taking the backpressure (:func:`stall_pipeline`).
:mod:`~nnfpga.backends.rtl.stream_graph` walks the graph and calls :func:`lower_layer` for each."""

from __future__ import annotations

import numpy as np

from nnfpga.backends.rtl.adder_graph import Pipeline, Timed
from nnfpga.backends.rtl.cast import Library
from nnfpga.backends.rtl.context import (
    DEFAULT_ADDERS_PER_STAGE,
    Ctx,
    In,
    fixed_adders_per_stage,
    node_adders_per_stage,
)
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
from nnfpga.backends.rtl.verilog import Arith, If, Module, NonBlocking, Val, Wire, identifier, literal
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
                prep: dict[str, Plan], multipliers: str, adders_per_stage: int | str | None = DEFAULT_ADDERS_PER_STAGE,
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
        # registers inside the kernel, free-running before an output FIFO (not in average pooling: its divisor
        # follows a position counter on the window handshake)
        aps = None if node.op == "avg_pool" else fixed_adders_per_stage(node_adders_per_stage(node, adders_per_stage))
        rf = reuse_factor(node)
        go = top.wire(f"{pre}_go", 1) if rf > 1 else valid  # a beat taken (ReuseFactor > 1: stream_reuse)
        ctx = Ctx(ar, lib, pre, aps, node.attrs.get("multipliers", multipliers), go,
                  ins=[In(xs, tx, tuple(src.shape))])
        en = top.wire(f"{pre}_en", 1)  # a beat enters the layer's registers (declared before them)
        first = len(top.items)  # where the layer's registers start (ReuseFactor > 1: reuse_handshake)
        if node.op == "conv" and window:
            vals = conv_kernel(ctx, node, xs, ch, tx, prep[node.name])
        elif node.op == "avg_pool":
            vals = avg_kernel(ctx, node, xs, ch, tx, spatial, win, f"{wv} && {wr}")
        elif node.op == "max_pool":
            vals = _max_pool(ctx, node, xs, ch, tx)
        else:
            vals = elementwise(ctx, node, xs, tx, prep[node.name])
        if rf > 1:  # the folded kernel's registers freeze while its sink stalls (stream_reuse)
            valid, ready = reuse_handshake(top, pre, en, go, first, rf, valid, ready)
            stages.append(Stage("reuse", cycles=rf))
        elif ctx.cycles:
            valid, ready, vals = stall_pipeline(top, pre, en, ctx.cycles, valid, ready, vals, subs)
            stages.append(Stage("delay", cycles=ctx.cycles + 1))  # the stages, then the output FIFO
        else:
            top.items.remove(next(i for i in top.items if isinstance(i, Wire) and i.name == en))
    if timing is not None:
        timing[node.name] = stages
    return Stream(valid, ready, vals, t)


def stall_pipeline(top: Module, pre: str, en: str, cycles: int, valid: str, ready: str, vals: list[Val],
                   subs: list[TextModule]) -> tuple[str, str, list[Val]]:
    """Give the ``cycles`` register stages a lowering placed backpressure without stalling them: they run free
    (no enable: one enable net reaching every register of a layer limited the routed Fmax), a valid bit per stage
    beside them, and their result ``vals`` enters an output FIFO of :func:`credit_depth` beats. A credit counter
    (beats taken and not yet given) lets the layer take a beat (``en``) only while every beat in flight has a
    FIFO place, so a stalled sink loses nothing. ``ready`` (to the source) is a register. Returns the layer's
    output (valid, ready, values): the FIFO's, one cycle after the last stage."""
    depth = credit_depth(cycles)
    vq = top.reg(f"{pre}_vq", cycles)
    shifted = en if cycles == 1 else f"{{{vq}[{cycles - 2}:0], {en}}}"
    top.assign(en, f"{valid} && {ready}")
    top.always([If("rst", [NonBlocking(vq, literal(0, cycles))], [NonBlocking(vq, shifted)])], clock="clk")
    live = [v for v in vals if v.const is None]
    width = max(1, sum(v.width for v in live))
    mod = f"{top.name}_{pre}_ofifo"
    subs.append(TextModule(mod, credit_fifo_module(mod, depth, width)))
    ov, o_ready, od = top.wire(f"{pre}_ovalid", 1), top.wire(f"{pre}_oready", 1), top.wire(f"{pre}_odata", width)
    pushed = top.wire(f"{pre}_push", width, "{" + ", ".join(v.expr for v in reversed(live)) + "}" if live
                      else "1'b0")
    top.instance(mod, f"{pre}_ofifo", [("clk", "clk"), ("rst", "rst"), ("take", en), ("room", ready),
                                       ("push", f"{vq}[{cycles - 1}]" if cycles > 1 else vq),
                                       ("push_data", pushed), ("out_valid", ov), ("out_ready", o_ready),
                                       ("out_data", od)])
    out, lsb = [], 0
    for v in vals:
        if v.const is not None:
            out.append(v)
            continue
        out.append(Val(od, lsb, v.width, v.signed, v.lo, v.hi, full=len(live) == 1 and v.width == width))
        lsb += v.width
    return ov, o_ready, out


def credit_depth(cycles: int) -> int:
    """Places in the output FIFO of a layer with ``cycles`` free-running register stages: a beat holds a credit
    from the cycle after it is taken to the cycle it leaves the FIFO, ``cycles + 1`` cycles with the sink always
    ready; one place more keeps a beat entering every cycle."""
    return cycles + 2


def credit_fifo_module(name: str, depth: int, width: int) -> str:
    """Verilog text of the output FIFO of a free-running pipeline (:func:`stall_pipeline`): ``push`` writes
    ``push_data`` (never when full: the credits guarantee a place), ``out_valid`` / ``out_ready`` give the oldest
    beat; ``room`` (a register) allows a ``take`` into the pipeline while fewer than ``depth`` beats are taken and
    not yet given."""
    aw = max(1, (depth - 1).bit_length())
    cw = depth.bit_length()
    return f"""// Output FIFO of a free-running pipeline (generated by nnfpga): {depth} entries of {width} bits. Credits
// count the beats taken into the pipeline and not yet given; room = credits < {depth}, from a register, so the
// source's ready has no combinational path from out_ready. out_valid = not empty (a register); rst synchronous.
module {name} (
    input wire clk,
    input wire rst,
    input wire take,
    output reg room,
    input wire push,
    input wire [{width - 1}:0] push_data,
    output reg out_valid,
    input wire out_ready,
    output wire [{width - 1}:0] out_data
);
    reg [{width - 1}:0] mem [0:{depth - 1}];
    reg [{aw - 1}:0] rd, wr;
    reg [{cw - 1}:0] count, credits;
    wire pop = out_valid && out_ready;
    wire [{cw - 1}:0] count_next = count + {{{cw - 1}'d0, push}} - {{{cw - 1}'d0, pop}};
    wire [{cw - 1}:0] credits_next = credits + {{{cw - 1}'d0, take}} - {{{cw - 1}'d0, pop}};
    assign out_data = mem[rd];
    always @(posedge clk) begin
        if (push) mem[wr] <= push_data;
        if (rst) begin
            rd <= {aw}'d0; wr <= {aw}'d0; count <= {cw}'d0; credits <= {cw}'d0; room <= 1'b0; out_valid <= 1'b0;
        end else begin
            if (push) wr <= wr == {aw}'d{depth - 1} ? {aw}'d0 : wr + {aw}'d1;
            if (pop) rd <= rd == {aw}'d{depth - 1} ? {aw}'d0 : rd + {aw}'d1;
            count <= count_next;
            credits <= credits_next;
            out_valid <= count_next != {cw}'d0;
            room <= credits_next < {cw}'d{depth};
        end
    end
endmodule
"""


def _max_pool(c: Ctx, node: Node, xs: list[Val], ch: int, tx) -> list[Val]:
    """The maximum over the window per channel (a balanced tree of comparisons and multiplexers), cast to the
    accumulator then the result type; with ``c.per_stage`` = P set, a register after every P levels of the tree
    (a level counts as an adder), none after the last (``c.cycles`` of them)."""
    ta, tr = node.types["accum"], node.types["result"]
    pipe = Pipeline(c.ar, c.name("p"), c.per_stage) if c.per_stage is not None else None
    levels, depth = [xs[k::ch] for k in range(ch)], 0
    while any(len(level) > 1 for level in levels):
        if pipe is not None and depth == c.per_stage:
            levels = [[pipe.at(Timed(v, cycle=c.cycles), c.cycles + 1).val for v in level] for level in levels]
            c.cycles, depth = c.cycles + 1, 0
        nxt_levels = []
        for k, level in enumerate(levels):
            nxt = []
            for i in range(0, len(level) - 1, 2):
                a, b = level[i], level[i + 1]
                nxt.append(c.ar.mux(c.ar.ge(a, b), a, b, c.name(f"m{k}")))
            nxt_levels.append(nxt + level[len(level) - len(level) % 2:])
        levels, depth = nxt_levels, depth + 1
    if pipe is not None:
        pipe.finish()
    out = []
    for k, level in enumerate(levels):
        acc = c.cast(level[0], tx.frac, ta, f"a{k}")
        out.append(c.cast(acc, ta.frac, tr, f"y{k}"))
    return out


def _flatten_buffer(top: Module, pre: str, valid: str, ready: str, vals: list[Val], pixels: int,
                    t) -> tuple[str, str, list[Val]]:
    """Collect ``pixels`` beats into one vector (a shift register: each beat enters at the top, the first ends
    at the bottom, no address decode); emit it as one beat when full, then take the next image."""
    ch = len(vals)
    width = pixels * ch * t.width
    cb = max(1, (pixels - 1).bit_length())
    buf, count, full = top.reg(f"{pre}_buf", width), top.reg(f"{pre}_count", cb), top.reg(f"{pre}_full", 1)
    out_ready = top.wire(f"{pre}_ready", 1)
    top.assign(ready, f"!{full}")
    beat = Arith(top).pack(f"{pre}_beat", vals, t.width)
    cw = ch * t.width
    take = f"{valid} && !{full}"
    shifted = beat if pixels == 1 else f"{{{beat}, {buf}[{width - 1}:{cw}]}}"
    top.always([If(take, [NonBlocking(buf, shifted)])], clock="clk")
    top.always([If("rst", [NonBlocking(count, literal(0, cb)), NonBlocking(full, "1'b0")], [
        If(take, [If(f"{count} == {literal(pixels - 1, cb)}", [NonBlocking(count, literal(0, cb)),
                                                               NonBlocking(full, "1'b1")],
                     [NonBlocking(count, f"{count} + {literal(1, cb)}")])]),
        If(f"{full} && {out_ready}", [NonBlocking(full, "1'b0")])])], clock="clk")
    out = [Val.of(buf, t.width, t.signed, lsb=i * t.width, full=False) for i in range(pixels * ch)]
    return full, out_ready, out
