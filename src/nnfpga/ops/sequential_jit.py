"""The literal input-by-input accumulation of a saturating accumulator, compiled with numba.

:class:`~nnfpga.ops.dense.Dense`'s ``guarded`` path reruns, input by input, the rows whose bounds do not prove
that no cast saturates: ``acc = (accum) bias``, then for each input ``acc = (accum)(acc + (accum)(x * w))``.
The NumPy loop (``DensePlan._sequential``, also the reference path) makes one pass over all those rows per input,
with a product tensor and three casts each time: on a CNN, whose rows are output pixels, it took most of the run
(the SVHN-style CNN of benchmarks/cnn_cases.py with ``ap_fixed<10,4,AP_RND,AP_SAT>`` accumulators: 536 samples/s
CPU time, 2/3 of it in that loop). This kernel computes the same integers and the same overflow count, row by
row with the accumulator in registers:

* the product's cast ``q = r(p)`` with ``p = x * w`` (int64): ``p << -k`` when the accumulator has at least the
  product's fractional bits (``k <= 0``), else ``(p + h) >> k`` (TRN ``h = 0``, RND ``h = 2**(k-1)``,
  RND_MIN_INF ``h = 2**(k-1) - 1``), and for RND_CONV the RND result minus 1 on a tie whose RND result is odd
  (``(p + h) mod 2**(k+1) == 2**k``), as in :mod:`nnfpga.ops.conv_jit`;
* then the accumulator's overflow mode on ``q`` and on ``acc + q`` (on the grid already: no rounding): SAT and
  SAT_SYM clip to :func:`~nnfpga.ops.accumulate.sat_bounds`, SAT_ZERO gives 0; each cast that left the range
  counts once, as ``requantize`` counts it.

A zero input or weight adds nothing and never overflows (``r(0) = 0``): skipped, as the NumPy loop skips pruned
inputs. :func:`usable` says when the kernel applies (numba on, a rounding among those above, a saturating
mode, every product and sum within int64); otherwise, and with ``NNFPGA_NUMBA=0``, the NumPy loop runs.
"""

from __future__ import annotations

import numpy as np

from nnfpga.fixed import FixedType
from nnfpga.fixed.arith import as_storage
from nnfpga.ops import accumulate_jit
from nnfpga.ops.accumulate import sat_bounds

ROUNDINGS = {"TRN": 0, "RND": 1, "RND_MIN_INF": 2, "RND_CONV": 3}
SATURATING = ("SAT", "SAT_SYM", "SAT_ZERO")


def _sequential(x, w, rows, bias, acc, k, h, conv, lo, hi, zero):  # pragma: no cover - numba
    """``acc[b, :]``: the literal accumulation of row ``b`` of ``x`` (int64 mantissas) over inputs
    ``rows`` of ``w`` (int64, inputs x outputs) from ``bias``; returns how many casts left ``[lo, hi]``."""
    n_out = w.shape[1]
    mask2 = (np.int64(1) << (k + 1)) - 1 if k > 0 else np.int64(0)
    tie = np.int64(1) << k if k > 0 else np.int64(0)
    count = 0
    for b in range(x.shape[0]):
        a = acc[b]
        for j in range(n_out):
            a[j] = bias[j]
        for i in rows:
            xv = x[b, i]
            if xv == 0:
                continue
            for j in range(n_out):
                p = xv * w[i, j]
                if k <= 0:
                    q = p << -k
                else:
                    t = p + h
                    q = t >> k
                    if conv and (t & mask2) == tie:
                        q -= 1
                if q < lo or q > hi:
                    count += 1
                    q = 0 if zero else (lo if q < lo else hi)
                s = a[j] + q
                if s < lo or s > hi:
                    count += 1
                    s = 0 if zero else (lo if s < lo else hi)
                a[j] = s
    return count


accumulate_jit.register_kernel("sequential", _sequential)


def usable(ta: FixedType, k: int, pbits: int) -> bool:
    """Whether the kernel computes the NumPy loop's integers: numba on, ``ta`` saturating with a rounding the
    kernel knows, products (shifted, plus ``h``) within int64, sums within int64."""
    return (accumulate_jit.enabled() and ta.overflow in SATURATING and ta.rounding in ROUNDINGS
            and pbits + max(-k, 0) + 1 <= 62 and k <= 60 and ta.width + 2 <= 62)


def sequential(xm: np.ndarray, wm: np.ndarray, rows: np.ndarray, b_acc: np.ndarray, ta: FixedType,
               k: int) -> tuple[np.ndarray, int]:
    """The accumulators (rows of ``xm`` x outputs, in ``ta``'s storage) and the count of casts that left the
    range (the bias's not included), for input mantissas ``xm`` (float64 or int64 storage), weights ``wm``
    (inputs x outputs), the live input ``rows``, the bias in accumulator units; ``k``: the product's fractional
    bits above the accumulator's."""
    mode = ROUNDINGS[ta.rounding]
    h = 0 if k <= 0 or mode == 0 else (1 << (k - 1)) - (mode == 2)
    lo, hi = sat_bounds(ta)
    acc = np.empty((xm.shape[0], wm.shape[1]), dtype=np.int64)
    count = accumulate_jit.call("sequential", np.ascontiguousarray(xm, dtype=np.int64),
                                np.ascontiguousarray(wm, dtype=np.int64), np.asarray(rows, dtype=np.int64),
                                np.asarray(b_acc, dtype=np.int64), acc, np.int64(k), np.int64(h),
                                mode == 3, np.int64(lo), np.int64(hi), ta.overflow == "SAT_ZERO")
    return as_storage(acc, ta.width), int(count)
