"""Piecewise-linear activations (ReLU incl. max_value, LeakyReLU, linear, hard sigmoid, hard tanh) against
exact Fraction references of their docstrings, and every float kernel against Keras' own functions."""

from __future__ import annotations

import random
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

import fxref
from graphs import chain
from nnfpga.fixed import FixedType, storage_dtype
from nnfpga.ops import OPS, QArray, RunStats
from nnfpga.passes import infer_types

ROUNDINGS = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
OVERFLOWS = ("WRAP", "SAT", "SAT_ZERO")


def random_type(py: random.Random, wmin: int = 2, wmax: int = 16, signed: bool | None = None) -> FixedType:
    width = py.randint(wmin, wmax)
    return FixedType(width, py.randint(-2, width + 2), py.random() < 0.7 if signed is None else signed,
                     py.choice(ROUNDINGS), py.choice(OVERFLOWS))


def all_mantissas(t: FixedType, limit: int = 600) -> list[int]:
    lo, hi = fxref.mantissa_range(t)
    if hi - lo < limit:
        return list(range(lo, hi + 1))
    py = random.Random(t.width)
    return [lo, lo + 1, -1, 0, 1, hi - 1, hi, *(py.randint(lo, hi) for _ in range(limit))]


def run(op: str, tx: FixedType, xm: list[int], *, attrs: dict[str, Any] | None = None,
        types: dict[str, FixedType] | None = None, default: FixedType | None = None
        ) -> tuple[list[int], dict[str, FixedType], RunStats]:
    """Type the node (its open slots by the op's rule), run the fixed kernel on the mantissas ``xm``."""
    g = chain((1,), ("a", op, {"attrs": dict(attrs or {}), "types": dict(types or {})}), input_type=tx)
    infer_types(g, default or FixedType(16, 6))
    node = g["a"]
    x = QArray(np.array([[m] for m in xm], dtype=object).astype(storage_dtype(tx.width)), tx)
    stats = RunStats()
    out = OPS[op].run_fixed(node, [x], OPS[op].prepare(node, [tx]), stats)
    assert out.t == node.types["result"]
    return [int(v) for v in out.m.ravel().tolist()], dict(node.types), stats


def ref(fn: Any, tx: FixedType, tr: FixedType, xm: list[int]) -> list[int]:
    return [fxref.cast(fn(fxref.value(m, tx)), tr) for m in xm]


# -- ReLU ---------------------------------------------------------------------------------------------

def test_relu_default_result_is_exact_unsigned_type() -> None:
    tx = FixedType(16, 6)
    xm = all_mantissas(tx)
    got, types, stats = run("relu", tx, xm)
    assert types["result"] == FixedType(15, 5, signed=False)
    assert got == ref(lambda v: max(v, 0), tx, types["result"], xm)
    assert stats.overflow[("a", "result")].count == 0
    # an unsigned input keeps its type
    tu = FixedType(8, 3, signed=False)
    assert run("relu", tu, [0, 5, 255])[1]["result"] == tu


@pytest.mark.parametrize("seed", range(12))
def test_relu_with_max_value_matches_reference(seed: int) -> None:
    py = random.Random(seed)
    tx, tr = random_type(py, 3, 14), random_type(py, 3, 14)
    max_value = py.choice([6.0, 1.0, 0.3, 2.75, 100.0])
    xm = all_mantissas(tx, 200)
    cap = Fraction(max_value) // fxref.lsb(tx) * fxref.lsb(tx)  # max_value quantized down to the input's LSB
    got, _, stats = run("relu", tx, xm, attrs={"max_value": max_value}, types={"result": tr})
    want = ref(lambda v: min(max(v, 0), cap), tx, tr, xm)
    assert got == want
    assert stats.overflow[("a", "result")].count == sum(fxref.overflows(min(max(fxref.value(m, tx), 0), cap), tr)
                                                      for m in xm)


def test_relu6_caps_at_six() -> None:
    tx = FixedType(12, 5)  # [-16, 16), LSB 1/128
    got, types, _ = run("relu", tx, [-2048, -1, 0, 5 * 128, 6 * 128, 6 * 128 + 1, 2047], attrs={"max_value": 6.0})
    assert [fxref.value(m, types["result"]) for m in got] == [0, 0, 0, 5, 6, 6, 6]


# -- linear, LeakyReLU, hard sigmoid, hard tanh ----------------------------------------------------

@pytest.mark.parametrize("seed", range(8))
def test_linear_is_a_cast(seed: int) -> None:
    py = random.Random(50 + seed)
    tx, tr = random_type(py), random_type(py)
    xm = all_mantissas(tx, 200)
    assert run("linear", tx, xm, types={"result": tr})[0] == ref(lambda v: v, tx, tr, xm)
    assert run("linear", tx, xm)[0] == xm  # default: the input's own type


def test_leaky_relu_default_param_type() -> None:
    _, types, _ = run("leaky_relu", FixedType(16, 6), [0], attrs={"alpha": 0.3})
    # alpha and 1.0 in 18 bits: [-0, 1.0] needs 2 integer bits (sign included)
    assert types == {"param": FixedType(18, 2), "result": FixedType(16, 6)}


