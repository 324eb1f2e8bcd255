"""Max and average pooling, windowed or global, per channel (Keras's MaxPooling/AveragePooling/Global*).

Attributes: ``pool`` (the window, one size per spatial axis), ``strides``, ``pads`` (see
:mod:`nnfpga.ops.spatial`; no dilation), ``count_pad`` (average: divide by the whole window rather than by the
real positions it covers; Keras: false). A global pooling has ``global: true``, ``pool`` and ``strides`` equal to
the input's spatial shape and no padding; its output is ``(C,)`` (``keepdims: true``: ``(1, ..., 1, C)``).
Semantics, per output pixel and channel, with the
window's real positions in row-major order (padding never counts: Keras's and hls4ml's rule):

  max_pool:  y = (result_t)(accum_t) max(x)
  avg_pool:  acc = 0;  for each x:  acc = (accum_t)(acc + x)
             acc = (accum_t) trunc(acc / n)        n: the real positions (count_pad: the window's size)
             y = (result_t) acc

which is hls4ml 1.3's ``nnet_pooling.h``: ``accum_t y = 0; y += x[i]; y /= length`` (the division of an
``ap_fixed`` by an integer keeps the dividend's fractional bits and truncates its mantissa toward zero), and the
returned ``accum_t`` assigned to ``res_T``. (hls4ml pads a max pooling of an *unsigned* type with its MSB set, a
large value, where padding should never win: nnfpga ignores padding as Keras does; for signed types hls4ml's pad,
the most negative value, gives the same bits.) The division is exact whenever ``n`` is a power of two and
``accum_t`` has ``log2(n)`` more fractional bits than the input; otherwise the mean is truncated toward zero to
``accum_t``'s LSB, in every engine alike.

Default types (``auto``): max pooling keeps the input type (``accum`` and ``result``: exact). Average pooling's
``accum`` holds every sum exactly with ``e = ceil(log2(window))`` more fractional bits than the input, and its
``result`` has the input's integer bits and the accumulator's fractional bits: the mean of a power-of-two window
(2x2, 4, 8x8 global...) is exact; a 3x3 window's is truncated below ``2**-e`` of the input's LSB.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnfpga.errors import ShapeError
from nnfpga.fixed import FixedType, Overflow, requantize
from nnfpga.fixed.arith import as_storage
from nnfpga.ir.graph import Node
from nnfpga.ops import pool_jit
from nnfpga.ops.base import Context, OpDef, QArray, RunStats, cast, register, set_default
from nnfpga.ops.dense import type_for_mantissa_range
from nnfpga.ops.spatial import Window, check_fits, int_tuple, node_window, spatial_input, window_counts, windows


def _fold(fn: Any, parts: list[np.ndarray]) -> np.ndarray:
    """``fn(...fn(fn(p0, p1), p2)..., pn)`` (a new array: the parts may be views of one input)."""
    out = np.array(parts[0], copy=True)
    for p in parts[1:]:
        fn(out, p, out=out)
    return out


def holds(t: FixedType, tx: FixedType) -> bool:
    """Whether every value of ``tx`` is a value of ``t`` (a cast to ``t`` changes no value, overflows nothing)."""
    return t.frac >= tx.frac and t.min_mantissa <= tx.min_mantissa << (t.frac - tx.frac) \
        and tx.max_mantissa << (t.frac - tx.frac) <= t.max_mantissa


def _scaled(m: np.ndarray, k: int) -> np.ndarray:
    """Integer mantissas times ``2**k`` (``k >= 0``), exact in their storage."""
    return m if k == 0 else m * (2.0 ** k if m.dtype == np.float64 else 1 << k)


class _Pool(OpDef):
    category = "pool"
    slots = ("accum", "result")
    kind: str  # "Max" or "Average"

    def config_type(self, node: Node) -> str:
        nd = len(node.attrs["pool"]) if isinstance(node.attrs.get("pool"), (list, tuple)) else 2
        return f"{'Global' if node.attrs.get('global') else ''}{self.kind}Pooling{nd}D"

    def window(self, node: Node) -> Window:
        pool = node.attrs.get("pool")
        size = int_tuple(pool, len(pool) if isinstance(pool, (list, tuple)) else 0, f"{node.describe()}: pool",
                         minimum=1)
        return node_window(node, size)

    def infer_shape(self, node: Node, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        shape = in_shapes[0]
        win = self.window(node)
        spatial = spatial_input(node, shape, win.ndim)
        if node.attrs.get("dilation", 1) not in (1, [1] * win.ndim, (1,) * win.ndim):
            raise ShapeError(f"{node.describe()}: pooling has no dilation, got {node.attrs['dilation']!r}")
        if node.attrs.get("global"):
            if win.size != spatial or win.strides != spatial or any(b or a for b, a in win.pads):
                raise ShapeError(f"{node.describe()}: a global pooling's pool and strides are the input's spatial "
                                 f"shape {spatial} and it has no padding; got pool {win.size}, strides {win.strides}, "
                                 f"pads {[list(p) for p in win.pads]}")
            return (*(1,) * win.ndim, shape[-1]) if node.attrs.get("keepdims") else (shape[-1],)
        out = check_fits(node, win, spatial)
        if any(b >= k or a >= k for (b, a), k in zip(win.pads, win.size, strict=True)):
            raise ShapeError(f"{node.describe()}: pads {[list(p) for p in win.pads]} must each be smaller than the "
                             f"pool {win.size}, so that every window covers an input position")
        return (*out, shape[-1])

    def _positions(self, node: Node, x: np.ndarray, fill: Any) -> tuple[list[np.ndarray], Window]:
        """For each position of the window, in row-major order, the value it reads at every output pixel (strided
        views ``(B, *out, C)``: elementwise folds over them are several times faster than a reduction over a
        window axis), and the window."""
        win = self.window(node)
        v = windows(x, win, fill)
        lead = (slice(None),) * (1 + win.ndim)
        return [v[(*lead, *j)] for j in np.ndindex(*win.size)], win

    def _divisors(self, node: Node, spatial: tuple[int, ...], win: Window) -> np.ndarray:
        """Each output window's divisor: the real positions it covers (``count_pad``: its size), shape ``out``."""
        if node.attrs.get("count_pad"):
            return np.full(win.out_spatial(spatial), win.positions(), dtype=np.int64)
        return window_counts(spatial, win)

    @staticmethod
    def _shape_out(node: Node, y: np.ndarray) -> np.ndarray:
        return y.reshape(y.shape[0], *node.shape)


