"""Lowering of a typed graph to one fully pipelined Verilog module with the emulator's exact semantics.

Every layer becomes combinational logic on integer mantissas (see :mod:`nnfpga.backends.rtl.verilog`), built
from the constants the op's own ``prepare`` returns, followed by ``pipeline_stages`` registers (node attribute;
default 1 for Dense, ScaleShift and table layers, 0 otherwise), plus the registers a Dense places inside its
adder graph and a softmax between its steps. A valid bit travels through a shift register of the same length,
so the design takes one input vector per clock (II = 1; a Dense with ReuseFactor R > 1 takes one every R
clocks, see :mod:`~nnfpga.backends.rtl.reuse`) and its latency is the total number of registers on the path.

Per op (semantics: :mod:`nnfpga.ops`):
- Dense (node attribute ``multipliers``): by default ``"shared"``, the weight matrix as a graph of exact
  two-input adders (CSD shift-and-add with shared subexpressions, :mod:`~nnfpga.backends.rtl.cmvm`), with a
  register after every ``adders_per_stage`` adders on each path (:mod:`~nnfpga.backends.rtl.adder_graph`; node
  attribute, default 1; None: none inside the layer); ``"operator"``: one ``x * w`` per nonzero weight and a
  balanced adder tree computed modulo ``2**accum_width``. Then the bias (a constant), the result reinterpreted
  in the accumulator's width (exact, or wrapped like the emulator's WRAP accumulator) and cast.
- ScaleShift, LeakyReLU, hard sigmoid, hard tanh, ReLU (optionally capped), linear: exact integer logic, then a
  cast.
- Sigmoid, tanh, ELU: the same table index arithmetic (a bit slice, a constant subtraction, a clamp) addressing
  a ROM that holds the table entries already cast to the result type.
- Softmax: maximum tree, differences, two exp ROMs and their product cast to the exp type, exact sum, the
  inverse ROM, products cast to the result type; with ``adders_per_stage`` set (the default), a register
  after each level of the maximum tree and the exp products, two after the ROMs (8 for 5 classes).
- Flatten, Reshape, Dropout, Transpose: wiring.
- Merges (several inputs; :mod:`nnfpga.ops.merge`): the inputs that arrive early are delayed by registers so
  that all arrive in the same cycle (latency balancing); then the exact sum, difference, product or
  comparison on their mantissas aligned to one scale, and a cast; Concatenate is wiring and a cast per input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from nnfpga.backends import registrar
from nnfpga.backends.rtl import cmvm
from nnfpga.backends.rtl.adder_graph import Pipeline, Timed, adder_tree, materialize
from nnfpga.backends.rtl.cast import Library, dst_bounds
from nnfpga.backends.rtl.reuse import dense_reuse
from nnfpga.backends.rtl.verilog import Always, Arith, If, Module, NonBlocking, Val, identifier, literal
from nnfpga.errors import ConfigError, GraphError
from nnfpga.fixed import FixedType, requantize
from nnfpga.ir.graph import Graph, Node
from nnfpga.ir.layout import broadcast_flat, concat_order, transpose_order
from nnfpga.ops import OPS
from nnfpga.ops.base import Plan
from nnfpga.ops.dense import Dense

# Dense constant multiplications: "shared" = CSD shift-and-add with shared subexpressions (cmvm), "csd" = the
# same without sharing, "operator" = Verilog ``x * W`` (the synthesizer's multipliers: DSPs, or LUTs).
MULTIPLIERS = ("shared", "csd", "operator")
DEFAULT_MULTIPLIERS = "shared"
DEFAULT_ADDERS_PER_STAGE = 1  # measured: a 16x8 8-bit layer on ECP5 reaches 187 MHz (1), 119 MHz (2)
# Every op of nnfpga.ops.OPS has a lowering (LOWERINGS, filled by @lowering below), or an entry in NOT_LOWERED
# (handled by build_design itself), or is refused with its reason in REFUSED (tests/ops/test_op_registry.py).
NOT_LOWERED: dict[str, str] = {"input": "the top module's in_data port: build_design unpacks it into the values"}
REFUSED: dict[str, str] = {}


@dataclass
class Design:
    """A generated design: its modules (top first), what its ports carry and its latency in clock cycles (from
    an input vector to its result: the registers on the path from the input to the output)."""

    name: str
    modules: list[Module]
    in_type: FixedType
    out_type: FixedType
    n_in: int
    n_out: int
    latency: int = 0
    stages: dict[str, int] = field(default_factory=dict)  # registers at each layer's output
    inner: dict[str, int] = field(default_factory=dict)  # registers inside each layer (on every path)
    trace: list[tuple[str, int]] | None = None  # trace designs: (layer, element count) in out_data order
    ii: int = 1  # initiation interval: a new input vector every ``ii`` cycles (the largest ReuseFactor)

    @property
    def in_width(self) -> int:
        return self.n_in * self.in_type.width

    @property
    def out_width(self) -> int:
        return self.n_out * self.out_type.width

    def sources(self) -> dict[str, str]:
        """Verilog files (relative names, compile order: submodules first, top last) -> text."""
        top, subs = self.modules[0], self.modules[1:]
        files = {}
        if subs:
            files[f"{self.name}_lib.v"] = (f"// Submodules of {self.name} (generated by nnfpga): casts and ROMs.\n"
                                           + "\n".join(m.render() for m in subs))
        files[f"{self.name}.v"] = top.render()
        return files


def node_adders_per_stage(node: Node, default: int | None) -> int | None:
    value = node.attrs.get("adders_per_stage", default)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"adders_per_stage of {node.describe()} must be an integer >= 1 or None (no registers "
                          f"inside the layer), got {value!r}")
    return value


def node_stages(node: Node, override: dict[str, int] | None = None) -> int:
    value = (override or {}).get(node.name, node.attrs.get("pipeline_stages", OPS[node.op].pipeline_stages))
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"pipeline_stages of {node.describe()} must be an integer >= 0, got {value!r}")
    return value


def prepare_all(graph: Graph) -> dict[str, Plan]:
    return {n.name: OPS[n.op].prepare(n, [graph[i].types["result"] for i in n.inputs]) for n in graph}


def build_design(graph: Graph, project: str = "myproject", *, prep: dict[str, Plan] | None = None,
                 pipeline_stages: dict[str, int] | None = None, trace: bool = False,
                 adders_per_stage: int | None = DEFAULT_ADDERS_PER_STAGE,
                 multipliers: str = DEFAULT_MULTIPLIERS) -> Design:
    """Lower ``graph`` to a :class:`Design` whose top module is ``project`` (made a valid identifier).
    ``pipeline_stages`` overrides the node attribute per layer name; ``adders_per_stage`` and ``multipliers``
    apply where a node's attributes do not choose. ``trace=True`` builds a debug design
    whose ``out_data`` carries every layer's output (delayed to the same cycle), each element sign- or
    zero-extended to one common slot width (``out_type``); ``Design.trace`` gives the layout.
    Raises :class:`ConfigError` naming every layer the Verilog backend cannot build yet."""
    prep = prep if prep is not None else prepare_all(graph)
    check_supported(graph, prep)
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
    lib = Library(name)
    ar = Arith(top)
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
            go = "in_valid" if start == 0 else f"{valid}[{start - 1}]"
            ctx = Ctx(ar, lib, identifier(node.name), node_adders_per_stage(node, adders_per_stage),
                      node.attrs.get("multipliers", multipliers), go, ins=ins)
            out = LOWERINGS[node.op](ctx, node, ins[0].vals, ins[0].type, prep[node.name])
            ready[node.name] = start + ctx.cycles
            inner[node.name] = ctx.cycles
        stages[node.name] = node_stages(node, pipeline_stages)
        ready[node.name] += stages[node.name]
        if stages[node.name]:
            out = _registers(ar, identifier(node.name), out, t, stages[node.name])
        vals[node.name] = out
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
    ii = max([int(n.attrs.get("reuse_factor", 1)) for n in graph if OPS[n.op].reuse], default=1)
    design = Design(name, [top, *lib.modules.values()], tin, tout, n_in, n_out, latency, stages, inner, layout, ii)
    top.header = header_comment(graph, design)
    return design


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


def header_comment(graph: Graph, d: Design) -> str:
    def fmt(t: FixedType) -> str:
        kind = "two's complement" if t.signed else "unsigned"
        return f"{t}, value = m * 2^{-t.frac} ({kind})"

    lines = [
        f"{d.name}: generated by nnfpga from the typed graph '{graph.name}'. Synthesizable Verilog-2005.",
        "Bit-exact with nnfpga's emulator (hw.predict). Pipelined: one input vector per clock (II = 1),"
        if d.ii == 1 else
        f"Bit-exact with nnfpga's emulator (hw.predict). Pipelined, multipliers reused: at most one input vector "
        f"every {d.ii} clock cycles (II = {d.ii}: keep in_valid low in between),",
        f"latency {d.latency} clock cycle(s): out_valid/out_data follow in_valid/in_data {d.latency} rising edge(s)"
        " later.",
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
        "Pipeline registers (at each layer's output; a synthesis tool may retime them into the logic):",
    ]
    width = max(len(n.name) for n in graph)
    for node in graph:
        inner = d.inner.get(node.name, 0)
        if d.stages[node.name] or inner:
            lines.append(f"  {node.name:<{width}}  {node.op:<12} {d.stages[node.name]} stage(s)"
                         + (f" + {inner} inside the layer" if inner else ""))
    return "\n".join(lines)


# -- support check ------------------------------------------------------------------------------

def check_supported(graph: Graph, prep: dict[str, Plan]) -> None:
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
        raise ConfigError("; ".join(problems))


def dense_problem(node: Node, tx: FixedType, prep: Plan) -> str | None:
    """Why the Verilog backend cannot build this Dense yet (None: it can)."""
    rf = int(node.attrs.get("reuse_factor", 1))
    n_in = len(prep.wm)
    if n_in % rf:
        valid = [r for r in range(1, n_in + 1) if n_in % r == 0]
        return (f"Dense layer {node.name!r}: ReuseFactor {rf} does not divide its {n_in} inputs, which the Verilog "
                f"backend needs (each multiplier takes one input per cycle); valid: {', '.join(map(str, valid))}")
    ta, tw = node.types["accum"], node.types["weight"]
    if prep.shift < 0:
        return (f"Dense layer {node.name!r}: accumulator {ta} rounds every product (accum frac {ta.frac} < input "
                f"frac {tx.frac} + weight frac {tw.frac}), which needs the emulator's sequential per-input casts: "
                f"not supported by the Verilog backend yet; use accum: auto")
    if prep.fast or _never_overflows(prep, tx, ta):
        return None
    exact = Dense().exact_accum(node, tx)
    return (f"Dense layer {node.name!r}: accumulator {ta} is narrower than the exact sum ({exact}) and not WRAP "
            f"(overflow {ta.overflow}), which needs the emulator's sequential per-input casts: not supported by "
            f"the Verilog backend yet; use accum: auto")


def _never_overflows(prep: Plan, tx: FixedType, ta: FixedType) -> bool:
    """Whether the sequential accumulation (bias, then each product in input order) never leaves ``ta``'s range:
    then it equals the exact sum the adder tree computes."""
    lo, hi = dst_bounds(ta)
    wm = [[int(v) for v in row] for row in np.asarray(prep.wm).tolist()]
    scale = 1 << prep.shift
    for j, b in enumerate(int(v) for v in np.asarray(prep.b_acc).tolist()):
        plo = phi = b
        for row in wm:
            w = row[j]
            p1, p2 = w * tx.min_mantissa * scale, w * tx.max_mantissa * scale
            if min(p1, p2) < lo or max(p1, p2) > hi:
                return False
            plo, phi = plo + min(p1, p2, 0), phi + max(p1, p2, 0)
            if plo < lo or phi > hi:
                return False
    return True


# -- lowerings ----------------------------------------------------------------------------------

@dataclass
class In:
    """One input of a layer: its values (in flat C order), type and per-sample shape."""

    vals: list[Val]
    type: FixedType
    shape: tuple[int, ...]


@dataclass
class Ctx:
    ar: Arith
    lib: Library
    prefix: str
    per_stage: int | None = None  # at most this many adders between registers inside the layer (None: no limit)
    multipliers: str = DEFAULT_MULTIPLIERS
    go: str = "in_valid"  # 1-bit expression: the valid bit at this layer's input
    ins: list[In] = field(default_factory=list)  # every input, latency-balanced
    cycles: int = 0  # set by a lowering: registers it placed inside the layer, on every path

    def cast(self, x: Val, src_frac: int, dst: FixedType, hint: str) -> Val:
        return self.lib.cast(self.ar, x, src_frac - dst.frac, dst, f"{self.prefix}_{hint}")

    def name(self, hint: str) -> str:
        return f"{self.prefix}_{hint}"


Lowering = Callable[[Ctx, Node, list[Val], FixedType, dict[str, Any]], list[Val]]
LOWERINGS: dict[str, Lowering] = {}


lowering = registrar(LOWERINGS)


def _ints(a: Any) -> list:
    return np.asarray(a).tolist()


@lowering("dense")
def _dense(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    wm = [[int(v) for v in row] for row in _ints(prep.wm)]
    b_acc = [int(v) for v in _ints(prep.b_acc)]
    shift = prep.shift
    if len(xs) != len(wm):
        raise GraphError(f"{node.describe()}: {len(wm)} weight rows but {len(xs)} inputs")
    rf = int(node.attrs.get("reuse_factor", 1))
    if rf > 1:
        accs = dense_reuse(c.ar, c.prefix, c.go, xs, wm, b_acc, shift, rf)
        c.cycles = rf + 1
        return [_accumulated(c, node, a, j) for j, a in enumerate(accs)]
    multipliers = c.multipliers
    if multipliers not in MULTIPLIERS:
        raise ConfigError(f"multipliers of {node.describe()} must be one of {', '.join(MULTIPLIERS)}, "
                          f"got {multipliers!r}")
    if multipliers == "operator":
        return _dense_operator(c, node, xs, wm, b_acc, shift)
    pipe = Pipeline(c.ar, c.prefix, c.per_stage)
    sums = pipe.matvec(cmvm.plan(wm, share=multipliers == "shared"), [Timed(x) for x in xs])
    accs: list[Timed | None] = []
    for j, t in enumerate(sums):  # + bias, in accumulator units (the sum's LSB is 2**-(accum frac - shift))
        bias = Timed(Val.constant(b_acc[j]))
        accs.append(bias if t is None else pipe.add(replace(t, shift=t.shift + shift), bias) if b_acc[j] else
                    replace(t, shift=t.shift + shift))
    cycle = max(a.cycle for a in accs)
    if c.per_stage is not None and any(a.depth + 1 > c.per_stage for a in accs if a.cycle == cycle):
        cycle += 1  # the cast is one more level of logic
    accs = [pipe.at(a, cycle) for a in accs]
    pipe.finish()
    c.cycles = cycle
    return [_accumulated(c, node, materialize(c.ar, a, c.name(f"o{j}")), j) for j, a in enumerate(accs)]


def _dense_operator(c: Ctx, node: Node, xs: list[Val], wm: list[list[int]], b_acc: list[int],
                    shift: int) -> list[Val]:
    """``x * W`` as Verilog multiplications (the synthesizer maps them to DSPs or LUTs), wrapped modulo the
    accumulator width at the accumulator's LSB."""
    ta = node.types["accum"]
    cap = ta.width - shift
    out = []
    for j in range(len(b_acc)):
        if cap > 0:
            leaves = [c.ar.mul_const(xs[i], wm[i][j], c.name(f"m{i}_{j}")) for i in range(len(wm)) if wm[i][j]]
            tree = adder_tree(c.ar, leaves, c.name(f"o{j}"), cap=cap)
        else:
            tree = Val.constant(0)
        acc = c.ar.shl(tree, shift, c.name(f"o{j}_shl"))
        acc = c.ar.add(acc, Val.constant(b_acc[j]), c.name(f"o{j}_b"), cap=ta.width)
        out.append(_accumulated(c, node, acc, j))
    return out


