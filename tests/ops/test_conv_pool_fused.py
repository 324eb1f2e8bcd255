"""A convolution, the ReLU after it and the max pooling after those in one kernel pass (the interpreter's fusion,
``Conv.run_fixed_fused``: the kernel's epilogue casts, applies the ReLU and pools while the sums are in cache)
against the same graph run node by node (``keep=True``) and with the kernel's cast off: the same bits and
overflow counts (the reference path: the same bits), with the inputs' and the weights' extreme mantissas, for 2D
and 1D poolings, windows the output does not divide (the last row or column dropped), a global pooling, a pooling
straight after the convolution, and an accumulator the sums leave (the bound fails: the casts, the ReLU and the
pooling apart); poolings the epilogue cannot do are not fused."""

from __future__ import annotations

import numpy as np
import pytest
from test_conv import conv_graph
from test_conv_lanes import ACCUMS, INPUTS, WEIGHT, WIDE_CASES

from nnfpga.emulate import Interpreter
from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Node
from nnfpga.ops import OPS, cast_jit, conv_jit
from nnfpga.passes import infer_types

RESULT = FixedType(10, 4)  # narrow: the sums' casts overflow (wrap) at the inputs' extremes
CASES = {  # conv geometry, ReLU, pool attributes, accumulator, fused
    "relu_pool_2x2": ("3x3_nine_outputs", True, {"pool": [2, 2], "strides": [2, 2]}, "trn", True),
    "pool_without_relu": ("3x3_nine_outputs", False, {"pool": [2, 2], "strides": [2, 2]}, "trn", True),
    "pool_3x2_drops_a_row": ("3x3_strided_dilated_padded", True, {"pool": [3, 2], "strides": [3, 2]}, "trn", True),
    "pool_1d": ("1d_three_wide", True, {"pool": [2], "strides": [2]}, "rnd_min_inf", True),
    "global": ("2x2_eight_outputs", True, {"pool": [4, 4], "strides": [4, 4], "global": True}, "trn", True),
    "wrapping_accum": ("3x3_nine_outputs", True, {"pool": [2, 2], "strides": [2, 2]}, "rnd_wrap", True),
    "padded_pool": ("3x3_nine_outputs", True, {"pool": [2, 2], "strides": [2, 2], "pads": [[1, 0], [1, 0]]}, "trn",
                    False),
    "overlapping_pool": ("3x3_nine_outputs", True, {"pool": [3, 3], "strides": [2, 2]}, "trn", False),
    "narrower_pool_result": ("3x3_nine_outputs", True, {"pool": [2, 2], "strides": [2, 2]}, "trn", False),
}


def graph(case: str, rng: np.random.Generator):
    geometry, relu, attrs, accum, _ = CASES[case]
    spatial, c_in, size, c_out, strides, dilation, pads, groups = WIDE_CASES[geometry]
    kernel = rng.normal(size=(*size, c_in // groups, c_out)) * 2
    kernel[(0,) * (kernel.ndim - 1)] = WEIGHT.min_mantissa * 2.0**-WEIGHT.frac
    kernel.reshape(-1)[-1] = WEIGHT.max_mantissa * 2.0**-WEIGHT.frac
    ta = ACCUMS[accum]
    g = conv_graph(kernel, rng.normal(size=c_out), spatial, None,
                   {"weight": WEIGHT, "result": RESULT, **({"accum": ta} if ta else {})},
                   strides=list(strides), dilation=list(dilation), pads=[list(p) for p in pads], groups=groups)
    last = "c"
    if relu:
        g.add(Node("r", "relu", ["c"], g["c"].shape, {}, types={"result": RESULT}))
        last = "r"
    pool_types = {"accum": FixedType(24, 12), "result": FixedType(8, 3) if case == "narrower_pool_result" else RESULT}
    node = Node("p", "max_pool", [last], (), dict(attrs), types=pool_types)
    node.shape = OPS["max_pool"].infer_shape(node, [g[last].shape])
    g.add(node)
    g.outputs = ["p"]
    tx = INPUTS["narrow"]
    infer_types(g, tx)
    x = rng.uniform(-1, 1, size=(300, *spatial, c_in)) * 2.0 ** (tx.integer - 1)
    x[0] = tx.min_mantissa * 2.0**-tx.frac
    x[1] = tx.max_mantissa * 2.0**-tx.frac
    x[2] = 0.0
    return g, x


@pytest.mark.parametrize("case", sorted(CASES))
def test_conv_relu_and_max_pool_in_one_pass(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if not conv_jit.accumulate_jit.enabled():
        pytest.fail("numba is a dependency: the compiled kernel must run here (NNFPGA_NUMBA=0 set?)")
    g, x = graph(case, np.random.default_rng(sorted(CASES).index(case)))
    it = Interpreter(g)
    assert it.pool_after == ({"c": "p"} if CASES[case][4] else {})
    fused = it.run(x)
    apart = it.run(x, keep=True)  # every node's values kept: nothing fused
    reference = Interpreter(g, reference=True).run(x)
    with monkeypatch.context() as mp:
        mp.setattr(cast_jit, "result_cast_args", lambda *a: None)  # no cast in the kernel: nothing fused
        plain = Interpreter(g).run(x)
    np.testing.assert_array_equal(fused.outputs[0], reference.outputs[0])  # its counts: every partial sum's wrap
    for other in (apart, plain):
        np.testing.assert_array_equal(fused.outputs[0], other.outputs[0])
        assert fused.stats.overflow == other.stats.overflow
    assert fused.outputs[0].shape == (300, *g["p"].shape)
    assert fused.stats.overflow[("c", "result")].count > 0 or case == "wrapping_accum"
    if case == "wrapping_accum":  # the sums left the accumulator's range: the bound failed, the fallback ran
        assert fused.stats.overflow[("c", "accum")].count > 0
    if CASES[case][1]:
        assert np.count_nonzero(fused.outputs[0] == 0) > 0 and np.count_nonzero(fused.outputs[0] > 0) > 0
