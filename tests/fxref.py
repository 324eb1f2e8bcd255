"""Slow, independent reference arithmetic for the op tests: Python ints and ``fractions.Fraction`` only.

Nothing here calls nnfpga's arithmetic; a type is read only for its parameters (width, integer bits,
signedness, rounding and overflow mode). The conversion follows Xilinx ``ap_fixed``: quantize the exact
value to the target LSB with the rounding mode, then apply the overflow mode to the integer mantissa.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from nnfpga.fixed import FixedType

HALF = Fraction(1, 2)


def mantissa_range(t: FixedType) -> tuple[int, int]:
    if t.signed:
        return -(2 ** (t.width - 1)), 2 ** (t.width - 1) - 1
    return 0, 2**t.width - 1


def lsb(t: FixedType) -> Fraction:
    return Fraction(2) ** -(t.width - t.integer)


def value(m: int, t: FixedType) -> Fraction:
    return int(m) * lsb(t)


def round_to_int(s: Fraction, mode: str) -> int:
    """Round the exact rational ``s`` to an integer with an ``ap_fixed`` quantization mode."""
    fl = math.floor(s)
    r = s - fl
    if mode == "TRN":
        return fl
    if mode == "TRN_ZERO":
        return fl if (s >= 0 or r == 0) else fl + 1
    if r != HALF:  # every RND* mode rounds to the nearest integer when there is no tie
        return fl + (1 if r > HALF else 0)
    return fl + {
        "RND": 1,                            # tie toward +inf
        "RND_ZERO": 1 if s < 0 else 0,       # tie toward zero
        "RND_INF": 0 if s < 0 else 1,        # tie away from zero
        "RND_MIN_INF": 0,                    # tie toward -inf
        "RND_CONV": fl % 2,                  # tie to even
    }[mode]


def handle_overflow(q: int, t: FixedType) -> int:
    lo, hi = mantissa_range(t)
    if lo <= q <= hi:
        return q
    if t.overflow == "WRAP":
        return (q - lo) % (2**t.width) + lo
    if t.overflow == "SAT":
        return lo if q < lo else hi
    if t.overflow == "SAT_ZERO":
        return 0
    raise NotImplementedError(t.overflow)


def cast(v: Fraction | int, t: FixedType) -> int:
    """``(t) v`` for an exact value ``v``: the mantissa of the result."""
    return handle_overflow(round_to_int(Fraction(v) / lsb(t), t.rounding), t)


def overflows(v: Fraction | int, t: FixedType) -> bool:
    lo, hi = mantissa_range(t)
    return not lo <= round_to_int(Fraction(v) / lsb(t), t.rounding) <= hi


def quantize_const(x: float, t: FixedType) -> int:
    """A constant (weight, table entry): clamped to the type's range, then rounded (never wraps)."""
    lo, hi = mantissa_range(t)
    v = min(max(Fraction(x), lo * lsb(t)), hi * lsb(t))
    return cast(v, t)


def from_float(x: float, t: FixedType) -> int:
    return cast(Fraction(float(x)), t)


# -- op references (the semantics documented in nnfpga.ops.dense and nnfpga.ops.softmax) --------------

def dense(kernel: np.ndarray, bias: np.ndarray, tx: FixedType, types: dict[str, FixedType],
          xm: list[list[int]]) -> tuple[list[list[int]], int, int]:
    """Dense on input mantissas ``xm``: (result mantissas, accumulator overflow events, result overflows).

    acc = (accum) bias; for each input in order acc = (accum)(acc + (accum)(x * w)); y = (result) acc."""
    tw, tb, ta, tr = types["weight"], types["bias"], types["accum"], types["result"]
    wq = [[quantize_const(float(w), tw) for w in row] for row in kernel]
    bq = [quantize_const(float(b), tb) for b in bias]
    out, acc_events, res_events = [], 0, 0
    for xrow in xm:
        yrow = []
        for j in range(kernel.shape[1]):
            b = value(bq[j], tb)
            acc_events += overflows(b, ta)
            acc = cast(b, ta)
            for i in range(kernel.shape[0]):
                p = value(xrow[i], tx) * value(wq[i][j], tw)
                acc_events += overflows(p, ta)
                s = value(acc, ta) + value(cast(p, ta), ta)
                acc_events += overflows(s, ta)
                acc = cast(s, ta)
            res_events += overflows(value(acc, ta), tr)
            yrow.append(cast(value(acc, ta), tr))
        out.append(yrow)
    return out, acc_events, res_events


