"""The numba kernel of :mod:`nnfpga.ops.recurrent_jit` (see its docstring for what it computes and when).

``lstm`` takes one sample at a time through all of its steps, the values of a step in short vectors (the 4u gate
pre-activations, the u cells and states) whose loops LLVM vectorizes: the products, and the casts, branch-free
as :mod:`nnfpga.ops.cast_jit`'s float kernel casts (RND_CONV and SAT_ZERO by a scalar cast); a cast proven to
be the identity is skipped. The state's product adds four inputs' terms per pass over the accumulators (fewer
loads and stores; any grouping is exact: every partial sum is within the Dense plan's bound). Each cast's
constants are a tuple (:func:`nnfpga.ops.recurrent_jit.cast_consts`): tuples, not rows of an array, because a
row is a view whose reference counting, in the inner loops, cost more than the arithmetic. Measured and dropped:
8 samples at a time in ``(rows, 8)`` blocks vectorized across the samples (30 % slower: LLVM did not vectorize
the products' lane loops); the table indices in a loop of their own before the loads (10 % slower).
"""

from __future__ import annotations

import numpy as np

from nnfpga.ops import accumulate_jit


def _cast1(v, p):  # pragma: no cover - numba
    """``v`` (an integer in float64) cast by the constants ``p`` (:func:`cast_consts`); (value, 1 if it overflowed)."""
    if p[9] != 0.0:  # proven never to leave the range, on the same grid: the identity
        return v, 0
    t = v + p[1]
    q = np.floor(t * p[0])
    if p[7] != 0.0 and t == q * p[8] and q - 2.0 * np.floor(0.5 * q) != 0.0:
        q -= 1.0  # RND_CONV: a tie rounds to even
    out = 0
    if q < p[2] or q > p[3]:
        out = 1
        if p[4] == 0.0:
            q = q - p[6] * np.floor((q - p[5]) / p[6])
        elif p[4] == 1.0:
            q = min(max(q, p[2]), p[3])
        else:
            q = 0.0
    return q, out


def _index(v, g):  # pragma: no cover - numba
    """The table index of ``v`` for the geometry ``g = (2**-(frac + step), first entry in steps, size)``."""
    ix = np.floor(v * g[0]) - g[1]
    return int(min(max(ix, 0.0), g[2] - 1.0))


def _cast_vec(a, p):  # pragma: no cover - numba
    """Every value of the vector ``a`` cast in place by the constants ``p``; returns how many overflowed. WRAP and
    SAT / SAT_SYM without RND_CONV branch-free (vectorized); RND_CONV and SAT_ZERO by :func:`_cast1`."""
    if p[9] != 0.0:
        return 0
    scale, hh, lo, hi, mode, low, span = p[0], p[1], p[2], p[3], p[4], p[5], p[6]
    inv = 1.0 / span
    count = 0
    if p[7] != 0.0 or mode == 2.0:
        for j in range(a.size):
            q, o = _cast1(a[j], p)
            a[j] = q
            count += o
    elif mode == 0.0:
        for j in range(a.size):
            q = np.floor((a[j] + hh) * scale)
            count += (q < lo) | (q > hi)
            a[j] = q - span * np.floor((q - low) * inv)
    else:
        for j in range(a.size):
            q = np.floor((a[j] + hh) * scale)
            count += (q < lo) | (q > hi)
            a[j] = min(max(q, lo), hi)
    return count


def _lookup(a, j0, j1, g, tab):  # pragma: no cover - numba
    """``a[j0:j1]`` replaced by their table entries (the geometry ``g``, see :func:`_index`)."""
    for j in range(j0, j1):
        a[j] = tab[_index(a[j], g)]


def _lstm(x, order, wx, bx, w, b, cz, align, rec, act, grec, gz, gc, hs, counts):  # pragma: no cover - numba
    """For every sample ``r``: the LSTM's steps ``order`` over ``x[r]`` (steps x features, input mantissas) from a
    zero state; ``hs[r, s]``: the state after the ``s``-th step (``hs`` holds only the last when it has one
    step); ``counts``: the overflows of the casts ``zh``, ``z``, ``c``, ``h``, ``zx`` (constants ``cz[0..4]``)."""
    n, _, nf = x.shape
    u, g4 = w.shape
    keep_all = hs.shape[1] == order.size
    p0, p1, p2, p3, p4 = cz
    a0, a1 = align
    h = np.zeros(u)
    y = np.zeros(u)
    c = np.zeros(u)
    acc = np.empty(g4)
    zx = np.empty(g4)
    n0 = 0
    n1 = 0
    n2 = 0
    n3 = 0
    n4 = 0
    for r in range(n):
        for k in range(u):
            h[k] = 0.0
            c[k] = 0.0
        for s in range(order.size):
            t = order[s]
            for j in range(g4):
                zx[j] = bx[j]
                acc[j] = b[j]
            for f in range(nf):
                xf = x[r, t, f]
                if xf != 0.0:
                    for j in range(g4):
                        zx[j] += xf * wx[f, j]
            if not p4[9]:  # not proven to be the identity
                n4 += _cast_vec(zx, p4)
            i = 0
            while i + 4 <= u:  # four inputs per pass over acc: fewer loads and stores of it (1.5x faster)
                h0, h1, h2, h3 = h[i], h[i + 1], h[i + 2], h[i + 3]
                for j in range(g4):
                    acc[j] += (h0 * w[i, j] + h1 * w[i + 1, j]) + (h2 * w[i + 2, j] + h3 * w[i + 3, j])
                i += 4
            while i < u:
                hi = h[i]
                for j in range(g4):
                    acc[j] += hi * w[i, j]
                i += 1
            if not p0[9]:  # not proven to be the identity
                n0 += _cast_vec(acc, p0)
            for j in range(g4):
                acc[j] += zx[j]
            if not p1[9]:  # not proven to be the identity
                n1 += _cast_vec(acc, p1)
            _lookup(acc, 0, 2 * u, grec, rec)
            _lookup(acc, 2 * u, 3 * u, gz, act)
            _lookup(acc, 3 * u, g4, grec, rec)
            for k in range(u):
                c[k] = acc[u + k] * c[k] * a0 + acc[k] * acc[2 * u + k] * a1
            n2 += _cast_vec(c, p2)
            for k in range(u):
                y[k] = acc[3 * u + k] * act[_index(c[k], gc)]
            n3 += _cast_vec(y, p3)
            h, y = y, h
            if keep_all:
                for k in range(u):
                    hs[r, s, k] = h[k]
        if not keep_all:
            for k in range(u):
                hs[r, 0, k] = h[k]
    counts[0] += n0
    counts[1] += n1
    counts[2] += n2
    counts[3] += n3
    counts[4] += n4


_compiled = False


def compile_helpers() -> None:
    """Make the kernel's helpers numba functions (numba is imported: :func:`accumulate_jit.enabled` was true) and
    register the kernel, which :func:`accumulate_jit.call` compiles on first use."""
    global _cast1, _index, _cast_vec, _lookup, _compiled
    if not _compiled:
        import numba

        for name in ("_cast1", "_index", "_cast_vec", "_lookup"):
            globals()[name] = numba.njit(cache=True, inline="always")(globals()[name])
        accumulate_jit.register_kernel("lstm", _lstm)
        _compiled = True
