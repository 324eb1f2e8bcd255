"""Dense layers with ReuseFactor ``R > 1``: each multiplier is used ``R`` times, one input vector every ``R`` cycles.

Layout (``R`` divides the number of inputs ``n``): a multiplier takes, in cycle ``k`` of the ``R``, one input
(from an ``R``-way multiplexer) times that input's weight (from an ``R``-entry ROM); per output an adder tree
sums its multipliers' products into an accumulator register. Which inputs a multiplier takes (:func:`plan`):

- *slot* ``s`` (inputs ``s*R .. s*R + R-1``, input ``s*R + k`` in cycle ``k``): one multiplexer per slot,
  shared by every output; an output has a multiplier per slot in which it has a nonzero weight. A dense
  layer is all slots.
- *packed*: the nonzero weights of an output that lie in slots it does not fill, ``R`` per multiplier in
  input order, each multiplier with a multiplexer of its own (shared by outputs whose packed inputs are
  the same). An output is packed when that takes fewer multipliers than its partly filled slots would, so a
  pruned layer costs about ``nonzero weights / R`` multipliers: zero weights cost nothing.

Timeline, from the cycle ``go`` (the valid bit at the layer's input) is high: the inputs are latched; in the
next ``R`` cycles ``k = 0..R-1`` the accumulator takes ``bias + sum`` (k = 0), then ``acc + sum``; in the cycle
after, it holds the exact sum, which is reinterpreted in the accumulator type and cast like the fully parallel
layer. Latency ``R + 1`` cycles, initiation interval ``R``: a new vector may arrive while the last products of
the previous one are summed (its inputs are latched at the end of that cycle). The accumulator is exact, so
the order in which products arrive does not change the sum. A narrower accumulator (fewer fractional bits than
the products, wrapping or never overflowing) gets each product cast to it before the adder tree
(:mod:`~nnfpga.backends.rtl.accumulate`); the sum is then taken modulo ``2**W``, still in any order.
"""

from __future__ import annotations

from collections.abc import Callable

from nnfpga.backends.rtl.adder_graph import adder_tree
from nnfpga.backends.rtl.verilog import Arith, Case, If, NonBlocking, Val, literal, range_width

Schedule = tuple[int | None, ...]  # per cycle k: the input a multiplier takes (None: none, its weight is 0)


def reuse_slots(n_in: int, rf: int) -> int:
    return n_in // rf


def plan(wm: list[list[int]], rf: int) -> list[list[Schedule]]:
    """Per output: the schedule of each of its multipliers (see the module docstring)."""
    n_in, n_out = len(wm), len(wm[0]) if wm else 0
    out = []
    for j in range(n_out):
        full, partial = [], []
        for s in range(reuse_slots(n_in, rf)):
            nz = [s * rf + t for t in range(rf) if wm[s * rf + t][j]]
            if len(nz) == rf:
                full.append(tuple(nz))
            elif nz:
                partial.append((s, nz))
        loose = [i for _, nz in partial for i in nz]
        n_packed = -(-len(loose) // rf)
        if n_packed < len(partial):
            packed = [tuple(loose[g:g + rf]) + (None,) * (rf - len(loose[g:g + rf])) for g in range(0, len(loose), rf)]
        else:
            packed = [tuple(s * rf + t if wm[s * rf + t][j] else None for t in range(rf)) for s, _ in partial]
        out.append(full + packed)
    return out


def _slot_of(sched: Schedule, rf: int) -> int | None:
    """The slot whose shared multiplexer serves ``sched`` (None: it needs one of its own)."""
    first = next(i for i in sched if i is not None)
    s = first // rf
    return s if all(i is None or i == s * rf + t for t, i in enumerate(sched)) else None


def dense_reuse(ar: Arith, prefix: str, go: str, xs: list[Val], wm: list[list[int]], b_acc: list[int],
                shift: int, rf: int, cast: Callable[[Val, str], Val] | None = None) -> list[Val]:
    """Accumulator values (accumulator units: ``sum * 2**shift + bias``), valid ``rf + 1`` cycles after ``go``.
    ``cast``: each product cast to the accumulator on its own before the adder tree (then ``shift`` is 0)."""
    if len(xs) % rf:  # the streaming top's ReuseFactors that do not divide the inputs
        from nnfpga.backends.rtl.stream_reuse import dense_fold

        return dense_fold(ar, prefix, go, xs, wm, b_acc, shift, rf, cast)
    m = ar.m
    kw = max((rf - 1).bit_length(), 1)
    k = m.reg(f"{prefix}_k", kw, comment=f"which of the {rf} cycles")
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

    muxes: dict[Schedule, Val] = {}  # one multiplexer per distinct schedule

    def mux(sched: Schedule) -> Val:
        slot = _slot_of(sched, rf)
        key = tuple(slot * rf + t for t in range(rf)) if slot is not None else sched
        if key not in muxes:
            group = [(t, latched[i]) for t, i in enumerate(key) if i is not None]
            idle = len(group) < rf
            lo = min([v.lo for _, v in group] + [0] * idle)
            hi = max([v.hi for _, v in group] + [0] * idle)
            width, signed = range_width(lo, hi)
            name = f"{prefix}_sel{slot}" if slot is not None else f"{prefix}_pk{len(muxes)}"
            reg = m.reg(name, width, comment="" if slot is not None else
                        "inputs " + ", ".join("-" if i is None else str(i) for i in key))
            m.always([Case(k, reg, [(literal(t, kw), v.ext(width)) for t, v in group], literal(0, width))])
            muxes[key] = Val.of(reg, width, signed, lo, hi)
        return muxes[key]

    out = []
    for j, scheds in enumerate(plan(wm, rf)):
        prods = []
        for g, sched in enumerate(scheds):
            ws = [0 if i is None else wm[i][j] for i in sched]
            wlo, whi = min(ws), max(ws)
            width, signed = range_width(wlo, whi)
            wreg = m.reg(f"{prefix}_w{g}_{j}", width)
            m.always([Case(k, wreg, [(literal(t, kw), literal(w, width)) for t, w in enumerate(ws)],
                           literal(0, width))])
            prod = ar.mul(mux(sched), Val.of(wreg, width, signed, wlo, whi), f"{prefix}_p{g}_{j}")
            prods.append(cast(prod, f"pq{g}_{j}") if cast is not None else prod)
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


__all__ = ["dense_reuse", "plan", "reuse_slots"]
