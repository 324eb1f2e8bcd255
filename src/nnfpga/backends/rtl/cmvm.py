"""Constant matrix-vector products as graphs of two-input adders (shift-and-add with shared subexpressions).

``y[j] = sum_i w[i][j] * x[i]`` for an integer constant matrix ``w``. Every weight is written in canonical
signed digits (CSD: ``w = sum_k +-2**s_k`` with no two adjacent nonzero digits), so each output is a signed sum
of shifted inputs (*terms*). Then, greedily, the pattern ``x_a*2**p +- x_b*2**q`` that occurs most often across
all outputs (counted after normalizing the shifts) becomes one shared adder, a *subexpression*, and every
occurrence is replaced by one term reading it. This repeats until no pattern occurs twice. What is left per
output is summed by the backend with a tree of two-input adders. The search (:mod:`nnfpga.backends.rtl.cse`)
takes 0.35 s on the four Dense layers of the 16-bit jet MLP (19,600 CSD terms); wide outputs cost more, as the
terms of an output pair with each other (a random 16-bit 400x10 matrix: 21,800 terms, 3.3 s).

A plain product ``x * w`` costs a multiplier (or its LUT equivalent) per weight; the adder graph costs one
adder per CSD digit beyond the first, minus what sharing saves. The plan is pure integer arithmetic:
:meth:`Plan.evaluate` computes it in Python so tests check it against ``x @ w`` directly.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from nnfpga.backends.rtl.cse import Sub, Term
from nnfpga.backends.rtl.cse import share as share_terms


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


def plan(w: list[list[int]], *, share: bool = True) -> Plan:
    """The adder graph of ``y = x @ w`` (``w[i][j]``: input ``i``, output ``j``). ``share=False``: CSD only.

    Plans are cached per matrix (the search takes seconds for a 400x10 16-bit matrix): treat them as read-only."""
    return _plan(tuple(tuple(int(v) for v in row) for row in w), share)


@functools.lru_cache(maxsize=64)
def _plan(w: tuple[tuple[int, ...], ...], share: bool) -> Plan:
    n_in = len(w)
    n_out = len(w[0]) if w else 0
    outputs = [[Term(i, shift, neg) for i in range(n_in) for shift, neg in csd(w[i][j])] for j in range(n_out)]
    if not share:
        return Plan(n_in, [], outputs)
    subs, outputs = share_terms(n_in, outputs)
    return Plan(n_in, subs, outputs)