def _accumulated(c: Ctx, node: Node, acc: Val, j: int) -> Val:
    """Output ``j`` from its accumulator value (exact, or wrapped to the accumulator width like WRAP)."""
    ta, tr = node.types["accum"], node.types["result"]
    if acc.const is not None:  # no nonzero weight: the bias, already an accumulator value
        acc_v = Val.constant((acc.const - ta.min_mantissa) % (1 << ta.width) + ta.min_mantissa)
    else:  # reinterpret the low accum-width bits as the accumulator type (exact, or wrapped like WRAP)
        name = c.ar.m.wire(c.name(f"acc{j}"), ta.width, acc.ext(ta.width))
        lo, hi = (acc.lo, acc.hi) if ta.min_mantissa <= acc.lo and acc.hi <= ta.max_mantissa else (None, None)
        acc_v = Val.of(name, ta.width, ta.signed, lo, hi)
    return c.cast(acc_v, ta.frac, tr, f"y{j}")


@lowering("scale_shift")
def _scale_shift(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    tw, tb, tr = node.types["weight"], node.types["bias"], node.types["result"]
    fp = tx.frac + tw.frac
    f = max(fp, tb.frac)
    out = []
    scale, shift = (_ints(broadcast_flat(c, node.shape)) for c in (prep.sm, prep.bm))
    for i, (x, s, b) in enumerate(zip(xs, scale, shift, strict=True)):
        p = c.ar.shl(c.ar.mul_const(x, int(s), c.name(f"m{i}")), f - fp, c.name(f"m{i}_shl"))
        v = c.ar.add(p, Val.constant(int(b) << (f - tb.frac)), c.name(f"a{i}"))
        out.append(c.cast(v, f, tr, f"y{i}"))
    return out


@lowering("linear")
def _linear(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    tr = node.types["result"]
    return xs if tr == tx else [c.cast(x, tx.frac, tr, f"y{i}") for i, x in enumerate(xs)]


@lowering("flatten", "reshape", "dropout")
def _wiring(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    return xs


@lowering("relu")
def _relu(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    tr = node.types["result"]
    mv = node.attrs.get("max_value")
    cap = int(np.floor(np.ldexp(mv, tx.frac))) if mv is not None else None
    out = []
    for i, x in enumerate(xs):
        y = c.ar.clamp(x, 0, None, c.name(f"r{i}"))
        if cap is not None:
            y = c.ar.clamp(y, None, cap, c.name(f"c{i}"))
        out.append(y if tr == tx else c.cast(y, tx.frac, tr, f"y{i}"))
    return out


def _affine_frac(tx: FixedType, tp: FixedType) -> int:
    return max(tx.frac + tp.frac, tp.frac, tx.frac)


@lowering("leaky_relu")
def _leaky_relu(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    tp, tr = node.types["param"], node.types["result"]
    alpha = int(prep.c[0])
    f = _affine_frac(tx, tp)
    out = []
    for i, x in enumerate(xs):
        neg = c.ar.shl(c.ar.mul_const(x, alpha, c.name(f"m{i}")), f - tx.frac - tp.frac, c.name(f"m{i}_shl"))
        pos = c.ar.shl(x, f - tx.frac, c.name(f"p{i}"))
        y = c.ar.mux(c.ar.ge(x, Val.constant(0)), pos, neg, c.name(f"v{i}"))
        out.append(c.cast(y, f, tr, f"y{i}"))
    return out


@lowering("hard_sigmoid")
def _hard_sigmoid(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    tp, tr = node.types["param"], node.types["result"]
    slope, offset = (int(v) for v in prep.c)
    f = _affine_frac(tx, tp)
    if f < 0:
        raise ConfigError(f"{node.describe()}: input and param types with no fractional bits are not supported")
    out = []
    for i, x in enumerate(xs):
        p = c.ar.shl(c.ar.mul_const(x, slope, c.name(f"m{i}")), f - tx.frac - tp.frac, c.name(f"m{i}_shl"))
        v = c.ar.add(p, Val.constant(offset << (f - tp.frac)), c.name(f"a{i}"))
        v = c.ar.clamp(v, 0, 1 << f, c.name(f"c{i}"))
        out.append(c.cast(v, f, tr, f"y{i}"))
    return out


@lowering("hard_tanh")
def _hard_tanh(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    tr = node.types["result"]
    f = max(tx.frac, 0)
    one = 1 << f
    out = []
    for i, x in enumerate(xs):
        v = c.ar.shl(x, f - tx.frac, c.name(f"x{i}"))
        v = c.ar.clamp(v, -one, one, c.name(f"c{i}"))
        out.append(c.cast(v, f, tr, f"y{i}"))
    return out


def _table_index(c: Ctx, x: Val, shift: int, lo_steps: int, size: int, hint: str) -> Val:
    """``clip(floor(x / 2**shift) - lo_steps, 0, size - 1)`` (see ops.tables.table_index)."""
    v = c.ar.floor_shift(x, shift, c.name(f"{hint}_sh"))
    v = c.ar.sub(v, Val.constant(lo_steps), c.name(f"{hint}_off"))
    return c.ar.clamp(v, 0, size - 1, c.name(f"{hint}_idx"))


@lowering("sigmoid", "tanh", "elu")
def _table(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    tt, tr = node.types["table"], node.types["result"]
    table = np.asarray(prep.table)
    cast_table, _ = requantize(table, tt.frac, tt.width, tr)  # entry i cast to the result, as run_fixed does
    values = [int(v) for v in _ints(cast_table)]
    rom = c.lib.rom_module(f"{c.lib.prefix}_{c.prefix}_rom", values, tr,
                           f"{node.describe()}: {node.op} table ({len(values)} entries of {tt}) cast to {tr}")
    shift = tx.frac + prep.step_log2
    out = []
    for i, x in enumerate(xs):
        idx = _table_index(c, x, shift, prep.lo_steps, prep.size, f"t{i}")
        y = c.lib.rom(c.ar, rom, values, tr, idx, c.name(f"rom{i}"))
        if node.op == "elu":  # x >= 0: x itself (cast); below: the table
            pos = c.cast(x, tx.frac, tr, f"p{i}")
            y = c.ar.mux(c.ar.ge(x, Val.constant(0)), pos, y, c.name(f"y{i}"))
        out.append(y)
    return out


def _low_bits(c: Ctx, v: Val, n: int, hint: str) -> Val:
    """``v & (2**n - 1)`` for ``v >= 0``."""
    if n == 0:
        return Val.constant(0)
    if v.width >= n:
        return v.bits(n - 1, 0)
    return Val.of(c.ar.m.wire(hint, n, v.ext(n)), n, False, max(v.lo, 0), min(v.hi, (1 << n) - 1))


class _Stages:
    """Registers between a layer's steps when it is pipelined inside (``adders_per_stage`` not None), counted:
    ``count`` is the number on each path."""

    def __init__(self, c: Ctx) -> None:
        self.c, self.count = c, 0

    def __call__(self, vals: list[Val], hint: str) -> list[Val]:
        """A register after each of ``vals`` (constants pass through); ``vals`` as they are when not pipelined."""
        c = self.c
        if c.per_stage is None:
            return vals
        self.count += 1
        body, out = [], []
        for i, v in enumerate(vals):
            if v.const is not None:
                out.append(v)
                continue
            reg = c.ar.m.reg(c.name(f"{hint}{i}"), v.width)
            body.append(NonBlocking(reg, v.expr))
            out.append(Val.of(reg, v.width, v.signed, v.lo, v.hi))
        if body:
            c.ar.m.always(body, clock="clk")
        return out


@lowering("softmax")
def _softmax(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    te, ti, tr = node.types["exp_table"], node.types["inv_table"], node.types["result"]
    size = prep.size
    exp_v, fine_v, inv_v = ([int(v) for v in _ints(a)] for a in (prep.exp, prep.fine, prep.inv))
    fine_bits = (len(fine_v) - 1).bit_length()
    base = f"{c.lib.prefix}_{c.prefix}"
    rom_exp = c.lib.rom_module(f"{base}_exp_rom", exp_v, te, f"{node.describe()}: exp(-i * 2^{prep.step_log2})")
    rom_fine = c.lib.rom_module(f"{base}_fine_rom", fine_v, te,
                                f"{node.describe()}: exp(-k * 2^{prep.fine_log2})")
    rom_inv = c.lib.rom_module(f"{base}_inv_rom", inv_v, ti,
                               f"{node.describe()}: 1 / ((i + 0.5) * 2^{prep.inv_step_log2})")
    n = node.shape[-1]
    out: list[Val] = []
    for g in range(len(xs) // n):
        row = xs[g * n:(g + 1) * n]
        h = f"g{g}_" if len(xs) > n else ""
        # registers (pipelined): after each level of the maximum tree (~6.5 ns each on ECP5), two after each
        # ROM (a synthesizer puts large ROMs in block RAM, whose own read register has a slow clock-to-out: 5.6 ns
        # on ECP5), one after the exp products
        stage = _Stages(c)
        level = row
        lvl = 0
        while len(level) > 1:  # maximum tree, a register after each level (with the row, needed later)
            nxt = [c.ar.mux(c.ar.gt(level[i + 1], level[i]), level[i + 1], level[i], c.name(f"{h}max{lvl}_{i // 2}"))
                   for i in range(0, len(level) - 1, 2)]
            level = nxt + ([level[-1]] if len(level) % 2 else [])
            lvl += 1
            staged = stage([*level, *row], f"{h}m{lvl}q")
            level, row = staged[:len(level)], staged[len(level):]
        if lvl == 0:  # one value: still one register
            level = row = stage(row, f"{h}m1q")
        mx = level[0]
        e1s, e2s = [], []
        for j, x in enumerate(row):
            span = max(mx.hi - x.lo, 0)
            # max - x >= 0, exact in span's width (computed modulo 2**width)
            negd = c.ar.wire(c.name(f"{h}d{j}"), 0, span, lambda w, x=x, mx=mx: f"{mx.ext(w)} - {x.ext(w)}")
            jc = c.ar.clamp(c.ar.floor_shift(negd, tx.frac + prep.step_log2, c.name(f"{h}dc{j}")), None, size - 1,
                            c.name(f"{h}jc{j}"))
            kf = _low_bits(c, c.ar.floor_shift(negd, tx.frac + prep.fine_log2, c.name(f"{h}df{j}")), fine_bits,
                           c.name(f"{h}kf{j}"))
            e1s.append(c.lib.rom(c.ar, rom_exp, exp_v, te, jc, c.name(f"{h}exp{j}")))
            e2s.append(c.lib.rom(c.ar, rom_fine, fine_v, te, kf, c.name(f"{h}fine{j}")))
        e12 = stage(stage(e1s + e2s, f"{h}eq"), f"{h}eqq")
        es = [c.cast(c.ar.mul(e1, e2, c.name(f"{h}ep{j}")), 2 * te.frac, te, f"{h}e{j}")
              for j, (e1, e2) in enumerate(zip(e12[:n], e12[n:], strict=True))]
        es = stage(es, f"{h}esq")
        s = adder_tree(c.ar, es, c.name(f"{h}sum"))
        t = c.ar.clamp(c.ar.floor_shift(s, te.frac + prep.inv_step_log2, c.name(f"{h}ssh")), None, size - 1,
                       c.name(f"{h}si"))
        inv, *es = stage(stage([c.lib.rom(c.ar, rom_inv, inv_v, ti, t, c.name(f"{h}inv")), *es], f"{h}iq"), f"{h}iqq")
        for j, e in enumerate(es):
            out.append(c.cast(c.ar.mul(e, inv, c.name(f"{h}p{j}")), te.frac + ti.frac, tr, f"{h}y{j}"))
        c.cycles = stage.count  # the same for every row
    return out


# -- several inputs and index maps ------------------------------------------------------------------

def _aligned(c: Ctx, frac: int) -> list[list[Val]]:
    """Every input's values at ``frac`` fractional bits (``frac`` >= each input's)."""
    return [[c.ar.shl(x, frac - i.type.frac, c.name(f"a{k}_{j}")) for j, x in enumerate(i.vals)]
            for k, i in enumerate(c.ins)]


@lowering("add", "subtract", "average", "multiply", "maximum", "minimum")
def _merge(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    """The exact expression on mantissas (aligned to the inputs' largest fraction; a product's fractions add
    up, an average is the sum read at ``log2(n)`` more fractional bits), then a cast."""
    tr = node.types["result"]
    f = max(i.type.frac for i in c.ins)
    cols = zip(*([i.vals for i in c.ins] if node.op == "multiply" else _aligned(c, f)), strict=True)
    frac = prep.exact.frac if node.op in ("multiply", "average") else f
    out = []
    for j, col in enumerate(cols):
        v = col[0]
        for k, x in enumerate(col[1:], 1):
            h = c.name(f"v{j}_{k}")
            if node.op in ("add", "average"):
                v = c.ar.add(v, x, h)
            elif node.op == "subtract":
                v = c.ar.sub(v, x, h)
            elif node.op == "multiply":
                v = c.ar.mul(v, x, h)
            else:
                v = c.ar.mux(c.ar.gt(x, v) if node.op == "maximum" else c.ar.lt(x, v), x, v, h)
        out.append(c.cast(v, frac, tr, f"y{j}"))
    return out


@lowering("concatenate")
def _concatenate(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    tr = node.types["result"]
    order = concat_order([i.shape for i in c.ins], node.attrs["axis"])
    return [c.ins[k].vals[i] if c.ins[k].type == tr else c.cast(c.ins[k].vals[i], c.ins[k].type.frac, tr, f"y{j}")
            for j, (k, i) in enumerate(order)]


@lowering("transpose")
def _transpose(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    return [xs[i] for i in transpose_order(c.ins[0].shape, node.attrs["perm"])]
