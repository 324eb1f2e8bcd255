"""Constant matrix-vector products as graphs of two-input adders (shift-and-add with shared subexpressions).

``y[j] = sum_i w[i][j] * x[i]`` for an integer constant matrix ``w``. Every weight is written in canonical
signed digits (CSD: ``w = sum_k +-2**s_k`` with no two adjacent nonzero digits), so each output is a signed sum
of shifted inputs (*terms*). Then, greedily, the pattern ``x_a*2**p +- x_b*2**q`` that occurs most often across
all outputs (counted after normalizing the shifts) becomes one shared adder, a *subexpression*, and every
occurrence is replaced by one term reading it. This repeats until no pattern occurs twice. What is left per
output is summed by the backend with a tree of two-input adders.

A plain product ``x * w`` costs a multiplier (or its LUT equivalent) per weight; the adder graph costs one
adder per CSD digit beyond the first, minus what sharing saves. The plan is pure integer arithmetic:
:meth:`Plan.evaluate` computes it in Python so tests check it against ``x @ w`` directly.
"""

from __future__ import annotations

import functools
import heapq
from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """``(-1)**neg * operand[src] * 2**shift``; operands are the inputs, then the subexpressions."""

    src: int
    shift: int
    neg: bool = False


@dataclass(frozen=True)
class Sub:
    """A shared subexpression: ``operand[a] * 2**sa + (-1)**neg * operand[b] * 2**sb`` (``min(sa, sb) == 0``)."""

    a: int
    sa: int
    b: int
    sb: int
    neg: bool


@dataclass
class Plan:
    n_in: int
    subs: list[Sub]
    outputs: list[list[Term]]

    @property
    def n_adders(self) -> int:
        """Two-input adders: one per subexpression plus, per output, one fewer than its terms."""
        return len(self.subs) + sum(max(len(t) - 1, 0) for t in self.outputs)

    def evaluate(self, x: list[int]) -> list[int]:
        vals = list(x)
        for s in self.subs:
            vals.append((vals[s.a] << s.sa) + (-1) ** s.neg * (vals[s.b] << s.sb))
        return [sum((-1) ** t.neg * (vals[t.src] << t.shift) for t in terms) for terms in self.outputs]


def csd(c: int) -> list[tuple[int, bool]]:
    """Canonical signed digits of ``c``: ``[(shift, negative)]`` with ``c == sum(+-2**shift)``."""
    digits = []
    k = 0
    while c:
        if c & 1:
            d = 2 - (c & 3)  # +1 if c = 1 (mod 4), -1 if c = 3 (mod 4)
            digits.append((k, d < 0))
            c -= d
        c >>= 1
        k += 1
    return digits


Key = tuple[int, int, int, bool]


def _key(t1: Term, t2: Term) -> tuple[Key, Term, Term]:
    """The normalized pattern of two terms (and the terms in pattern order)."""
    if (t2.src, t2.shift) < (t1.src, t1.shift):
        t1, t2 = t2, t1
    return (t1.src, t2.src, t2.shift - t1.shift, t1.neg != t2.neg), t1, t2


def plan(w: list[list[int]], *, share: bool = True) -> Plan:
    """The adder graph of ``y = x @ w`` (``w[i][j]``: input ``i``, output ``j``). ``share=False``: CSD only.

    Plans are cached per matrix (the search takes seconds for a 64x32 16-bit matrix): treat them as read-only."""
    return _plan(tuple(tuple(int(v) for v in row) for row in w), share)


@functools.lru_cache(maxsize=64)
def _plan(w: tuple[tuple[int, ...], ...], share: bool) -> Plan:
    n_in = len(w)
    n_out = len(w[0]) if w else 0
    outputs: list[dict[int, Term]] = [{} for _ in range(n_out)]
    next_id = 0
    for j in range(n_out):
        for i in range(n_in):
            for shift, neg in csd(int(w[i][j])):
                outputs[j][next_id] = Term(i, shift, neg)
                next_id += 1
    subs: list[Sub] = []
    if share:
        next_id = _share(n_in, outputs, subs, next_id)
    return Plan(n_in, subs, [sorted(o.values(), key=lambda t: (t.src, t.shift)) for o in outputs])


def _share(n_in: int, outputs: list[dict[int, Term]], subs: list[Sub], next_id: int) -> int:
    occ: dict[Key, set[tuple[int, int, int]]] = {}  # pattern -> {(output, term id, term id)}
    pushed: dict[Key, int] = {}  # the count each pattern was last pushed with (the heap holds no smaller news)
    heap: list[tuple[int, Key]] = []

    def link(j: int, i1: int, i2: int) -> Key:
        key = _key(outputs[j][i1], outputs[j][i2])[0]
        found = occ.get(key)
        if found is None:
            found = occ[key] = set()
        found.add((j, i1, i2) if i1 < i2 else (j, i2, i1))
        return key

    def push(key: Key) -> None:
        n = len(occ[key])
        if n > 1 and n > pushed.get(key, 0):
            pushed[key] = n
            heapq.heappush(heap, (-n, key))

    for j, terms in enumerate(outputs):
        ids = list(terms)
        for p, i1 in enumerate(ids):
            for i2 in ids[p + 1:]:
                link(j, i1, i2)
    for key in occ:
        push(key)
    while heap:
        neg_count, key = heapq.heappop(heap)
        found = occ[key]
        if len(found) != -neg_count:  # stale: the count went down since
            pushed[key] = 0
            push(key)
            continue
        pushed[key] = 0
        chosen, used = [], set()
        for j, i1, i2 in sorted(found):  # non-overlapping occurrences (one term serves one pattern)
            if (j, i1) not in used and (j, i2) not in used:
                chosen.append((j, i1, i2))
                used.update(((j, i1), (j, i2)))
        if len(chosen) < 2:
            continue
        a, b, d, opp = key
        sub_id = n_in + len(subs)
        subs.append(Sub(a, max(0, -d), b, max(0, d), opp))
        touched: set[Key] = set()
        for j, i1, i2 in chosen:
            terms = outputs[j]
            _, t1, _ = _key(terms[i1], terms[i2])
            new = Term(sub_id, min(terms[i1].shift, terms[i2].shift), t1.neg)
            for old in (i1, i2):
                t_old = terms[old]
                for other, t_other in terms.items():
                    if other != i1 and other != i2:
                        occ[_key(t_old, t_other)[0]].discard((j, old, other) if old < other else (j, other, old))
            found.discard((j, i1, i2))
            del terms[i1], terms[i2]
            terms[next_id] = new
            for other in terms:
                if other != next_id:
                    touched.add(link(j, other, next_id))
            next_id += 1
        for k in touched:
            push(k)
    return next_id
