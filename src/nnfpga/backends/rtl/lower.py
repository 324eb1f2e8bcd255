"""Lowering of a typed graph to one fully pipelined Verilog module with the emulator's exact semantics.

Every layer becomes combinational logic on integer mantissas (see :mod:`nnfpga.backends.rtl.verilog`), built
from the constants the op's own ``prepare`` returns. Registers, by default timing-driven (``adders_per_stage`` "auto"):
every value carries its settling time under the target's delay model (:mod:`~nnfpga.backends.rtl.delay`), a
Dense's adder graph and a softmax's steps register where the next logic would pass the clock period, any other
layer gets a register before it when its logic would, and the output is registered. In the fixed mode
(``adders_per_stage`` an integer or None) a layer is followed by ``pipeline_stages`` registers (node attribute;
default 1 for Dense, ScaleShift and table layers, 0 otherwise), plus the registers a Dense places inside its
adder graph and a softmax between its steps. A valid bit travels through a shift register of the same length,
so the design takes one input vector per clock (II = 1; a Dense with ReuseFactor R > 1 takes one every R
clocks, see :mod:`~nnfpga.backends.rtl.reuse`) and its latency is the total number of registers on the path.
Either way the design states its estimated critical path (ns of logic between two registers, and its layer)
and Fmax under the model.

The lowering of each op (what it becomes) is in :mod:`nnfpga.backends.rtl.ops`; this module is the driver
(ports, the valid pipeline, latency balancing of multi-input layers, registers, the header) and the support check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nnfpga.backends.base import RECURRENT_OPS
from nnfpga.backends.rtl.accumulate import reuse_problem
from nnfpga.backends.rtl.cast import Library
from nnfpga.backends.rtl.context import (  # noqa: F401  (MULTIPLIERS: knobs)
    AUTO,
    DEFAULT_ADDERS_PER_STAGE,
    DEFAULT_MULTIPLIERS,
    MULTIPLIERS,
    Ctx,
    In,
    fixed_adders_per_stage,
    node_adders_per_stage,
    settles_late,
)
from nnfpga.backends.rtl.delay import DelayModel, model_for
from nnfpga.backends.rtl.design import Design
from nnfpga.backends.rtl.ops import LOWERINGS, NOT_LOWERED, REFUSED
from nnfpga.backends.rtl.verilog import Always, Arith, If, Module, NonBlocking, Val, identifier, literal
from nnfpga.errors import BackendSupportError, ConfigError, GraphError
from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Graph, Node
from nnfpga.ops import OPS
from nnfpga.ops.base import Plan

DEFAULT_CLOCK_PERIOD = 5.0  # ns, as hls4ml's


def _inside(node: Node) -> bool:
    """Whether the lowering places its own registers by the delay model (timing-driven)."""
    return node.op in ("dense", "softmax") and int(node.attrs.get("reuse_factor", 1)) == 1


def _opaque(node: Node) -> bool:
    """Whether the lowering has registers inside that the delay model does not follow (its inputs are registered
    when timing-driven): a reused Dense, a recurrent layer."""
    return node.op in RECURRENT_OPS or (node.op == "dense" and not _inside(node))


def node_stages(node: Node, override: dict[str, int] | None = None, timed: bool = False) -> int:
    """Registers after ``node``: the override, its attribute, else the op's default (0 when timing-driven)."""
    default = 0 if timed else OPS[node.op].pipeline_stages
    value = (override or {}).get(node.name, node.attrs.get("pipeline_stages", default))
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"pipeline_stages of {node.describe()} must be an integer >= 0, got {value!r}")
    return value


def prepare_all(graph: Graph) -> dict[str, Plan]:
    return {n.name: OPS[n.op].prepare(n, [graph[i].types["result"] for i in n.inputs]) for n in graph}


