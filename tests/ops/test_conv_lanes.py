"""The compiled direct convolution's int32 lanes (ops/conv_jit.py ``lanes``) against its int64 lanes and the
im2col path: the same bits and overflow counts over every geometry of test_conv.py, for each accumulator rule the
kernel takes (exact sums shifted left; TRN, RND, RND_MIN_INF, RND_CONV products), with input types whose products
fit int32 (the int32 kernel) and wider ones where they do not (the int64 kernel is taken); and its output rows
split over threads (ops/conv_threads.py), with the same bits."""

from __future__ import annotations

import numpy as np
import pytest
from test_conv import CASES, conv_graph

from nnfpga.emulate import Interpreter
from nnfpga.errors import ConfigError
from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Node
from nnfpga.ops import cast_jit, conv_jit, conv_threads
from nnfpga.passes import infer_types

ACCUMS = {
    "exact": None,
    "trn": FixedType(24, 12, rounding="TRN"),  # the benchmark's accumulator: products truncated before the sum
    "rnd_wrap": FixedType(11, 4, rounding="RND"),
    "rnd_min_inf": FixedType(20, 8, rounding="RND_MIN_INF"),
    "rnd_conv": FixedType(14, 6, rounding="RND_CONV"),
}
INPUTS = {"narrow": FixedType(16, 6), "wide": FixedType(24, 8)}  # products (weights <12,4>) of 28 vs 36 bits
WEIGHT = FixedType(12, 4)


def set_extreme_weights(kernel: np.ndarray) -> np.ndarray:
    """The kernel's first and last weights at WEIGHT's extreme mantissas (in place): the largest products."""
    kernel[(0,) * (kernel.ndim - 1)] = WEIGHT.min_mantissa * 2.0**-WEIGHT.frac
    kernel.reshape(-1)[-1] = WEIGHT.max_mantissa * 2.0**-WEIGHT.frac
    return kernel


def set_extreme_inputs(x: np.ndarray, tx: FixedType) -> np.ndarray:
    """Samples 0 and 1 at the input type's extreme mantissas (in place)."""
    x[0] = tx.min_mantissa * 2.0**-tx.frac
    x[1] = tx.max_mantissa * 2.0**-tx.frac
    return x


