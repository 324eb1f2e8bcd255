"""The compiled direct convolution (ops/conv_jit.py) against the im2col path it replaces: the same bits and the
same overflow counts, over every geometry of test_conv.py (1D/2D, strides, dilation, padding, depthwise, groups)
and every accumulator rule it takes (exact sums shifted left; products rounded by TRN, RND, RND_MIN_INF, RND_CONV;
wrapping, and saturating where bounds prove no cast leaves the range)."""

from __future__ import annotations

import numpy as np
import pytest
from test_conv import CASES, conv_graph

from nnfpga.emulate import Interpreter
from nnfpga.fixed import FixedType
from nnfpga.ops import conv_jit
from nnfpga.passes import infer_types

ACCUMS = {
    "exact": None,
    "wide_grid": FixedType(40, 16),  # more fractional bits than the products: shifted left, exact
    "trn_wrap": FixedType(12, 5, rounding="TRN"),
    "rnd_wrap": FixedType(11, 4, rounding="RND"),
    "rnd_min_inf_wrap": FixedType(12, 6, rounding="RND_MIN_INF"),
    "rnd_conv_wrap": FixedType(10, 4, rounding="RND_CONV"),
    "rnd_sat_proven": FixedType(24, 12, rounding="RND", overflow="SAT"),
}


def run_both(g, x: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> tuple:
    direct = Interpreter(g).run(x)
    with monkeypatch.context() as m:
        m.setattr(conv_jit, "usable", lambda *a: False)
        im2col = Interpreter(g).run(x)
    return direct, im2col


@pytest.mark.parametrize("accum", sorted(ACCUMS))
def test_direct_kernel_equals_im2col(accum: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if not conv_jit.accumulate_jit.enabled():
        pytest.fail("numba is a dependency: the compiled kernel must run here (NNFPGA_NUMBA=0 set?)")
    rng = np.random.default_rng(sorted(ACCUMS).index(accum))
    wrapped = 0
    for name, (spatial, c_in, size, c_out, strides, dilation, pads, groups) in CASES.items():
        kernel = rng.normal(size=(*size, c_in // groups, c_out)) * 2
        kernel[rng.random(kernel.shape) < 0.2] = 0.0
        ta = ACCUMS[accum]
        g = conv_graph(kernel, rng.normal(size=c_out), spatial, None, {"accum": ta} if ta else {},
                       strides=list(strides), dilation=list(dilation), pads=[list(p) for p in pads], groups=groups)
        infer_types(g, FixedType(10, 4, rounding="RND", overflow="SAT"))
        plan = Interpreter(g).prep["c"]
        assert plan.direct is not None, f"{name}: the compiled kernel does not take {g['c'].types['accum']}"
        x = rng.normal(size=(300, *spatial, c_in)) * 4
        x[rng.random(x.shape) < 0.3] = 0.0  # zero inputs (a ReLU's) are skipped: no bit may change
        direct, im2col = run_both(g, x, monkeypatch)
        np.testing.assert_array_equal(direct.outputs[0], im2col.outputs[0], err_msg=name)
        assert direct.stats.overflow == im2col.stats.overflow, name
        wrapped += direct.stats.overflow[("c", "accum")].count
    if accum.endswith("_wrap"):  # the narrow accumulators did wrap: the kernel's sums were cut modulo 2**W
        assert wrapped > 0


def test_rules_it_does_not_take_stay_on_im2col(monkeypatch: pytest.MonkeyPatch) -> None:
    """A saturating accumulator that can overflow (the guarded path) and a rounding with no constant offset
    (RND_ZERO) keep the im2col path; NNFPGA_NUMBA=0 turns the kernel off with the same bits."""
    rng = np.random.default_rng(3)
    kernel, bias = rng.normal(size=(3, 3, 2, 4)) * 2, rng.normal(size=4)
    for ta in (FixedType(8, 3, rounding="RND", overflow="SAT"), FixedType(10, 4, rounding="RND_ZERO")):
        g = conv_graph(kernel, bias, (6, 6), None, {"accum": ta})
        infer_types(g, FixedType(10, 4))
        assert Interpreter(g).prep["c"].direct is None
    g = conv_graph(kernel, bias, (6, 6), None, {"accum": FixedType(10, 4, rounding="RND_CONV")})
    infer_types(g, FixedType(10, 4))
    x = rng.normal(size=(50, 6, 6, 2)) * 4
    on = Interpreter(g).run(x)
    monkeypatch.setenv("NNFPGA_NUMBA", "0")
    off = Interpreter(g).run(x)
    np.testing.assert_array_equal(on.outputs[0], off.outputs[0])
    assert on.stats.overflow == off.stats.overflow


def test_wide_feature_maps_run_in_cache_sized_chunks() -> None:
    """The interpreter's chunk holds at most TENSOR_BUDGET values of the widest tensor in a multiple of LANES
    samples (a 44x44x16 map: 128), never fewer than LANES; narrower CNNs (the SVHN-style CNN's 30x30x16 map, the
    small Conv2D's) keep MIN_ROWS_WIDE."""
    from nnfpga.emulate import interpreter

    rng = np.random.default_rng(5)
    for spatial, c_out, want in (((46, 46), 16, 128), ((32, 32), 16, interpreter.MIN_ROWS_WIDE),
                                 ((16, 16), 8, interpreter.MIN_ROWS_WIDE),
                                 ((66, 66), 64, interpreter.LANES)):
        g = conv_graph(rng.normal(size=(3, 3, 1, c_out)), rng.normal(size=c_out), spatial, None)
        infer_types(g, FixedType(10, 4))
        assert Interpreter(g).chunk == want, (spatial, c_out)