def build_design(graph: Graph, project: str = "myproject", *, prep: dict[str, Plan] | None = None,
                 pipeline_stages: dict[str, int] | None = None, trace: bool = False,
                 adders_per_stage: int | str | None = DEFAULT_ADDERS_PER_STAGE,
                 multipliers: str = DEFAULT_MULTIPLIERS, clock_period: float = DEFAULT_CLOCK_PERIOD,
                 target: str | None = None, part: str | None = None) -> Design:
    """Lower ``graph`` to a :class:`Design` whose top module is ``project`` (made a valid identifier).
    ``pipeline_stages`` overrides the node attribute per layer name; ``adders_per_stage`` and ``multipliers``
    apply where a node's attributes do not choose. Registers are placed for ``clock_period`` (ns) under the delay
    model of the synthesis ``target``, else of the device ``part`` (:func:`~nnfpga.backends.rtl.delay.model_for`).
    ``trace=True`` builds a debug design
    whose ``out_data`` carries every layer's output (delayed to the same cycle), each element sign- or
    zero-extended to one common slot width (``out_type``); ``Design.trace`` gives the layout.
    Raises :class:`ConfigError` naming every layer the Verilog backend cannot build yet."""
    prep = prep if prep is not None else prepare_all(graph)
    check_supported(graph, prep)
    model = model_for(target, part)
    budget = _budget(model, clock_period)
    if is_image_model(graph):
        from nnfpga.backends.rtl.stream import build_stream_design

        if trace:
            raise BackendSupportError("trace designs of image models (the streaming top) are not built yet: "
                                      "use hw.trace (the emulator) for per-layer values")
        return build_stream_design(graph, prep, project, multipliers, adders_per_stage)
    name = identifier(project)
    (inp,) = graph.inputs
    (outp,) = graph.outputs
    tin, tout = graph[inp].types["result"], graph[outp].types["result"]
    n_in, n_out = int(np.prod(graph[inp].shape)), int(np.prod(graph[outp].shape))
    layout = None
    if trace:
        layout = [(n.name, int(np.prod(n.shape))) for n in graph]
        tout = FixedType(max(n.types["result"].width for n in graph) + 1, 0)
        n_out = sum(c for _, c in layout)
    top = Module(name)
    lib = Library(name, model)
    ar = Arith(top, model)
    for port in ("clk", "rst", "in_valid"):
        top.port("input", port, 1)
    top.port("input", "in_data", n_in * tin.width)
    top.port("output", "out_valid", 1)
    top.port("output", "out_data", n_out * tout.width)

    valid = top.reg("valid_q", 1)  # the valid bit of every pipeline stage; its width is set below
    valid_reg = top.items[-1]
    vals: dict[str, list[Val]] = {}
    stages: dict[str, int] = {}
    ready: dict[str, int] = {}  # clock cycle at which each layer's output is there
    inner: dict[str, int] = {}  # registers inside each layer (pipelined adder graphs)
    modes = register_modes(graph, adders_per_stage)
    fanout = model.fanout_for(graph_weights(graph, prep))
    for node in graph:
        t = node.types["result"]
        if node.op == "input":
            out = [Val.of("in_data", t.width, t.signed, lsb=i * t.width, full=n_in == 1) for i in range(n_in)]
            ready[node.name] = 0
        else:
            srcs = [graph[i] for i in node.inputs]
            start = max(ready[s.name] for s in srcs)
            top.comment("")
            top.comment(f"{node.describe()}: {t}")
            ins = []
            for k, s in enumerate(srcs):  # latency balancing: an input that is there early waits in registers
                lag, v = start - ready[s.name], vals[s.name]
                ins.append(In(_registers(ar, f"{identifier(node.name)}_in{k}", v, s.types["result"], lag) if lag
                              else v, s.types["result"], tuple(s.shape)))
            layer = _Layer(ar, lib, node, prep[node.name], valid, budget,
                           modes[node.name], node.attrs.get("multipliers", multipliers), fanout)
            out, cycles = layer.lower(ins, start)
            ready[node.name] = start + cycles
            inner[node.name] = cycles
        stages[node.name] = node_stages(node, pipeline_stages, timed=node.op != "input" and
                                        modes[node.name] == AUTO)
        ready[node.name] += stages[node.name]
        if stages[node.name]:
            out = _registers(ar, identifier(node.name), out, t, stages[node.name])
        vals[node.name] = out
    if modes[outp] == AUTO and any(v.top > 0 for v in vals[outp]):
        top.comment("")
        top.comment("output register")
        vals[outp] = _registers(ar, "out", vals[outp], graph[outp].types["result"], 1)
        ready[outp] += 1
        stages[outp] += 1  # out_data straight from registers
    latency = ready[outp]

    top.comment("")
    top.comment("outputs")
    if layout is None:
        result = vals[outp]
    else:
        latency = max(ready.values())
        result = []
        for node in graph:
            delay = latency - ready[node.name]
            v = vals[node.name]
            result += _registers(ar, f"{identifier(node.name)}_trace", v, node.types["result"], delay) if delay else v
    top.assign("out_data", ar.pack("out_bus", result, tout.width) if n_out > 1 else result[0].ext(tout.width))
    if latency == 0:
        top.items.remove(valid_reg)
        top.assign("out_valid", "in_valid")
    else:
        valid_reg.width, valid_reg.comment = latency, f"valid bit of each of the {latency} pipeline stages"
        v = valid
        shifted = "in_valid" if latency == 1 else f"{{{v}[{latency - 2}:0], in_valid}}"
        top.always([If("rst", [NonBlocking(v, literal(0, latency))], [NonBlocking(v, shifted)])], clock="clk")
        top.assign("out_valid", f"{v}[{latency - 1}]" if latency > 1 else v)
    ii = max([int(n.attrs.get("reuse_factor", 1)) for n in graph if OPS[n.op].reuse and n.op not in RECURRENT_OPS]
             + [inner[n.name] - 1 for n in graph if n.op in RECURRENT_OPS], default=1)  # steps x cycles
    design = Design(name, [top, *lib.modules.values()], tin, tout, n_in, n_out, latency, stages, inner, layout, ii,
                    clock_period=clock_period, model=model, critical_ns=ar.worst, critical_where=ar.worst_where,
                    critical_signal=ar.worst_signal)
    top.header = header_comment(graph, design)
    return design


