"""Lookup-table activations: sigmoid, tanh, ELU; and the indexing every table op shares.

A table of ``N = table_size`` entries covers ``[lo, lo + N * step)`` with ``step`` a power of two, so the
index is a shift of the input mantissa: ``idx = clip(floor((x - lo) / step), 0, N - 1)``. Entry ``i`` holds
``f`` at the middle of its interval, quantized to the ``table`` type (saturating: table contents are
constants and never wrap). The output is the entry cast to ``result``. HLS and RTL backends emit the same
tables from :meth:`TableOp.prepare`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnfpga.errors import ConfigError
from nnfpga.fixed import FixedType
from nnfpga.fixed.arith import FLOAT_BITS, as_storage
from nnfpga.ir.graph import Node
from nnfpga.ops.base import Context, OpDef, Plan, QArray, RunStats, cast, register, set_default
from nnfpga.ops.dense import quantize_const

DEFAULT_TABLE_SIZE = 1024
TABLE_EXTRA_BITS = 2  # the table type is this much wider than the default precision


def floor_shift(m: np.ndarray, k: int) -> np.ndarray:
    """``floor(m / 2**k)`` for integer mantissas, any sign of ``k``; int64 result."""
    if k <= 0:
        return np.asarray(m, dtype=np.int64) << -k if m.dtype != object else (m << -k).astype(np.int64)
    if m.dtype == np.float64:
        return np.floor(m * 2.0**-k).astype(np.int64)
    return np.asarray(m >> k).astype(np.int64)


def table_index(x: QArray, lo_steps: int, step_log2: int, size: int) -> np.ndarray:
    """``clip(floor(x / 2**step_log2) - lo_steps, 0, size - 1)`` where the table starts at ``lo_steps`` steps."""
    idx = floor_shift(x.m, x.t.frac + step_log2) - lo_steps
    return np.clip(idx, 0, size - 1)


def log2_exact(value: float, what: str) -> int:
    k = math.log2(value) if value > 0 else float("nan")
    if not k == int(k):
        raise ConfigError(f"{what} must be a power of two, got {value}: set the table size (and range) so that it is")
    return int(k)


@dataclass
class TablePlan(Plan):
    """The ``size`` table entries (mantissas of the table type) at steps of ``2**step_log2`` from ``lo_steps``."""

    table: np.ndarray
    size: int
    step_log2: int
    lo_steps: int


class TableOp(OpDef):
    """Activation ``f`` tabulated on ``[-table_range, table_range)`` (or ``[-table_range, 0)``, see ``lo``)."""

    category = "table"
    slots = ("table", "result")
    const_slots = ("table",)
    pipeline_stages = 1
    default_range: float = 8.0
    out_range: tuple[float, float] = (-1.0, 1.0)

    def f(self, node: Node, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def span(self, node: Node) -> tuple[float, float]:
        r = float(node.attrs.get("table_range", self.default_range))
        return -r, r

    def infer_types(self, node: Node, in_types: list[FixedType], ctx: Context) -> None:
        lo, hi = self.out_range
        signed = lo < 0
        magnitude = max(abs(lo), abs(hi))
        integer = (1 if magnitude <= 1 else math.ceil(math.log2(magnitude)) + 1) + int(signed)
        set_default(node, "table", FixedType(ctx.default.width + TABLE_EXTRA_BITS, integer, signed))
        set_default(node, "result", FixedType(ctx.default.width, integer, signed))

    def geometry(self, node: Node) -> tuple[int, int, int]:
        """(size, log2 of the step, first entry's position in steps)."""
        size = int(node.attrs.get("table_size", DEFAULT_TABLE_SIZE))
        lo, hi = self.span(node)
        step_log2 = log2_exact((hi - lo) / size, f"{node.describe()}: table range / table size")
        return size, step_log2, round(lo / 2.0**step_log2)

    def prepare(self, node: Node, in_types: list[FixedType]) -> dict[str, Any]:
        size, step_log2, lo_steps = self.geometry(node)
        mids = (lo_steps + np.arange(size) + 0.5) * 2.0**step_log2
        return TablePlan(table=quantize_const(self.f(node, mids), node.types["table"]), size=size,
                         step_log2=step_log2, lo_steps=lo_steps)

    def lookup(self, x: QArray, prep: Plan, t: FixedType) -> QArray:
        idx = table_index(x, prep.lo_steps, prep.step_log2, prep.size)
        return QArray(prep.table[idx], t)

    def run_fixed(self, node: Node, xs: list[QArray], prep: Plan, stats: RunStats) -> QArray:
        return cast(node, self.lookup(xs[0], prep, node.types["table"]), "result", stats)

    def run_float(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        return self.f(node, xs[0])


@register
class Sigmoid(TableOp):
    name = "sigmoid"
    config_name = "Sigmoid"
    default_range = 8.0
    out_range = (0.0, 1.0)

    def f(self, node: Node, x: np.ndarray) -> np.ndarray:
        return 0.5 * (1.0 + np.tanh(0.5 * x))


@register
class Tanh(TableOp):
    name = "tanh"
    config_name = "Tanh"
    default_range = 4.0
    out_range = (-1.0, 1.0)

    def f(self, node: Node, x: np.ndarray) -> np.ndarray:
        return np.tanh(x)


@register
class ELU(TableOp):
    """``x`` for ``x >= 0``; ``alpha * (exp(x) - 1)`` from a table on ``[-table_range, 0)`` otherwise."""

    name = "elu"
    config_name = "ELU"
    default_range = 8.0

    def f(self, node: Node, x: np.ndarray) -> np.ndarray:
        alpha = float(node.attrs.get("alpha", 1.0))
        return np.where(x >= 0, x, alpha * np.expm1(np.minimum(x, 0.0)))

    def span(self, node: Node) -> tuple[float, float]:
        return -float(node.attrs.get("table_range", self.default_range)), 0.0

    def infer_types(self, node: Node, in_types: list[FixedType], ctx: Context) -> None:
        alpha = abs(float(node.attrs.get("alpha", 1.0)))
        integer = max(math.ceil(math.log2(alpha)) if alpha > 0 else 0, 0) + 1
        set_default(node, "table", FixedType(ctx.default.width + TABLE_EXTRA_BITS, integer + 1))
        set_default(node, "result", in_types[0])

    def run_fixed(self, node: Node, xs: list[QArray], prep: Plan, stats: RunStats) -> QArray:
        x, tt = xs[0], node.types["table"]
        table = self.lookup(x, prep, tt)
        f = max(x.t.frac, tt.frac)
        bits = max(x.t.width + f - x.t.frac, tt.width + f - tt.frac) + 1
        pos = as_storage(x.m, bits) * _pow2(f - x.t.frac, bits)
        neg = as_storage(table.m, bits) * _pow2(f - tt.frac, bits)
        both = QArray(np.where(pos >= 0, pos, neg), FixedType(bits, bits - f))
        return cast(node, both, "result", stats)


def _pow2(k: int, bits: int) -> float | int:
    return 2.0**k if bits <= FLOAT_BITS else 1 << k
