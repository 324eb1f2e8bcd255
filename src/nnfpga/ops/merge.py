"""Merge ops: nodes with several inputs (Keras merge layers, torch ``+ * cat``, ONNX Add/Mul/Concat...).

Elementwise merges, on inputs of one per-sample shape (a frontend refuses others):
  add        y = (result_t)(x1 + x2 + ... + xn)
  subtract   y = (result_t)(x1 - x2)
  multiply   y = (result_t)(x1 * x2 * ... * xn)
  average    y = (result_t)((x1 + ... + xn) / n)         n a power of two (the division is then exact)
  maximum    y = (result_t)max(x1, ..., xn)
  minimum    y = (result_t)min(x1, ..., xn)
The inner expression is computed exactly (every input's exact value, no intermediate rounding, as ``ap_fixed``
arithmetic does), then cast once to the ``result`` type. The default result type is that exact expression's
type, so a merge never rounds or overflows unless the config narrows it.

Concatenate joins its inputs along a per-sample axis (attribute ``axis``, channels-last, default the last):
each input is cast to the ``result`` type, whose default holds every input exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from nnfpga.errors import GraphError, ShapeError
from nnfpga.fixed import FixedType, requantize
from nnfpga.fixed.arith import as_storage
from nnfpga.ir.graph import Node
from nnfpga.ops.base import Context, OpDef, Plan, QArray, RunStats, cast, check_arity, register, set_default
from nnfpga.ops.dense import type_for_mantissa_range


def union_type(types: list[FixedType]) -> FixedType:
    """The narrowest type holding every value of each of ``types`` exactly."""
    f = max(t.frac for t in types)
    lo = min(t.min_mantissa << (f - t.frac) for t in types)
    hi = max(t.max_mantissa << (f - t.frac) for t in types)
    return type_for_mantissa_range(min(lo, 0), max(hi, 0), f)


def _align(x: QArray, frac: int, bits: int) -> np.ndarray:
    """Mantissas of ``x`` at ``frac`` fractional bits (``frac >= x.t.frac``), in storage for ``bits`` bits."""
    m = as_storage(x.m, bits)
    k = frac - x.t.frac
    if k == 0:
        return m
    return m * (2.0 ** k if m.dtype == np.float64 else 1 << k)


@dataclass
class MergePlan(Plan):
    """The exact result's type, the inputs' common scale (fractional bits) and a width holding every value."""

    exact: FixedType
    align: int
    bits: int


class Merge(OpDef):
    """An elementwise merge: subclasses give the exact mantissa function and its range."""

    category = "merge"
    min_inputs = 2
    max_inputs: int | None = None

    def exact_type(self, in_types: list[FixedType]) -> FixedType:
        lo, hi, frac = self.mantissa_range(in_types)
        return type_for_mantissa_range(min(lo, 0), max(hi, 0), frac)

    def mantissa_range(self, in_types: list[FixedType]) -> tuple[int, int, int]:
        """(lowest, highest mantissa, fractional bits) of the exact result over the inputs' whole ranges."""
        raise NotImplementedError

    def combine(self, ms: list[np.ndarray]) -> np.ndarray:
        """The exact result's mantissas from the inputs' mantissas, aligned to a common scale by ``prepare``."""
        raise NotImplementedError

    def infer_shape(self, node: Node, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        if len(set(in_shapes)) != 1:
            raise ShapeError(f"{node.describe()}: {self.name} needs inputs of one shape, got "
                             f"{', '.join(map(str, in_shapes))}")
        return in_shapes[0]

    def infer_types(self, node: Node, in_types: list[FixedType], ctx: Context) -> None:
        check_arity(self, node, len(in_types))
        set_default(node, "result", self.exact_type(in_types))

    def prepare(self, node: Node, in_types: list[FixedType]) -> dict[str, Any]:
        exact = self.exact_type(in_types)
        align = max(t.frac for t in in_types)  # inputs' common scale (multiply: each keeps its own)
        bits = sum(t.width + abs(align - t.frac) for t in in_types) + exact.width + 4
        return MergePlan(exact=exact, align=align, bits=bits)

    def run_fixed(self, node: Node, xs: list[QArray], prep: Plan, stats: RunStats) -> QArray:
        ms = [_align(x, prep.align, prep.bits) for x in xs]
        return cast(node, QArray(self.combine(ms), prep.exact), "result", stats)


def _aligned_ranges(in_types: list[FixedType]) -> tuple[list[int], list[int], int]:
    f = max(t.frac for t in in_types)
    return ([t.min_mantissa << (f - t.frac) for t in in_types], [t.max_mantissa << (f - t.frac) for t in in_types], f)


@register
class Add(Merge):
    name = "add"
    config_name = "Add"

    def mantissa_range(self, in_types: list[FixedType]) -> tuple[int, int, int]:
        lo, hi, f = _aligned_ranges(in_types)
        return sum(lo), sum(hi), f

    def combine(self, ms: list[np.ndarray]) -> np.ndarray:
        return sum(ms[1:], ms[0])

    def run_float(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        return sum(xs[1:], xs[0])


@register
class Subtract(Merge):
    name = "subtract"
    config_name = "Subtract"
    max_inputs = 2

    def mantissa_range(self, in_types: list[FixedType]) -> tuple[int, int, int]:
        lo, hi, f = _aligned_ranges(in_types)
        return lo[0] - hi[1], hi[0] - lo[1], f

    def combine(self, ms: list[np.ndarray]) -> np.ndarray:
        return ms[0] - ms[1]

    def run_float(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        return xs[0] - xs[1]


@register
class Average(Add):
    """The sum with ``log2(n)`` more fractional bits: the same mantissas, an exact division by ``n``."""

    name = "average"
    config_name = "Average"

    @staticmethod
    def shift(n: int) -> int:
        return n.bit_length() - 1

    def infer_types(self, node: Node, in_types: list[FixedType], ctx: Context) -> None:
        n = len(in_types)
        if n & (n - 1):
            raise GraphError(f"{node.describe()} averages {n} inputs; nnfpga averages a power of two of inputs "
                             "(2, 4, 8...), where the division is exact: use Add and a scaling Dense instead")
        super().infer_types(node, in_types, ctx)

    def mantissa_range(self, in_types: list[FixedType]) -> tuple[int, int, int]:
        lo, hi, f = super().mantissa_range(in_types)
        return lo, hi, f + self.shift(len(in_types))

    def run_float(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        return sum(xs[1:], xs[0]) / len(xs)


@register
class Multiply(Merge):
    name = "multiply"
    config_name = "Multiply"

    def mantissa_range(self, in_types: list[FixedType]) -> tuple[int, int, int]:
        lo = hi = 1
        for t in in_types:
            ends = (lo * t.min_mantissa, lo * t.max_mantissa, hi * t.min_mantissa, hi * t.max_mantissa)
            lo, hi = min(ends), max(ends)
        return lo, hi, sum(t.frac for t in in_types)

    def prepare(self, node: Node, in_types: list[FixedType]) -> dict[str, Any]:
        return replace(super().prepare(node, in_types), bits=sum(t.width for t in in_types) + 4)

    def run_fixed(self, node: Node, xs: list[QArray], prep: Plan, stats: RunStats) -> QArray:
        ms = [as_storage(x.m, prep.bits) for x in xs]  # the product of mantissas: fractions add up
        return cast(node, QArray(self.combine(ms), prep.exact), "result", stats)

    def combine(self, ms: list[np.ndarray]) -> np.ndarray:
        out = ms[0]
        for m in ms[1:]:
            out = out * m
        return out

    def run_float(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        return self.combine(xs)


class _Extremum(Merge):
    """Maximum or minimum, compared in the union of the input types (which the default result is)."""

    pick: Any

    def exact_type(self, in_types: list[FixedType]) -> FixedType:
        return union_type(in_types)

    def combine(self, ms: list[np.ndarray]) -> np.ndarray:
        out = ms[0]
        for m in ms[1:]:
            out = type(self).pick(out, m)
        return out

    def run_float(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        return self.combine(xs)


@register
class Maximum(_Extremum):
    name = "maximum"
    config_name = "Maximum"
    pick = np.maximum


@register
class Minimum(_Extremum):
    name = "minimum"
    config_name = "Minimum"
    pick = np.minimum


@register
class Concatenate(OpDef):
    """Inputs joined along the per-sample ``axis`` attribute (normalized, non-negative), each cast to the result."""

    name = "concatenate"
    config_name = "Concatenate"
    category = "merge"
    min_inputs = 2
    max_inputs = None

    def infer_shape(self, node: Node, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        ax = node.attrs.get("axis")
        ndim = len(in_shapes[0])
        if not isinstance(ax, int) or not 0 <= ax < ndim or any(len(s) != ndim for s in in_shapes) or \
                len({s[:ax] + s[ax + 1:] for s in in_shapes}) != 1:
            raise ShapeError(f"{node.describe()}: cannot concatenate {', '.join(map(str, in_shapes))} along axis "
                             f"{ax!r} (a non-negative per-sample axis; the other axes must agree)")
        return (*in_shapes[0][:ax], sum(s[ax] for s in in_shapes), *in_shapes[0][ax + 1:])

    def infer_types(self, node: Node, in_types: list[FixedType], ctx: Context) -> None:
        check_arity(self, node, len(in_types))
        set_default(node, "result", union_type(in_types))

    def run_fixed(self, node: Node, xs: list[QArray], prep: Plan, stats: RunStats) -> QArray:
        tr = node.types["result"]
        if stats.precast is not None:
            stats.observe(node.name, np.concatenate([x.values() for x in xs], axis=node.attrs["axis"] + 1))
        parts = []
        for x in xs:
            m, ov = requantize(x.m, x.t.frac, x.t.width, tr)
            stats.record(node.name, "result", ov)
            parts.append(as_storage(m, tr.width + 2))
        return QArray(np.concatenate(parts, axis=node.attrs["axis"] + 1), tr)

    def run_float(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(xs, axis=node.attrs["axis"] + 1)