@dataclass
class _Layer:
    """One layer to lower, with the knobs that apply to it."""

    ar: Arith
    lib: Library
    node: Node
    prep: Plan
    valid: str  # the valid shift register's name
    budget: float
    aps: int | str | None  # its adders_per_stage
    multipliers: str
    fanout: int | None  # the design's fanout limit, timing-driven (DelayModel.fanout_for)

    def lower(self, ins: list[In], start: int) -> tuple[list[Val], int]:
        """The layer's outputs from ``ins`` (there in cycle ``start``), and the registers on its path. Timing-driven,
        a lowering that does not place its own registers gets one before it (on every input) when its logic would
        pass the clock, or when the model cannot follow the logic inside (:func:`_opaque`)."""
        ar, node = self.ar, self.node
        ar.where = f"{node.name} ({node.op})"
        timed = self.aps == AUTO
        if timed and _opaque(node) and any(v.top > 0 for i in ins for v in i.vals):
            out, cycles = self._lower(_registered(ar, node, ins), start + 1)
            return out, cycles + 1
        mark = ar.mark()
        out, cycles = self._lower(ins, start)
        if timed and not _inside(node) and not _opaque(node) and settles_late(
                ar, self.budget, mark, [v for i in ins for v in i.vals]):
            ar.rollback(mark)
            out, cycles = self._lower(_registered(ar, node, ins), start + 1)
            return out, cycles + 1
        ar.release(mark)
        return out, cycles

    def _lower(self, ins: list[In], start: int) -> tuple[list[Val], int]:
        node = self.node
        timed_inside = self.aps == AUTO and _inside(node)
        go = "in_valid" if start == 0 else f"{self.valid}[{start - 1}]"
        ctx = Ctx(self.ar, self.lib, identifier(node.name), None if timed_inside else fixed_adders_per_stage(self.aps),
                  self.multipliers, go, ins=ins, budget=self.budget if timed_inside else None,
                  fanout=self.fanout if timed_inside else None)
        return LOWERINGS[node.op](ctx, node, ins[0].vals, ins[0].type, self.prep), ctx.cycles


KNOB_OPS = ("dense", "softmax", *RECURRENT_OPS)  # the layers AddersPerStage applies to


