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
  never rise above the level, and there are at most as many levels as the first highest count. The kept
  patterns are filed by their count (an upper bound later), so a level recounts only the ones that may reach it.
- Making a subexpression is bookkeeping in Python (an output holds at most one term per operand and shift, so
  an occurrence's second term is a dictionary look-up from its first); the numpy work above is done in batches
  (:meth:`_Search._flush`: the terms carry the step that made them and the one that took them, so each new
  term is paired with the terms of its output at its step), and an input pattern's count is checked exactly
  from the terms themselves before it is taken.

So each step takes a pattern of the highest count, as recounting everything after every step would; ties are
broken differently from that (by level, then by key).
"""

from __future__ import annotations

from collections.abc import Iterator
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
_BINCOUNT_KEYS = 1 << 18  # input pairs counted by one bincount, at least
_CHUNK = 1 << 16  # term pairs handled at once
_NEVER = 1 << 62  # the step that takes a term that is still there
_ONE = np.int32(1)  # of the counts' type: np.subtract.at is many times slower when it must cast


class _Search:
    def __init__(self, n_in: int, outputs: list[list[Term]]) -> None:
        self.n_in = n_in
        n_terms = sum(len(t) for t in outputs)
        cap = 2 * n_terms + 1
        self.b = max((t.shift for ts in outputs for t in ts), default=0)  # |shift difference| <= b
        self.n_src = n_in + n_terms + 1  # operands: inputs and (at most one per removed term) subexpressions
        # per term, as lists (read one at a time) and as arrays (read by numpy, written by :meth:`_flush`)
        self.out: list[int] = [0] * cap
        self.src_l: list[int] = [0] * cap
        self.shift_l: list[int] = [0] * cap
        self.neg_l: list[bool] = [False] * cap
        self.alive_l: list[bool] = [False] * cap
        self.born: list[int] = [-1] * cap  # the step that made it (-1: an input term) ...
        self.died: list[int] = [_NEVER] * cap  # ... and the one that took it
        self.src = np.zeros(cap, np.int64)
        self.shift = np.zeros(cap, np.int64)
        self.neg = np.zeros(cap, np.int64)
        self.alive = np.zeros(cap, bool)
        self.born_a = np.full(cap, -1, np.int64)
        self.died_a = np.full(cap, _NEVER, np.int64)
        # a pattern's key: ((a * n_src + b) * (2 * self.b + 1) + d + self.b) * 2 + opp, that is, with the first
        # term's left part and the second's right part, left + right + opp (input patterns: n_in for n_src)
        self.order = np.zeros(cap, np.int64)  # (src, shift) order
        self.left = np.zeros(cap, np.int64)
        self.right = np.zeros(cap, np.int64)
        self.dense_left = np.zeros(cap, np.int64)
        self.n = self.synced = self.step = 0  # terms, terms written to the arrays, steps (occurrences taken)
        self.where: list[set[int]] = [set() for _ in range(n_in)]  # operand -> its terms
        self.at: dict[tuple[int, int, int], int] = {}  # (output, operand, shift) -> its term (never two)
        self.members: list[np.ndarray] = []  # output -> its terms, at the last flush
        self.inputs: list[np.ndarray] = []  # output -> its input terms, at the last flush
        self.removed: list[int] = []  # terms taken since the last flush
        self.subs: list[Sub] = []
        # patterns that read a subexpression: (keys, term ids, term ids) of the occurrences they had when it was
        # made (those seen more than twice), in chunks by their count then (or when last recounted: an upper
        # bound, as occurrences only go); and the ones whose occurrences overlap too much to be taken
        self.stored: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        self.rejected: set[int] = set()
        self.fresh: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # stored since the level began
        self.pairs: list[tuple[np.ndarray, ...]] = []  # patterns seen twice: (keys, term, term, term, term)
        flat = [(j, t.src, t.shift, t.neg) for j, ts in enumerate(outputs) for t in sorted(ts, key=_by_src_shift)]
        self.n = n = len(flat)
        if n:
            self.out[:n], self.src_l[:n], self.shift_l[:n], self.neg_l[:n] = (list(x) for x in zip(*flat, strict=True))
            self.alive_l[:n] = [True] * n
        for i, a in enumerate(self.src_l[:n]):
            self.where[a].add(i)
        self.at = dict(zip(zip(self.out[:n], self.src_l[:n], self.shift_l[:n], strict=True), range(n), strict=True))
        self._sync()
        bounds = np.searchsorted(np.asarray(self.out[:self.n]), np.arange(len(outputs) + 1))
        self.members = [np.arange(bounds[j], bounds[j + 1]) for j in range(len(outputs))]
        self.inputs = list(self.members)
        self._count_inputs(len(outputs))

    # -- terms and keys ----------------------------------------------------------------------------------
    def _new(self, j: int, src: int, shift: int, neg: bool) -> int:
        i = self.n
        self.n += 1
        self.out[i], self.src_l[i], self.shift_l[i], self.neg_l[i], self.alive_l[i] = j, src, shift, neg, True
        self.where[src].add(i)
        self.at[j, src, shift] = i
        return i

    def _kill(self, i: int) -> None:
        self.alive_l[i] = False
        self.died[i] = self.step
        self.where[self.src_l[i]].discard(i)
        del self.at[self.out[i], self.src_l[i], self.shift_l[i]]
        self.removed.append(i)

    def _sync(self) -> None:
        """Write the terms made since the last time to the arrays."""
        lo, hi = self.synced, self.n
        if lo == hi:
            return
        self.synced = hi
        sl = slice(lo, hi)
        src, shift = np.asarray(self.src_l[sl], np.int64), np.asarray(self.shift_l[sl], np.int64)
        self.src[sl], self.shift[sl], self.neg[sl] = src, shift, self.neg_l[sl]
        self.alive[sl], self.born_a[sl] = True, self.born[sl]
        d2 = 4 * self.b + 2
        self.order[sl] = src * (self.b + 1) + shift
        self.left[sl] = src * self.n_src * d2 - 2 * shift
        self.right[sl] = src * d2 + 2 * shift + 2 * self.b
        self.dense_left[sl] = src * self.n_in * d2 - 2 * shift

    def _keys(self, i: np.ndarray, others: np.ndarray, left: np.ndarray | None = None) -> np.ndarray:
        """The pattern keys of terms ``i`` with ``others`` (pairwise; ``left``: :attr:`dense_left` for input ones)."""
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
        chunks: list[np.ndarray] = []
        held, batch = 0, max(_BINCOUNT_KEYS, size // 2)  # keys per bincount: a few bincounts of the whole array
        for j in range(n_out):
            m = self.members[j]  # sorted by (src, shift): in each pair i < k the first term is i
            left, right = self.dense_left[m], self.right[m]
            neg = self.neg[m].astype(bool)
            for lo in range(0, len(m) - 1, 256):
                hi = min(lo + 256, len(m) - 1)
                keys = left[lo:hi, None] + right[None, lo + 1:] + (neg[lo:hi, None] != neg[None, lo + 1:])
                chunks.append(keys[np.arange(lo, hi)[:, None] < np.arange(lo + 1, len(m))[None, :]])
                held += len(chunks[-1])
                if dense and held > batch:
                    self.cnt += np.bincount(np.concatenate(chunks), minlength=size)
                    chunks, held = [], 0
        if dense and chunks:
            self.cnt += np.bincount(np.concatenate(chunks), minlength=size)
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
        """(all occurrences, the non-overlapping ones taken) of pattern ``key``, now. An output holds one term
        at most of each operand and shift, so the second term of an occurrence is looked up from the first."""
        a, b, d, opp = self._decode(key)
        if min(len(self.where[a]), len(self.where[b])) < 2:  # an occurrence takes a term of each
            return min(len(self.where[a]), len(self.where[b])), []
        at, out, shift, neg = self.at, self.out, self.shift_l, self.neg_l
        found = []
        for i1 in self.where[a]:  # a <= b, and d > 0 when a == b: the first term is of a
            i2 = at.get((out[i1], b, shift[i1] + d))
            if i2 is not None and (neg[i2] != neg[i1]) == opp:
                found.append((out[i1], i1, i2))
        if len(found) < 2:
            return len(found), []
        taken, used = [], set()
        for j, i1, i2 in sorted(found):
            if i1 not in used and i2 not in used:
                taken.append((j, i1, i2))
                used.update((i1, i2))
        return len(found), taken

    def _apply(self, key: int, taken: list[tuple[int, int, int]]) -> None:
        """Make pattern ``key`` a subexpression: each occurrence of ``taken`` (sorted) in turn, one step, its two
        terms replaced by one. The counts and patterns that follow are brought up to date by :meth:`_flush`."""
        a, b, d, opp = self._decode(key)
        sub = self.n_in + len(self.subs)
        self.subs.append(Sub(a, max(0, -d), b, max(0, d), opp))
        self.where.append(set())
        for j, i1, i2 in taken:
            self._kill(i1)
            self._kill(i2)
            i = self._new(j, sub, min(self.shift_l[i1], self.shift_l[i2]), self.neg_l[i1])
            self.born[i] = self.step
            self.step += 1

    def _flush(self) -> None:
        """Bring the arrays up to date with the steps since the last flush, as if after each step: the input
        pairs of every term taken leave the counts, and the patterns of every new term (all read its
        subexpression: found once, when it is made, as they never gain any) with the terms of its output then
        are grouped by key and kept (:meth:`_found`)."""
        new = np.arange(self.synced, self.n)
        self._sync()
        if not self.removed:
            return
        removed = np.asarray(self.removed, np.int64)
        self.removed = []
        self.died_a[removed] = [self.died[i] for i in removed.tolist()]
        self.alive[removed] = False
        outs = sorted({self.out[i] for i in removed.tolist()})
        # the input pairs of a removed input term with the terms of its output then (each pair once)
        gone = removed[self.src[removed] < self.n_in].tolist()
        for r, o in _chunks(gone, [self.inputs[self.out[i]] for i in gone]):
            ok = (self.died_a[o] == _NEVER) | (o > r)
            keys = self._keys(r[ok], o[ok], self.dense_left)
            np.subtract.at(self.cnt, keys if self.ukeys is None else np.searchsorted(self.ukeys, keys), _ONE)
        if gone:
            for j in outs:
                m = self.inputs[j]
                self.inputs[j] = m[self.alive[m]]
        # the new terms' pairs with the terms of their outputs when they came
        new_of: dict[int, list[int]] = {j: [] for j in outs}
        for i in new.tolist():
            new_of[self.out[i]].append(i)
        cand = {j: np.concatenate([self.members[j], np.asarray(new_of[j], np.int64)]) for j in outs}
        for n, o in _chunks(new.tolist(), [cand[self.out[i]] for i in new.tolist()], self.src_l):
            ok = (self.born_a[o] < self.born_a[n]) & (self.died_a[o] > self.born_a[n])
            self._found(self._keys(n[ok], o[ok]), n[ok], o[ok])
        for j in outs:
            m = cand[j]
            self.members[j] = m[self.alive[m]]

    def _found(self, k: np.ndarray, n: np.ndarray, o: np.ndarray) -> None:
        """Keep the patterns of new terms ``n`` with terms ``o`` (keys ``k``) seen twice or more, the ones of
        each subexpression together (the keys of two subexpressions differ)."""
        k, n, o, starts, counts = _groups(k, n, o, 2)
        two = starts[counts == 2]
        if len(two):  # in the order the subexpressions were made, then by key
            by_sub = np.argsort(self.src[n[two]], kind="stable")
            two = two[by_sub]
            self.pairs.append((k[two], n[two], o[two], n[two + 1], o[two + 1]))
        if len(two) < len(starts):
            keep = np.repeat(counts > 2, counts)
            self.fresh.append((k[keep], n[keep], o[keep]))
            self._store(k, n, o, counts, counts > 2)

    def _ordered(self, i1: int, i2: int) -> tuple[int, int, int]:
        """The occurrence ``(output, first term, second term)`` of terms ``i1`` and ``i2``."""
        return (self.out[i1], i1, i2) if self.first(i1, i2) else (self.out[i1], i2, i1)

    def _store(self, k: np.ndarray, t1: np.ndarray, t2: np.ndarray, counts: np.ndarray, keep: np.ndarray) -> None:
        """Store the groups ``keep`` of :func:`_groups` ``(k, t1, t2, _, counts)`` by their counts."""
        each = np.repeat(np.where(keep, counts, 0), counts)
        for c in np.unique(counts[keep]).tolist():
            sel = each == c
            self.stored.setdefault(c, []).append((k[sel], t1[sel], t2[sel]))

    def _stored_groups(self, least: int) -> tuple[np.ndarray, ...]:
        """The stored patterns that may occur ``least`` times or more, recounted (and stored again by their
        counts now), as :func:`_groups`."""
        chunks = [ch for c in [c for c in self.stored if c >= least] for ch in self.stored.pop(c)]
        if not chunks:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty, empty, empty
        k, t1, t2 = (np.concatenate(c) for c in zip(*chunks, strict=True))
        ok = self.alive[t1] & self.alive[t2]
        if self.rejected:
            ok &= ~np.isin(k, np.fromiter(self.rejected, np.int64))
        g = _groups(k[ok], t1[ok], t2[ok], 2)
        self._store(*g[:3], g[4], g[4] > 0)
        return g

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
            self._flush()

    def run(self) -> None:
        """Levels of count ``c``, highest first: every pattern seen ``c`` times, until none is left. A new
        subexpression made at level ``c`` has ``c`` terms, so its patterns occur at most ``c`` times: counts
        never rise above the level, and the patterns it brings are looked at before the level ends."""
        while True:
            c = max(int(self.cnt.max()) if self.cnt.size else 0, 2 if self.pairs else 0)
            g = self._stored_groups(max(c, 2))
            c = max(c, int(g[4].max()) if len(g[4]) else 0)
            if c < 2:
                break
            self.fresh = []
            for idx in np.flatnonzero(self.cnt == c).tolist():  # the counts lag until the next flush:
                key = self._dense_key(idx)
                found, taken = self._occurrences(key)  # (found: the count now)
                if found == c and len(taken) < 2:
                    self.cnt[idx] = _REJECTED
                elif found == c:
                    self._apply(key, taken)
            self._take_groups(g, c)
            self._flush()
            while self.fresh:
                fresh, self.fresh = self.fresh, []
                self._take_groups(_groups(*(np.concatenate(x) for x in zip(*fresh, strict=True)), c), c)
                self._flush()
            if c == 2:
                self._take_pairs()

    def outputs(self, n_out: int) -> list[list[Term]]:
        res: list[list[Term]] = [[] for _ in range(n_out)]
        for i in np.flatnonzero(self.alive[:self.n]).tolist():
            res[self.out[i]].append(Term(int(self.src[i]), int(self.shift[i]), bool(self.neg[i])))
        return [sorted(t, key=_by_src_shift) for t in res]


def _chunks(heads: list[int], parts: list[np.ndarray], group: list[int] | None = None
            ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(head, other)`` term pairs, ``heads[k]`` with each of ``parts[k]``, in arrays of about :data:`_CHUNK`
    pairs (numpy is several times faster on arrays that stay in the cache), never parting the heads of one
    ``group[head]``."""
    start, size = 0, 0
    for k, p in enumerate(parts):
        size += len(p)
        if k == len(parts) - 1 or (size >= _CHUNK and (group is None or group[heads[k]] != group[heads[k + 1]])):
            sl = parts[start:k + 1]
            yield np.repeat(np.asarray(heads[start:k + 1], np.int64), [len(x) for x in sl]), np.concatenate(sl)
            start, size = k + 1, 0


def _by_src_shift(t: Term) -> tuple[int, int]:
    return t.src, t.shift


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