@register
class MaxPool(_Pool):
    name = "max_pool"
    config_name = "MaxPooling2D"
    config_names = ("MaxPooling1D", "MaxPooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D")
    kind = "Max"

    def infer_types(self, node: Node, in_types: list[FixedType], ctx: Context) -> None:
        set_default(node, "accum", in_types[0])
        set_default(node, "result", in_types[0])

    def run_fixed(self, node: Node, xs: list[QArray], prep: Any, stats: RunStats) -> QArray:
        x, win = xs[0], self.window(node)
        if pool_jit.usable(x.m, win):  # one compiled pass, the same maximum
            best = QArray(self._shape_out(node, pool_jit.max_pool(x.m, win, x.t.min_mantissa)), x.t)
            if not holds(node.types["accum"], x.t):
                return cast(node, cast(node, best, "accum", stats), "result", stats)
            stats.record(node.name, "accum", Overflow(0, int(best.m.size)))  # the same value: skip that pass
            return cast(node, best, "result", stats)
        ps, _ = self._positions(node, x.m, fill=x.t.min_mantissa)  # padding never wins (Keras: -inf)
        best = QArray(self._shape_out(node, _fold(np.maximum, ps)), x.t)
        return cast(node, cast(node, best, "accum", stats), "result", stats)

    def run_float(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        ps, _ = self._positions(node, np.asarray(xs[0], dtype=np.float64), fill=-np.inf)
        return self._shape_out(node, _fold(np.maximum, ps))


@register
class AvgPool(_Pool):
    name = "avg_pool"
    config_name = "AveragePooling2D"
    config_names = ("AveragePooling1D", "AveragePooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D")
    kind = "Average"

    def infer_types(self, node: Node, in_types: list[FixedType], ctx: Context) -> None:
        tx = in_types[0]
        n = self.window(node).positions()
        e = (n - 1).bit_length()  # ceil(log2 n)
        lo, hi = n * (tx.min_mantissa << e), n * (tx.max_mantissa << e)
        set_default(node, "accum", type_for_mantissa_range(min(lo, 0), max(hi, 0), tx.frac + e))
        set_default(node, "result", FixedType(tx.width + e, tx.integer, tx.signed))

    def run_fixed(self, node: Node, xs: list[QArray], prep: Any, stats: RunStats) -> QArray:
        x, ta = xs[0], node.types["accum"]
        ps, win = self._positions(node, x.m, fill=0)
        n, f = len(ps), max(ta.frac, x.t.frac)
        bits = max(ta.width + f - ta.frac, x.t.width + f - x.t.frac) + n.bit_length() + 2
        xa = [_scaled(as_storage(p, bits), f - x.t.frac) for p in ps]
        if self._exact(x.t, ta, n):  # no partial sum rounds or leaves the range: one exact sum
            acc, _ = requantize(_fold(np.add, xa), f, bits, ta)
            stats.record(node.name, "accum", Overflow(0, int(acc.size) * n))
        else:  # position by position, each partial sum cast (hls4ml's y += x[i]); padding adds zeros
            acc = as_storage(np.zeros(xa[0].shape), ta.width + 1)
            for p in xa:
                acc, ov = requantize(_scaled(as_storage(acc, bits), f - ta.frac) + p, f, bits, ta)
                stats.record(node.name, "accum", ov)
        acc = as_storage(acc, ta.width + 1)
        d = as_storage(self._divisors(node, x.m.shape[1:-1], win)[None, ..., None], ta.width + 1)
        q = np.where(acc < 0, -((-acc) // d), acc // d)  # C's integer division: truncation toward zero
        return cast(node, QArray(self._shape_out(node, q), ta), "result", stats)

    @staticmethod
    def _exact(tx: FixedType, ta: FixedType, n: int) -> bool:
        """Whether every partial sum of ``n`` inputs of type ``tx`` is exact in ``ta`` (no rounding, no overflow)."""
        k = ta.frac - tx.frac
        return k >= 0 and n * (min(tx.min_mantissa, 0) << k) >= ta.min_mantissa \
            and n * (max(tx.max_mantissa, 0) << k) <= ta.max_mantissa

    def run_float(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        x = np.asarray(xs[0], dtype=np.float64)
        ps, win = self._positions(node, x, fill=0.0)
        d = self._divisors(node, x.shape[1:-1], win).astype(np.float64)[None, ..., None]
        return self._shape_out(node, _fold(np.add, ps) / d)
