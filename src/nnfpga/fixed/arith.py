"""Vectorized, bit-exact ``ap_fixed`` conversions on integer mantissas.

A fixed-point array is held as its mantissas ``m`` (value = ``m * 2**-frac``) in the narrowest exact NumPy
storage: ``float64`` holding integers when every value has at most 53 bits (the fast path: BLAS and
elementwise float ops are exact there), ``int64`` up to 62 bits, and Python ``int`` objects beyond.

Conversion = exact value -> quantization to the target LSB (rounding mode) -> overflow handling
(overflow mode), which is what Xilinx's ``ap_fixed`` does for fixed-point and double sources.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nnfpga.errors import PrecisionError
from nnfpga.fixed.types import FixedType

FLOAT_BITS = 53
INT_BITS = 62
MAX_FROM_FLOAT_WIDTH = 1000  # 2**(W + 1) must stay below the float64 range


_to_pyint = np.frompyfunc(int, 1, 1)


def storage_dtype(bits: int) -> np.dtype:
    """The dtype that holds integers of ``bits`` bits (sign included) exactly."""
    if bits <= FLOAT_BITS:
        return np.dtype(np.float64)
    if bits <= INT_BITS:
        return np.dtype(np.int64)
    return np.dtype(object)


def as_storage(m: np.ndarray, bits: int) -> np.ndarray:
    """Convert integer-valued mantissas to the storage dtype for ``bits``-bit values (exact)."""
    dtype = storage_dtype(bits)
    if m.dtype == dtype:
        return m
    if dtype.kind == "O":
        return np.asarray(_to_pyint(m), dtype=object)
    if m.dtype == object:
        return np.array(m.tolist(), dtype=dtype).reshape(m.shape) if m.size else m.astype(dtype)
    return m.astype(dtype)


@dataclass
class Overflow:
    """How many values a conversion wrapped or saturated, out of how many."""

    count: int = 0
    total: int = 0

    def add(self, other: Overflow) -> None:
        self.count += other.count
        self.total += other.total


def to_float(m: np.ndarray, t: FixedType) -> np.ndarray:
    """Mantissas to float64 values (exact whenever the width is at most 53 bits)."""
    return np.ldexp(np.asarray(m, dtype=np.float64), -t.frac)


def requantize(m: np.ndarray, src_frac: int, src_bits: int, dst: FixedType) -> tuple[np.ndarray, Overflow]:
    """Convert mantissas ``m`` (at ``src_frac`` fractional bits, at most ``src_bits`` bits wide, sign included)
    to type ``dst``. Returns the new mantissas in ``dst``'s storage dtype and the overflow tally.

    Equal to assigning an ``ap_fixed`` source to ``dst``. (For ``kind="int"`` targets the Xilinx header gets
    sources with ``I <= 0`` integer bits wrong, see tests/fixed/test_ap_headers.py; this is C truncation.)"""
    m = np.asarray(m)
    k = src_frac - dst.frac
    if k > src_bits:
        # Every value is below half a target LSB in magnitude, so only its sign matters for every rounding
        # mode: replace it by sign * 1/4 LSB (this also keeps the shifts below the storage width).
        m = (m > 0).astype(np.float64) - (m < 0)
        src_bits, k = 2, 2
    # wide enough for m, the shifted value and the wrap arithmetic on it
    work_bits = max(src_bits, src_bits - k, dst.width) + 2
    m = as_storage(m, work_bits)
    if k <= 0:
        q = _shift_left(m, -k)
    else:
        q = _round_shift(m, k, dst.rounding)
    return _overflow(q, dst)


def from_float(x: np.ndarray, dst: FixedType) -> tuple[np.ndarray, Overflow]:
    """Convert finite float values to type ``dst`` exactly as ``ap_fixed``'s constructor from ``double`` does.

    For ``kind="int"`` targets this is C truncation toward zero then wrap. (The Xilinx ``ap_int_base(double)``
    turns negative doubles above -0.5 into +1, a header bug this function does not reproduce.)"""
    if dst.width > MAX_FROM_FLOAT_WIDTH:
        raise PrecisionError(f"conversion from float to {dst} is not supported: widths above {MAX_FROM_FLOAT_WIDTH}")
    x = np.asarray(x, dtype=np.float64)
    f = dst.frac
    # Bring huge values into range without changing the result or the overflow tally: |x| >= 2**e with
    # e = I + 1 overflows every W-bit type with I integer bits. WRAP: fmod(x, 2**e) + sign(x) * 2**e (exact,
    # congruent modulo the wrap modulus 2**I, still out of range); saturating modes: clip to +-2**e.
    e = dst.integer + 1
    overflowed = None
    if x.size and e <= 1023:  # beyond that no finite double reaches 2**e
        bound = math.ldexp(1.0, e) if e >= -1074 else 0.0  # 0.0: every nonzero double reaches 2**e
        if np.max(np.abs(x)) >= bound:
            if not bound:  # every nonzero value is a multiple of 2**I: wraps to 0, saturates by its sign
                overflowed = np.sign(x)
                x = np.zeros_like(x)
            elif dst.overflow == "WRAP":
                x = np.where(np.abs(x) >= bound, np.fmod(x, bound) + np.copysign(bound, x), x)
            else:
                x = np.clip(x, -bound, bound)
    scaled = np.ldexp(x, f)  # exact unless it underflows, i.e. for tiny x with f < 0 (handled next)
    if f < 0 and x.size:
        # Below a quarter LSB only the sign matters; replace such values by +-1/4 LSB so that scaling cannot
        # round a tiny value to zero (ap_fixed<2,7> = -5e-324 must be -1 LSB under AP_TRN).
        quarter = math.ldexp(1.0, -f - 2) if -f - 2 <= 1023 else math.inf
        small = np.abs(x) < quarter
        if small.any():
            scaled = np.where(small, np.sign(x) * 0.25, scaled)
    if overflowed is not None:
        scaled = overflowed * math.ldexp(1.0, dst.width + 1)
    q, inc = _round_float(scaled, dst.rounding)
    if dst.width + 4 > FLOAT_BITS:  # |q| < 2**(W + 2); the wrap arithmetic needs a bit more
        q = as_storage(q, dst.width + 4)
    if inc is not None:
        q = q + (inc.astype(object) if q.dtype == object else inc)
    return _overflow(q, dst)


# -- internals ------------------------------------------------------------------------------------

def _shift_left(m: np.ndarray, n: int) -> np.ndarray:
    if n == 0:
        return m
    if m.dtype == np.float64:
        return m * float(2**n)
    return m << n


def _round_shift(m: np.ndarray, k: int, rounding: str) -> np.ndarray:
    """Drop ``k`` fractional bits of the integer mantissas ``m`` with the given rounding mode."""
    if m.dtype == np.float64:  # m and 2**k below 2**53: every step below is exact
        floor = m * 2.0**-k
        np.floor(floor, out=floor)  # in place: one temporary less (a large CNN tensor casts 2x faster)
        if rounding == "TRN":
            return floor
        rem = m - floor * 2.0**k
        half = 2.0 ** (k - 1)
    else:
        floor = m >> k
        if rounding == "TRN":
            return floor
        rem = m - (floor << k)
        half = 1 << (k - 1)
    inc = _round_increment(
        rounding,
        negative=lambda: m < 0,
        nonzero=lambda: rem != 0,
        above=lambda: rem > half,
        tie=lambda: rem == half,
        odd=lambda: (np.mod(floor, 2) if floor.dtype == np.float64 else floor & 1) == 1,
    )
    return floor + (inc.astype(object) if floor.dtype == object else inc)


def _round_float(scaled: np.ndarray, rounding: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Split exactly scaled floats into ``floor`` and the rounding increment (None: no increment)."""
    if rounding == "TRN":
        return np.floor(scaled), None
    if rounding == "TRN_ZERO":
        return np.trunc(scaled), None
    # modf is exact; ``scaled - floor(scaled)`` is not for tiny negative values (1 - 2**-60 rounds to 1.0,
    # 1 - (0.5 - 2**-54) rounds to the tie 0.5), so compare the signed fraction against +-1/2 instead.
    fp, ip = np.modf(scaled)
    neg = fp < 0
    floor = ip - neg
    inc = _round_increment(
        rounding,
        negative=lambda: neg,  # for a non-integer the sign of the fraction is the sign of the value
        nonzero=lambda: fp != 0,
        above=lambda: (fp > 0.5) | (neg & (fp > -0.5)),
        tie=lambda: np.abs(fp) == 0.5,
        odd=lambda: np.mod(floor, 2) == 1,
    )
    return floor, inc


