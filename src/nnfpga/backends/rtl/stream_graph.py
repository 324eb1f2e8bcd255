"""Graphs that are not chains in the streaming Verilog top (issue 14): forks, FIFOs and merge layers.

The top (:func:`build_graph_design`) walks the graph in topological order; each single-input layer is
:func:`nnfpga.backends.rtl.stream.lower_layer`'s (a window generator, a flatten buffer or combinational logic on
the beat), every edge between two layers is a valid/ready stream. Two more pieces join them into a graph:

- **Fork** (a tensor read by several layers, or by a layer and the output port): eager. Each consumer sees the
  producer's beat as valid until it has taken it (a ``taken`` register per consumer); the producer's beat moves
  when every consumer has taken it or takes it now. No consumer waits for another to be ready.
- **Merge** (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate along channels; streams of one
  geometry: the same pixels per image, or one vector per image after a Flatten): a join. Its output beat is
  valid when every input beat is, input ``k`` is taken when the output is and every other input is valid; the
  values are the Verilog backend's merge lowerings (:mod:`nnfpga.backends.rtl.ops`: the emulator's exact
  expression, then one cast), Concatenate a cast per input then the channels in order.

**FIFO depths.** A branch that holds nothing back (the skip connection of a residual block) must buffer what the
other branch holds back: a conv's window generator emits its first window only when every input row that window
reads is complete (about ``K_h / 2`` rows for "same" padding), so the skip must hold those rows or the fork stalls,
the conv never gets its rows, and the merge waits forever. The depth is computed from the schedule: for every
layer, ``need[j]`` = how many beats of the fork's producer must have moved before the layer can emit its beat
``j`` (counted over two images; a window layer from :func:`nnfpga.backends.rtl.window.inputs_before_outputs`, the
generator's own schedule; a flatten after the image's last pixel; a padding, cropping or upsampling stage from
:func:`nnfpga.backends.rtl.stream_stages.inputs_before_outputs`; a merge the maximum of its inputs). A FIFO on
the fork edge into branch ``b`` has depth ``max over j of need[merge][j] - need[merge input from b][j]`` over
every merge that joins branch ``b`` with another branch of the fork (0: no FIFO; a merge whose inputs all come
from ``b`` is a later fork's to buffer). With the eager fork this is the least depth that cannot deadlock
for a branch that holds nothing itself (one less and the fork stalls on the beat the other branch needs: the
suite shows the deadlock); a branch that buffers rows itself (a window layer) gets this as an upper bound.
FIFOs hold one beat per register row (the width of the producer's beat), ``in_ready`` = not full.

**Throughput.** Those depths cannot deadlock, but a FIFO exactly that deep makes every beat wait for a round trip
through the other branch's registers (a residual 3x3 conv over 8x8 images ran at II 556 instead of its 81).
:func:`throughput_depths` grows every sized FIFO by the least common number of beats with which the schedule model
(:mod:`~nnfpga.backends.rtl.timing`) runs at the II it reaches with every FIFO an image deep; the header states the
depths built.

Handshakes stay free of combinational loops: ``valid`` never depends on a ``ready`` (window generators,
FIFOs and the flatten buffer drive theirs from registers; forks and joins from their inputs' valid).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnfpga.backends.rtl.cast import Library
from nnfpga.backends.rtl.context import DEFAULT_ADDERS_PER_STAGE, DEFAULT_MULTIPLIERS, Ctx, In
from nnfpga.backends.rtl.design import Design
from nnfpga.backends.rtl.ops import LOWERINGS
from nnfpga.backends.rtl.stream_layers import MERGE_OPS, RESIZE_OPS, WINDOW_OPS, is_global, layer_problem, per_pixel
from nnfpga.backends.rtl.stream_lower import TextModule, lower_layer
from nnfpga.backends.rtl.stream_stages import Stream, schedule
from nnfpga.backends.rtl.stream_stages import inputs_before_outputs as resize_inputs
from nnfpga.backends.rtl.timing import Fifo, Fork, Merge, Net, Stage, figures, run
from nnfpga.backends.rtl.verilog import Arith, If, Module, NonBlocking, Val, identifier
from nnfpga.backends.rtl.window import inputs_before_outputs
from nnfpga.errors import BackendSupportError
from nnfpga.ir.graph import Graph, Node
from nnfpga.ops import OPS
from nnfpga.ops.base import Plan

OUT = "<out>"  # the output port, as a consumer
IMAGES = 2  # images the schedule is counted over (its pattern repeats per image; the second covers the boundary)
Edge = tuple[str, str, int]  # (producer, consumer, the consumer's input slot)


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
            problem = merge_problem(graph, node)
            problems += [f"{node.describe()}: {problem}"] if problem else []
        else:
            problem = layer_problem(graph, node, inputs_flat)  # keepdims global pooling: a 1x1 image
            problems += [problem] if problem else []
    return problems


def merge_problem(graph: Graph, node: Node) -> str | None:
    """Why the streaming top cannot join ``node``'s input streams (None: it can)."""
    shapes = [tuple(graph[i].shape) for i in node.inputs]
    if len({s[:-1] for s in shapes}) != 1 or len({len(s) for s in shapes}) != 1:
        return (f"the streaming top merges streams of one geometry (the same pixels per image), got inputs of "
                f"shapes {', '.join(map(str, shapes))}")
    if node.op == "concatenate" and node.attrs.get("axis") != len(shapes[0]) - 1:
        return (f"Concatenate along axis {node.attrs.get('axis')} of {shapes[0]} (the streaming top concatenates "
                f"channels, the last axis, only)")
    return None


