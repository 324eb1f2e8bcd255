"""A convolution, the batch-norm, the ReLU and the max pooling after it in one kernel pass (the interpreter's
fusion, :mod:`nnfpga.ops.conv_fused`: the kernel's epilogue casts, applies the batch-norm's scale, shift and cast,
the ReLU and the pooling while the sums are in cache) against the same graph run node by node (``keep=True``), with
the kernel's cast off and on the reference path: the same bits and overflow counts, with the inputs', the weights'
and the batch-norm's extreme mantissas, for 2D and 1D poolings, windows the output does not divide (the last row or
column dropped), a global pooling, a pooling straight after the convolution, batch-norm results that round and
saturate, and an accumulator the sums leave (the bound fails: the casts and every fused node apart); poolings and
batch-norms the epilogue cannot do exactly are not fused; a Dense run as a 1x1 convolution fuses its batch-norm
and ReLU too."""

from __future__ import annotations

import numpy as np
import pytest
from test_conv_lanes import ACCUMS, INPUTS, WEIGHT, WIDE_CASES, extreme_conv_graph, set_extreme_inputs

from nnfpga.emulate import Interpreter
from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Node
from nnfpga.ops import OPS, cast_jit, conv_fused, conv_jit
from nnfpga.ops.base import cast
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
    "finer_pool_result": ("3x3_nine_outputs", True, {"pool": [2, 2], "strides": [2, 2]}, "trn", False),  # 2 more
    # fractional bits: the mantissas would need a shift the epilogue does not do
}


def graph(case: str, rng: np.random.Generator):
    geometry, relu, attrs, accum, _ = CASES[case]
    spatial, c_in = WIDE_CASES[geometry][:2]
    ta = ACCUMS[accum]
    g = extreme_conv_graph(rng, WIDE_CASES[geometry], {"weight": WEIGHT, "result": RESULT,
                                                       **({"accum": ta} if ta else {})})
    last = "c"
    if relu:
        g.add(Node("r", "relu", ["c"], g["c"].shape, {}, types={"result": RESULT}))
        last = "r"
    pool_result = {"narrower_pool_result": FixedType(8, 3), "finer_pool_result": FixedType(12, 4)}.get(case, RESULT)
    return typed_with_inputs(g, add_max_pool(g, last, attrs, pool_result), rng, spatial, c_in)


def add_max_pool(g, last: str, attrs: dict, result: FixedType) -> str:
    """A max-pool node ``p`` reading ``last`` (its ``accum`` wide enough for any input)."""
    node = Node("p", "max_pool", [last], (), dict(attrs), types={"accum": FixedType(24, 12), "result": result})
    node.shape = OPS["max_pool"].infer_shape(node, [g[last].shape])
    g.add(node)
    return "p"


def typed_with_inputs(g, last: str, rng: np.random.Generator, spatial: tuple, c_in: int):
    """``g`` with output ``last``, typed from the narrow input type, and 300 inputs (extremes and zero first)."""
    g.outputs = [last]
    tx = INPUTS["narrow"]
    infer_types(g, tx)
    x = rng.uniform(-1, 1, size=(300, *spatial, c_in)) * 2.0 ** (tx.integer - 1)
    set_extreme_inputs(x, tx)
    x[2] = 0.0
    return g, x


