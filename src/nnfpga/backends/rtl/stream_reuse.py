"""ReuseFactor ``R > 1`` in the streaming Verilog top (issue 14): conv kernels (one window per beat, or a pixel for
a pointwise conv) and Dense after a Flatten with time-multiplexed multipliers, one beat every ``R`` cycles.

The kernel is the MLP backend's folded Dense (:mod:`~nnfpga.backends.rtl.reuse`) per conv group: each of its
``K*C_in*C_out / R`` multipliers (a Verilog ``*`` of a multiplexed input and an ``R``-entry weight ROM: a DSP)
serves ``R`` inputs, the products summed per cycle into an exact accumulator started at the bias, then cast like
the fully parallel layer (the emulator's order; bit-exact). A ReuseFactor dividing a group's inputs
(``K*C_in/groups``; a Dense's input count) shares an input multiplexer per slot across outputs; any other R that
the config accepts (dividing the products) deals the products to ``ceil(nonzero products / R)`` multipliers
without that sharing (:func:`dense_fold`). Refused (:func:`reuse_problem`): an accumulator that may saturate a
partial sum.

Handshake (:func:`reuse_handshake`): the kernel takes a beat (``go``) when it is idle or in the last of its ``R``
cycles, and its output register is free; the beat's values are latched, ``R`` cycles accumulate, and the result
is offered (``done``) in the cycle after. Every register of the kernel advances only while ``en`` (the output is
free or taken): a stalled sink freezes the computation under way, nothing is lost. ``in_ready`` is low while the
kernel is busy, so the window generator (its output and skid registers) and then the stream above it wait: one
beat every ``R`` cycles, about ``R`` x the windows of an image per image.

Stated timing: the kernel is the "reuse" element of the cycle-by-cycle model (:mod:`~nnfpga.backends.rtl.timing`),
behind its window generator or the stream it reads, so a design states II and latency with reuse layers anywhere.
"""

from __future__ import annotations

from collections.abc import Callable

from nnfpga.backends.rtl.adder_graph import adder_tree
from nnfpga.backends.rtl.verilog import Always, Arith, Case, If, Module, NonBlocking, Val, literal, range_width
from nnfpga.ir.graph import Graph, Node
from nnfpga.ops import OPS

__all__ = ["dense_fold", "reuse_factor", "reuse_handshake", "reuse_problem"]


def reuse_factor(node: Node) -> int:
    """The node's ReuseFactor (1 for ops it does not apply to)."""
    return int(node.attrs.get("reuse_factor", 1)) if node.op in ("conv", "dense") else 1


def reuse_problem(graph: Graph, node: Node) -> str | None:
    """Why the streaming top cannot build ``node`` at its ReuseFactor (None: it can, or R is 1). Every R the
    config accepts folds (:func:`dense_fold` where R does not divide a group's inputs); an accumulator that may
    saturate a partial sum needs the products in input order, which the folded kernel does not keep."""
    if reuse_factor(node) == 1:
        return None
    from nnfpga.backends.rtl.accumulate import reuse_problem as accum_problem

    tx = graph[node.inputs[0]].types["result"]
    plan = OPS[node.op].prepare(node, [tx])
    for gp in getattr(plan, "groups", None) or [plan]:
        msg = accum_problem(node, tx, gp)
        if msg:
            return f"{node.describe()}: {msg}"
    return None


