"""Dense accumulation kernels for accumulators that cast every product (see :mod:`nnfpga.ops.dense`).

The literal semantics, input by input, is ``acc = (accum)(acc + (accum)(x[i] * w[i, j]))`` from
``acc = (accum) bias``. With ``k = fp - fa > 0`` (the product has ``k`` more fractional bits than the
accumulator) each product cast rounds; ``r(p)`` below is that rounding of the integer product mantissa ``p``
to the accumulator's grid (no overflow handling). Two facts make the literal loop a batched computation:

1. **The product cast depends on the product alone.** ``(accum)(p)`` is ``r(p)`` followed by the accumulator's
   overflow handling, whatever the partial sum is. So ``R[b, j] = sum_i r(x[b, i] * w[i, j])`` can be computed
   for all inputs at once (:class:`ProductSum`).
2. **WRAP is reduction modulo 2**W.** Every value on the accumulator's grid (the cast bias, the cast products,
   the partial sums of them) is an integer mantissa, and a WRAP cast of an integer ``v`` on that grid is the
   representative of ``v mod 2**W`` in the type's range. Case fa >= fp (``k <= 0``): the product is already on
   the grid, ``r(p) = p * 2**-k`` exactly, and each cast is ``mod 2**W``. Case fa < fp (``k > 0``): the product
   cast rounds, then wraps: ``(accum)(p) = r(p) mod 2**W``; the partial sum adds two values already on the
   grid, so its cast never rounds and only wraps: ``mod 2**W``. In both cases the sequential result is
   ``(b + sum_i r(p_i)) mod 2**W`` because reduction mod 2**W commutes with addition: one wrap at the end of
   an exact integer sum. A saturating accumulator has no such algebra; but when no cast ever leaves the range,
   every cast is the identity on grid values and the sequential result is again ``b + sum_i r(p_i)``.

Overflow counts: a saturating accumulator's count is exactly the sequential one (rows that bounds prove safe
count only their bias; the others run the sequential kernel). A WRAP accumulator that bounds do not prove
safe counts only its final sums that wrapped, as the exact matrix-product path always did (the intermediate
wraps cancel and are not observable in the result).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnfpga.fixed import FixedType, requantize
from nnfpga.fixed.arith import FLOAT_BITS, as_storage
from nnfpga.ops import accumulate_jit

CHUNK = 1 << 18  # elements of a (rows, inputs, outputs) product tensor per step: bounded memory, cache-sized
# Rounding modes that are floor(p + offset) for a constant offset: the split kernel's fast case.
OFFSET_MODES = ("TRN", "RND", "RND_MIN_INF", "RND_CONV")


def sat_bounds(t: FixedType) -> tuple[int, int]:
    """The mantissa range a cast to ``t`` keeps (``SAT_SYM``: ``-max`` at the bottom)."""
    lo, hi = t.min_mantissa, t.max_mantissa
    if t.overflow == "SAT_SYM" and t.signed and t.width > 1:
        lo = -hi
    return lo, hi


def wide_grid(ta: FixedType, bits: int) -> FixedType:
    """A type on ``ta``'s grid with ``ta``'s rounding, wide enough for ``bits``-bit mantissas never to overflow."""
    return FixedType(bits + 2, bits + 2 - ta.frac, True, ta.rounding, "WRAP")


def round_products(p: np.ndarray, k: int, pbits: int, ta: FixedType) -> np.ndarray:
    """``r(p)``: products ``p`` (``k`` fractional bits above ``ta``'s) rounded to ``ta``'s grid, never wrapped."""
    if k <= 0:
        return as_storage(p, pbits - k) * (2.0 ** -k if pbits - k <= FLOAT_BITS else 1 << -k)
    return requantize(p, ta.frac + k, pbits, wide_grid(ta, max(pbits - k, 1) + 1))[0]


def never_leaves_range(wm: np.ndarray, b_acc: np.ndarray, tx: FixedType, ta: FixedType, k: int) -> bool:
    """Whether, for every input of type ``tx``, every cast product and partial sum of the sequential
    accumulation from ``b_acc`` stays in ``ta``'s range (then no cast to ``ta`` saturates or wraps). ``r`` is
    monotone, so ``r(p)`` lies in ``[r(min p), r(max p)]`` over the input range; the partial sums lie between
    the bias plus the prefix sums of the negative and of the positive bounds (Python ints: exact)."""
    lo, hi = sat_bounds(ta)
    w = as_storage(np.asarray(wm), 10_000)
    if not w.size:
        return True
    p1, p2 = w * tx.min_mantissa, w * tx.max_mantissa
    pbits = max(int(max(abs(int(v)) for v in np.concatenate([p1.ravel(), p2.ravel()]))).bit_length(), 1) + 1
    r1 = as_storage(round_products(np.minimum(p1, p2), k, pbits, ta), 10_000)
    r2 = as_storage(round_products(np.maximum(p1, p2), k, pbits, ta), 10_000)
    if any(int(v) < lo for v in r1.ravel()) or any(int(v) > hi for v in r2.ravel()):
        return False
    b = as_storage(np.asarray(b_acc), 10_000)[None, :]
    zero = np.zeros_like(r1)
    low = b + np.cumsum(np.minimum(r1, zero), axis=0)
    high = b + np.cumsum(np.maximum(r2, zero), axis=0)
    return min(int(v) for v in low.ravel()) >= lo and max(int(v) for v in high.ravel()) <= hi


@dataclass
class ProductSum:
    """How to compute ``R = sum_i r(x[:, i] * w[i, :])`` over the live rows for ``k > 0`` (fact 1 above).

    Split kernel (``split``), for a rounding that is ``floor((p + h) / 2**k)`` with a constant ``h < 2**k``
    (TRN: 0, RND: 2**(k-1), RND_MIN_INF: 2**(k-1) - 1: ties up resp. down):
    ``floor((p + h) / 2**k) = (p + h - ((p + h) mod 2**k)) / 2**k``, so
    ``R = (x @ w + n * h - M) / 2**k`` with ``M = sum_i ((p_i + h) mod 2**k)``. The matrix product is exact in
    float64 (bounded below 2**52), and ``p mod 2**k`` depends only on ``x mod 2**k`` and ``w mod 2**k``:
    ``M`` is a sum of small unsigned integers computed in ``small`` (16 to 64 bits, a multiple of 2**k, so
    its wrap-around is harmless before the mask), input by input on (outputs, rows) arrays that stay in
    cache, summed in ``small`` for up to ``group`` inputs, then into ``small_sum``. An input whose low part is
    0 on every row adds ``h mod 2**k = h`` to ``M`` and ``h`` to ``n * h``: it is skipped in both.
    RND_CONV (ties to even) is RND minus 1 where ``p`` is a tie and the RND result odd: with
    ``q = (p + h) mod 2**(k+1)`` (from ``x, w mod 2**(k+1)``), a tie is ``q mod 2**k == 0`` and the RND result's
    parity is bit k of ``q``, so ``R = (x @ w + n * h - M) / 2**k - #{q == 2**k}`` (a skipped input has
    ``q = h != 2**k``).
    Two implementations give the same integers: the compiled kernel of :mod:`nnfpga.ops.accumulate_jit` (numba,
    the default: one fused loop, ``M`` and the ties in one term; the jet and MNIST MLPs with ``ap_fixed<24,12>``
    accumulators run 2.3x faster than with the NumPy loop) and the NumPy loop below (``NNFPGA_NUMBA=0``, read
    at every call, or no numba).
    Otherwise (other modes, or values too wide) the generic kernel rounds the product tensor with
    :func:`requantize`, chunked."""

    k: int
    rows: np.ndarray  # live input rows
    w: np.ndarray  # live weight mantissas, storage for pbits
    pbits: int  # bits of every product (sign included)
    bits: int  # bits of every sum R plus the bias
    split: bool
    grid: FixedType  # the accumulator's grid and rounding, never overflowing (generic kernel)
    w_t: np.ndarray | None = None  # w transposed, float64 (split kernel)
    wl: np.ndarray | None = None  # w mod 2**k in ``small`` (split kernel)
    offset: int = 0
    conv: bool = False  # RND_CONV: the low parts have k + 1 bits and the ties to even are counted
    small: np.dtype | None = None  # dtype of (xl * wl + h) mod 2**k
    small_sum: np.dtype | None = None  # dtype of M
    group: int = 0  # how many of those terms a ``small`` sum holds
    jit_group: int = 0  # the same for the compiled kernel's terms (RND_CONV: up to 2**k, the tie folded in)

    @staticmethod
    def build(wm: np.ndarray, rows: np.ndarray, tx: FixedType, ta: FixedType, k: int, bias_bits: int) -> ProductSum:
        w = as_storage(np.asarray(wm)[rows], 10_000)
        wmax = max((abs(int(v)) for v in w.ravel()), default=0)
        xmax = max(-tx.min_mantissa, tx.max_mantissa)
        pbits = (wmax * xmax).bit_length() + 2
        colsum = max((sum(abs(int(v)) for v in col) for col in w.T), default=0)
        rbound = (colsum * xmax >> k) + len(rows) + 1  # |r(p)| <= |p| / 2**k + 1
        bits = max(rbound.bit_length(), bias_bits) + 2
        plan = ProductSum(k=k, rows=rows, w=as_storage(w, pbits), pbits=pbits, bits=bits, split=False,
                          grid=wide_grid(ta, max(pbits - k, 1) + 1))
        conv = ta.rounding == "RND_CONV"
        small = next((np.dtype(d) for d in (np.uint16, np.uint32, np.uint64)
                      if 8 * np.dtype(d).itemsize >= k + 4 + conv), None)
        exact = colsum * xmax + (len(rows) << (k + 1))  # |x @ w| + n * h + M + 2**k * ties
        if (ta.rounding not in OFFSET_MODES or tx.width > FLOAT_BITS or bits > FLOAT_BITS or not len(rows)
                or small is None or exact.bit_length() > FLOAT_BITS - 1):
            return plan
        plan.split, plan.small = True, small
        plan.offset = (1 << (k - 1)) - (ta.rounding == "RND_MIN_INF") if ta.rounding != "TRN" else 0
        plan.conv = conv
        low = (1 << (k + conv)) - 1
        plan.group = ((1 << (8 * small.itemsize)) - 1) // ((1 << k) - 1)
        plan.small_sum = small if len(rows) <= plan.group else np.dtype(np.uint64)
        plan.jit_group = min(((1 << (8 * small.itemsize)) - 1) >> k if conv else plan.group, 1 << 62)
        plan.w_t = np.array(w.T.tolist(), dtype=np.float64)
        plan.wl = np.array([[int(v) & low for v in row] for row in w.tolist()], dtype=small)
        return plan

    def __call__(self, xm: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
        """``R`` (plus ``bias``, outputs, when given) for input mantissas ``xm`` (batch x inputs), in the storage
        for ``bits``."""
        x = xm if len(self.rows) == xm.shape[1] else xm[:, self.rows]  # rows: ascending, unique
        if not self.split:
            r = self._generic_sum(x)
            return r if bias is None else r + as_storage(bias, self.bits)
        x = np.asarray(x, dtype=np.float64)
        if accumulate_jit.enabled():  # the compiled kernel (NNFPGA_NUMBA=0: the NumPy loop below, same bits)
            b = np.zeros(self.w_t.shape[0]) if bias is None else np.asarray(bias, dtype=np.float64)
            return accumulate_jit.split_sum(x, self.w_t, self.wl, b, self.k, self.offset, self.conv, self.jit_group)
        r = self._split_sum_numpy(x)
        return r if bias is None else r + as_storage(bias, self.bits)

    def _split_sum_numpy(self, x: np.ndarray) -> np.ndarray:
        kl = self.k + self.conv
        xl = x - np.floor(x * 2.0**-kl) * 2.0**kl  # x mod 2**kl, exact
        xs = np.ascontiguousarray(xl.T, dtype=self.small)  # inputs x rows: each product is scalar * vector
        big = np.zeros((self.wl.shape[1], x.shape[0]), dtype=self.small_sum)
        block = big if self.small_sum == self.small else np.zeros_like(big, dtype=self.small)
        t = np.empty_like(block)  # outputs x rows, one input at a time: stays in cache
        offset, mask = self.small.type(self.offset), self.small.type((1 << self.k) - 1)
        mask_conv, tie = self.small.type((1 << kl) - 1), self.small.type(1 << self.k)
        if self.conv:
            ties = np.zeros(big.shape, dtype=np.uint32)
            eq = np.empty(big.shape, dtype=bool)
        used = np.flatnonzero(np.any(xs, axis=1))
        for n, i in enumerate(used):
            if block is not big and n and n % self.group == 0:
                np.add(big, block, out=big)
                block.fill(0)
            np.multiply(self.wl[i, :, None], xs[i], out=t)
            if self.offset:
                np.add(t, offset, out=t)
            if self.conv:
                np.bitwise_and(t, mask_conv, out=t)
                np.equal(t, tie, out=eq)
                np.add(ties, eq, out=ties)
            np.bitwise_and(t, mask, out=t)
            np.add(block, t, out=block)
        if block is not big:
            np.add(big, block, out=big)
        s = self.w_t @ x.T  # outputs x rows, exact
        if self.offset:
            s += float(len(used) * self.offset)
        s -= big
        if self.conv:
            s -= ties * 2.0**self.k
        s *= 2.0**-self.k
        return s.T

    def _generic_sum(self, x: np.ndarray) -> np.ndarray:
        n, m = self.w.shape
        out = np.zeros((x.shape[0], m), dtype=as_storage(np.zeros(0), self.bits).dtype)
        if not n:
            return out
        x = as_storage(x, self.pbits)
        step = max(1, CHUNK // max(n * m, 1))
        for a in range(0, x.shape[0], step):
            p = x[a : a + step, :, None] * self.w
            r, _ = requantize(p, self.grid.frac + self.k, self.pbits, self.grid)
            out[a : a + step] = as_storage(r, self.bits).sum(axis=1)
        return out

