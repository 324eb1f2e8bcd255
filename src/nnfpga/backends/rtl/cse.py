"""The common-subexpression search of :mod:`nnfpga.backends.rtl.cmvm`: greedy, most frequent pattern first.

A *pattern* ``(a, b, d, opp)`` is two terms of one output, ``x_a * 2**p`` and ``x_b * 2**(p + d)`` (``a`` first
in ``(src, shift)`` order) with opposite signs or not; its count is its occurrences over all outputs. The
search repeatedly takes the pattern of the highest count, makes it a :class:`~nnfpga.backends.rtl.cmvm.Sub`
and replaces its non-overlapping occurrences by one term each, until no pattern occurs twice.

Every pair of terms of an output is a candidate, so an output of ``T`` terms holds ``T**2 / 2`` pairs (23 M for
a random 16-bit 400x10 matrix). The search stays fast by never revisiting them one at a time in Python:

- The pairs of two *input* terms are counted once with numpy (a bincount per block of an output's pairs) and
  kept exact: when a term goes, the counts of its pairs drop by one vectorized subtraction.
- A pattern that reads a subexpression can only gain occurrences when that subexpression is made (the terms
  of older operands only disappear), so its occurrences are found then, once, with numpy (the new terms
  against every term of their outputs), and the ones seen twice or more are kept as arrays of term pairs; its
  count later is how many of those pairs are still both there.
- The search goes by levels of count ``c``, highest first, taking every pattern seen ``c`` times. A
  subexpression made at level ``c`` has ``c`` terms, so the patterns it brings occur at most ``c`` times: counts
  never rise above the level, and there are at most as many levels as the first highest count.

So each step takes a pattern of the highest count, as recounting everything after every step would; ties are
broken differently from that (by level, then by key).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


_REJECTED = -(1 << 30)  # an input pattern whose occurrences overlap so that fewer than two can be taken
# input patterns counted in a dense array (int32) up to this many (about 1,400 16-bit inputs: 4 * 66 * n_in**2
# bytes), else in a sorted array of the keys seen (slower, and the pairs of all outputs held at once)
_DENSE_MAX = 1 << 27


class _Search:
    def __init__(self, n_in: int, outputs: list[list[Term]]) -> None:
        self.n_in = n_in
        n_terms = sum(len(t) for t in outputs)
        cap = 2 * n_terms + 1
        self.src = np.zeros(cap, np.int64)
        self.shift = np.zeros(cap, np.int64)
        self.neg = np.zeros(cap, np.int64)
        self.alive = np.zeros(cap, bool)
        self.out: list[int] = [0] * cap
        self.src_l: list[int] = [0] * cap
        self.shift_l: list[int] = [0] * cap  # the same as lists, for the loops that read one term at a time
        self.neg_l: list[bool] = [False] * cap
        self.alive_l: list[bool] = [False] * cap
        self.n = 0
        self.b = max((t.shift for ts in outputs for t in ts), default=0)  # |shift difference| <= b
        self.n_src = n_in + n_terms + 1  # operands: inputs and (at most one per removed term) subexpressions
        # a pattern's key: ((a * n_src + b) * (2 * self.b + 1) + d + self.b) * 2 + opp, that is, with the first
        # term's left part and the second's right part, left + right + opp (input patterns: n_in for n_src)
        self.order = np.zeros(cap, np.int64)  # (src, shift) order
        self.left = np.zeros(cap, np.int64)
        self.right = np.zeros(cap, np.int64)
        self.dense_left = np.zeros(cap, np.int64)
        self.members: list[np.ndarray] = []
        self.where: list[dict[int, list[int]]] = [{} for _ in range(n_in)]  # operand -> output -> term ids
        self.n_alive = [0] * n_in  # operand -> its terms left
        self.subs: list[Sub] = []
        # patterns that read a subexpression: (keys, term ids, term ids) of the occurrences they had when it was
        # made (those seen twice or more), in chunks; and the ones whose occurrences overlap too much to be taken
        empty = np.zeros(0, np.int64)
        self.stored: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = [(empty, empty, empty)]
        self.rejected: set[int] = set()
        self.fresh: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # stored since the level began
        self.pairs: list[tuple[np.ndarray, ...]] = []  # patterns seen twice: (keys, term, term, term, term)
        for j, terms in enumerate(outputs):
            ids = [self._new(j, t) for t in sorted(terms, key=lambda t: (t.src, t.shift))]
            self.members.append(np.asarray(ids, np.int64))
        self._count_inputs(len(outputs))

    # -- terms and keys ----------------------------------------------------------------------------------
    def _new(self, j: int, t: Term) -> int:
        i = self.n
        self.n += 1
        self.src[i], self.shift[i], self.neg[i], self.alive[i], self.out[i] = t.src, t.shift, t.neg, True, j
        self.src_l[i], self.shift_l[i], self.neg_l[i], self.alive_l[i] = t.src, t.shift, t.neg, True
        self.where[t.src].setdefault(j, []).append(i)
        self.n_alive[t.src] += 1
        d2 = 4 * self.b + 2
        self.order[i] = t.src * (self.b + 1) + t.shift
        self.left[i] = t.src * self.n_src * d2 - 2 * t.shift
        self.right[i] = t.src * d2 + 2 * t.shift + 2 * self.b
        self.dense_left[i] = t.src * self.n_in * d2 - 2 * t.shift
        return i

    def _keys(self, i: int, others: np.ndarray, left: np.ndarray | None = None) -> np.ndarray:
        """The pattern keys of term ``i`` with each of ``others`` (``left``: :attr:`dense_left` for input ones)."""
        left = self.left if left is None else left
        first = self.order[others] > self.order[i]
        return (np.where(first, left[i] + self.right[others], left[others] + self.right[i])
                + (self.neg[others] != self.neg[i]))

    def _decode(self, key: int) -> tuple[int, int, int, bool]:
        key, opp = divmod(key, 2)
        key, d = divmod(key, 2 * self.b + 1)
        a, b = divmod(key, self.n_src)
        return a, b, d - self.b, bool(opp)

    # -- input patterns: exact counts ----------------------------------------------------------------------
    def _count_inputs(self, n_out: int) -> None:
        d2 = (2 * self.b + 1) * 2
        size = self.n_in * self.n_in * d2
        dense = size <= _DENSE_MAX
        self.ukeys = None
        self.cnt = np.zeros(size if dense else 0, np.int32)
        chunks = []
        for j in range(n_out):
            m = self.members[j]  # sorted by (src, shift): in each pair i < k the first term is i
            left, right = self.dense_left[m], self.right[m]
            neg = self.neg[m].astype(bool)
            for lo in range(0, len(m) - 1, 256):
                hi = min(lo + 256, len(m) - 1)
                keys = left[lo:hi, None] + right[None, lo + 1:] + (neg[lo:hi, None] != neg[None, lo + 1:])
                keys = keys[np.arange(lo, hi)[:, None] < np.arange(lo + 1, len(m))[None, :]]
                if dense:
                    self.cnt += np.bincount(keys, minlength=size)
                else:
                    chunks.append(keys)
        if not dense:
            self.ukeys, counts = np.unique(np.concatenate(chunks), return_counts=True)
            self.cnt = counts.astype(np.int32)

    def _dense_key(self, idx: int) -> int:
        dense = int(idx if self.ukeys is None else self.ukeys[idx])
        ab, rest = divmod(dense, (2 * self.b + 1) * 2)
        a, b = divmod(ab, self.n_in)
        return (a * self.n_src + b) * (2 * self.b + 1) * 2 + rest

    def first(self, i1: int, i2: int) -> bool:
        """Whether term ``i1`` comes before ``i2`` in a pattern: ``(src, shift)`` order."""
        return (self.src_l[i1], self.shift_l[i1]) < (self.src_l[i2], self.shift_l[i2])

    # -- occurrences ---------------------------------------------------------------------------------------
    def _occurrences(self, key: int) -> tuple[int, list[tuple[int, int, int]]]:
        """(all occurrences, the non-overlapping ones taken) of pattern ``key``, now."""
        a, b, d, opp = self._decode(key)
        if min(self.n_alive[a], self.n_alive[b]) < 2:  # an occurrence takes a term of each
            return min(self.n_alive[a], self.n_alive[b]), []
        wa, wb = self.where[a], self.where[b]
        shift, neg = self.shift_l, self.neg_l
        found = []
        if len(wb) < len(wa):
            wa, wb = wb, wa  # look the outputs of the rarer operand up in the other's
        for j, ta in wa.items():
            tb = wb.get(j)
            if not tb:
                continue
            for i1 in ta:
                for i2 in tb:
                    if i1 != i2 and (a != b or i1 < i2):
                        lo, hi = (i1, i2) if self.first(i1, i2) else (i2, i1)
                        if shift[hi] - shift[lo] == d and (neg[hi] != neg[lo]) == opp:
                            found.append((j, lo, hi))
        if len(found) < 2:
            return len(found), []
        taken, used = [], set()
        for j, i1, i2 in sorted(found):
            if i1 not in used and i2 not in used:
                taken.append((j, i1, i2))
                used.update((i1, i2))
        return len(found), taken

    def _remove(self, i: int) -> None:
        j = self.out[i]
        m = self.members[j]
        m = m[self.alive[m]]
        self.members[j] = m
        if self.src[i] < self.n_in:
            others = m[(self.src[m] < self.n_in) & (m != i)]
            keys = self._keys(i, others, self.dense_left)
            np.subtract.at(self.cnt, keys if self.ukeys is None else np.searchsorted(self.ukeys, keys), 1)
        self.alive[i] = self.alive_l[i] = False
        self.where[self.src_l[i]][j].remove(i)
        self.n_alive[self.src_l[i]] -= 1

    def _apply(self, key: int, taken: list[tuple[int, int, int]]) -> None:
        a, b, d, opp = self._decode(key)
        sub = self.n_in + len(self.subs)
        self.subs.append(Sub(a, max(0, -d), b, max(0, d), opp))
        self.where.append({})
        self.n_alive.append(0)
        keys, news, others = [], [], []
        for j, i1, i2 in taken:
            t = Term(sub, min(self.shift_l[i1], self.shift_l[i2]), self.neg_l[i1])
            self._remove(i1)
            self._remove(i2)
            i = self._new(j, t)
            m = self.members[j]
            m = m[self.alive[m]]
            keys.append(self._keys(i, m))
            news.append(np.full(len(m), i))
            others.append(m)
            self.members[j] = np.append(m, i)
        # the new patterns (all read ``sub``) with their occurrences: found once, now, as they never gain any
        k, n, o, starts, counts = _groups(np.concatenate(keys), np.concatenate(news), np.concatenate(others), 2)
        two = starts[counts == 2]
        if len(two):
            self.pairs.append((k[two], n[two], o[two], n[two + 1], o[two + 1]))
        if len(two) < len(starts):
            keep = np.repeat(counts > 2, counts)
            self.stored.append((k[keep], n[keep], o[keep]))
            self.fresh.append(self.stored[-1])

    def _ordered(self, i1: int, i2: int) -> tuple[int, int, int]:
        """The occurrence ``(output, first term, second term)`` of terms ``i1`` and ``i2``."""
        return (self.out[i1], i1, i2) if self.first(i1, i2) else (self.out[i1], i2, i1)

    def _stored_groups(self) -> tuple[np.ndarray, ...]:
        """The stored patterns that still occur twice (compacted), as :func:`_groups`."""
        k, t1, t2 = (np.concatenate(c) for c in zip(*self.stored, strict=True))
        ok = self.alive[t1] & self.alive[t2]
        if self.rejected:
            ok &= ~np.isin(k, np.fromiter(self.rejected, np.int64))
        g = _groups(k[ok], t1[ok], t2[ok], 2)
        self.stored = [g[:3]]
        return g

    def _take_input(self, key: int) -> bool:
        """Make input pattern ``key`` a subexpression if two of its occurrences can be taken."""
        _, taken = self._occurrences(key)
        if len(taken) < 2:
            return False
        self._apply(key, taken)
        return True

    def _take_stored(self, key: int, occ: list[tuple[int, int]], c: int) -> bool:
        """Make a stored pattern a subexpression if it still occurs ``c`` times, two of them disjoint."""
        alive = self.alive_l
        if not all(alive[i1] and alive[i2] for i1, i2 in occ):
            return False  # fewer now: a later level
        taken, used = [], set()
        for j, i1, i2 in sorted(self._ordered(i1, i2) for i1, i2 in occ):
            if i1 not in used and i2 not in used:
                taken.append((j, i1, i2))
                used.update((i1, i2))
        if len(taken) < 2:
            self.rejected.add(key)
            return False
        self._apply(key, taken)
        return True

    def _take_groups(self, g: tuple[np.ndarray, ...], c: int) -> None:
        k, t1, t2, starts, counts = g
        for s0 in starts[counts == c].tolist():
            self._take_stored(int(k[s0]), list(zip(t1[s0:s0 + c].tolist(), t2[s0:s0 + c].tolist(), strict=True)), c)

    def _take_pairs(self) -> None:
        """The last level: the subexpression patterns seen twice whose four terms are all still there."""
        alive = self.alive_l
        while self.pairs:
            k, n1, o1, n2, o2 = (np.concatenate(c) for c in zip(*self.pairs, strict=True))
            self.pairs = []
            ok = self.alive[n1] & self.alive[o1] & self.alive[n2] & self.alive[o2]
            for key, a1, b1, a2, b2 in zip(*(x[ok].tolist() for x in (k, n1, o1, n2, o2)), strict=True):
                if alive[a1] and alive[b1] and alive[a2] and alive[b2]:
                    self._take_stored(key, [(a1, b1), (a2, b2)], 2)

    def run(self) -> None:
        """Levels of count ``c``, highest first: every pattern seen ``c`` times, until none is left. A new
        subexpression made at level ``c`` has ``c`` terms, so its patterns occur at most ``c`` times: counts
        never rise above the level, and the patterns it brings are looked at before the level ends."""
        while True:
            g = self._stored_groups()
            c = max(int(self.cnt.max()) if self.cnt.size else 0, int(g[4].max()) if len(g[4]) else 0,
                    2 if self.pairs else 0)
            if c < 2:
                break
            self.fresh = []
            for idx in np.flatnonzero(self.cnt == c).tolist():
                if self.cnt[idx] == c and not self._take_input(self._dense_key(idx)):
                    self.cnt[idx] = _REJECTED
            self._take_groups(g, c)
            while self.fresh:
                fresh, self.fresh = self.fresh, []
                self._take_groups(_groups(*(np.concatenate(x) for x in zip(*fresh, strict=True)), c), c)
            if c == 2:
                self._take_pairs()

    def outputs(self, n_out: int) -> list[list[Term]]:
        res: list[list[Term]] = [[] for _ in range(n_out)]
        for i in np.flatnonzero(self.alive[:self.n]).tolist():
            res[self.out[i]].append(Term(int(self.src[i]), int(self.shift[i]), bool(self.neg[i])))
        return [sorted(t, key=lambda t: (t.src, t.shift)) for t in res]


def _groups(k: np.ndarray, t1: np.ndarray, t2: np.ndarray, least: int) -> tuple[np.ndarray, ...]:
    """Occurrences ``(k, t1, t2)`` sorted by key, only the keys seen ``least`` times or more; with the start and
    length of each key's run."""
    if len(k) == 0:
        return k, t1, t2, k, k
    order = np.argsort(k, kind="stable")
    k = k[order]
    new = np.empty(len(k), bool)
    new[0] = True
    np.not_equal(k[1:], k[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    counts = np.diff(starts, append=len(k))
    big = counts >= least
    keep = np.repeat(big, counts)
    order = order[keep]
    counts = counts[big]
    starts = np.cumsum(counts) - counts
    return k[keep], t1[order], t2[order], starts, counts


def share(n_in: int, outputs: list[list[Term]]) -> tuple[list[Sub], list[list[Term]]]:
    """The subexpressions and the remaining terms of each output (sorted by ``(src, shift)``)."""
    s = _Search(n_in, outputs)
    s.run()
    return s.subs, s.outputs(len(outputs))
