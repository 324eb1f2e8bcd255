"""LSTM, GRU (both ``reset_after`` conventions) and SimpleRNN in the fully pipelined (valid-only) Verilog top: a
sequential datapath, one time step every ``K`` clock cycles (semantics and order of operations:
:mod:`nnfpga.ops.recurrent`).

Layout: the whole sequence (``T`` steps of ``F`` features) arrives as one input vector and is latched when ``go``
(the valid bit at the layer's input) is high; a step counter ``k`` then runs ``0 .. T-1``, ``K`` cycles each. Each
step computes, from the step's input row (a ``T``-way multiplexer over the latched sequence; ``go_backwards``
reads the rows last to first) and the state registers:

- ``zx = Dense(x_t; kernel, bias)`` and ``zh = Dense(h; recurrent_kernel, recurrent_bias)``: the Dense lowering
  itself (:func:`nnfpga.backends.rtl.ops._dense`: shared shift-and-add adder graph by default, the layer's
  ``multipliers`` knob; the accumulator's exact / wrapping / saturating contract);
- the gate activations: the stand-alone activation layers' lowerings (sigmoid / tanh ROMs, hard sigmoid's exact
  clip) on the emulator's probe nodes, so the same tables;
- the exact gate products and sums, and the casts to ``accum`` / ``state`` (the cast library,
  :mod:`~nnfpga.backends.rtl.cast`);

and the step's last cycle stores the new ``h`` (and the LSTM's ``c``) in registers, plus, with
``return_sequences``, the step's output in its place of the output sequence (``flip_output`` reverses the places).
Step 0 reads a zero state (a multiplexer, not a reset), so a new sequence may be latched in the last cycle of the
previous one.

Registers inside the step (the layer's ``adders_per_stage``, AddersPerStage, as in a Dense: default 1): the two
Dense products with their own pipeline registers, and a register after each gate activation, all free-running:
the step's inputs (the latched row, the state) hold still for its ``K`` cycles, so every value is right in the
step's last cycle; ``K`` = 1 + the most registers on a path. With ``adders_per_stage`` None the step is one
cycle of combinational logic (``K`` = 1: the fewest cycles, the longest path).

Folded products (``ReuseFactor`` R for the input product, ``RecurrentReuseFactor`` for the state product, as in
hls4ml): the product is the Dense of :mod:`~nnfpga.backends.rtl.reuse` (``ceil(products / R)`` multipliers, each
used ``R`` times), started in the cycle of the step where its inputs are right (cycle 0 for ``x_t`` and ``h``; after
the reset gate for the GRU's ``r * h``) and done ``R + 1`` cycles later, which lengthens the step accordingly.

Timing: latency ``T*K + 1`` cycles (latch, ``T`` steps), initiation interval ``T*K`` (a new sequence every ``T*K``
cycles); the design's II is the largest of its layers', stated in the Verilog header and the synthesis report. The
output is cast to ``result`` from the registers (combinational, read in the cycle after the last step, like a
Dense with ReuseFactor > 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nnfpga.backends.base import RECURRENT_OPS
from nnfpga.backends.rtl.context import Ctx
from nnfpga.backends.rtl.ops import LOWERINGS, _dense, lowering
from nnfpga.backends.rtl.verilog import Case, If, NonBlocking, Val, literal
from nnfpga.errors import GraphError
from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Node
from nnfpga.ops.recurrent import RecurrentPlan, _dense_probe
from nnfpga.ops.recurrent_arith import Gate


@dataclass
class Fx:
    """A value's mantissa in Verilog and its fractional bits (exact intermediate values carry no type)."""

    v: Val
    f: int
    lat: int = 0  # registers on its path from the step's inputs (all constant during the step)


