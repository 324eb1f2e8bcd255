"""Lookup-table activations (sigmoid, tanh, ELU) against a reference of the documented table semantics:

    N entries cover [lo, lo + N * step), step = (hi - lo) / N a power of two
    idx   = clip(floor((x - lo) / step), 0, N - 1)
    entry = f(lo + (idx + 1/2) * step), clamped to the table type and rounded by its mode
    y     = (result) entry                     (ELU: y = (result) x for x >= 0)
"""

from __future__ import annotations

import math
import random
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

import fxref
from graphs import chain
from nnfpga.errors import ConfigError
from nnfpga.fixed import FixedType, storage_dtype
from nnfpga.ops import OPS, QArray, RunStats
from nnfpga.ops.tables import DEFAULT_TABLE_SIZE
from nnfpga.passes import infer_types


def sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def elu(alpha: float) -> Any:
    return lambda v: v if v >= 0 else alpha * math.expm1(v)


FUNCS = {"sigmoid": sigmoid, "tanh": math.tanh}
DEFAULT_RANGE = {"sigmoid": 8.0, "tanh": 4.0, "elu": 8.0}


def run(op: str, tx: FixedType, xm: list[int], *, attrs: dict[str, Any] | None = None,
        types: dict[str, FixedType] | None = None, default: FixedType | None = None
        ) -> tuple[list[int], dict[str, FixedType]]:
    g = chain((1,), ("a", op, {"attrs": dict(attrs or {}), "types": dict(types or {})}), input_type=tx)
    infer_types(g, default or FixedType(16, 6))
    node = g["a"]
    x = QArray(np.array([[m] for m in xm], dtype=object).astype(storage_dtype(tx.width)), tx)
    out = OPS[op].run_fixed(node, [x], OPS[op].prepare(node, [tx]), RunStats())
    assert out.t == node.types["result"]
    return [int(v) for v in out.m.ravel().tolist()], dict(node.types)


def reference_table(f: Any, lo: Fraction, hi: Fraction, size: int, tt: FixedType, tx: FixedType,
                    tr: FixedType, xm: list[int]) -> list[int]:
    step = (hi - lo) / size
    table = [fxref.quantize_const(f(float(lo + (i + Fraction(1, 2)) * step)), tt) for i in range(size)]
    out = []
    for m in xm:
        idx = min(max(math.floor((fxref.value(m, tx) - lo) / step), 0), size - 1)
        out.append(fxref.cast(fxref.value(table[idx], tt), tr))
    return out


def inputs(tx: FixedType, n: int = 400, seed: int = 0) -> list[int]:
    lo, hi = fxref.mantissa_range(tx)
    py = random.Random(seed)
    return [lo, hi, 0, -1, 1, *(py.randint(lo, hi) for _ in range(n))]


def test_default_types() -> None:
    tx = FixedType(16, 6)
    assert run("sigmoid", tx, [0])[1] == {"table": FixedType(18, 1, signed=False),
                                          "result": FixedType(16, 1, signed=False)}
    assert run("tanh", tx, [0])[1] == {"table": FixedType(18, 2), "result": FixedType(16, 2)}
    assert run("elu", tx, [0], attrs={"alpha": 1.0})[1] == {"table": FixedType(18, 2), "result": tx}
    assert run("elu", tx, [0], attrs={"alpha": 3.0})[1]["table"] == FixedType(18, 4)  # holds -3


@pytest.mark.parametrize("op", ["sigmoid", "tanh"])
@pytest.mark.parametrize(("tx", "size", "rng_", "tt", "tr"), [
    (FixedType(16, 6), None, None, None, None),                                 # all defaults
    (FixedType(10, 4, signed=True), 64, 4.0, None, None),                       # step 1/8: coarser than LSB
    (FixedType(12, 2), 256, 2.0, FixedType(10, 2, rounding="RND"), FixedType(8, 2, rounding="RND", overflow="SAT")),
    (FixedType(8, 10), 32, 16.0, FixedType(6, 1, signed=False), FixedType(5, 1, signed=False)),  # LSB 4 > step
    (FixedType(20, 8), 4096, 8.0, FixedType(24, 2), FixedType(20, 2)),
    (FixedType(60, 10), 256, None, None, None),                                # int64 mantissas
    # Python-int inputs; the table stays well below float64 precision, where only the table lookup is specified
    (FixedType(80, 12, rounding="RND"), 128, 16.0, FixedType(30, 2), FixedType(64, 2)),
])
def test_sigmoid_tanh_match_reference(op: str, tx: FixedType, size: int | None, rng_: float | None,
                                      tt: FixedType | None, tr: FixedType | None) -> None:
    attrs = {k: v for k, v in (("table_size", size), ("table_range", rng_)) if v is not None}
    types = {k: v for k, v in (("table", tt), ("result", tr)) if v is not None}
    if op == "tanh" and tt is not None and not tt.signed:
        types["table"] = tt.with_(signed=True)
        types["result"] = tr.with_(signed=True)  # type: ignore[union-attr]
    xm = inputs(tx)
    got, typed = run(op, tx, xm, attrs=attrs, types=types)
    r = Fraction(rng_ or DEFAULT_RANGE[op])
    want = reference_table(FUNCS[op], -r, r, size or DEFAULT_TABLE_SIZE, typed["table"], tx, typed["result"], xm)
    assert got == want


