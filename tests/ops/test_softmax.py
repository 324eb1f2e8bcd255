"""Softmax against a reference of its docstring (two exp tables, an inverse table, exact sums)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

import fxref
from graphs import chain
from nnfpga.fixed import FixedType, storage_dtype
from nnfpga.ops import OPS, QArray, RunStats
from nnfpga.passes import infer_types


def run(tx: FixedType, rows: list[list[int]], *, attrs: dict[str, Any] | None = None,
        types: dict[str, FixedType] | None = None, default: FixedType | None = None
        ) -> tuple[list[list[int]], dict[str, FixedType], dict[str, Any]]:
    n = len(rows[0])
    g = chain((n,), ("sm", "softmax", {"attrs": dict(attrs or {}), "types": dict(types or {})}), input_type=tx)
    infer_types(g, default or FixedType(16, 6))
    node = g["sm"]
    x = QArray(np.array(rows, dtype=object).astype(storage_dtype(tx.width)), tx)
    out = OPS["softmax"].run_fixed(node, [x], OPS["softmax"].prepare(node, [tx]), RunStats())
    assert out.t == node.types["result"]
    return [[int(v) for v in r] for r in out.m.tolist()], dict(node.types), dict(node.attrs)


def random_rows(tx: FixedType, n: int, count: int, seed: int, spread: int | None = None) -> list[list[int]]:
    lo, hi = fxref.mantissa_range(tx)
    py = random.Random(seed)
    rows = []
    for r in range(count):
        if spread is None:
            row = [py.randint(lo, hi) for _ in range(n)]
        else:  # logits close together, as a trained classifier's
            c = py.randint(lo + spread, hi - spread)
            row = [c + py.randint(-spread, spread) for _ in range(n)]
        if r % 4 == 1 and n > 1:
            row[py.randrange(n)] = max(row)  # a tie at the top
        rows.append(row)
    rows.append([lo] * n)
    rows.append([hi] + [lo] * (n - 1))
    return rows


def test_default_types_and_table_range() -> None:
    _, types, attrs = run(FixedType(16, 6), [[0, 0, 0]])
    assert types == {"exp_table": FixedType(18, 1, signed=False), "inv_table": FixedType(18, 1, signed=False),
                     "result": FixedType(16, 1, signed=False)}
    assert attrs["table_range"] == 64.0  # ap_fixed<16,6> spans [-32, 32): a spread up to 64
    assert run(FixedType(8, 3), [[0, 0]])[2]["table_range"] == 8.0


@pytest.mark.parametrize(("tx", "n", "attrs", "types"), [
    (FixedType(16, 6), 5, {}, {}),
    (FixedType(16, 6), 1, {}, {}),
    (FixedType(12, 5), 8, {"table_size": 64, "table_range": 8.0}, {}),
    (FixedType(10, 4), 3, {"table_size": 256, "table_range": 4.0},
     {"exp_table": FixedType(12, 1, signed=False, rounding="RND"),
      "inv_table": FixedType(12, 3, signed=False, rounding="RND_CONV"),
      "result": FixedType(9, 1, signed=False, rounding="RND", overflow="SAT")}),
    (FixedType(8, 9), 4, {"table_size": 128, "table_range": 32.0}, {}),  # input LSB 2 above the step 1/4
    (FixedType(20, 6), 7, {"table_size": 2048}, {"result": FixedType(8, 0, signed=False, overflow="SAT")}),
    (FixedType(60, 12), 4, {"table_size": 256}, {}),                                  # int64 mantissas
    (FixedType(72, 10), 3, {"table_size": 128, "table_range": 16.0},
     {"exp_table": FixedType(40, 1, signed=False), "inv_table": FixedType(40, 2, signed=False)}),  # Python ints
])
def test_matches_reference(tx: FixedType, n: int, attrs: dict[str, Any], types: dict[str, FixedType]) -> None:
    rows = random_rows(tx, n, 20, seed=n) + random_rows(tx, n, 20, seed=n + 1, spread=64)
    got, typed, at = run(tx, rows, attrs=attrs, types=types)
    size = int(attrs.get("table_size", 1024))
    for row, g in zip(rows, got, strict=True):
        want = fxref.softmax(row, tx, size, at["table_range"], typed["exp_table"], typed["inv_table"],
                                 typed["result"])
        assert g == want, row


def test_argmax_ties_only_for_equal_fixed_point_logits() -> None:
    """Two classes tie at the top of the output exactly when their fixed-point logits are equal, also when
    the logits differ by a single LSB."""
    tx = FixedType(16, 6)
    rows = random_rows(tx, 5, 200, seed=3, spread=8) + random_rows(tx, 5, 100, seed=4)
    rows += [[100, 99, 0, -5, 7], [-3000, -3001, -3000, -4000, -3002], [1, 1, 1, 1, 1]]
    got, _, _ = run(tx, rows)
    for row, y in zip(rows, got, strict=True):
        top_x = {i for i, v in enumerate(row) if v == max(row)}
        top_y = {i for i, v in enumerate(y) if v == max(y)}
        assert top_x == top_y, (row, y)


def test_close_to_float_softmax() -> None:
    tx = FixedType(16, 6)
    rows = random_rows(tx, 5, 100, seed=5, spread=4096)
    got, typed, _ = run(tx, rows)
    x = np.array([[float(fxref.value(m, tx)) for m in r] for r in rows])
    z = np.exp(x - x.max(axis=1, keepdims=True))
    want = z / z.sum(axis=1, keepdims=True)
    y = np.array([[float(fxref.value(m, typed["result"])) for m in r] for r in got])
    assert np.abs(y - want).max() < 0.01
    assert np.abs(y.sum(axis=1) - 1).max() < 0.02


def test_float_kernel_is_stable_for_large_logits() -> None:
    g = chain((3,), ("sm", "softmax", {}))
    y = OPS["softmax"].run_float(g["sm"], [np.array([[1000.0, 1000.0, -1000.0], [0.0, np.log(3.0), -50.0]])])
    np.testing.assert_allclose(y, [[0.5, 0.5, 0.0], [0.25, 0.75, np.exp(-50) / 4]], rtol=1e-12, atol=1e-300)