class Cell:
    """The exact arithmetic of one step, on :class:`Fx` values, building wires in the layer's module."""

    def __init__(self, c: Ctx, node: Node) -> None:
        self.c, self.node = c, node
        self.ta, self.ts = node.types["accum"], node.types["state"]
        self.phases: dict[int, str] = {}  # cycle of the step -> its 1-bit wire (assigned by ``_recurrent``)

    def sub(self, hint: str, per_stage: int | None = None, go: str | None = None) -> Ctx:
        """A context for a nested lowering (a Dense or a gate) of its own prefix."""
        c = self.c
        return Ctx(c.ar, c.lib, c.name(hint), per_stage, c.multipliers, go or c.go, ins=c.ins)

    def phase(self, cycle: int) -> str:
        """A wire high in cycle ``cycle`` of every step (where a folded product latches its inputs)."""
        if cycle not in self.phases:
            self.phases[cycle] = self.c.ar.m.wire(self.c.name(f"at{cycle}"), 1, comment=f"cycle {cycle} of a step")
        return self.phases[cycle]

    def cut(self, xs: list[Fx], hint: str) -> list[Fx]:
        """A free-running register after each of ``xs`` when the layer is pipelined inside (``adders_per_stage``
        not None; else ``xs`` as they are): the step's inputs hold still for its cycles, so any path with fewer
        registers than the step has cycles is right in its last cycle."""
        c = self.c
        if c.per_stage is None:
            return xs
        out, body = [], []
        for i, x in enumerate(xs):
            if x.v.const is not None:
                out.append(x)
                continue
            reg = c.ar.m.reg(c.name(f"{hint}{i}"), x.v.width)
            body.append(NonBlocking(reg, x.v.expr))
            out.append(Fx(Val.of(reg, x.v.width, x.v.signed, x.v.lo, x.v.hi), x.f, x.lat + 1))
        if body:
            c.ar.m.always(body, clock="clk")
        return out

    def mul(self, a: Fx, b: Fx, hint: str) -> Fx:
        return Fx(self.c.ar.mul(a.v, b.v, self.c.name(hint)), a.f + b.f, max(a.lat, b.lat))

    def add(self, a: Fx, b: Fx, hint: str) -> Fx:
        f = max(a.f, b.f)
        ar = self.c.ar
        sa, sb = ar.shl(a.v, f - a.f, self.c.name(hint + "_a")), ar.shl(b.v, f - b.f, self.c.name(hint + "_b"))
        return Fx(ar.add(sa, sb, self.c.name(hint)), f, max(a.lat, b.lat))

    def one_minus(self, z: Fx, hint: str) -> Fx:
        f = max(z.f, 0)
        zs = self.c.ar.shl(z.v, f - z.f, self.c.name(hint + "_z"))
        return Fx(self.c.ar.sub(Val.constant(1 << f), zs, self.c.name(hint)), f, z.lat)

    def cast(self, a: Fx, t: FixedType, hint: str) -> Fx:
        return Fx(self.c.cast(a.v, a.f, t, hint), t.frac, a.lat)

    def acc(self, a: Fx, hint: str) -> Fx:
        return self.cast(a, self.ta, hint)

    def state(self, a: Fx, hint: str) -> Fx:
        return self.cast(a, self.ts, hint)

    def dense(self, plan: object, kernel: str, bias: str, cols: slice, xs: list[Fx], tx: FixedType,
              hint: str) -> list[Fx]:
        """``Dense(xs)`` over the columns ``cols`` of a kernel, each output in the accumulator type. With a reuse
        factor ``R > 1`` (ReuseFactor for the kernel, RecurrentReuseFactor for the recurrent kernel) it is the
        folded Dense of :mod:`~nnfpga.backends.rtl.reuse`, started in the step's cycle where its inputs are right
        and done ``R + 1`` cycles later."""
        w, node = self.node.weights, self.node
        slot = "weight" if kernel == "kernel" else "recurrent_weight"
        probe = _dense_probe(node, w[kernel][:, cols], w[bias][cols], slot)
        rf = int(node.attrs.get("reuse_factor" if kernel == "kernel" else "recurrent_reuse_factor", 1))
        start = max(x.lat for x in xs)
        probe.attrs["reuse_factor"] = rf
        sub = self.sub(hint, self.c.per_stage, self.phase(start) if rf > 1 else None)  # registers as a Dense has
        out = _dense(sub, probe, [x.v for x in xs], tx, plan)
        lat = start + sub.cycles
        return [Fx(v, self.ta.frac, lat) for v in out]

    def gate(self, g: Gate, xs: list[Fx], tx: FixedType, hint: str) -> list[Fx]:
        """The gate activation of ``xs`` (in type ``tx``), in the ``table`` type."""
        out = LOWERINGS[g.probe.op](self.sub(hint), g.probe, [x.v for x in xs], tx, g.plan)
        return self.cut([Fx(v, g.probe.types["result"].frac, x.lat) for v, x in zip(out, xs, strict=True)], hint)


