"""Dense layers with ReuseFactor ``R > 1``: each multiplier is used ``R`` times, one input vector every ``R`` cycles.

Layout (``R`` divides the number of inputs ``n``): input ``i = s*R + k`` is handled in cycle ``k`` of the ``R``
by slot ``s`` (``n / R`` slots). Per slot one multiplexer picks ``x[s*R + k]``; per slot and output one
multiplier takes that input times its weight ``W[s*R + k][j]`` from an ``R``-entry ROM (slots whose weights are
all zero are left out); per output an adder tree sums the slot products into an accumulator register.

Timeline, from the cycle ``go`` (the valid bit at the layer's input) is high: the inputs are latched; in the
next ``R`` cycles ``k = 0..R-1`` the accumulator takes ``bias + sum`` (k = 0), then ``acc + sum``; in the cycle
after, it holds the exact sum, which is reinterpreted in the accumulator type and cast like the fully parallel
layer. Latency ``R + 1`` cycles, initiation interval ``R``: a new vector may arrive while the last products of
the previous one are summed (its inputs are latched at the end of that cycle).
"""

from __future__ import annotations

from nnfpga.backends.rtl.adder_graph import adder_tree
from nnfpga.backends.rtl.verilog import Arith, Case, If, NonBlocking, Val, literal, range_width


def reuse_slots(n_in: int, rf: int) -> int:
    return n_in // rf


def dense_reuse(ar: Arith, prefix: str, go: str, xs: list[Val], wm: list[list[int]], b_acc: list[int],
                shift: int, rf: int) -> list[Val]:
    """Accumulator values (accumulator units: ``sum * 2**shift + bias``), valid ``rf + 1`` cycles after ``go``."""
    m = ar.m
    n_in, n_out = len(wm), len(b_acc)
    slots = reuse_slots(n_in, rf)
    kw = max((rf - 1).bit_length(), 1)
    k = m.reg(f"{prefix}_k", kw, comment=f"which of the {rf} cycles (inputs k, R+k, 2R+k...)")
    busy = m.reg(f"{prefix}_busy", 1, comment="accumulating")
    m.always([If("rst", [NonBlocking(busy, "1'b0")], [
        If(go, [NonBlocking(busy, "1'b1"), NonBlocking(k, literal(0, kw))], [
            If(busy, [If(f"{k} == {literal(rf - 1, kw)}", [NonBlocking(busy, "1'b0")]),
                      NonBlocking(k, f"{k} + {literal(1, kw)}")])])])], clock="clk")
    latched = []
    body = []
    for i, x in enumerate(xs):
        reg = m.reg(f"{prefix}_x{i}", x.width)
        body.append(NonBlocking(reg, x.expr))
        latched.append(Val.of(reg, x.width, x.signed, x.lo, x.hi))
    m.always([If(go, body)], clock="clk")

    sel = []  # per slot: the input of this cycle
    for s in range(slots):
        group = latched[s * rf:(s + 1) * rf]
        lo, hi = min(v.lo for v in group), max(v.hi for v in group)
        width, signed = range_width(lo, hi)
        reg = m.reg(f"{prefix}_sel{s}", width)
        m.always([Case(k, reg, [(literal(t, kw), v.ext(width)) for t, v in enumerate(group)],
                       literal(0, width))])
        sel.append(Val.of(reg, width, signed, lo, hi))

    out = []
    for j in range(n_out):
        prods = []
        for s in range(slots):
            ws = [wm[s * rf + t][j] for t in range(rf)]
            if not any(ws):
                continue
            wlo, whi = min(ws), max(ws)
            width, signed = range_width(wlo, whi)
            wreg = m.reg(f"{prefix}_w{s}_{j}", width)
            m.always([Case(k, wreg, [(literal(t, kw), literal(w, width)) for t, w in enumerate(ws)],
                           literal(0, width))])
            prods.append(ar.mul(sel[s], Val.of(wreg, width, signed, wlo, whi), f"{prefix}_p{s}_{j}"))
        total = adder_tree(ar, prods, f"{prefix}_t{j}")
        step = ar.shl(total, shift, f"{prefix}_t{j}_shl")
        lo = b_acc[j] + rf * min(step.lo, 0)
        hi = b_acc[j] + rf * max(step.hi, 0)
        width, signed = range_width(min(lo, b_acc[j]), max(hi, b_acc[j]))
        acc = m.reg(f"{prefix}_acc{j}", width, comment=f"output {j}: bias, then + the products of each cycle")
        first = f"{k} == {literal(0, kw)}"
        prev = Val.of(acc, width, signed)
        start = f"({first} ? {literal(b_acc[j], width)} : {acc})"
        m.always([If(busy, [NonBlocking(acc, f"{start} + {step.ext(width)}" if step.const != 0 else start)])],
                 clock="clk")
        out.append(Val.of(prev.base, width, signed, lo, hi))
    return out


__all__ = ["dense_reuse", "reuse_slots"]