def softmax(row: list[int], tx: FixedType, size: int, table_range: float, te: FixedType, ti: FixedType,
            tr: FixedType) -> list[int]:
    """One row of the softmax docstring's two-table exp, exact sum, inverse table and product."""
    n = len(row)
    step = Fraction(table_range) / size
    fine_step = max(lsb(tx), step / size)
    fine_size = max(int(step / fine_step), 1)
    coarse = [quantize_const(float(np.exp(-float(i * step))), te) for i in range(size)]
    fine = [quantize_const(float(np.exp(-float(k * fine_step))), te) for k in range(fine_size)]
    top = max(row)
    e = []
    for m in row:
        neg_d = value(top - m, tx)  # -(x - max x) >= 0, exact
        i = min(math.floor(neg_d / step), size - 1)
        k = math.floor(neg_d / fine_step) % fine_size
        e.append(cast(value(coarse[i], te) * value(fine[k], te), te))
    s = sum(value(v, te) for v in e)
    c = math.floor(math.log2(n)) + 1
    assert 2**c > n
    step_inv = Fraction(2**c) / size
    idx = min(math.floor(s / step_inv), size - 1)
    inv = quantize_const(float(1 / ((idx + Fraction(1, 2)) * step_inv)), ti)
    return [cast(value(v, te) * value(inv, ti), tr) for v in e]


# -- spatial op references (nnfpga.ops.conv, nnfpga.ops.pool): one output pixel at a time --------------------

def _window_inputs(xm: np.ndarray, o: tuple[int, ...], size: tuple[int, ...], strides: tuple[int, ...],
                   dilation: tuple[int, ...], pads: tuple[tuple[int, int], ...]) -> list[tuple[int, ...] | None]:
    """The input position each window position of output pixel ``o`` reads, row-major; None for padding."""
    out = []
    for j in np.ndindex(*size):
        p = tuple(oi * s - b + ji * d for oi, s, (b, _), ji, d in zip(o, strides, pads, j, dilation, strict=True))
        out.append(p if all(0 <= pi < n for pi, n in zip(p, xm.shape[:-1], strict=True)) else None)
    return out


def conv(kernel: np.ndarray, bias: np.ndarray, tx: FixedType, types: dict[str, FixedType], xm: np.ndarray,
         strides: tuple[int, ...], dilation: tuple[int, ...], pads: tuple[tuple[int, int], ...],
         groups: int) -> tuple[np.ndarray, int]:
    """Convolution of one sample's mantissas ``xm`` (*spatial, C_in), Python ints: (result mantissas as an object
    array (*out, C_out), accumulator overflow events). Per pixel and output channel, the Dense contract over
    the window's inputs of its group in (positions row-major, channel) order; padding reads 0."""
    tw, tb, ta, tr = types["weight"], types["bias"], types["accum"], types["result"]
    size, (cg, c_out) = kernel.shape[:-2], kernel.shape[-2:]
    per_group = c_out // groups
    out_sp = tuple((n + b + a - (k - 1) * d - 1) // s + 1
                   for n, (b, a), k, d, s in zip(xm.shape[:-1], pads, size, dilation, strides, strict=True))
    wq = {idx: quantize_const(float(kernel[idx]), tw) for idx in np.ndindex(*kernel.shape)}
    y = np.empty((*out_sp, c_out), dtype=object)
    events = 0
    for o in np.ndindex(*out_sp):
        reads = _window_inputs(xm, o, size, strides, dilation, pads)
        for co in range(c_out):
            g = co // per_group
            b = value(quantize_const(float(bias[co]), tb), tb)
            events += overflows(b, ta)
            acc = cast(b, ta)
            for j, p in zip(np.ndindex(*size), reads, strict=True):
                for ci in range(cg):
                    xv = value(int(xm[(*p, g * cg + ci)]), tx) if p is not None else Fraction(0)
                    prod = xv * value(wq[(*j, ci, co)], tw)
                    events += overflows(prod, ta)
                    s = value(acc, ta) + value(cast(prod, ta), ta)
                    events += overflows(s, ta)
                    acc = cast(s, ta)
            y[(*o, co)] = cast(value(acc, ta), tr)
    return y, events


def pool(kind: str, tx: FixedType, types: dict[str, FixedType], xm: np.ndarray, size: tuple[int, ...],
         strides: tuple[int, ...], pads: tuple[tuple[int, int], ...], count_pad: bool = False) -> np.ndarray:
    """Max or average pooling of one sample's mantissas (*spatial, C), Python ints, per the nnfpga.ops.pool
    docstring: padding never counts; the average sums with a cast per addition, then divides the accumulator's
    mantissa by the count, truncating toward zero (C's integer division)."""
    ta, tr = types["accum"], types["result"]
    out_sp = tuple((n + b + a - k) // s + 1 for n, (b, a), k, s in zip(xm.shape[:-1], pads, size, strides,
                                                                                 strict=True))
    y = np.empty((*out_sp, xm.shape[-1]), dtype=object)
    for o in np.ndindex(*out_sp):
        reads = [p for p in _window_inputs(xm, o, size, strides, (1,) * len(size), pads) if p is not None]
        for c in range(xm.shape[-1]):
            vals = [value(int(xm[(*p, c)]), tx) for p in reads]
            if kind == "max":
                y[(*o, c)] = cast(value(cast(max(vals), ta), ta), tr)
                continue
            acc = cast(0, ta)
            for v in vals:
                acc = cast(value(acc, ta) + v, ta)
            n = math.prod(size) if count_pad else len(vals)
            q = abs(acc) // n * (1 if acc >= 0 else -1)
            y[(*o, c)] = cast(value(q, ta), tr)
    return y