def items(node: Node) -> int:
    """Beats per image of a node's stream: its pixels, or 1 for a vector (after a Flatten)."""
    return int(np.prod(node.shape[:-1]))


def consumers(graph: Graph) -> dict[str, list[Edge]]:
    """Every node's out-edges in graph order (the output port last)."""
    out: dict[str, list[Edge]] = {n.name: [] for n in graph}
    for n in graph:
        for slot, i in enumerate(n.inputs):
            out[i].append((i, n.name, slot))
    out[graph.outputs[0]].append((graph.outputs[0], OUT, 0))
    return out


def needs(graph: Graph, fork: str) -> dict[str, np.ndarray]:
    """For every layer downstream of ``fork`` (itself included): ``need[j]``, the beats of ``fork`` that must have
    moved before the layer can emit its beat ``j`` (over :data:`IMAGES` images)."""
    need: dict[str, np.ndarray] = {fork: np.arange(1, IMAGES * items(graph[fork]) + 1)}
    for n in graph:
        ins = [i for i in n.inputs if i in need]
        if n.name == fork or not ins:
            continue
        src = graph[ins[0]]
        if n.op in WINDOW_OPS and not is_global(n) and not per_pixel(n):
            k = inputs_before_outputs(tuple(src.shape[:-1]), OPS[n.op].window(n))
            per = items(src)
            need[n.name] = np.concatenate([need[src.name][i * per + k - 1] for i in range(IMAGES)])
        elif (n.op == "flatten" or is_global(n)) and len(src.shape) > 1:  # one beat after the image's last pixel
            per, out = items(src), items(n)
            need[n.name] = np.repeat(need[src.name][per - 1::per], out)
        elif n.op in RESIZE_OPS:  # padding, cropping, upsampling: the input beat each output beat waits for
            k, per = resize_inputs(n, tuple(src.shape)), items(src)
            need[n.name] = np.concatenate([need[src.name][i * per + k] for i in range(IMAGES)])
        else:
            need[n.name] = np.max([need[i] for i in ins], axis=0)
    return need


def descendants(graph: Graph, name: str) -> set[str]:
    """``name`` and every layer reading it, directly or not."""
    seen = {name}
    for n in graph:
        if any(i in seen for i in n.inputs):
            seen.add(n.name)
    return seen


def fifo_depths(graph: Graph) -> dict[Edge, int]:
    """The FIFO depth of every fork edge (producer, consumer, slot) that needs one (see the module docstring)."""
    out: dict[Edge, int] = {}
    for name, edges in consumers(graph).items():
        if len(edges) < 2:
            continue
        need = needs(graph, name)
        for edge in edges:
            _, c, slot = edge
            reach = descendants(graph, c) if c != OUT else set()
            depth = 0
            for m in reach:
                node = graph[m]
                mine = [(m, s) == (c, slot) or u in reach for s, u in enumerate(node.inputs)]
                if node.op not in MERGE_OPS or all(mine):  # all from this branch: a fork inside it buffers
                    continue
                for s, u in enumerate(node.inputs):
                    if (m, s) == (c, slot):
                        base = need[name]
                    elif u in reach:
                        base = need[u]
                    else:
                        continue
                    depth = max(depth, int(np.max(need[m] - base)))
            if depth:
                out[edge] = depth
    return out