@pytest.mark.parametrize("seed", range(12))
def test_leaky_relu_matches_reference(seed: int) -> None:
    py = random.Random(100 + seed)
    tx, tr = random_type(py, 3, 14, signed=True), random_type(py, 3, 14)
    tp = random_type(py, 3, 12, signed=True) if seed % 2 else None
    alpha = py.choice([0.3, 0.2, 0.01, 0.1234567, 1.5])
    types = {"result": tr} | ({"param": tp} if tp else {})
    xm = all_mantissas(tx, 200)
    got, typed, _ = run("leaky_relu", tx, xm, attrs={"alpha": alpha}, types=types)
    a = fxref.value(fxref.quantize_const(alpha, typed["param"]), typed["param"])
    assert got == ref(lambda v: v if v >= 0 else a * v, tx, tr, xm)


@pytest.mark.parametrize("seed", range(12))
def test_hard_sigmoid_matches_reference(seed: int) -> None:
    py = random.Random(200 + seed)
    tx = random_type(py, 3, 14, signed=True)
    types = {"result": random_type(py, 3, 14)} if seed % 3 else {}
    slope, offset = (1 / 6, 0.5) if seed % 2 else (0.2, 0.5)
    xm = all_mantissas(tx, 200)
    got, typed, _ = run("hard_sigmoid", tx, xm, attrs={"slope": slope, "offset": offset}, types=types)
    tp, tr = typed["param"], typed["result"]
    s, o = (fxref.value(fxref.quantize_const(c, tp), tp) for c in (slope, offset))
    assert got == ref(lambda v: min(max(s * v + o, 0), 1), tx, tr, xm)


def test_hard_sigmoid_default_types_and_keras_constants() -> None:
    """Keras 3's hard sigmoid is relu6(x + 3) / 6; the quantized slope 1/6 is off by less than a param LSB."""
    tx = FixedType(16, 6)
    xs = [-10.0, -3.0, -1.5, 0.0, 1.0, 3.0, 10.0]
    got, typed, _ = run("hard_sigmoid", tx, [int(v * 1024) for v in xs])
    assert typed == {"param": FixedType(18, 2), "result": FixedType(16, 1, signed=False)}
    for m, v in zip(got, xs, strict=True):
        want = min(max(Fraction(v) / 6 + Fraction(1, 2), 0), 1)
        assert abs(fxref.value(m, typed["result"]) - want) <= 2 * fxref.lsb(typed["result"])
    assert fxref.value(got[0], typed["result"]) == 0 and fxref.value(got[-1], typed["result"]) == 1


@pytest.mark.parametrize("seed", range(16))
def test_hard_tanh_matches_reference(seed: int) -> None:
    py = random.Random(300 + seed)
    tx = random_type(py, 2, 12, signed=True)
    types = {"result": random_type(py, 2, 12)} if seed % 2 else {}
    xm = all_mantissas(tx, 200)
    got, typed, _ = run("hard_tanh", tx, xm, types=types)
    assert got == ref(lambda v: min(max(v, -1), 1), tx, typed["result"], xm), (tx, typed)


def test_hard_tanh_with_coarse_input_type() -> None:
    """ap_fixed<4,6>: LSB 4, so clip(x, -1, 1) is not representable; the clipped value is cast to the result
    type like any other (TRN: -1 -> -4, 1 -> 0)."""
    tx = FixedType(4, 6)
    got, typed, _ = run("hard_tanh", tx, [-8, -1, 0, 1, 7])
    assert typed["result"] == tx
    assert [fxref.value(m, tx) for m in got] == [-4, -4, 0, 0, 0]


# -- float kernels vs Keras ----------------------------------------------------------------------

@pytest.mark.parametrize(("op", "attrs", "keras_fn"), [
    ("relu", {}, lambda k, x: k.activations.relu(x)),
    ("relu", {"max_value": 6.0}, lambda k, x: k.activations.relu6(x)),
    ("relu", {"max_value": 1.5}, lambda k, x: k.activations.relu(x, max_value=1.5)),
    ("leaky_relu", {"alpha": 0.2}, lambda k, x: k.activations.leaky_relu(x)),
    ("leaky_relu", {"alpha": 0.05}, lambda k, x: k.activations.leaky_relu(x, negative_slope=0.05)),
    ("elu", {"alpha": 1.0}, lambda k, x: k.activations.elu(x)),
    ("elu", {"alpha": 0.7}, lambda k, x: k.activations.elu(x, alpha=0.7)),
    ("sigmoid", {}, lambda k, x: k.activations.sigmoid(x)),
    ("tanh", {}, lambda k, x: k.activations.tanh(x)),
    ("hard_sigmoid", {"slope": 1 / 6, "offset": 0.5}, lambda k, x: k.activations.hard_sigmoid(x)),
    ("hard_tanh", {}, lambda k, x: k.activations.hard_tanh(x)),
    ("linear", {}, lambda k, x: k.activations.linear(x)),
    ("softmax", {}, lambda k, x: k.activations.softmax(x)),
])
def test_float_kernel_matches_keras(keras: Any, op: str, attrs: dict[str, Any], keras_fn: Any) -> None:
    x = np.random.default_rng(0).normal(scale=4.0, size=(32, 5))
    x[0] = [-6.0, -3.0, 0.0, 3.0, 6.0]  # the kinks
    g = chain((5,), ("a", op, {"attrs": dict(attrs)}))
    got = OPS[op].run_float(g["a"], [x])
    want = keras.ops.convert_to_numpy(keras_fn(keras, keras.ops.convert_to_tensor(x.astype(np.float32))))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
