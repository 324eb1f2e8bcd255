"""Piecewise-linear activations, computed exactly and then cast to ``result``:
ReLU (optionally clipped), LeakyReLU, linear, hard sigmoid, hard tanh.

Constants (``alpha``, ``slope``, ``offset``) are quantized to the ``param`` type; products are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nnfpga.fixed import FixedType, from_float
from nnfpga.fixed.arith import as_storage
from nnfpga.ir.graph import Node
from nnfpga.ops import cast_jit
from nnfpga.ops.base import Context, OpDef, Plan, QArray, RunStats, cast, register, set_default
from nnfpga.ops.dense import weight_type

PARAM_WIDTH = 18


def _scale(m: np.ndarray, shift: int) -> np.ndarray:
    """Multiply integer mantissas by ``2**shift`` (``shift >= 0``) exactly."""
    if shift == 0:
        return m
    return m * 2.0**shift if m.dtype == np.float64 else m << shift


def _const(value: float, t: FixedType) -> int:
    return int(from_float(np.array([np.clip(value, t.min_value, t.max_value)]), t)[0][0])


@register
class ReLU(OpDef):
    """``max(x, 0)``, clipped at ``max_value`` (quantized down to the input's LSB) when given."""

    name = "relu"
    config_name = "ReLU"
    category = "activation"

    def infer_types(self, node: Node, in_types: list[FixedType], ctx: Context) -> None:
        t = in_types[0]
        exact = FixedType(max(t.width - 1, 1), t.integer - 1, signed=False) if t.signed else t
        set_default(node, "result", exact)

    def run_fixed(self, node: Node, xs: list[QArray], prep: Plan, stats: RunStats) -> QArray:
        x, dst = xs[0], node.types["result"]
        if (node.attrs.get("max_value") is None and stats.precast is None and x.m.dtype == np.float64
                and cast_jit.usable(x.t, dst)):  # max(x, 0) and the cast (if any) in one compiled pass
            m, ov = cast_jit.cast(x.m, x.t, dst, relu=True)
            stats.record(node.name, "result", ov)
            return QArray(m, dst)
        m = np.maximum(x.m, 0) if x.m.dtype != object else np.where(x.m < 0, 0, x.m)
        if node.attrs.get("max_value") is not None:
            cap = int(np.floor(np.ldexp(node.attrs["max_value"], x.t.frac)))
            m = np.minimum(m, cap) if m.dtype != object else np.where(m > cap, cap, m)
        return cast(node, QArray(m, x.t), "result", stats)

    def run_float(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        y = np.maximum(xs[0], 0.0)
        if node.attrs.get("max_value") is not None:
            y = np.minimum(y, node.attrs["max_value"])
        return y


@register
class Linear(OpDef):
    """Identity; a cast when its ``result`` type differs from the input's."""

    name = "linear"
    config_name = "Linear"
    category = "activation"

    def run_fixed(self, node: Node, xs: list[QArray], prep: Plan, stats: RunStats) -> QArray:
        return cast(node, xs[0], "result", stats)

    def run_float(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        return xs[0]


@dataclass
class AffinePlan(Plan):
    """The op's constants (LeakyReLU: alpha; hard sigmoid: slope, offset) as mantissas of its ``param`` type."""

    c: list[Any]


class _Affine(OpDef):
    """Ops computing ``x * c + d`` exactly with quantized constants, then clipping or selecting."""

    category = "activation"
    slots = ("param", "result")
    const_slots = ("param",)

    def params(self, node: Node) -> list[float]:
        raise NotImplementedError

    def infer_types(self, node: Node, in_types: list[FixedType], ctx: Context) -> None:
        set_default(node, "param", weight_type(np.array([*self.params(node), 1.0]), PARAM_WIDTH))
        set_default(node, "result", in_types[0])

    def prepare(self, node: Node, in_types: list[FixedType]) -> dict[str, Any]:
        return AffinePlan(c=[_const(v, node.types["param"]) for v in self.params(node)])

    @staticmethod
    def affine(x: QArray, c: int, d: int, tp: FixedType) -> tuple[np.ndarray, np.ndarray, FixedType]:
        """Exact ``x * c + d`` and ``x`` itself (``c``, ``d`` mantissas of ``tp``), aligned to one common type."""
        f = max(x.t.frac + tp.frac, tp.frac, x.t.frac)
        bits = x.t.width + tp.width + (f - min(x.t.frac, tp.frac, x.t.frac + tp.frac)) + 3
        xm = as_storage(x.m, bits)
        m = _scale(xm * c, f - x.t.frac - tp.frac) + _scale(as_storage(np.asarray(d), bits), f - tp.frac)
        return m, _scale(xm, f - x.t.frac), FixedType(bits, bits - f)


@register
class LeakyReLU(_Affine):
    """``x`` for ``x >= 0``, else ``alpha * x`` with ``alpha`` in the ``param`` type."""

    name = "leaky_relu"
    config_name = "LeakyReLU"

    def params(self, node: Node) -> list[float]:
        return [float(node.attrs.get("alpha", 0.3))]

    def run_fixed(self, node: Node, xs: list[QArray], prep: Plan, stats: RunStats) -> QArray:
        neg, pos, t = self.affine(xs[0], prep.c[0], 0, node.types["param"])
        m = np.where(pos >= 0, pos, neg)
        return cast(node, QArray(m, t), "result", stats)

    def run_float(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        return np.where(xs[0] >= 0, xs[0], self.params(node)[0] * xs[0])


@register
class HardSigmoid(_Affine):
    """``clip(slope * x + offset, 0, 1)``; Keras 3 uses slope 1/6 and offset 1/2 (``relu6(x + 3) / 6``)."""

    name = "hard_sigmoid"
    config_name = "HardSigmoid"

    def params(self, node: Node) -> list[float]:
        return [float(node.attrs.get("slope", 1 / 6)), float(node.attrs.get("offset", 0.5))]

    def infer_types(self, node: Node, in_types: list[FixedType], ctx: Context) -> None:
        set_default(node, "result", FixedType(ctx.default.width, 1, signed=False))
        super().infer_types(node, in_types, ctx)

    def run_fixed(self, node: Node, xs: list[QArray], prep: Plan, stats: RunStats) -> QArray:
        m, _, t = self.affine(xs[0], prep.c[0], prep.c[1], node.types["param"])
        one = 1 << t.frac
        m = np.where(m < 0, 0, np.where(m > one, one, m))
        return cast(node, QArray(as_storage(np.asarray(m), t.width), t), "result", stats)

    def run_float(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        slope, offset = self.params(node)
        return np.clip(slope * xs[0] + offset, 0.0, 1.0)


@register
class HardTanh(OpDef):
    """``clip(x, -1, 1)``, exact."""

    name = "hard_tanh"
    config_name = "HardTanh"
    category = "activation"

    def run_fixed(self, node: Node, xs: list[QArray], prep: Plan, stats: RunStats) -> QArray:
        x = xs[0]
        if x.t.frac < 0:  # an LSB above 1: move to an integer LSB first so that +-1 stay exact until the cast
            t = FixedType(x.t.integer, x.t.integer, x.t.signed)
            x = QArray(_scale(as_storage(x.m, t.width + 1), -x.t.frac), t)
        one = np.ldexp(1.0, x.t.frac)
        lo, hi = int(np.ceil(-one)), int(np.floor(one))
        m = np.where(x.m < lo, lo, np.where(x.m > hi, hi, x.m))
        return cast(node, QArray(as_storage(np.asarray(m), x.t.width), x.t), "result", stats)

    def run_float(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        return np.clip(xs[0], -1.0, 1.0)