def throughput_depths(graph: Graph, timing: dict[str, list[Stage] | None], depths: dict[Edge, int]
                      ) -> dict[Edge, int]:
    """``depths`` (:func:`fifo_depths`) grown by the least common extra with which the design's schedule reaches
    the II it has with every FIFO an image of its producer deep (unchanged when the sized FIFOs already do)."""
    if not depths:
        return depths
    beats_in, beats_out = items(graph[graph.inputs[0]]), items(graph[graph.outputs[0]])

    def ii(ds: dict[Edge, int]) -> int:
        times = run(*timing_net(graph, timing, ds), beats_in, beats_out)
        return figures(times, beats_out)[1] if times else 0

    deep = {e: max(d, items(graph[e[0]])) for e, d in depths.items()}
    target = ii(deep)
    if not target or ii(depths) <= target:
        return depths

    def grown(extra: int) -> dict[Edge, int]:
        return {e: min(deep[e], d + extra) for e, d in depths.items()}

    lo, hi = 1, max(deep[e] - d for e, d in depths.items())
    while lo < hi:  # the least extra that reaches the target
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if 0 < ii(grown(mid)) <= target else (mid + 1, hi)
    return grown(hi)


def timing_net(graph: Graph, timing: dict[str, list[Stage] | None], depths: dict[Edge, int]) -> tuple[Net, int]:
    """The design's stream elements for :func:`nnfpga.backends.rtl.timing.run` and its output stream: each
    layer's stages (``timing``, from :func:`~nnfpga.backends.rtl.stream_lower.lower_layer`; a stream stage's
    from :func:`~nnfpga.backends.rtl.stream_stages.schedule`), the eager forks, the FIFOs of ``depths`` and
    the merges, as :func:`build_graph_design` wires them."""
    net, edges, outs = Net(), {}, consumers(graph)
    for node in graph:
        s = 0  # the input port's stream
        if node.op != "input":
            ins = [edges[(node.name, k)] for k in range(len(node.inputs))]
            if node.op in MERGE_OPS:
                (s,) = net.add(Merge(), ins)
            else:
                stages = timing.get(node.name)
                if stages is None:
                    stages = [schedule(node, tuple(graph[node.inputs[0]].shape))]
                s = net.stages(stages, ins[0])
        es = outs[node.name]
        branches = [s] if len(es) == 1 else net.add(Fork(len(es)), [s], len(es))
        for edge, branch in zip(es, branches, strict=True):
            if depths.get(edge, 0) and len(es) > 1:
                (branch,) = net.add(Fifo(depths[edge]), [branch])
            edges[edge[1:]] = branch
    return net, edges[(OUT, 0)]


def fifo_module(name: str, depth: int, width: int) -> str:
    """Verilog text of a ``depth``-entry FIFO of ``width``-bit beats (``in_ready``: not full; ``out_valid``:
    not empty; a push and a pop in one cycle both move)."""
    aw = max(1, (depth - 1).bit_length())
    cw = depth.bit_length()
    return f"""// FIFO (generated by nnfpga): {depth} entries of {width} bits, valid/ready on both sides, in_ready = not
// full and out_valid = not empty (from registers only). rst synchronous, active high.
module {name} (
    input wire clk,
    input wire rst,
    input wire in_valid,
    output wire in_ready,
    input wire [{width - 1}:0] in_data,
    output wire out_valid,
    input wire out_ready,
    output wire [{width - 1}:0] out_data
);
    localparam integer D = {depth};
    reg [{width - 1}:0] mem [0:D-1];
    reg [{aw - 1}:0] rd, wr;
    reg [{cw - 1}:0] count;
    wire push = in_valid && in_ready;
    wire pop = out_valid && out_ready;
    assign in_ready = count != {cw}'d{depth};
    assign out_valid = count != {cw}'d0;
    assign out_data = mem[rd];
    always @(posedge clk) begin
        if (rst) begin
            rd <= {aw}'d0; wr <= {aw}'d0; count <= {cw}'d0;
        end else begin
            if (push) begin
                mem[wr] <= in_data;
                wr <= wr == {aw}'d{depth - 1} ? {aw}'d0 : wr + {aw}'d1;
            end
            if (pop) rd <= rd == {aw}'d{depth - 1} ? {aw}'d0 : rd + {aw}'d1;
            if (push && !pop) count <= count + {cw}'d1;
            else if (pop && !push) count <= count - {cw}'d1;
        end
    end
endmodule
"""