def register_modes(graph: Graph, default: int | str | None) -> dict[str, int | str | None]:
    """Each layer's ``adders_per_stage``: its own (a layer AddersPerStage applies to), else its inputs' ("auto"
    if any is), so that a model set to a fixed mode has no timing-driven layer in between."""
    modes: dict[str, int | str | None] = {}
    for node in graph:
        if node.op == "input":
            modes[node.name] = node_adders_per_stage(node, default)
        elif node.op in KNOB_OPS or "adders_per_stage" in node.attrs:
            modes[node.name] = node_adders_per_stage(node, default)
        else:
            srcs = [modes[i] for i in node.inputs]
            modes[node.name] = AUTO if AUTO in srcs else srcs[0]
    return modes


def timing_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`build_design` that a model's settings choose (its clock and part)."""
    return {"clock_period": float(settings.get("clock_period", DEFAULT_CLOCK_PERIOD)), "part": settings.get("part")}


def graph_weights(graph: Graph, prep: dict[str, Plan]) -> int:
    """Nonzero weights of the Dense layers built as adder graphs (ReuseFactor 1): the size of a design's logic."""
    return sum(int(np.count_nonzero(np.asarray(prep[n.name].wm))) for n in graph
               if n.op == "dense" and int(n.attrs.get("reuse_factor", 1)) == 1)


def _budget(model: DelayModel, clock_period: float) -> float:
    if isinstance(clock_period, bool) or not isinstance(clock_period, (int, float)) or not 0 < clock_period < 1e6:
        raise ConfigError(f"clock_period must be a positive number of ns, got {clock_period!r}")
    budget = model.budget(clock_period)
    if budget <= 0:
        raise ConfigError(f"clock_period {clock_period} ns leaves no time for logic on {model.target} (a register "
                          f"alone takes {model.clk_to_q + model.setup:.2f} ns): use a longer clock period")
    return budget


def _registered(ar: Arith, node: Node, ins: list[In]) -> list[In]:
    """Every input of ``node`` through one register (a pipeline stage before the layer)."""
    return [In(_registers(ar, f"{identifier(node.name)}_r{k}", i.vals, i.type, 1), i.type, i.shape)
            for k, i in enumerate(ins)]


def _registers(ar: Arith, prefix: str, vals: list[Val], t: FixedType, n: int) -> list[Val]:
    """``n`` register stages after a layer: its packed output bus, delayed."""
    width = len(vals) * t.width
    prev = ar.pack(f"{prefix}_d", vals, t.width)
    body = []
    for s in range(1, n + 1):
        reg = ar.m.reg(f"{prefix}_q{s}", width)
        body.append(NonBlocking(reg, prev))
        prev = reg
    ar.m.items.append(Always(body, clock="clk"))
    return [Val.of(prev, t.width, t.signed, v.lo, v.hi, lsb=i * t.width, full=len(vals) == 1)
            for i, v in enumerate(vals)]


def timing_lines(d: Design) -> list[str]:
    """The design's timing at its clock, in words (estimates under its delay model)."""
    m = d.model
    return [
        f"Timing: clock period {d.clock_period:g} ns ({1000 / d.clock_period:.1f} MHz): latency {d.latency} cycle(s) = "
        f"{d.latency_ns:g} ns.",
        f"Estimated under the {m.target} delay model ({m.source}):",
        f"  critical path {d.critical_path_ns:.2f} ns (clock-to-out {m.clk_to_q:.2f} + logic {d.critical_ns:.2f} + "
        f"setup {m.setup:.2f}) in {d.critical_where or 'the registers alone'}"
        + (f" (ends at {d.critical_signal})" if d.critical_signal else "") + f", Fmax {d.fmax_mhz:.1f} MHz"
        + ("" if d.critical_path_ns <= d.clock_period + 1e-9 else
           f": SLOWER than the clock (one step of that layer alone passes {d.clock_period:g} ns)") + ".",
    ]


