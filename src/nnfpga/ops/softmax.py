"""Softmax over the last axis, with two lookup tables (the "stable" form):

  d_j   = x_j - max_k x_k                       exact, in [-range, 0]
  e_j   = (exp_table_t)(coarse[i] * fine[k])     i = min(floor(-d_j / step), N - 1), step = range / N
                                                 k = floor(-d_j / fine_step) mod (step / fine_step)
        coarse[i] = exp(-i * step), fine[k] = exp(-k * fine_step): exp(a + b) = exp(a) exp(b), so the
        exponential keeps the input's resolution (fine_step = max(input LSB, step / N)) and two logits
        tie only when they are equal in fixed point; the maximum maps to exactly 1.0
  s     = sum_j e_j                              exact
  inv   = inv_table[min(floor(s / step_inv), N - 1)]  entry i = 1 / ((i + 0.5) * step_inv), saturating
  y_j   = (result_t)(e_j * inv)                  product exact, then cast

``table_range`` (a power of two) is the span of ``d`` the exp table covers. Left unset it follows the input
type's range (max - min); the default config narrows it to the range seen on calibration data. The inverse
table covers ``[0, 2**c)`` with ``2**c > n`` (the sum of ``n`` entries is at most ``n``).
hls4ml's default softmax outputs a constant when its fixed table range misses the input range; here the
range follows the input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnfpga.fixed import FixedType, requantize
from nnfpga.fixed.arith import as_storage
from nnfpga.ir.graph import Node
from nnfpga.ops.base import Context, OpDef, Plan, QArray, RunStats, cast, register, set_default
from nnfpga.ops.dense import quantize_const
from nnfpga.ops.tables import DEFAULT_TABLE_SIZE, TABLE_EXTRA_BITS, floor_shift, log2_exact


def pow2_ceil(x: float) -> float:
    return 2.0 ** math.ceil(math.log2(x)) if x > 0 else 1.0


@dataclass
class SoftmaxPlan(Plan):
    """The coarse and fine exp tables and the 1/sum table (mantissas) with their steps (log2)."""

    exp: np.ndarray
    fine: np.ndarray
    inv: np.ndarray
    size: int
    step_log2: int
    fine_log2: int
    inv_step_log2: int


@register
class Softmax(OpDef):
    name = "softmax"
    config_name = "Softmax"
    category = "table"
    slots = ("exp_table", "inv_table", "result")
    const_slots = ("exp_table", "inv_table")
    pipeline_stages = 1

    def infer_types(self, node: Node, in_types: list[FixedType], ctx: Context) -> None:
        w = ctx.default.width
        set_default(node, "exp_table", FixedType(w + TABLE_EXTRA_BITS, 1, signed=False))
        set_default(node, "inv_table", FixedType(w + TABLE_EXTRA_BITS, 1, signed=False))
        set_default(node, "result", FixedType(w, 1, signed=False))
        if node.attrs.get("table_range") is None:
            t = in_types[0]
            node.attrs["table_range"] = pow2_ceil(t.max_value - t.min_value)

    def prepare(self, node: Node, in_types: list[FixedType]) -> dict[str, Any]:
        size = int(node.attrs.get("table_size", DEFAULT_TABLE_SIZE))
        rng = float(node.attrs["table_range"])
        step_log2 = log2_exact(rng / size, f"{node.describe()}: table range / table size")
        n = node.shape[-1]
        c = math.floor(math.log2(n)) + 1
        inv_step_log2 = c - log2_exact(size, f"{node.describe()}: table size")
        fine_log2 = max(-in_types[0].frac, step_log2 - log2_exact(size, "table size"))
        fine_size = 1 << max(step_log2 - fine_log2, 0)
        i = np.arange(size)
        te = node.types["exp_table"]
        return SoftmaxPlan(exp=quantize_const(np.exp(-i * 2.0**step_log2), te),
                           fine=quantize_const(np.exp(-np.arange(fine_size) * 2.0**fine_log2), te),
                           inv=quantize_const(1.0 / ((i + 0.5) * 2.0**inv_step_log2), node.types["inv_table"]),
                           size=size, step_log2=step_log2, fine_log2=fine_log2, inv_step_log2=inv_step_log2)

    def run_fixed(self, node: Node, xs: list[QArray], prep: Plan, stats: RunStats) -> QArray:
        x, te, ti = xs[0], node.types["exp_table"], node.types["inv_table"]
        size = prep.size
        xm = as_storage(x.m, x.t.width + 2)
        neg_d = xm.max(axis=-1, keepdims=True) - xm  # -d >= 0, exact
        j = np.minimum(floor_shift(neg_d, x.t.frac + prep.step_log2), size - 1)
        k = floor_shift(neg_d, x.t.frac + prep.fine_log2) & (len(prep.fine) - 1)
        ebits = 2 * te.width + 1
        e_exact = as_storage(prep.exp[j], ebits) * as_storage(prep.fine[k], ebits)
        e, ov = requantize(e_exact, 2 * te.frac, ebits, te)
        stats.record(node.name, "exp_table", ov)
        n = x.m.shape[-1]
        sbits = te.width + n.bit_length() + 1
        s = as_storage(e, sbits).sum(axis=-1, keepdims=True)
        k = np.minimum(floor_shift(s, te.frac + prep.inv_step_log2), size - 1)
        inv = prep.inv[k]
        pbits = te.width + ti.width + 1
        prod = as_storage(e, pbits) * as_storage(inv, pbits)
        return cast(node, QArray(prod, FixedType(pbits, pbits - te.frac - ti.frac)), "result", stats)

    def run_float(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        z = np.exp(xs[0] - xs[0].max(axis=-1, keepdims=True))
        return z / z.sum(axis=-1, keepdims=True)
