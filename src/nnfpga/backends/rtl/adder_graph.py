"""Emit a :class:`~nnfpga.backends.rtl.cmvm.Plan` as Verilog adders, with pipeline registers placed by depth.

Values travel as :class:`Timed`: a :class:`Val` scaled by ``2**shift`` and maybe negated, available in clock
cycle ``cycle`` after ``depth`` adders of combinational logic. Adding two of them:

- aligns their shifts without widening the adder: ``H*2**s + L == (H + (L >> s)) * 2**s + (L mod 2**s)``, so
  the low ``s`` bits of ``L`` pass through as wires and only the high part goes through an adder;
- folds the signs into add/subtract, so a negated operand costs nothing extra;
- with ``per_stage`` set, never puts more than ``per_stage`` adders between two registers: an operand from an
  earlier cycle comes through a delay register (shared by every reader), and when the new adder would be
  too deep both operands are registered first;
- with a ``budget`` (ns, timing-driven: :mod:`~nnfpga.backends.rtl.delay`) instead, both operands are registered
  first when the new adder's top bit would settle later than the budget (the values carry their settling times).

All arithmetic is exact (widths from the value ranges), so the sum equals ``x @ w`` whatever the shape of the
tree and wherever the registers go.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass

from nnfpga.backends.rtl.cmvm import Plan
from nnfpga.backends.rtl.verilog import Always, Arith, NonBlocking, Val, range_width


@dataclass(frozen=True)
class Timed:
    val: Val
    shift: int = 0
    neg: bool = False
    cycle: int = 0
    depth: int = 0

    @property
    def lo(self) -> int:
        return -(self.val.hi << self.shift) if self.neg else self.val.lo << self.shift

    @property
    def hi(self) -> int:
        return -(self.val.lo << self.shift) if self.neg else self.val.hi << self.shift


class Pipeline:
    """Registers and adders of one layer. Call :meth:`finish` once to emit its register block."""

    def __init__(self, ar: Arith, prefix: str, per_stage: int | None, budget: float | None = None,
                 fanout: int | None = None) -> None:
        self.ar = ar
        self.prefix = prefix
        self.per_stage = per_stage
        self.budget = budget if ar.model is not None else None
        self.fanout = fanout if self.budget is not None else None
        self.body: list[NonBlocking] = []
        self._delayed: dict[tuple[str, int, int, int], Val] = {}
        self._n = 0

    def _hint(self, what: str) -> str:
        self._n += 1
        return f"{self.prefix}_{what}{self._n}"

    # -- registers -------------------------------------------------------------------------------
    def at(self, t: Timed, cycle: int) -> Timed:
        """``t`` as available in ``cycle`` (>= its own): through delay registers, depth 0."""
        if cycle == t.cycle:
            return t
        v = t.val
        if v.const is not None:
            return Timed(v, t.shift, t.neg, cycle)
        prev = v
        for c in range(t.cycle + 1, cycle + 1):
            k = (v.base, v.lsb, v.width, c)
            if k not in self._delayed:
                reg = self.ar.m.reg(self._hint("q"), prev.width)
                self.body.append(NonBlocking(reg, prev.expr))
                self._delayed[k] = Val.of(reg, prev.width, v.signed, v.lo, v.hi)
            prev = self._delayed[k]
        return Timed(prev, t.shift, t.neg, cycle)

    def finish(self) -> None:
        if self.body:
            self.ar.m.items.append(Always(self.body, clock="clk"))
            self.body = []

    # -- adders ----------------------------------------------------------------------------------
    def add(self, a: Timed, b: Timed) -> Timed:
        cycle = max(a.cycle, b.cycle)
        a, b = self.at(a, cycle), self.at(b, cycle)
        depth = max(a.depth, b.depth) + 1
        if self.budget is not None:
            if self._settles(a, b) > self.budget and (a.val.top > 0 or b.val.top > 0):
                cycle += 1
                a, b = self.at(a, cycle), self.at(b, cycle)
            depth = 0
        elif self.per_stage is not None and depth > self.per_stage:
            cycle += 1
            a, b, depth = self.at(a, cycle), self.at(b, cycle), 1
        return _add(self.ar, a, b, self._hint("a"), cycle, depth)

    def _settles(self, a: Timed, b: Timed) -> float:
        """When the top bit of ``a + b`` would settle (the adder at its full width: an upper bound)."""
        m = min(a.shift, b.shift)
        width, _ = range_width((a.lo + b.lo) >> m, (a.hi + b.hi) >> m)
        assert self.ar.model is not None
        return self.ar.model.add((a.val, b.val), width)[1]

    def key(self, t: Timed) -> tuple[int, float]:
        """Order of readiness: cycle, then adders since the last register (or settling time, timing-driven)."""
        return (t.cycle, t.val.top if self.budget is not None else t.depth)

    def sum(self, items: list[Timed]) -> Timed | None:
        """Sum with the shallowest operands first (a Huffman tree on (cycle, depth)): the least latency."""
        if not items:
            return None
        heap = [(self.key(t), i, t) for i, t in enumerate(items)]
        heapq.heapify(heap)
        n = len(heap)
        while len(heap) > 1:
            _, _, a = heapq.heappop(heap)
            _, _, b = heapq.heappop(heap)
            s = self.add(a, b)
            heapq.heappush(heap, (self.key(s), n, s))
            n += 1
        return heap[0][2]

    def close(self, accs: list[Timed], build: Callable[[list[Timed]], list[Val]]) -> tuple[list[Val], int]:
        """The layer's end: ``build`` (its output casts) on ``accs`` brought to one cycle, registered first when
        the casts would pass the stage (one adder level too many, or settling later than the budget). Emits the
        layer's registers. Returns ``build``'s values and the cycle they are in."""
        cycle = max(a.cycle for a in accs)
        if self.budget is None:
            if self.per_stage is not None and any(a.depth + 1 > self.per_stage for a in accs if a.cycle == cycle):
                cycle += 1  # the cast is one more level of logic
            accs = [self.at(a, cycle) for a in accs]
            self.finish()
            return build(accs), cycle
        aligned = [self.at(a, cycle) for a in accs]
        mark = self.ar.mark()
        out = build(aligned)
        if self.ar.slowest_since(mark) > self.budget and any(a.val.top > 0 for a in aligned):
            self.ar.rollback(mark)
            cycle += 1
            out = build([self.at(a, cycle) for a in accs])
        else:
            self.ar.release(mark)
        self.finish()
        return out, cycle

    def align(self, items: list[Timed]) -> list[Timed]:
        cycle = max(t.cycle for t in items)
        return [self.at(t, cycle) for t in items]

    # -- constant matrix products ----------------------------------------------------------------
    def matvec(self, plan: Plan, xs: list[Timed]) -> list[Timed | None]:
        """Each output of ``plan`` on inputs ``xs`` (None where an output has no term). With a ``fanout`` limit,
        each input is read through register copies (:meth:`copies`)."""
        fan = self.fanout
        readers = [0] * len(xs)
        for src in [x for s in plan.subs for x in (s.a, s.b)] + [t.src for terms in plan.outputs for t in terms]:
            if src < len(xs):
                readers[src] += 1
        copies = [self.copies(x, r, fan) if fan else [x] for x, r in zip(xs, readers, strict=True)]
        read = [0] * len(xs)

        def op(src: int) -> Timed:  # operand ``src``, through the next copy of an input
            if src >= len(xs):
                return ops[src]
            read[src] += 1
            return copies[src][(read[src] - 1) // fan] if fan else xs[src]

        ops = list(xs)
        for s in plan.subs:
            ops.append(self.add(_scaled(op(s.a), s.sa, False), _scaled(op(s.b), s.sb, s.neg)))
        return [self.sum([_scaled(op(t.src), t.shift, t.neg) for t in terms]) for terms in plan.outputs]

    def copies(self, x: Timed, readers: int, fanout: int) -> list[Timed]:
        """``x`` registered into ``ceil(readers / fanout)`` copies (one cycle later), each to feed at most
        ``fanout`` readers, in a ``(* keep *)`` block so that synthesis does not merge them back into one."""
        if x.val.const is not None or readers == 0:
            return [x]
        v, out, body = x.val, [], []
        for _ in range(-(-readers // fanout)):
            reg = self.ar.m.reg(self._hint("c"), v.width)
            body.append(NonBlocking(reg, v.expr))
            out.append(Timed(Val.of(reg, v.width, v.signed, v.lo, v.hi), x.shift, x.neg, x.cycle + 1))
        self.ar.m.items.append(Always(body, clock="clk", keep=True))
        return out


def _scaled(t: Timed, shift: int, neg: bool) -> Timed:
    return Timed(t.val, t.shift + shift, t.neg != neg, t.cycle, t.depth)


def materialize(ar: Arith, t: Timed, hint: str) -> Val:
    """``t``'s value as one wire (the shift applied, the sign resolved)."""
    v = ar.shl(t.val, t.shift, hint + "_s")
    return ar.neg(v, hint + "_n") if t.neg else v