def header_comment(graph: Graph, d: Design) -> str:
    def fmt(t: FixedType) -> str:
        kind = "two's complement" if t.signed else "unsigned"
        return f"{t}, value = m * 2^{-t.frac} ({kind})"

    lines = [
        f"{d.name}: generated by nnfpga from the typed graph '{graph.name}'. Synthesizable Verilog-2005.",
        "Bit-exact with nnfpga's emulator (hw.predict). Pipelined: one input vector per clock (II = 1),"
        if d.ii == 1 else
        f"Bit-exact with nnfpga's emulator (hw.predict). Pipelined, multipliers reused or a recurrent layer stepping "
        f"through its sequence: at most one input vector "
        f"every {d.ii} clock cycles (II = {d.ii}: keep in_valid low in between),",
        f"latency {d.latency} clock cycle(s): out_valid/out_data follow in_valid/in_data {d.latency} rising edge(s)"
        " later.",
        "",
        *timing_lines(d),
        "",
        "Ports:",
        "  clk        input   clock; everything happens at its rising edge",
        "  rst        input   synchronous reset, active high: clears the valid pipeline (data registers are not reset)",
        "  in_valid   input   in_data holds an input vector in this cycle (valid-only handshake: never stalls)",
        f"  in_data    input   [{d.in_width - 1}:0] {d.n_in} input mantissa(s) m, element i at "
        f"in_data[{d.in_type.width}*i +: {d.in_type.width}]:",
        f"                     {fmt(d.in_type)}",
        f"  out_valid  output  out_data holds the result of the vector presented {d.latency} cycle(s) earlier",
        f"  out_data   output  [{d.out_width - 1}:0] {d.n_out} output mantissa(s), element j at "
        f"out_data[{d.out_type.width}*j +: {d.out_type.width}]:",
        f"                     {fmt(d.out_type)}" if d.trace is None else
        "                     TRACE design: every layer's output mantissas, in graph order, each extended to "
        f"{d.out_type.width} bits: " + ", ".join(f"{n} ({c})" for n, c in d.trace),
        "",
        "Pipeline registers (inside each layer, before it when its logic needs one, and at its output):",
    ]
    width = max(len(n.name) for n in graph)
    for node in graph:
        inner = d.inner.get(node.name, 0)
        if d.stages[node.name] or inner:
            lines.append(f"  {node.name:<{width}}  {node.op:<12} {d.stages[node.name]} stage(s)"
                         + (f" + {inner} inside the layer" if inner else ""))
    return "\n".join(lines)


# -- support check ------------------------------------------------------------------------------

IMAGE_OPS = ("conv", "max_pool", "avg_pool", "zero_pad", "crop", "upsample")


def is_image_model(graph: Graph) -> bool:
    """Whether ``graph`` has a spatial layer: then the streaming top (:mod:`~nnfpga.backends.rtl.stream`) builds it."""
    return any(n.op in IMAGE_OPS for n in graph)


def check_supported(graph: Graph, prep: dict[str, Plan]) -> None:
    if is_image_model(graph) and len(graph.inputs) == 1 and len(graph.outputs) == 1:
        from nnfpga.backends.rtl.stream import stream_problems

        problems = stream_problems(graph)
        if problems:
            raise BackendSupportError("; ".join(problems))
        return
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise GraphError(f"the Verilog backend needs exactly one input and one output, got inputs "
                         f"{graph.inputs} and outputs {graph.outputs}")
    problems = []
    for node in graph:
        if node.op not in LOWERINGS and node.op not in NOT_LOWERED:
            why = REFUSED.get(node.op, "not implemented yet")
            problems.append(f"{node.describe()}: op {node.op!r} has no Verilog lowering ({why})")
        elif node.op == "dense":
            msg = dense_problem(node, graph[node.inputs[0]].types["result"], prep[node.name])
            if msg:
                problems.append(msg)
    if problems:
        raise BackendSupportError("; ".join(problems))


def dense_problem(node: Node, tx: FixedType, prep: Plan) -> str | None:
    """Why the Verilog backend cannot build this Dense yet (None: it can)."""
    rf = int(node.attrs.get("reuse_factor", 1))
    n_in = len(prep.wm)
    if n_in % rf:
        valid = [r for r in range(1, n_in + 1) if n_in % r == 0]
        return (f"Dense layer {node.name!r}: ReuseFactor {rf} does not divide its {n_in} inputs, which the Verilog "
                f"backend needs (each multiplier takes one input per cycle); valid: {', '.join(map(str, valid))}")
    if rf > 1:
        return reuse_problem(node, tx, prep)
    return None