class _Top:
    """The top module under construction: its library, submodules and the streams on every edge."""

    def __init__(self, graph: Graph, name: str, prep: dict[str, Plan], multipliers: str,
                 depths: dict[Edge, int]) -> None:
        self.graph, self.name, self.prep, self.multipliers, self.depths = graph, name, prep, multipliers, depths
        self.top, self.lib = Module(name), Library(name)
        self.ar = Arith(self.top)
        self.subs: list[Any] = []
        self.edges: dict[tuple[str, int], Stream] = {}  # (consumer, slot) -> the stream it reads
        self.fifos: dict[Edge, tuple[int, str, int]] = {}  # fork edge -> (index in subs, module name, bits per beat)

    def resize_fifos(self, depths: dict[Edge, int]) -> None:
        """Rewrite each FIFO module for its final depth (the walk built them with :func:`fifo_depths`')."""
        for edge, (k, mod, bits) in self.fifos.items():
            self.subs[k] = TextModule(mod, fifo_module(mod, depths[edge], bits))

    def distribute(self, node: Node, s: Stream, edges: list[Edge]) -> None:
        """Give each consumer of ``node`` its stream: ``s`` itself, or a branch of an eager fork (with a FIFO)."""
        if len(edges) == 1:
            self.edges[edges[0][1:]] = s
            return
        top, pre, t = self.top, identifier(node.name), node.types["result"]
        top.comment("")
        top.comment(f"fork of {node.describe()} to {len(edges)} consumers: each takes the beat once, it moves when "
                    f"all have")
        done = []
        for k, (_, c, slot) in enumerate(edges):
            taken = top.reg(f"{pre}_taken{k}", 1)
            valid = top.wire(f"{pre}_fvalid{k}", 1, f"{s.valid} && !{taken}")
            ready = top.wire(f"{pre}_fready{k}", 1)
            top.always([If("rst", [NonBlocking(taken, "1'b0")], [
                If(f"{s.valid} && {s.ready}", [NonBlocking(taken, "1'b0")],
                   [If(f"{valid} && {ready}", [NonBlocking(taken, "1'b1")])])])], clock="clk")
            done.append(f"({taken} || {ready})")
            branch = Stream(valid, ready, s.vals, s.type)
            depth = self.depths.get((node.name, c, slot), 0)
            if depth:
                branch = self.fifo(f"{pre}_to_{identifier(c)}{slot}", branch, t, depth, c, (node.name, c, slot))
            self.edges[(c, slot)] = branch
        top.assign(s.ready, " && ".join(done))

    def fifo(self, pre: str, s: Stream, t: Any, depth: int, consumer: str, edge: Edge) -> Stream:
        top, n = self.top, len(s.vals)
        mod = f"{self.name}_{pre}_fifo"
        self.fifos[edge] = (len(self.subs), mod, n * t.width)
        self.subs.append(TextModule(mod, fifo_module(mod, depth, n * t.width)))
        top.comment(f"FIFO to {consumer}: its depth in the header (stream_graph: what the other branches hold back, "
                    f"grown for throughput)")
        fv, fr = top.wire(f"{pre}_qvalid", 1), top.wire(f"{pre}_qready", 1)
        fd = top.wire(f"{pre}_qdata", n * t.width)
        top.instance(mod, f"{pre}_q", [("clk", "clk"), ("rst", "rst"), ("in_valid", s.valid), ("in_ready", s.ready),
                                       ("in_data", self.ar.pack(f"{pre}_qin", s.vals, t.width)),
                                       ("out_valid", fv), ("out_ready", fr), ("out_data", fd)])
        return Stream(fv, fr, [Val.of(fd, t.width, t.signed, lsb=i * t.width, full=n == 1) for i in range(n)], t)

    def merge(self, node: Node, ins: list[Stream]) -> Stream:
        """A join of ``ins`` and the merge's values."""
        top, pre, tr = self.top, identifier(node.name), node.types["result"]
        top.comment("")
        top.comment(f"{node.describe()}: {tr} (a join: every input beat moves together)")
        valid = top.wire(f"{pre}_valid", 1, " && ".join(f"({s.valid})" for s in ins))
        ready = top.wire(f"{pre}_ready", 1)
        for k, s in enumerate(ins):
            top.assign(s.ready, " && ".join([ready, *(f"({o.valid})" for j, o in enumerate(ins) if j != k)]))
        srcs = [self.graph[i] for i in node.inputs]
        cins = [In(s.vals, src.types["result"], (len(s.vals),)) for s, src in zip(ins, srcs, strict=True)]
        ctx = Ctx(self.ar, self.lib, pre, None, node.attrs.get("multipliers", self.multipliers), valid, ins=cins)
        if node.op == "concatenate":
            vals = [v if i.type == tr else ctx.cast(v, i.type.frac, tr, f"y{k}_{j}")
                    for k, i in enumerate(cins) for j, v in enumerate(i.vals)]
        else:
            vals = LOWERINGS[node.op](ctx, node, cins[0].vals, cins[0].type, self.prep[node.name])
        return Stream(valid, ready, vals, tr)