def _add(ar: Arith, a: Timed, b: Timed, hint: str, cycle: int, depth: int) -> Timed:
    if a.neg and b.neg:  # -(x + y)
        s = _add(ar, _scaled(a, 0, True), _scaled(b, 0, True), hint, cycle, depth)
        return _scaled(s, 0, True)
    m = min(a.shift, b.shift)
    hi_t, lo_t = (a, b) if a.shift >= b.shift else (b, a)
    s = hi_t.shift - lo_t.shift
    h, lo = hi_t.val, lo_t.val
    rlo, rhi = (a.lo + b.lo) >> m, (a.hi + b.hi) >> m
    width, _ = range_width(rlo, rhi)
    if s == 0 or lo_t.neg or width <= s:
        # full width: x*2**s - y (the low bits need the subtraction), or no shift to save
        x, y = materialize(ar, Timed(hi_t.val, s), hint + "h"), lo
        if hi_t.neg:
            x, y = y, x
        sub = hi_t.neg or lo_t.neg
        op = "-" if sub else "+"
        val = ar.wire(hint, rlo, rhi, lambda w: f"{x.ext(w)} {op} {y.ext(w)}", at=ar.sum_at(x, y), op=("add", x, y))
        return Timed(val, m, False, cycle, depth)
    # H*2**s +- ... with L added: the low s bits of L pass through
    top = ar.floor_shift(lo, s, hint + "t")
    if hi_t.neg:
        high = ar.sub(top, h, hint + "h")
    else:
        high = ar.add(h, top, hint + "h")
    low = lo.ext(s)
    val = ar.wire(hint, rlo, rhi, lambda w: f"{{{high.ext(w - s)}, {low}}}", at=(lo.t, max(high.top, lo.top)),
                  op=("cat", high, lo, s))
    return Timed(val, m, False, cycle, depth)


def adder_tree(ar: Arith, leaves: list[Val], hint: str, cap: int | None = None) -> Val:
    """Sum of ``leaves`` by a balanced tree of two-input adders (modulo ``2**cap`` when given)."""
    if not leaves:
        return Val.constant(0)
    level = 0
    while len(leaves) > 1:
        nxt = [ar.add(leaves[i], leaves[i + 1], f"{hint}_s{level}_{i // 2}", cap=cap)
               for i in range(0, len(leaves) - 1, 2)]
        if len(leaves) % 2:
            nxt.append(leaves[-1])
        leaves, level = nxt, level + 1
    return leaves[0]
