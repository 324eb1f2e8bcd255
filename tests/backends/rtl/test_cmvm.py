"""Constant matrix products as adder graphs (backends/rtl/cmvm.py, its search in cse.py): exact, and the greedy
search leaves no pattern that could still be shared."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from nnfpga.backends.rtl import cmvm


def random_matrix(rng: np.random.Generator, n_in: int, n_out: int, bits: int, zeros: float = 0.0) -> list[list[int]]:
    w = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), size=(n_in, n_out)) if bits > 1 else \
        -rng.integers(0, 2, size=(n_in, n_out))  # 1 bit signed: -1 or 0
    w[rng.random((n_in, n_out)) < zeros] = 0
    return w.tolist()


def check_exact(w: list[list[int]], p: cmvm.Plan, rng: np.random.Generator) -> None:
    n_in, n_out = len(w), len(w[0]) if w else 0
    assert p.n_in == n_in and len(p.outputs) == n_out
    for k, s in enumerate(p.subs):  # operands made before they are read; one side unshifted
        assert s.a < n_in + k and s.b < n_in + k and min(s.sa, s.sb) == 0
    lim = 2 ** 20
    xs = [[lim - 1] * n_in, [-lim] * n_in, *rng.integers(-lim, lim, size=(6, n_in)).tolist()]
    for x in xs:
        assert p.evaluate(x) == [sum(x[i] * w[i][j] for i in range(n_in)) for j in range(n_out)]


def repeated_patterns(p: cmvm.Plan) -> dict:
    """The patterns of ``p``'s outputs with two non-overlapping occurrences (what the search should not leave)."""
    occ = defaultdict(list)
    for j, terms in enumerate(p.outputs):
        for u, t1 in enumerate(terms):
            for v in range(u + 1, len(terms)):
                a, b = sorted((t1, terms[v]), key=lambda t: (t.src, t.shift))
                occ[(a.src, b.src, b.shift - a.shift, a.neg != b.neg)].append((j, u, v))
    out = {}
    for key, found in occ.items():
        used, taken = set(), 0
        for j, u, v in found:
            if (j, u) not in used and (j, v) not in used:
                used.update(((j, u), (j, v)))
                taken += 1
        if taken > 1:
            out[key] = taken
    return out


@pytest.mark.parametrize(("n_in", "n_out", "bits", "zeros"), [
    (1, 1, 8, 0.0), (5, 1, 16, 0.0), (1, 7, 16, 0.0), (6, 6, 1, 0.0), (9, 4, 2, 0.3), (12, 8, 6, 0.5),
    (16, 16, 16, 0.0), (20, 3, 12, 0.9), (8, 12, 24, 0.2), (30, 10, 16, 0.0)])
def test_plan_is_exact_and_shares_everything(n_in, n_out, bits, zeros):
    rng = np.random.default_rng([n_in, n_out, bits])
    w = random_matrix(rng, n_in, n_out, bits, zeros)
    w[0] = [0] * n_out  # a zero row
    if n_out > 1:
        for row in w:
            row[-1] = 0  # and a zero column
    shared, csd_only = cmvm.plan(w), cmvm.plan(w, share=False)
    check_exact(w, shared, rng)
    check_exact(w, csd_only, rng)
    assert sum(len(t) for t in csd_only.outputs) == sum(len(cmvm.csd(abs(v))) for row in w for v in row)
    assert shared.n_adders <= csd_only.n_adders
    assert not repeated_patterns(shared)
    assert repeated_patterns(csd_only) or csd_only.n_adders == shared.n_adders  # sharing was tried for real


def test_degenerate_shapes():
    rng = np.random.default_rng(0)
    for w in ([], [[]], [[], []], [[0, 0], [0, 0]], [[5]], [[-1]], [[3, 3], [3, 3]]):
        for share in (True, False):
            check_exact(w, cmvm.plan(w, share=share), rng)
    p = cmvm.plan([[3, 3], [3, 3]])  # two equal outputs x0*3 + x1*3: subexpressions read by both
    assert p.n_adders < cmvm.plan([[3, 3], [3, 3]], share=False).n_adders


def test_wide_dense_plans_quickly():
    """A random 400x10 16-bit Dense (issue 14's CNN after its Flatten): the pairwise search took minutes (each
    output's ~2,100 CSD terms form 2.2 M pairs); now seconds. Exact, and more than half of the CSD adders saved."""
    rng = np.random.default_rng(400)
    w = random_matrix(rng, 400, 10, 16)
    p = cmvm.plan(w)
    check_exact(w, p, rng)
    assert p.n_adders < 0.5 * cmvm.plan(w, share=False).n_adders


def test_sparse_counting_of_wide_layers(monkeypatch):
    """Past ``_DENSE_MAX`` input patterns (about 1,400 16-bit inputs) the counts live in a sorted key array: the
    same plan as the dense array's."""
    from nnfpga.backends.rtl import cse

    rng = np.random.default_rng(7)
    w = random_matrix(rng, 24, 6, 10, 0.2)
    dense = cmvm.plan(w)
    cmvm._plan.cache_clear()
    monkeypatch.setattr(cse, "_DENSE_MAX", 0)
    sparse = cmvm.plan(w)
    cmvm._plan.cache_clear()
    assert sparse == dense
    check_exact(w, sparse, rng)


# sha256 of the plans of PINNED's matrices, from the search before its speed-up (issue 17): a faster search must
# share the same subexpressions in the same order (the generated Verilog, and its golden files, depend on them)
PINNED = [(0, 16, 64, 16, 0.0), (1, 64, 32, 8, 0.0), (2, 32, 32, 16, 0.3), (3, 32, 5, 12, 0.0), (4, 9, 4, 2, 0.3),
          (5, 20, 3, 12, 0.9), (6, 8, 12, 24, 0.2), (7, 6, 6, 1, 0.0), (8, 40, 16, 6, 0.5), (9, 12, 30, 10, 0.1)]
PLAN_DIGESTS = {0: "f994d5bd82825377", 1: "f074f248e2142ed5", 2: "08a3dc6041387e19", 3: "7f7d12ae872c3a0a",
                4: "d2c14326c85078bc", 5: "8346b6b966ba9cf9", 6: "d1080e76541181fc", 7: "a36d6b3c8e377a1c",
                8: "b76bd19b80a493e4", 9: "27584cbf10b2638d"}


def plan_digest(p: cmvm.Plan) -> str:
    import hashlib

    text = repr([(s.a, s.sa, s.b, s.sb, s.neg) for s in p.subs]) + repr([[(t.src, t.shift, t.neg) for t in ts]
                                                                         for ts in p.outputs])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.mark.parametrize(("seed", "n_in", "n_out", "bits", "zeros"), PINNED)
def test_plans_are_pinned(seed, n_in, n_out, bits, zeros):
    w = random_matrix(np.random.default_rng([17, seed]), n_in, n_out, bits, zeros)
    assert plan_digest(cmvm.plan(w)) == PLAN_DIGESTS[seed]
