"""The compiled saturating accumulation (ops/sequential_jit.py) against the NumPy loop it replaces on the guarded
path (``DensePlan._sequential``, the reference path's): the same bits and the same overflow counts, over every
geometry of test_conv.py and every rounding and saturating mode the kernel takes (products rounded by TRN, RND,
RND_MIN_INF, RND_CONV, or shifted left exactly; SAT, SAT_SYM, SAT_ZERO), with ``NNFPGA_NUMBA`` on and off."""

from __future__ import annotations

import numpy as np
import pytest
from test_conv import CASES, conv_graph

from nnfpga.emulate import Interpreter
from nnfpga.fixed import FixedType
from nnfpga.ops import sequential_jit
from nnfpga.ops.dense import Dense, DensePlan
from nnfpga.passes import infer_types

ACCUMS = {  # narrow saturating accumulators: many rows leave the guard and many casts saturate
    "trn_sat": FixedType(9, 4, rounding="TRN", overflow="SAT"),
    "rnd_sat": FixedType(10, 4, rounding="RND", overflow="SAT"),
    "rnd_min_inf_sat_sym": FixedType(9, 4, rounding="RND_MIN_INF", overflow="SAT_SYM"),
    "rnd_conv_sat_zero": FixedType(10, 5, rounding="RND_CONV", overflow="SAT_ZERO"),
    "shifted_sat": FixedType(22, 4, rounding="RND", overflow="SAT"),  # more fractional bits than the products
    "unsigned_sat": FixedType(9, 5, signed=False, rounding="RND", overflow="SAT"),
}


def run_paths(g, x: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> tuple:
    """The run with the kernel, with the NumPy loop (kernel off), with NNFPGA_NUMBA=0, and the reference run."""
    fast = Interpreter(g).run(x)
    with monkeypatch.context() as m:
        m.setattr(sequential_jit, "usable", lambda *a: False)
        loop = Interpreter(g).run(x)
    with monkeypatch.context() as m:
        m.setenv("NNFPGA_NUMBA", "0")
        off = Interpreter(g).run(x)
    return fast, loop, off, Interpreter(g, reference=True).run(x)


@pytest.mark.parametrize("accum", sorted(ACCUMS))
def test_kernel_equals_numpy_loop(accum: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if not sequential_jit.accumulate_jit.enabled():
        pytest.fail("numba is a dependency: the compiled kernel must run here (NNFPGA_NUMBA=0 set?)")
    rng = np.random.default_rng(sorted(ACCUMS).index(accum))
    ta, saturated, calls = ACCUMS[accum], 0, []
    real = sequential_jit.sequential
    monkeypatch.setattr(sequential_jit, "sequential", lambda *a: calls.append(1) or real(*a))
    for name, (spatial, c_in, size, c_out, strides, dilation, pads, groups) in CASES.items():
        kernel = rng.normal(size=(*size, c_in // groups, c_out)) * 2
        kernel[rng.random(kernel.shape) < 0.2] = 0.0
        g = conv_graph(kernel, rng.normal(size=c_out) * 3, spatial, None, {"accum": ta},
                       strides=list(strides), dilation=list(dilation), pads=[list(p) for p in pads], groups=groups)
        infer_types(g, FixedType(10, 4, rounding="RND", overflow="SAT"))
        assert "guarded" in {p.path for p in Interpreter(g).prep["c"].groups}, name
        x = rng.normal(size=(60, *spatial, c_in)) * 4
        x[rng.random(x.shape) < 0.3] = 0.0  # zero inputs (a ReLU's) are skipped: no bit may change
        fast, loop, off, ref = run_paths(g, x, monkeypatch)
        for other in (loop, off, ref):
            np.testing.assert_array_equal(fast.outputs[0], other.outputs[0], err_msg=name)
            assert fast.stats.overflow == other.stats.overflow, name
        saturated += fast.stats.overflow[("c", "accum")].count
    assert calls and saturated > 0  # the kernel ran, and casts did saturate


def test_kernel_matches_loop_on_a_dense_plan_by_hand() -> None:
    """One Dense plan, every row sequential: the kernel's accumulators and count are the NumPy loop's."""
    from nnfpga.fixed.arith import as_storage
    from nnfpga.ops.base import QArray

    rng = np.random.default_rng(7)
    tx, ta = FixedType(10, 4), FixedType(8, 3, rounding="RND_CONV", overflow="SAT")
    wm = rng.integers(-300, 300, size=(12, 5)).astype(np.float64)
    wm[3] = 0  # a pruned input
    plan = DensePlan(wm=wm, b_acc=rng.integers(-100, 100, size=5).astype(np.float64), fp=tx.frac + 9,
                     shift=ta.frac - tx.frac - 9, bits=40, fast=False, path="guarded", counts="sequential",
                     bias_overflow=0, live_rows=np.flatnonzero(np.any(wm != 0, axis=1)), pbits=tx.width + 11)
    xm = as_storage(rng.integers(-512, 512, size=(400, 12)), tx.width)
    want, want_ov = Dense._sequential(QArray(xm, tx), plan, ta)
    got, count = sequential_jit.sequential(xm, plan.wm, plan.live_rows, plan.b_acc, ta, -plan.shift)
    np.testing.assert_array_equal(got, want)
    assert count == want_ov.count > 0