@pytest.mark.parametrize("case", sorted(CASES))
def test_conv_relu_and_max_pool_in_one_pass(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if not conv_jit.accumulate_jit.enabled():
        pytest.fail("numba is a dependency: the compiled kernel must run here (NNFPGA_NUMBA=0 set?)")
    g, x = graph(case, np.random.default_rng(sorted(CASES).index(case)))
    it, fused = same_as_apart(g, x, monkeypatch)  # the reference's counts: every partial sum's wrap
    assert it.pool_after == ({"c": "p"} if CASES[case][4] else {})
    assert fused.outputs[0].shape == (300, *g["p"].shape)
    assert fused.stats.overflow[("c", "result")].count > 0 or case == "wrapping_accum"
    if case == "wrapping_accum":  # the sums left the accumulator's range: the bound failed, the fallback ran
        assert fused.stats.overflow[("c", "accum")].count > 0
    if CASES[case][1]:
        assert np.count_nonzero(fused.outputs[0] == 0) > 0 and np.count_nonzero(fused.outputs[0] > 0) > 0


# A batch-norm (scale_shift) between the convolution and the ReLU / pooling: the epilogue applies its scale, shift
# and cast (ScaleShift's float steps, proven exact from the types) before them; the same bits and counts.
BN_W, BN_B, BN_R = FixedType(12, 4), FixedType(12, 6), FixedType(10, 3)  # narrow: the batch-norm's casts overflow
POOL2 = {"pool": [2, 2], "strides": [2, 2]}
BN_CASES = {  # conv geometry, batch-norm result type, ReLU, pool attributes, accumulator, the fused nodes expected
    "bn_relu_pool": ("3x3_nine_outputs", BN_R, True, POOL2, "trn", ("s", "r", "p")),
    "bn_pool": ("3x3_nine_outputs", BN_R, False, POOL2, "trn", ("s", None, "p")),
    "bn_relu": ("2x2_eight_outputs", BN_R, True, None, "trn", ("s", "r", None)),
    "bn_alone": ("3x3_nine_outputs", BN_R, False, None, "exact", ("s", None, None)),
    "bn_rnd_sat": ("3x3_strided_dilated_padded", FixedType(10, 3, rounding="RND", overflow="SAT"), True,
                   {"pool": [3, 2], "strides": [3, 2]}, "trn", ("s", "r", "p")),
    "bn_sat_zero_1d": ("1d_three_wide", FixedType(9, 2, rounding="RND_MIN_INF", overflow="SAT_ZERO"), True,
                       {"pool": [2], "strides": [2]}, "trn", ("s", "r", "p")),
    "bn_wrapping_accum": ("3x3_nine_outputs", BN_R, True, POOL2, "rnd_wrap", ("s", "r", "p")),
    "bn_rnd_conv_not_fused": ("3x3_nine_outputs", FixedType(10, 3, rounding="RND_CONV"), True, POOL2, "trn",
                              (None, None, None)),  # the float steps do not round ties to even: node by node
    "bn_finer_pool_result": ("3x3_nine_outputs", BN_R, True, POOL2, "trn", ("s", "r", None)),  # pool: 2 more bits
}
BN_WIDE = FixedType(44, 8)  # bn_too_wide: the product's 10 + 44 bits pass 2**52: not fused


def bn_graph(case: str, rng: np.random.Generator, scale_type: FixedType = BN_W):
    geometry, tb, relu, attrs, accum, _ = BN_CASES[case]
    spatial, c_in, _, c_out = WIDE_CASES[geometry][:4]
    ta = ACCUMS[accum]
    g = extreme_conv_graph(rng, WIDE_CASES[geometry], {"weight": WEIGHT, "result": RESULT,
                                                       **({"accum": ta} if ta else {})})
    scale, shift = rng.normal(size=c_out) * 2, rng.normal(size=c_out) * 4
    lsb = 2.0**-scale_type.frac
    scale[0], scale[-1] = scale_type.min_mantissa * lsb, scale_type.max_mantissa * lsb
    shift[0], shift[-1] = BN_B.max_mantissa * 2.0**-BN_B.frac, BN_B.min_mantissa * 2.0**-BN_B.frac
    g.add(Node("s", "scale_shift", ["c"], g["c"].shape, {}, weights={"scale": scale, "shift": shift},
               types={"weight": scale_type, "bias": BN_B, "result": tb}))
    last = "s"
    if relu:
        g.add(Node("r", "relu", ["s"], g["s"].shape, {}, types={"result": tb}))
        last = "r"
    if attrs is not None:
        finer = FixedType(tb.width + 2, tb.integer) if case == "bn_finer_pool_result" else tb
        last = add_max_pool(g, last, attrs, finer)
    return typed_with_inputs(g, last, rng, spatial, c_in)


def same_as_apart(g, x, monkeypatch: pytest.MonkeyPatch):
    """The fused run, after checking it against node by node, the kernel's cast off, and the reference."""
    it = Interpreter(g)
    fused = it.run(x)
    apart = it.run(x, keep=True)  # every node's values kept: nothing fused
    reference = Interpreter(g, reference=True).run(x)
    with monkeypatch.context() as mp:
        mp.setattr(cast_jit, "result_cast_args", lambda *a: None)  # no cast in the kernel: nothing fused
        plain = Interpreter(g).run(x)
    np.testing.assert_array_equal(fused.outputs[0], reference.outputs[0])
    for other in (apart, plain):
        np.testing.assert_array_equal(fused.outputs[0], other.outputs[0])
        assert fused.stats.overflow == other.stats.overflow
    return it, fused


@pytest.mark.parametrize("case", sorted(BN_CASES))
def test_conv_batch_norm_relu_and_max_pool_in_one_pass(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    g, x = bn_graph(case, np.random.default_rng(10 + sorted(BN_CASES).index(case)))
    expected = BN_CASES[case][5]
    apart_casts = []  # the fallback's casts (a sum left the accumulator's range: each node's op runs apart)
    monkeypatch.setattr(conv_fused, "cast", lambda *a: apart_casts.append(a[0].name) or cast(*a))
    it, fused = same_as_apart(g, x, monkeypatch)
    got = it.fused.get("c")
    assert (got.scale, got.relu, got.pool) == expected if got else expected == (None, None, None)
    if case == "bn_rnd_conv_not_fused":
        return
    ov = fused.stats.overflow
    assert ov[("s", "result")].total == x.shape[0] * int(np.prod(g["c"].shape))
    assert ov[("s", "result")].count > 0  # the batch-norm's casts overflow: counted
    assert ov[("c", "result")].count > 0 or case == "bn_wrapping_accum"  # (an 11-bit accumulator fits the result)
    if case == "bn_wrapping_accum":  # the sums left the accumulator's range: the bound failed, the fallback ran
        assert ov[("c", "accum")].count > 0 and "c" in apart_casts
    else:
        assert apart_casts == []
    if BN_CASES[case][2]:
        assert np.count_nonzero(fused.outputs[0] == 0) > 0 and np.count_nonzero(fused.outputs[0] > 0) > 0


def test_a_batch_norm_whose_float_steps_are_not_exact_is_not_fused(monkeypatch: pytest.MonkeyPatch) -> None:
    g, x = bn_graph("bn_relu_pool", np.random.default_rng(30), scale_type=BN_WIDE)
    it, _ = same_as_apart(g, x, monkeypatch)
    assert "c" not in it.fused and cast_jit.affine_float_args(RESULT, it.prep["s"].sm, BN_WIDE, it.prep["s"].bm,
                                                              BN_B, BN_R) is None


def test_dense_batch_norm_relu_after_a_conv_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Dense on a convolution's flattened (batch-innermost) output, run as a 1x1 convolution, with the
    batch-norm and the ReLU after it in its epilogue."""
    rng = np.random.default_rng(31)
    g, x = bn_graph("bn_relu_pool", rng)
    n_in = int(np.prod(g["p"].shape))
    g.add(Node("f", "flatten", ["p"], (n_in,), {}))
    kernel = rng.normal(size=(n_in, 7))
    kernel[0, 0], kernel[-1, -1] = WEIGHT.min_mantissa * 2.0**-WEIGHT.frac, WEIGHT.max_mantissa * 2.0**-WEIGHT.frac
    g.add(Node("d", "dense", ["f"], (7,), {}, weights={"kernel": kernel, "bias": rng.normal(size=7)},
               types={"weight": WEIGHT, "result": RESULT, "accum": ACCUMS["trn"]}))
    scale, shift = rng.normal(size=7) * 2, rng.normal(size=7) * 4
    scale[0] = BN_W.max_mantissa * 2.0**-BN_W.frac
    g.add(Node("s2", "scale_shift", ["d"], (7,), {}, weights={"scale": scale, "shift": shift},
               types={"weight": BN_W, "bias": BN_B, "result": BN_R}))
    g.add(Node("r2", "relu", ["s2"], (7,), {}, types={"result": BN_R}))
    g.add(Node("o", "dense", ["r2"], (3,), {}, weights={"kernel": rng.normal(size=(7, 3)), "bias": np.zeros(3)},
               types={"weight": WEIGHT, "result": FixedType(16, 8)}))
    g.outputs = ["o"]
    infer_types(g, INPUTS["narrow"])
    ran = []
    real = Interpreter._run_fused

    def spy(self, node, x, fused, stats):
        y = real(self, node, x, fused, stats)
        ran.append((node.name, y is not None))
        return y

    monkeypatch.setattr(Interpreter, "_run_fused", spy)
    it, fused = same_as_apart(g, x, monkeypatch)
    assert it.fused["d"] == it.fused["d"].__class__("s2", "r2", None)
    assert ("d", True) in ran  # the Dense's pass ran fused
    assert fused.stats.overflow[("s2", "result")].count > 0 and fused.stats.overflow[("d", "result")].total > 0