@lowering(*RECURRENT_OPS)
def _recurrent(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: RecurrentPlan) -> list[Val]:
    steps, feats = c.ins[0].shape
    u = int(node.attrs["units"])
    ts, tr = node.types["state"], node.types["result"]
    if len(xs) != steps * feats:
        raise GraphError(f"{node.describe()}: {len(xs)} input values for a sequence of {steps} x {feats}")
    m = c.ar.m
    kw = max((steps - 1).bit_length(), 1)
    k = m.reg(c.name("k"), kw, comment=f"the time step (0 .. {steps - 1})")
    busy = m.reg(c.name("busy"), 1, comment="stepping")
    latch = []
    seq = []
    for i, x in enumerate(xs):
        reg = m.reg(c.name(f"x{i}"), x.width)
        latch.append(NonBlocking(reg, x.expr))
        seq.append(Val.of(reg, x.width, x.signed, x.lo, x.hi))
    m.always([If(c.go, latch)], clock="clk")
    order = list(range(steps))[::-1] if node.attrs.get("go_backwards") else list(range(steps))
    row = []
    for f in range(feats):  # the step's input row
        col = [seq[t * feats + f] for t in order]
        lo, hi = min(v.lo for v in col), max(v.hi for v in col)
        width = max(v.width for v in col)
        signed = any(v.signed for v in col)
        width += signed and not all(v.signed for v in col)
        reg = m.reg(c.name(f"xt{f}"), width, comment=f"feature {f} of the step's input")
        m.always([Case(k, reg, [(literal(s, kw), v.ext(width)) for s, v in enumerate(col)], literal(0, width))])
        row.append(Fx(Val.of(reg, width, signed, lo, hi), tx.frac))

    first = f"({k} == {literal(0, kw)})"
    names = ("h", "c") if node.op == "lstm" else ("h",)
    regs = {n: [m.reg(c.name(f"{n}{j}"), ts.width, comment=f"state {n}[{j}]") for j in range(u)] for n in names}
    cur = {n: [Fx(c.ar.mux(first, Val.constant(0), Val.of(r, ts.width, ts.signed), c.name(f"{n}in{j}")), ts.frac)
               for j, r in enumerate(units)] for n, units in regs.items()}  # step 0 reads a zero state

    cell = Cell(c, node)
    zx = cell.dense(prep.x, "kernel", "bias", slice(None), row, tx, "zx")
    new = STEPS[node.op](cell, node, prep, zx, cur, u)

    per_step = max(v.lat for vs in new.values() for v in vs) + 1  # cycles of one step
    last, at = _counters(c, k, kw, busy, steps, per_step)
    for cycle, wire in cell.phases.items():
        m.assign(wire, at(cycle))
    body = []
    for name, units in regs.items():
        body += [NonBlocking(r, v.v.ext(ts.width)) for r, v in zip(units, new[name], strict=True)]
    outs: list[Val] = []
    if node.attrs.get("return_sequences"):
        flip = bool(node.attrs.get("flip_output"))
        for p in range(steps):  # place p of the output sequence: written in step p (flip: steps - 1 - p)
            s = steps - 1 - p if flip else p
            ys = [m.reg(c.name(f"y{p}_{j}"), ts.width) for j in range(u)]
            body.append(If(f"{k} == {literal(s, kw)}",
                           [NonBlocking(y, v.v.ext(ts.width)) for y, v in zip(ys, new["h"], strict=True)]))
            outs += [Val.of(y, ts.width, ts.signed) for y in ys]
    else:
        outs = [Val.of(r, ts.width, ts.signed) for r in regs["h"]]
    m.always([If(last, body)], clock="clk")
    c.cycles = steps * per_step + 1
    return [c.cast(v, ts.frac, tr, f"o{i}") for i, v in enumerate(outs)]


def _counters(c: Ctx, k: str, kw: int, busy: str, steps: int,
              per_step: int) -> tuple[str, Callable[[int], str]]:
    """The step counter ``k`` and, for steps of several cycles, the cycle within the step; returns the condition
    of a step's last cycle (where the state registers take the new state) and the condition of a given cycle of
    every step."""
    m = c.ar.m
    done = f"{k} == {literal(steps - 1, kw)}"
    if per_step == 1:
        last = busy
        start = [NonBlocking(k, literal(0, kw))]
        at = lambda cycle: busy  # noqa: E731
    else:
        pw = max((per_step - 1).bit_length(), 1)
        ph = m.reg(c.name("ph"), pw, comment=f"the cycle within the step (0 .. {per_step - 1})")
        last = m.wire(c.name("last"), 1, f"{busy} && {ph} == {literal(per_step - 1, pw)}")
        start = [NonBlocking(k, literal(0, kw))]  # ph: its own block (one driver per register)
        m.always([If(c.go, [NonBlocking(ph, literal(0, pw))], [
            If(busy, [NonBlocking(ph, f"{last} ? {literal(0, pw)} : {ph} + {literal(1, pw)}")])])], clock="clk")
        at = lambda cycle: f"{busy} && {ph} == {literal(cycle, pw)}"  # noqa: E731
    m.always([If("rst", [NonBlocking(busy, "1'b0")], [
        If(c.go, [NonBlocking(busy, "1'b1"), *start], [
            If(last, [If(done, [NonBlocking(busy, "1'b0")]), NonBlocking(k, f"{k} + {literal(1, kw)}")])])])],
        clock="clk")
    return last, at