def extreme_conv_graph(rng: np.random.Generator, geometry: tuple, types: dict):
    """``conv_graph`` of a CASES / WIDE_CASES entry: normal(0, 2) weights with the extreme ones
    (:func:`set_extreme_weights`), then a normal bias, both drawn from ``rng`` in that order."""
    spatial, c_in, size, c_out, strides, dilation, pads, groups = geometry
    kernel = set_extreme_weights(rng.normal(size=(*size, c_in // groups, c_out)) * 2)
    return conv_graph(kernel, rng.normal(size=c_out), spatial, None, types, strides=list(strides),
                      dilation=list(dilation), pads=[list(p) for p in pads], groups=groups)


def run(g, x: np.ndarray, monkeypatch: pytest.MonkeyPatch, lane: np.dtype | None) -> tuple:
    """The interpreter's result and the kernel's lanes, forced to ``lane`` (None: as chosen, False: im2col)."""
    with monkeypatch.context() as m:
        if lane is False:
            m.setattr(conv_jit, "usable", lambda *a: False)
        elif lane is not None:
            m.setattr(conv_jit, "lanes", lambda *a: np.dtype(lane))
        it = Interpreter(g)
        d = it.prep["c"].direct
        return it.run(x), d.lane if d is not None else None


@pytest.mark.parametrize("inputs", sorted(INPUTS))
@pytest.mark.parametrize("accum", sorted(ACCUMS))
def test_int32_lanes_equal_int64_lanes_and_im2col(accum: str, inputs: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if not conv_jit.accumulate_jit.enabled():
        pytest.fail("numba is a dependency: the compiled kernel must run here (NNFPGA_NUMBA=0 set?)")
    rng = np.random.default_rng(sorted(ACCUMS).index(accum) + 10 * sorted(INPUTS).index(inputs))
    tx, ta = INPUTS[inputs], ACCUMS[accum]
    chosen = set()
    for name, (spatial, c_in, size, c_out, strides, dilation, pads, groups) in CASES.items():
        kernel = rng.normal(size=(*size, c_in // groups, c_out)) * 2
        kernel[rng.random(kernel.shape) < 0.2] = 0.0
        kernel[(0,) * (kernel.ndim - 1)] = 1.5  # no group of all-zero weights (Dense's plan for it: no products)
        types = {"weight": WEIGHT, **({"accum": ta} if ta else {})}
        g = conv_graph(kernel, rng.normal(size=c_out), spatial, None, types,
                       strides=list(strides), dilation=list(dilation), pads=[list(p) for p in pads], groups=groups)
        infer_types(g, tx)
        x = rng.uniform(-1, 1, size=(300, *spatial, c_in)) * 2.0 ** (tx.integer - 1)
        x[rng.random(x.shape) < 0.3] = 0.0
        x[0] = tx.min_mantissa * 2.0**-tx.frac  # the extreme inputs: the largest products
        x[1] = tx.max_mantissa * 2.0**-tx.frac
        auto, lane = run(g, x, monkeypatch, None)
        assert lane is not None, f"{name}: the compiled kernel does not take {g['c'].types['accum']}"
        chosen.add(lane)
        wide, _ = run(g, x, monkeypatch, np.int64)
        im2col, _ = run(g, x, monkeypatch, False)
        for other in (wide, im2col):
            np.testing.assert_array_equal(auto.outputs[0], other.outputs[0], err_msg=name)
            assert auto.stats.overflow == other.stats.overflow, name
    if inputs == "wide" or accum == "rnd_conv":  # products over 32 bits; RND_CONV's tie test stays in int64
        assert chosen == {np.dtype(np.int64)}
    else:  # every product fits int32 (the sums too, but for the widest exact accumulators)
        assert np.dtype(np.int32) in chosen


@pytest.mark.parametrize("accum", ["exact", "trn", "rnd_conv"])
def test_row_bands_on_threads_give_the_same_bits(accum: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Output rows cut into bands computed on threads (ops/conv_threads.py): the one-thread kernel's bits and
    overflow counts, over every geometry (strided and dilated windows read the right input rows per band)."""
    rng = np.random.default_rng(7)
    monkeypatch.setattr(conv_threads, "MIN_WORK", 1)  # the test layers are tiny: split them anyway
    for name, (spatial, c_in, size, c_out, strides, dilation, pads, groups) in CASES.items():
        kernel = rng.normal(size=(*size, c_in // groups, c_out)) * 2
        kernel[(0,) * (kernel.ndim - 1)] = 1.5
        ta = ACCUMS[accum]
        types = {"weight": WEIGHT, **({"accum": ta} if ta else {})}
        g = conv_graph(kernel, rng.normal(size=c_out), spatial, None, types,
                       strides=list(strides), dilation=list(dilation), pads=[list(p) for p in pads], groups=groups)
        infer_types(g, INPUTS["narrow"])
        x = rng.uniform(-32, 32, size=(70, *spatial, c_in))
        results = []
        for n in ("1", "3"):
            monkeypatch.setenv("NNFPGA_THREADS", n)
            results.append(Interpreter(g).run(x))
        np.testing.assert_array_equal(results[0].outputs[0], results[1].outputs[0], err_msg=name)
        assert results[0].stats.overflow == results[1].stats.overflow, name
    monkeypatch.setenv("NNFPGA_THREADS", "3")
    assert len(conv_threads.bands(5, 10)) == 3 and conv_threads.bands(2, 10) == [(0, 1), (1, 2)]


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_bad_thread_count_is_a_config_error(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NNFPGA_THREADS", value)
    with pytest.raises(ConfigError, match="NNFPGA_THREADS"):
        conv_threads.threads()


@pytest.mark.parametrize(("integer", "lane"), [(12, np.int32), (21, np.int32), (22, np.int64), (23, np.int64),
                                               (60, None)])
def test_shift_past_the_lane_width_takes_the_wide_lanes(integer: int, lane: type | None,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel masks the products' shift ``k`` to its lanes' width (so that LLVM shifts in int32): ``k`` of 31
    stays in int32 lanes, 32 and more take int64 lanes, 64 and more the im2col path; every one gives the im2col
    path's bits and counts, extreme inputs included (products of ``<16,6>`` x ``<12,4>``: 18 fractional bits,
    accumulator ``<8, integer>``: ``k = 18 - (8 - integer) = 10 + integer``)."""
    rng = np.random.default_rng(integer)
    spatial, c_in, size, c_out, strides, dilation, pads, groups = CASES[sorted(CASES)[0]]
    kernel = rng.normal(size=(*size, c_in // groups, c_out)) * 2
    set_extreme_weights(kernel)
    ta = FixedType(8, integer, rounding="TRN")
    g = conv_graph(kernel, rng.normal(size=c_out), spatial, None, {"weight": WEIGHT, "accum": ta},
                   strides=list(strides), dilation=list(dilation), pads=[list(p) for p in pads], groups=groups)
    tx = INPUTS["narrow"]
    infer_types(g, tx)
    x = rng.uniform(-1, 1, size=(300, *spatial, c_in)) * 2.0 ** (tx.integer - 1)
    set_extreme_inputs(x, tx)
    auto, chosen = run(g, x, monkeypatch, None)
    assert chosen == (None if lane is None else np.dtype(lane)), g["c"].types["accum"]
    im2col, _ = run(g, x, monkeypatch, False)
    np.testing.assert_array_equal(auto.outputs[0], im2col.outputs[0])
    assert auto.stats.overflow == im2col.stats.overflow


WIDE_CASES = {  # (spatial, C_in, kernel, C_out, strides, dilation, pads, groups): 4 outputs a pass and a remainder
    "3x3_nine_outputs": ((6, 7), 2, (3, 3), 9, (1, 1), (1, 1), ((0, 0), (0, 0)), 1),
    "3x3_strided_dilated_padded": ((8, 9), 3, (3, 3), 6, (2, 1), (1, 2), ((1, 0), (1, 2)), 1),
    "1x3_two_groups_of_five": ((5, 8), 4, (1, 3), 10, (1, 2), (1, 1), ((0, 0), (1, 1)), 2),
    "1d_three_wide": ((9,), 1, (3,), 8, (1,), (2,), ((2, 0),), 1),
    "2x2_eight_outputs": ((5, 5), 2, (2, 2), 8, (1, 1), (1, 1), ((0, 0), (0, 0)), 1),
}


@pytest.mark.parametrize("accum", ["trn", "rnd_wrap", "rnd_min_inf", "exact"])
@pytest.mark.parametrize("name", sorted(WIDE_CASES))
def test_four_outputs_a_pass_and_rows_of_three(name: str, accum: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel's passes over four outputs at once, and over a window row of three positions at once (the
    rounded products' path, ``kw == 3``), with a remainder of outputs, groups, strides, dilation and padding: the
    int64 lanes' and the im2col path's bits and counts, with the inputs' and the weights' extreme mantissas."""
    rng = np.random.default_rng(sorted(WIDE_CASES).index(name) * 5 + len(accum))
    spatial, c_in, size, c_out, strides, dilation, pads, groups = WIDE_CASES[name]
    tx, ta = INPUTS["narrow"], ACCUMS[accum]
    kernel = rng.normal(size=(*size, c_in // groups, c_out)) * 2
    kernel[rng.random(kernel.shape) < 0.1] = 0.0
    set_extreme_weights(kernel)
    types = {"weight": WEIGHT, **({"accum": ta} if ta else {})}
    g = conv_graph(kernel, rng.normal(size=c_out), spatial, None, types,
                   strides=list(strides), dilation=list(dilation), pads=[list(p) for p in pads], groups=groups)
    infer_types(g, tx)
    x = rng.uniform(-1, 1, size=(290, *spatial, c_in)) * 2.0 ** (tx.integer - 1)
    set_extreme_inputs(x, tx)
    x[2, ..., 0] = 0.0
    auto, lane = run(g, x, monkeypatch, None)
    assert lane == np.dtype(np.int32) or accum == "exact"
    for forced in (np.int64, False):
        other, _ = run(g, x, monkeypatch, forced)
        np.testing.assert_array_equal(auto.outputs[0], other.outputs[0], err_msg=str(forced))
        assert auto.stats.overflow == other.stats.overflow


RESULTS = {"wrap": FixedType(8, 3), "sat_rnd": FixedType(9, 4, rounding="RND", overflow="SAT"),
           "sat_zero": FixedType(10, 2, overflow="SAT_ZERO"), "wider": FixedType(30, 14),
           "rnd_conv": FixedType(8, 3, rounding="RND_CONV")}


@pytest.mark.parametrize("accum", ["trn", "rnd_wrap", "exact"])
@pytest.mark.parametrize("result", sorted(RESULTS))
def test_result_cast_in_the_kernel_epilogue(result: str, accum: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The result's cast done by the kernel as it writes the sums (cast_jit.result_cast_args) gives the separate
    cast's bits and counts, for roundings and overflows that wrap, saturate and zero, with an accumulator that
    wraps (``rnd_wrap``: the sums leave its range, the kernel's cast is dropped and both casts run), and where the
    float cast does not apply (RND_CONV: the separate cast)."""
    rng = np.random.default_rng(sorted(RESULTS).index(result))
    spatial, c_in, size, c_out, strides, dilation, pads, groups = WIDE_CASES["3x3_strided_dilated_padded"]
    kernel = rng.normal(size=(*size, c_in // groups, c_out)) * 2
    ta = ACCUMS[accum]
    g = conv_graph(kernel, rng.normal(size=c_out), spatial, None,
                   {"weight": WEIGHT, "result": RESULTS[result], **({"accum": ta} if ta else {})},
                   strides=list(strides), dilation=list(dilation), pads=[list(p) for p in pads], groups=groups)
    tx = INPUTS["narrow"]
    infer_types(g, tx)
    x = rng.uniform(-1, 1, size=(200, *spatial, c_in)) * 2.0 ** (tx.integer - 1)
    set_extreme_inputs(x, tx)
    fused = Interpreter(g).run(x)
    kept = Interpreter(g).run(x, precast=True)  # precast kept: the separate cast
    with monkeypatch.context() as mp:
        mp.setattr(cast_jit, "result_cast_args", lambda *a: None)
        apart = Interpreter(g).run(x)
    for other in (kept, apart):
        np.testing.assert_array_equal(fused.outputs[0], other.outputs[0])
        assert fused.stats.overflow == other.stats.overflow
    assert (cast_jit.result_cast_args(g["c"].types["accum"], RESULTS[result]) is None) == (result == "rnd_conv")
    if result in ("wrap", "sat_rnd"):
        assert fused.stats.overflow[("c", "result")].count > 0
    if accum == "rnd_wrap":
        assert fused.stats.overflow[("c", "accum")].count > 0


def conv_relu_graph(rng: np.random.Generator, ta: FixedType | None, relu_type: FixedType | None,
                    max_value: float | None = None):
    spatial, c_in, size, c_out, strides, dilation, pads, groups = WIDE_CASES["3x3_nine_outputs"]
    kernel = rng.normal(size=(*size, c_in // groups, c_out)) * 2
    g = conv_graph(kernel, rng.normal(size=c_out), spatial, None,
                   {"weight": WEIGHT, "result": FixedType(10, 4), **({"accum": ta} if ta else {})},
                   strides=list(strides), dilation=list(dilation), pads=[list(p) for p in pads], groups=groups)
    g.add(Node("r", "relu", ["c"], g["c"].shape, {"max_value": max_value} if max_value else {},
               types={"result": relu_type} if relu_type else {}))
    g.outputs = ["r"]
    infer_types(g, INPUTS["narrow"])
    x = rng.uniform(-1, 1, size=(150, *spatial, c_in)) * 2.0 ** (INPUTS["narrow"].integer - 1)
    set_extreme_inputs(x, INPUTS["narrow"])
    return g, x


@pytest.mark.parametrize("case", ["fused", "wrapping_accum", "other_relu_type", "max_value"])
def test_conv_and_relu_in_one_pass(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The interpreter runs a convolution and the ReLU that alone reads it in one kernel pass (the ReLU in the
    kernel's cast): the unfused run's bits and counts (keep=True runs every node apart), also where the sums leave
    a wrapping accumulator (the casts apart, then the ReLU); a ReLU of another type or with a ``max_value`` is
    not fused."""
    rng = np.random.default_rng(len(case))
    ta = ACCUMS["rnd_wrap"] if case == "wrapping_accum" else ACCUMS["trn"]
    g, x = conv_relu_graph(rng, ta, None if case == "other_relu_type" else FixedType(10, 4),  # None: ap_ufixed
                           1.5 if case == "max_value" else None)
    it = Interpreter(g)
    assert it.relu_after == ({"c": "r"} if case in ("fused", "wrapping_accum") else {})
    fused = it.run(x)
    apart = it.run(x, keep=True)
    with monkeypatch.context() as mp:
        mp.setattr(cast_jit, "result_cast_args", lambda *a: None)
        plain = Interpreter(g).run(x)
    for other in (apart, plain):
        np.testing.assert_array_equal(fused.outputs[0], other.outputs[0])
        assert fused.stats.overflow == other.stats.overflow
    assert fused.stats.overflow[("c", "result")].count > 0 or case == "wrapping_accum"
    assert np.count_nonzero(fused.outputs[0] == 0) > 0 and np.count_nonzero(fused.outputs[0] > 0) > 0
    if case == "wrapping_accum":
        assert fused.stats.overflow[("c", "accum")].count > 0