def build_graph_design(graph: Graph, prep: dict[str, Plan], project: str = "myproject",
                       multipliers: str = DEFAULT_MULTIPLIERS, *, depths: dict[Edge, int] | None = None,
                       adders_per_stage: int | str | None = DEFAULT_ADDERS_PER_STAGE,
                       record: dict[str, list[Stage] | None] | None = None) -> Design:
    """Lower ``graph`` (one input, one output; forks and merges allowed) to a streaming :class:`Design`.
    ``depths`` replaces :func:`fifo_depths` and :func:`throughput_depths` (a test's way to build a too-small
    FIFO). The Design states its cycles
    per image (``ii``) and ``latency`` from :func:`timing_net`'s schedule (0 when that schedule deadlocks: FIFO
    ``depths`` too small); ``record`` receives each layer's stages for it. Raises BackendSupportError listing
    every layer it cannot build."""
    problems = stream_problems(graph)
    if problems:
        raise BackendSupportError("; ".join(problems))
    sized = depths is None
    depths = fifo_depths(graph) if depths is None else depths
    b = _Top(graph, identifier(project), prep, multipliers, depths)
    top = b.top
    (inp,) = graph.inputs
    (outp,) = graph.outputs
    tin, tout = graph[inp].types["result"], graph[outp].types["result"]
    c_in = int(graph[inp].shape[-1])
    for port in ("clk", "rst", "in_valid"):
        top.port("input", port, 1)
    top.port("output", "in_ready", 1)
    top.port("input", "in_data", c_in * tin.width)
    top.port("output", "out_valid", 1)
    top.port("input", "out_ready", 1)
    n_out = int(graph[outp].shape[-1]) if graph[outp].op != "flatten" and len(graph[outp].shape) > 1 \
        else int(np.prod(graph[outp].shape))
    top.port("output", "out_data", n_out * tout.width)
    outs = consumers(graph)
    timing: dict[str, list[Stage] | None] = {} if record is None else record
    for node in graph:
        if node.op == "input":
            vals = [Val.of("in_data", tin.width, tin.signed, lsb=i * tin.width, full=c_in == 1) for i in range(c_in)]
            s = Stream("in_valid", "in_ready", vals, tin)
        else:
            ins = [b.edges[(node.name, k)] for k in range(len(node.inputs))]
            if node.op in MERGE_OPS:
                s, timing[node.name] = b.merge(node, ins), None
            else:
                s = lower_layer(top, b.lib, b.subs, graph, node, ins[0], prep, multipliers, adders_per_stage, timing)
        b.distribute(node, s, outs[node.name])
    s = b.edges[(OUT, 0)]
    top.comment("")
    top.comment("output")
    top.assign("out_valid", s.valid)
    top.assign(s.ready, "out_ready")
    top.assign("out_data", b.ar.pack("out_bus", s.vals, tout.width) if len(s.vals) > 1 else s.vals[0].ext(tout.width))
    if sized:  # explicit depths (a test's) are built as given
        depths = throughput_depths(graph, timing, depths)
        b.resize_fifos(depths)
    times = run(*timing_net(graph, timing, depths), items(graph[inp]), items(graph[outp]))
    latency, ii = figures(times, items(graph[outp])) if times else (0, 0)
    inner = {n: st.cycles for n, v in timing.items() for st in v or () if st.kind == "delay"}
    design = Design(b.name, [top, *b.subs, *b.lib.modules.values()], tin, tout, c_in, n_out,  # type: ignore[list-item]
                    latency=latency, inner=inner, ii=ii, streaming=True)
    cycles = (f"II {ii}, latency {latency} (first input beat to last output beat; nnfpga.backends.rtl.timing)"
              if times else "none: the schedule stops (a FIFO too small for what another branch holds back)")
    fifos = "; ".join(f"{p} -> {c}: {d}" for (p, c, _), d in depths.items()) or "none"
    top.header = (f"{b.name}: streaming top generated by nnfpga from '{graph.name}' (see nnfpga.backends.rtl.stream "
                  f"and stream_graph).\nin: one pixel per beat, raster order, {c_in} channel(s) of {tin}; out: {n_out} "
                  f"value(s) of {tout} per beat. valid/ready handshake on both sides; rst synchronous, active high."
                  f"\nFIFO depths (beats; stream_graph.fifo_depths, grown by throughput_depths): {fifos}."
                  f"\ncycles per image without stalls: {cycles}; registers inside layers: "
                  + (", ".join(f"{k} {v}" for k, v in inner.items()) or "none"))
    return design