def _cols(v: list[Fx], g: int, u: int) -> list[Fx]:
    return v[g * u:(g + 1) * u]


def _simple_rnn(cell: Cell, node: Node, prep: RecurrentPlan, zx: list[Fx], cur: dict[str, list[Fx]],
                u: int) -> dict[str, list[Fx]]:
    zh = cell.dense(prep.h, "recurrent_kernel", "recurrent_bias", slice(None), cur["h"], cell.ts, "zh")
    z = [cell.acc(cell.add(a, b, f"s{j}"), f"z{j}") for j, (a, b) in enumerate(zip(zx, zh, strict=True))]
    a = cell.gate(prep.act, z, cell.ta, "act")
    return {"h": [cell.state(v, f"hn{j}") for j, v in enumerate(a)]}


def _lstm(cell: Cell, node: Node, prep: RecurrentPlan, zx: list[Fx], cur: dict[str, list[Fx]],
          u: int) -> dict[str, list[Fx]]:
    assert prep.rec is not None
    zh = cell.dense(prep.h, "recurrent_kernel", "recurrent_bias", slice(None), cur["h"], cell.ts, "zh")
    z = [cell.acc(cell.add(a, b, f"s{j}"), f"z{j}") for j, (a, b) in enumerate(zip(zx, zh, strict=True))]
    i = cell.gate(prep.rec, _cols(z, 0, u), cell.ta, "gi")
    f = cell.gate(prep.rec, _cols(z, 1, u), cell.ta, "gf")
    g = cell.gate(prep.act, _cols(z, 2, u), cell.ta, "gg")
    o = cell.gate(prep.rec, _cols(z, 3, u), cell.ta, "go")
    cs = [cell.state(cell.add(cell.mul(f[j], cur["c"][j], f"fc{j}"), cell.mul(i[j], g[j], f"ig{j}"), f"cs{j}"),
                     f"cn{j}") for j in range(u)]
    ac = cell.gate(prep.act, cs, cell.ts, "gc")
    hs = [cell.state(cell.mul(o[j], ac[j], f"oa{j}"), f"hn{j}") for j in range(u)]
    return {"h": hs, "c": cs}


def _gru(cell: Cell, node: Node, prep: RecurrentPlan, zx: list[Fx], cur: dict[str, list[Fx]],
         u: int) -> dict[str, list[Fx]]:
    assert prep.rec is not None
    after = prep.hc is None
    h = cur["h"]
    zh = cell.dense(prep.h, "recurrent_kernel", "recurrent_bias", slice(None) if after else slice(0, 2 * u), h,
                    cell.ts, "zh")
    zs = [cell.acc(cell.add(zx[j], zh[j], f"sz{j}"), f"az{j}") for j in range(u)]
    rs = [cell.acc(cell.add(zx[u + j], zh[u + j], f"sr{j}"), f"ar{j}") for j in range(u)]
    z = cell.gate(prep.rec, zs, cell.ta, "gz")
    r = cell.gate(prep.rec, rs, cell.ta, "gr")
    if after:  # r scales the state's product
        hh = [cell.acc(cell.mul(r[j], zh[2 * u + j], f"rz{j}"), f"hh{j}") for j in range(u)]
    else:  # the state is scaled, then multiplied
        rh = [cell.state(cell.mul(r[j], h[j], f"rh{j}"), f"rhq{j}") for j in range(u)]
        hh = cell.dense(prep.hc, "recurrent_kernel", "recurrent_bias", slice(2 * u, None), rh, cell.ts, "zc")
    ns = [cell.acc(cell.add(zx[2 * u + j], hh[j], f"sn{j}"), f"an{j}") for j in range(u)]
    n = cell.gate(prep.act, ns, cell.ta, "gn")
    hs = [cell.state(cell.add(cell.mul(z[j], h[j], f"zh{j}"), cell.mul(cell.one_minus(z[j], f"omz{j}"), n[j],
                                                                      f"zn{j}"), f"hs{j}"), f"hn{j}")
          for j in range(u)]
    return {"h": hs}


STEPS = {"simple_rnn": _simple_rnn, "lstm": _lstm, "gru": _gru}

__all__ = ["STEPS", "Cell"]