@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.5])
@pytest.mark.parametrize(("tx", "tr"), [
    (FixedType(16, 6), None),
    (FixedType(12, 4, rounding="RND"), FixedType(10, 3, rounding="RND_CONV", overflow="SAT")),
    (FixedType(8, 1), FixedType(8, 1, overflow="SAT")),
])
def test_elu_matches_reference(alpha: float, tx: FixedType, tr: FixedType | None) -> None:
    xm = inputs(tx, seed=int(alpha * 10))
    got, typed = run("elu", tx, xm, attrs={"alpha": alpha, "table_size": 256}, types={"result": tr} if tr else {})
    tt, tres = typed["table"], typed["result"]
    neg = reference_table(elu(alpha), Fraction(-8), Fraction(0), 256, tt, tx, tres, xm)
    want = [fxref.cast(fxref.value(m, tx), tres) if m >= 0 else n for m, n in zip(xm, neg, strict=True)]
    assert got == want


def test_index_clamps_outside_the_range() -> None:
    """Inputs beyond the table use its first or last entry: sigmoid(-100) reads f(-8 + step/2)."""
    tx = FixedType(16, 8)
    got, typed = run("sigmoid", tx, [-128 * 256, 127 * 256], attrs={"table_size": 16, "table_range": 8.0})
    tt = typed["table"]
    first = fxref.quantize_const(sigmoid(-8 + 0.5), tt)
    last = fxref.quantize_const(sigmoid(7.5), tt)
    assert got == [fxref.cast(fxref.value(first, tt), typed["result"]),
                   fxref.cast(fxref.value(last, tt), typed["result"])]


def test_table_entries_saturate_instead_of_wrapping() -> None:
    """tanh into a table type holding [-0.5, 0.5): entries near +-1 clamp to the type's ends."""
    tx = FixedType(16, 6)
    tt = FixedType(8, 0)
    got, typed = run("tanh", tx, [-5 * 1024, 5 * 1024], types={"table": tt, "result": FixedType(10, 1)})
    assert [fxref.value(m, typed["result"]) for m in got] == [Fraction(-1, 2), Fraction(127, 256)]


@pytest.mark.parametrize("op", ["sigmoid", "tanh", "elu"])
def test_fixed_close_to_float_inside_the_table(op: str) -> None:
    """Error bound from the semantics: half a step times the steepest slope, plus table and result LSBs."""
    tx = FixedType(16, 6)
    span = DEFAULT_RANGE[op]
    xm = [m for m in inputs(tx, 2000) if -span <= fxref.value(m, tx) < (0 if op == "elu" else span)]
    got, typed = run(op, tx, xm, attrs={"alpha": 1.0} if op == "elu" else {})
    step = 2 * span / DEFAULT_TABLE_SIZE if op != "elu" else span / DEFAULT_TABLE_SIZE
    slope = {"sigmoid": 0.25, "tanh": 1.0, "elu": 1.0}[op]
    bound = step / 2 * slope + float(fxref.lsb(typed["table"]) + fxref.lsb(typed["result"]))
    f = {"sigmoid": sigmoid, "tanh": math.tanh, "elu": elu(1.0)}[op]
    err = max(abs(float(fxref.value(m, typed["result"])) - f(float(fxref.value(x, tx))))
              for m, x in zip(got, xm, strict=True))
    assert err <= bound


def test_geometry_must_be_a_power_of_two() -> None:
    g = chain((1,), ("s", "sigmoid", {"attrs": {"table_size": 1000}}))
    infer_types(g, FixedType(16, 6))
    with pytest.raises(ConfigError, match=r"sigmoid 's': table range / table size must be a power of two, got 0\.016"):
        OPS["sigmoid"].prepare(g["s"], [FixedType(16, 6)])