def dense_fold(ar: Arith, prefix: str, go: str, xs: list[Val], wm: list[list[int]], b_acc: list[int], shift: int,
               rf: int, cast: Callable[[Val, str], Val] | None = None) -> list[Val]:
    """:func:`nnfpga.backends.rtl.reuse.dense_reuse` for a ReuseFactor that does not divide the inputs (its
    timeline and accumulator; ``rf`` divides the products). The nonzero products, output by output and input by
    input, are dealt ``rf`` at a time to ``ceil(nonzero / rf)`` multipliers, each with its own input
    multiplexer and weight ROM; a multiplier whose products belong to several outputs adds into each only in
    that output's cycles (its product gated to 0 in the others)."""
    m = ar.m
    kw = max((rf - 1).bit_length(), 1)
    k, busy = m.reg(f"{prefix}_k", kw, comment=f"which of the {rf} cycles"), m.reg(f"{prefix}_busy", 1)
    m.always([If("rst", [NonBlocking(busy, "1'b0")], [
        If(go, [NonBlocking(busy, "1'b1"), NonBlocking(k, literal(0, kw))], [
            If(busy, [If(f"{k} == {literal(rf - 1, kw)}", [NonBlocking(busy, "1'b0")]),
                      NonBlocking(k, f"{k} + {literal(1, kw)}")])])])], clock="clk")
    latched = []
    for i, x in enumerate(xs):
        reg = m.reg(f"{prefix}_x{i}", x.width)
        latched.append((reg, Val.of(reg, x.width, x.signed, x.lo, x.hi), x))
    m.always([If(go, [NonBlocking(reg, x.expr) for reg, _, x in latched])], clock="clk")
    pairs = [(i, j) for j in range(len(b_acc)) for i in range(len(wm)) if wm[i][j]]
    terms: list[list[Val]] = [[] for _ in b_acc]
    for g in range(-(-len(pairs) // rf)):
        sched = pairs[g * rf:(g + 1) * rf]
        vals = [latched[i][1] for i, _ in sched]
        lo, hi = min([*(v.lo for v in vals), 0]), max([*(v.hi for v in vals), 0])
        width, signed = range_width(lo, hi)
        sel = m.reg(f"{prefix}_fsel{g}", width, comment="inputs " + ", ".join(str(i) for i, _ in sched))
        m.always([Case(k, sel, [(literal(t, kw), v.ext(width)) for t, v in enumerate(vals)], literal(0, width))])
        ws = [wm[i][j] for i, j in sched]
        wlo, whi = min([*ws, 0]), max([*ws, 0])
        ww, wsigned = range_width(wlo, whi)
        wreg = m.reg(f"{prefix}_fw{g}", ww)
        m.always([Case(k, wreg, [(literal(t, kw), literal(w, ww)) for t, w in enumerate(ws)], literal(0, ww))])
        prod = ar.mul(Val.of(sel, width, signed, lo, hi), Val.of(wreg, ww, wsigned, wlo, whi), f"{prefix}_fp{g}")
        prod = cast(prod, f"fq{g}") if cast is not None else prod
        outs = sorted({j for _, j in sched})
        for j in outs:
            if len(outs) == 1:
                terms[j].append(prod)
                continue
            when = " || ".join(f"{k} == {literal(t, kw)}" for t, (_, jj) in enumerate(sched) if jj == j)
            terms[j].append(ar.mux(f"({when})", prod, Val.constant(0), f"{prefix}_fg{g}_{j}"))
    out = []
    for j, b in enumerate(b_acc):
        step = ar.shl(adder_tree(ar, terms[j], f"{prefix}_ft{j}"), shift, f"{prefix}_ft{j}_shl")
        lo, hi = b + rf * min(step.lo, 0), b + rf * max(step.hi, 0)
        width, signed = range_width(min(lo, b), max(hi, b))
        acc = m.reg(f"{prefix}_acc{j}", width, comment=f"output {j}: bias, then + the products of each cycle")
        start = f"({k} == {literal(0, kw)} ? {literal(b, width)} : {acc})"
        m.always([If(busy, [NonBlocking(acc, f"{start} + {step.ext(width)}" if step.const != 0 else start)])],
                 clock="clk")
        out.append(Val.of(acc, width, signed, lo, hi))
    return out


def reuse_handshake(top: Module, pre: str, en: str, go: str, first: int, rf: int, valid: str,
                    ready: str) -> tuple[str, str]:
    """Tie the kernel a lowering placed (clocked blocks from ``top.items[first]`` on, started by ``go``) to the
    stream: declares ``go`` (a beat taken) and ``en`` (the kernel's registers advance), drives the input ``ready``;
    returns the output (valid, ready). See the module docstring."""
    for item in top.items[first:]:
        if isinstance(item, Always) and item.clock:
            item.body = [If(en, item.body)]
    kw = max((rf - 1).bit_length(), 1)
    busy, k = top.reg(f"{pre}_busy", 1), top.reg(f"{pre}_k", kw)
    done, out_ready = top.reg(f"{pre}_done", 1), top.wire(f"{pre}_oready", 1)
    last = f"{k} == {literal(rf - 1, kw)}"
    top.comment(f"ReuseFactor {rf}: one beat every {rf} cycles; the result is offered in the cycle after the last")
    top.always([If("rst", [NonBlocking(busy, "1'b0"), NonBlocking(done, "1'b0"), NonBlocking(k, literal(0, kw))], [
        If(en, [NonBlocking(done, f"{busy} && {last}"),
                If(go, [NonBlocking(busy, "1'b1"), NonBlocking(k, literal(0, kw))], [
                    If(busy, [If(last, [NonBlocking(busy, "1'b0")]), NonBlocking(k, f"{k} + {literal(1, kw)}")])])])])],
               clock="clk")
    top.assign(en, f"!{done} || {out_ready}")
    top.assign(ready, f"{en} && (!{busy} || {last})")
    top.assign(go, f"({valid}) && {ready}")
    return done, out_ready
