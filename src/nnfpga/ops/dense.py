"""Dense and ScaleShift (folded batch-norm): the linear ops.

Dense semantics (as hls4ml users expect; Xilinx ``ap_fixed`` arithmetic):
  acc = (accum_t) bias
  for i in inputs, in order:  acc = (accum_t)(acc + (accum_t)(x[i] * w[i, j]))   # product exact, then cast
  y = (result_t) acc
The input ``x`` arrives already in its producer's type; weights and bias are quantized to the ``weight`` and
``bias`` types. The default accumulator is exactly wide enough for every partial sum (derived from the
input type, the quantized weights and bias), so no accumulation ever overflows or rounds. The emulator computes
the same bits by the fastest provably identical route (``DensePlan.path``; the proofs are in
:mod:`nnfpga.ops.accumulate`):
- ``matmul``: the accumulator has at least the product's fractional bits and wraps, or is exact, or bounds
  prove no cast ever leaves its range: one exact matrix product (float64 BLAS when every partial sum is
  provably below 2**53, int64 or Python ints otherwise), one cast at the end;
- ``products``: the accumulator rounds each product and wraps (or provably never leaves its range): the
  rounded products are summed in one batched step, then wrapped once;
- ``guarded``: a saturating accumulator that may saturate: rows whose inputs bound every partial sum inside
  the range take the batched sum, the others the sequential kernel;
- ``sequential``: input by input, the literal semantics (``Interpreter(..., reference=True)``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from nnfpga.errors import ShapeError
from nnfpga.fixed import FixedType, Overflow, from_float, integer_bits_for, requantize
from nnfpga.fixed.arith import as_storage
from nnfpga.ir.graph import Node
from nnfpga.ir.layout import check_broadcast
from nnfpga.ops import cast_jit, sequential_jit
from nnfpga.ops.accumulate import ProductSum, never_leaves_range, sat_bounds
from nnfpga.ops.base import Context, OpDef, Plan, QArray, RunStats, cast, register, set_default


def valid_reuse_factors(n_in: int, n_out: int) -> list[int]:
    """Each of the ``n_in * n_out / R`` multipliers is used exactly ``R`` times: ``R`` divides ``n_in * n_out``."""
    total = n_in * n_out
    return [r for r in range(1, total + 1) if total % r == 0]


def weight_type(values: np.ndarray, width: int) -> FixedType:
    """``width``-bit signed type whose integer bits just hold ``values`` (1 when all are zero)."""
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if lo == 0 and hi == 0:
        return FixedType(width, 1)
    return FixedType(width, integer_bits_for(min(lo, 0.0), hi, signed=True))


def type_for_mantissa_range(lo: int, hi: int, frac: int) -> FixedType:
    """The narrowest type with ``frac`` fractional bits holding mantissas ``lo..hi`` exactly."""
    if lo < 0:
        width = max((-lo - 1).bit_length(), hi.bit_length()) + 1
        return FixedType(width, width - frac, signed=True)
    width = max(hi.bit_length(), 1)
    return FixedType(width, width - frac, signed=False)


def quantize_const(values: np.ndarray, t: FixedType) -> np.ndarray:
    """Quantize constant weights (saturating, never wrapping: a constant outside its type is clamped)."""
    m, _ = from_float(np.clip(values, t.min_value, t.max_value), t)
    return m


def _pyint(a: np.ndarray) -> np.ndarray:
    return as_storage(np.asarray(a), 10_000)


@dataclass
class DensePlan(Plan):
    """Quantized weights ``wm`` (inputs x outputs mantissas), the bias in accumulator units ``b_acc``, the
    products' fractional bits ``fp`` and the accumulator's ``shift`` above them, the width ``bits`` that holds
    every partial sum of the exact products, how the emulator computes the sum (``path``, see the module
    docstring), how it counts the accumulator's overflow (``counts``: ``"sequential"`` exactly as the literal
    loop does, ``"final"`` only the final sums that wrapped), the batched rounded-product kernel (``products``,
    when the accumulator rounds products), ``abs_w`` (float64 ``|w|``, the ``guarded`` path's bound) and the
    rows with a nonzero weight."""

    wm: np.ndarray
    b_acc: np.ndarray
    fp: int
    shift: int
    bits: int
    fast: bool  # the exact products' sum, one cast at the end, for every input (what the RTL adder tree builds)
    path: Literal["matmul", "products", "guarded", "sequential"]
    counts: Literal["final", "sequential"]
    bias_overflow: int
    live_rows: np.ndarray
    pbits: int = 0  # bits of every exact product x * w (sign included)
    products: ProductSum | None = None
    abs_w: np.ndarray | None = None

    def reference(self) -> DensePlan:
        return replace(self, fast=False, path="sequential", counts="sequential")


@dataclass
class ScaleShiftPlan(Plan):
    """Quantized per-axis scale ``sm`` and shift ``bm`` mantissas (broadcast by :mod:`nnfpga.ir.layout`'s rule)."""

    sm: np.ndarray
    bm: np.ndarray


def infer_linear_types(op: Any, node: Node, tx: FixedType, ctx: Context) -> None:
    """The type rule of Dense and of every op that is Dense per window (Conv): weights and biases the default
    width with integer bits for their values, an exact accumulator (``op.exact_accum``), the default result, or
    the exact sum when a frontend asks for it (``attrs["exact_result"]``: QKeras, a QDense with no input
    quantizer)."""
    width = ctx.default.width
    set_default(node, "weight", weight_type(node.weights["kernel"], width))
    set_default(node, "bias", weight_type(node.weights["bias"], width))
    if node.types.get("accum") is None:
        node.types["accum"] = op.exact_accum(node, tx)
    set_default(node, "result", node.types["accum"] if node.attrs.get("exact_result") else ctx.default)


@register
class Dense(OpDef):
    name = "dense"
    config_name = "Dense"
    category = "linear"
    slots = ("weight", "bias", "accum", "result")
    default_slots = ("weight", "bias", "result")
    const_slots = ("weight", "bias")
    weights = ("kernel", "bias")
    reuse = True
    pipeline_stages = 1

    def reuse_shape(self, node: Node) -> tuple[int, int]:
        n_in, n_out = np.shape(node.weights["kernel"])
        return int(n_in), int(n_out)

    def infer_shape(self, node: Node, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        k = np.shape(node.weights.get("kernel"))
        if len(in_shapes[0]) != 1 or len(k) != 2 or k[0] != in_shapes[0][0]:
            raise ShapeError(f"{node.describe()}: a kernel of shape {k} does not apply to an input of per-sample "
                             f"shape {in_shapes[0]}; Dense takes a flat vector of the kernel's rows")
        return (int(k[1]),)

    def infer_types(self, node: Node, in_types: list[FixedType], ctx: Context) -> None:
        infer_linear_types(self, node, in_types[0], ctx)

    def exact_accum(self, node: Node, tx: FixedType) -> FixedType:
        """The narrowest accumulator that holds the bias plus every partial sum of products exactly."""
        tw, tb = node.types["weight"], node.types["bias"]
        wm = _pyint(quantize_const(node.weights["kernel"], tw))
        bm = _pyint(quantize_const(node.weights["bias"], tb))
        fp = tx.frac + tw.frac
        fa = max(fp, tb.frac)
        p1, p2 = wm * tx.min_mantissa, wm * tx.max_mantissa
        zero = np.zeros_like(p1)
        neg = np.minimum(np.minimum(p1, p2), zero).sum(axis=0) if wm.size else np.zeros(wm.shape[1], dtype=object)
        pos = np.maximum(np.maximum(p1, p2), zero).sum(axis=0) if wm.size else np.zeros(wm.shape[1], dtype=object)
        b = bm * (1 << (fa - tb.frac))
        lo = min(int(v) for v in (b + neg * (1 << (fa - fp))))
        hi = max(int(v) for v in (b + pos * (1 << (fa - fp))))
        return type_for_mantissa_range(min(lo, 0), max(hi, 0), fa)

    def prepare(self, node: Node, in_types: list[FixedType]) -> DensePlan:
        tx, tw, tb, ta = in_types[0], node.types["weight"], node.types["bias"], node.types["accum"]
        wm = quantize_const(node.weights["kernel"], tw)
        bm = quantize_const(node.weights["bias"], tb)
        b_acc, b_ov = requantize(bm, tb.frac, tb.width, ta)
        fp = tx.frac + tw.frac
        wpy = _pyint(wm)
        colsum = np.abs(wpy).sum(axis=0) if wm.size else np.zeros(1, dtype=object)
        xmax = max(-tx.min_mantissa, tx.max_mantissa)
        shift = ta.frac - fp
        bound = max(int(v) for v in colsum) * xmax * (1 << max(shift, 0)) + max(abs(int(v)) for v in _pyint(b_acc))
        bits = bound.bit_length() + 1
        live = np.flatnonzero(np.any(wm != 0, axis=1))
        exact = ta == self.exact_accum(node, tx)
        proven = exact or never_leaves_range(wm, b_acc, tx, ta, -shift)
        fast = shift >= 0 and (ta.overflow == "WRAP" or exact)
        if fast:
            path, counts = "matmul", "final"  # as it always was: the final sums' overflow
        elif shift >= 0 and proven:
            path, counts = "matmul", "sequential"
        elif ta.overflow == "WRAP" or proven:
            path, counts = "products", "sequential" if proven else "final"
        else:
            path, counts = "guarded", "sequential"
        products = ProductSum.build(wm, live, tx, ta, -shift, ta.width + 1) if shift < 0 else None
        abs_w = np.abs(np.asarray(wm, dtype=np.float64)) if path == "guarded" else None
        pbits = tx.width + max((abs(int(v)).bit_length() for v in wpy.ravel()), default=0) + 2
        return DensePlan(wm=as_storage(wm, tw.width + 1), b_acc=b_acc, fp=fp, shift=shift, bits=bits, fast=fast,
                         path=path, counts=counts, bias_overflow=b_ov.count, live_rows=live, pbits=pbits,
                         products=products, abs_w=abs_w)

    def run_fixed(self, node: Node, xs: list[QArray], prep: DensePlan, stats: RunStats) -> QArray:
        return cast(node, self.accumulate(node.name, xs[0], prep, node.types["accum"], stats), "result", stats)

    def accumulate(self, name: str, x: QArray, prep: DensePlan, ta: FixedType, stats: RunStats) -> QArray:
        """The accumulator's value after the bias and every input (rows of ``x``: samples, or a convolution's
        windows), by the plan's path; its overflow is recorded under (``name``, ``"accum"``)."""
        if prep.path == "sequential":
            acc_m, ov = self._sequential(x, prep, ta)
        else:
            s, bits = self._batched_sum(x.m, prep)
            acc_m, ov = requantize(s, ta.frac, bits, ta)
            if prep.path == "guarded":
                acc_m, ov = self._guard(x, prep, ta, acc_m)
            elif prep.counts == "sequential":  # no cast left the range: only a bias that did counts
                ov = Overflow(prep.bias_overflow * x.m.shape[0], int(acc_m.size) * (1 + 2 * x.m.shape[1]))
        stats.record(name, "accum", ov)
        return QArray(acc_m, ta)

    @staticmethod
    def _batched_sum(xm: np.ndarray, prep: DensePlan) -> tuple[np.ndarray, int]:
        """The bias plus every (rounded) product on the accumulator's grid, exact, and its width in bits."""
        if prep.products is not None:
            return prep.products(xm, prep.b_acc), prep.products.bits
        bits = prep.bits
        xm, wm = as_storage(xm, bits), as_storage(prep.wm, bits)
        s = xm @ wm if xm.dtype != object else np.dot(xm, wm)
        if prep.shift:
            s = s * (2.0 ** prep.shift if s.dtype == np.float64 else 1 << prep.shift)
        return s + as_storage(prep.b_acc, bits), bits

    def _guard(self, x: QArray, prep: DensePlan, ta: FixedType, acc_m: np.ndarray) -> tuple[np.ndarray, Overflow]:
        """Keep the batched result on rows whose inputs prove that no partial sum leaves the range (then it is
        the sequential result, and only a bias that overflowed counts); rerun the others sequentially.
        Bound: every cast product and partial sum is within ``B = sum_i |r(x_i w_ij)|`` of the bias, and
        ``|r(p)| <= |p| * 2**shift`` (+1 when the product cast rounds); computed in float64 and inflated."""
        lo, hi = sat_bounds(ta)
        big = np.abs(np.asarray(x.m, dtype=np.float64)) @ prep.abs_w
        big = big * 2.0**prep.shift + (len(prep.live_rows) if prep.shift < 0 else 0)
        big = big * (1 + 2.0**-40) + 2
        b = np.asarray(prep.b_acc, dtype=np.float64)
        ok = np.all((np.maximum(b, 0) + big <= hi) & (np.minimum(b, 0) - big >= lo), axis=1)
        rows = np.flatnonzero(~ok)
        ov = Overflow(prep.bias_overflow * (x.m.shape[0] - rows.size), int(acc_m.size) * (1 + 2 * x.m.shape[1]))
        if rows.size:
            seq_m, seq_ov = self._sequential_fast(QArray(x.m[rows], x.t), prep, ta)
            acc_m = acc_m.copy()
            acc_m[rows] = seq_m
            ov.count += seq_ov.count
        return acc_m, ov

    def _sequential_fast(self, x: QArray, prep: DensePlan, ta: FixedType) -> tuple[np.ndarray, Overflow]:
        """:meth:`_sequential`'s bits and count by the compiled kernel (:mod:`nnfpga.ops.sequential_jit`) where
        it applies, else by that NumPy loop (which the reference path keeps)."""
        k = -prep.shift
        if x.m.dtype == object or not sequential_jit.usable(ta, k, prep.pbits):
            return self._sequential(x, prep, ta)
        acc, count = sequential_jit.sequential(x.m, prep.wm, prep.live_rows, prep.b_acc, ta, k)
        return acc, Overflow(prep.bias_overflow * x.m.shape[0] + count, int(acc.size) * (1 + 2 * x.m.shape[1]))

    @staticmethod
    def _sequential(x: QArray, prep: DensePlan, ta: FixedType) -> tuple[np.ndarray, Overflow]:
        """Accumulate input by input, casting each product and each partial sum to the accumulator.
        Overflow counts every bias, product or partial sum that wrapped or saturated."""
        pbits, wide = prep.pbits, ta.width + 2
        acc = np.broadcast_to(prep.b_acc, (x.m.shape[0], prep.b_acc.shape[0])).copy()
        total = Overflow(prep.bias_overflow * x.m.shape[0])  # (accum)bias starts every sample's sum
        xm, wm = as_storage(x.m, pbits), as_storage(prep.wm, pbits)
        for i in prep.live_rows:  # all-zero (pruned) rows add nothing
            pq, ov1 = requantize(xm[:, i : i + 1] * wm[i][None, :], prep.fp, pbits, ta)
            acc, ov2 = requantize(as_storage(acc, wide) + as_storage(pq, wide), ta.frac, wide, ta)
            total.count += ov1.count + ov2.count
        total.total = int(acc.size) * (1 + 2 * x.m.shape[1])  # every cast: bias, then a product and a sum per input
        return acc, total

    def run_float(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        return xs[0] @ node.weights["kernel"].astype(np.float64) + node.weights["bias"].astype(np.float64)


@register
class ScaleShift(OpDef):
    """``y = x * scale + shift`` per channel (the last axis; batch-norm that could not be folded into a Dense).
    The constants broadcast by :mod:`nnfpga.ir.layout`'s rule: shape ``(C,)`` per channel, or the tensor's shape."""

    name = "scale_shift"
    config_name = "BatchNormalization"
    category = "linear"
    slots = ("weight", "bias", "result")
    default_slots = ("weight", "bias", "result")
    const_slots = ("weight", "bias")
    weights = ("scale", "shift")
    pipeline_stages = 1

    def infer_shape(self, node: Node, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        for key in ("scale", "shift"):  # per-axis constants, channels-last (the one broadcast rule)
            check_broadcast(np.shape(node.weights.get(key)), in_shapes[0], f"{node.describe()}: {key}")
        return in_shapes[0]

    def infer_types(self, node: Node, in_types: list[FixedType], ctx: Context) -> None:
        set_default(node, "weight", weight_type(node.weights["scale"], ctx.default.width))
        set_default(node, "bias", weight_type(node.weights["shift"], ctx.default.width))
        set_default(node, "result", ctx.default)

    def prepare(self, node: Node, in_types: list[FixedType]) -> ScaleShiftPlan:
        tw, tb = node.types["weight"], node.types["bias"]
        return ScaleShiftPlan(sm=quantize_const(node.weights["scale"], tw),
                              bm=quantize_const(node.weights["shift"], tb))

    def run_fixed(self, node: Node, xs: list[QArray], prep: ScaleShiftPlan, stats: RunStats) -> QArray:
        x, tw, tb = xs[0], node.types["weight"], node.types["bias"]
        fused = None if stats.precast is not None else cast_jit.affine_cast(x.m, x.t, prep.sm, tw, prep.bm, tb,
                                                                              node.types["result"])
        if fused is not None:  # the product, the sum and the cast in one compiled pass
            stats.record(node.name, "result", fused[1])
            return QArray(fused[0], node.types["result"])
        fp = x.t.frac + tw.frac
        f = max(fp, tb.frac)
        bits = max(x.t.width + tw.width + f - fp, tb.width + f - tb.frac) + 2
        prod = as_storage(x.m, bits) * as_storage(prep.sm, bits)  # a new array: the steps below work in place
        if f > fp:
            prod *= 2.0 ** (f - fp) if prod.dtype == np.float64 else 1 << (f - fp)
        b = as_storage(prep.bm, bits)
        b = b * (2.0 ** (f - tb.frac) if b.dtype == np.float64 else 1 << (f - tb.frac))
        prod += b
        exact = FixedType(bits, bits - f)
        return cast(node, QArray(prod, exact), "result", stats)

    def run_float(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        return xs[0] * node.weights["scale"].astype(np.float64) + node.weights["shift"].astype(np.float64)