def _round_increment(rounding: str, *, negative, nonzero, above, tie, odd) -> np.ndarray:
    """Where the floor must be incremented. The arguments are callables giving boolean masks (computed only
    when the mode needs them): value negative, dropped part nonzero, above half an LSB, exactly half, floor odd."""
    if rounding == "TRN":
        return np.zeros(np.shape(negative()), dtype=bool)
    if rounding == "TRN_ZERO":
        return nonzero() & negative()
    if rounding == "RND":
        return above() | tie()
    if rounding == "RND_ZERO":
        return above() | (tie() & negative())
    if rounding == "RND_INF":
        return above() | (tie() & ~negative())
    if rounding == "RND_MIN_INF":
        return above()
    if rounding == "RND_CONV":
        return above() | (tie() & odd())
    raise AssertionError(rounding)


def _overflow(q: np.ndarray, dst: FixedType) -> tuple[np.ndarray, Overflow]:
    lo, hi = dst.min_mantissa, dst.max_mantissa
    if dst.overflow == "SAT_SYM" and dst.signed and dst.width > 1:
        # ap_fixed maps the most negative value to -max as well. It builds -max as (min | 1), which for a 1-bit
        # type is min itself: ap_fixed<1,I,Q,AP_SAT_SYM> saturates like AP_SAT (the header does exactly this).
        lo = -hi
    total = int(np.size(q))
    if total == 0:
        return as_storage(q, dst.width), Overflow(0, 0)
    qmin, qmax = q.min(), q.max()
    if qmin >= lo and qmax <= hi:
        return as_storage(q, dst.width), Overflow(0, total)
    bad = (q < lo) | (q > hi)
    count = int(np.count_nonzero(bad))
    if dst.overflow == "WRAP":
        lo_w = dst.min_mantissa
        if q.dtype == np.float64:
            q = np.mod(q - lo_w, 2.0**dst.width) + lo_w
        else:
            q = ((q - lo_w) & ((1 << dst.width) - 1)) + lo_w
    elif dst.overflow == "SAT_ZERO":
        q = np.where(bad, 0, q)
    else:  # SAT, SAT_SYM
        q = np.where(q < lo, lo, np.where(q > hi, hi, q))
    return as_storage(q, dst.width), Overflow(count, total)
