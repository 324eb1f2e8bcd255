"""A node's cast into its ``result`` type in one compiled pass (numba), for the common case.

``requantize`` on float64 mantissas makes several passes over a tensor (scale, floor, then the least and the
greatest value for the overflow check, then the wrap or the clip where needed); a CNN's feature maps are large,
so the passes cost memory traffic. This kernel reads each mantissa once and writes the cast one, with the same
integers and the same overflow count as ``requantize``:

* rounding ``k = src_frac - dst_frac`` bits: ``v << -k`` when ``k <= 0``; else ``(v + h) >> k`` (an arithmetic
  shift is the floor; TRN ``h = 0``, RND ``h = 2**(k-1)``, RND_MIN_INF ``h = 2**(k-1) - 1``), and for RND_CONV
  the RND result minus 1 on a tie whose RND result is odd (``(v + h) mod 2**(k+1) == 2**k``), the rules of
  :mod:`nnfpga.ops.conv_jit`;
* overflow outside :func:`~nnfpga.ops.accumulate.sat_bounds` (counted once per value): WRAP keeps the value
  modulo ``2**W`` in the type's range, SAT and SAT_SYM clip, SAT_ZERO gives 0.

It applies (:func:`usable`) when numba is on, the source is float64 storage (at most 53 bits), the destination
stores in float64 too, the rounding is one of those above and every intermediate fits int64; otherwise, and with
``NNFPGA_NUMBA=0``, ``requantize`` runs. A ReLU (without ``max_value``) casts ``max(m, 0)`` in the same pass.
The output keeps the input's memory layout (the batch-innermost views of :mod:`nnfpga.ops.conv_jit` stay views).
"""

from __future__ import annotations

import numpy as np

from nnfpga.fixed import FixedType, Overflow
from nnfpga.fixed.arith import FLOAT_BITS, storage_dtype
from nnfpga.ops import accumulate_jit
from nnfpga.ops.accumulate import sat_bounds

ROUNDINGS = {"TRN": 0, "RND": 1, "RND_MIN_INF": 2, "RND_CONV": 3}
OVERFLOWS = {"WRAP": 0, "SAT": 1, "SAT_SYM": 1, "SAT_ZERO": 2}


def _cast(m, out, k, h, conv, lo, hi, ov_mode, lo_w, mask, relu):  # pragma: no cover - numba
    """``out[i]``: ``m[i]`` (float64 integers; ``relu``: ``max(m[i], 0)``) rounded by ``k`` bits and kept in
    ``[lo, hi]``; returns how many values left that range."""
    mask2 = (np.int64(1) << (k + 1)) - 1 if k > 0 else np.int64(0)
    tie = np.int64(1) << k if k > 0 else np.int64(0)
    count = 0
    for i in range(m.size):
        v = np.int64(m[i])
        if relu and v < 0:
            v = 0
        if k <= 0:
            q = v << -k
        else:
            t = v + h
            q = t >> k
            if conv and (t & mask2) == tie:
                q -= 1
        if q < lo or q > hi:
            count += 1
            if ov_mode == 0:
                q = ((q - lo_w) & mask) + lo_w
            elif ov_mode == 1:
                q = lo if q < lo else hi
            else:
                q = 0
        out[i] = q
    return count


accumulate_jit.register_kernel("cast", _cast)


def _cast_float(m, out, scale, h, lo, hi, ov_mode, lo_w, span, relu):  # pragma: no cover - numba
    """:func:`_cast` without RND_CONV, in float64 and without branches (LLVM vectorizes it: AVX2 has no 64-bit
    arithmetic shift, and the branches kept ``_cast`` scalar): ``floor((v + h) * scale)`` with ``scale = 2**-k``
    is ``(v + h) >> k`` (``k <= 0``: ``h = 0``, ``v << -k``), a wrap ``q - span * floor((q - lo_w) / span)``; every
    value an integer below ``2**52`` in magnitude (:func:`float_usable`), so each step is exact."""
    inv = 1.0 / span
    count = 0
    for i in range(m.size):
        v = max(m[i], 0.0) if relu else m[i]
        q = np.floor((v + h) * scale)
        out_of_range = (q < lo) | (q > hi)
        count += out_of_range
        if ov_mode == 0:
            q = q - span * np.floor((q - lo_w) * inv)
        elif ov_mode == 1:
            q = min(max(q, lo), hi)
        else:
            q = 0.0 if out_of_range else q
        out[i] = q
    return count


accumulate_jit.register_kernel("cast_float", _cast_float)


def _from_float(x, out, scale, bound, lo, hi, ov_mode, lo_w, span):  # pragma: no cover - numba
    """``out[i]``: ``floor(x[i] * scale)`` (``scale = 2**frac``, ``frac >= 0``: exact) kept in ``[lo, hi]`` as
    :func:`_cast_float` keeps it; returns how many values left that range, or -1 where a value is not below
    ``bound`` in magnitude (or is not finite): the caller then converts the whole array the general way."""
    inv = 1.0 / span
    count = 0
    for i in range(x.size):
        if not abs(x[i]) < bound:
            return -1
    for i in range(x.size):
        q = np.floor(x[i] * scale)
        out_of_range = (q < lo) | (q > hi)
        count += out_of_range
        if ov_mode == 0:
            q = q - span * np.floor((q - lo_w) * inv)
        elif ov_mode == 1:
            q = min(max(q, lo), hi)
        else:
            q = 0.0 if out_of_range else q
        out[i] = q
    return count


accumulate_jit.register_kernel("from_float", _from_float)


def from_float(x: np.ndarray, dst: FixedType) -> tuple[np.ndarray, Overflow] | None:
    """:func:`nnfpga.fixed.from_float`'s mantissas and count for a TRN type with ``frac >= 0`` and at most 50 bits
    (``x * 2**frac`` exact, its floor the TRN rounding, every value below ``2**51``), in one compiled pass; None
    where that does not apply or a value is not below ``2**(integer + 1)`` in magnitude (the general path's
    reduction of huge values)."""
    if (dst.rounding != "TRN" or dst.frac < 0 or dst.width > 50 or dst.overflow not in OVERFLOWS
            or x.dtype != np.float64 or not x.flags.c_contiguous or not accumulate_jit.enabled()):
        return None
    out = np.empty(x.shape, dtype=np.float64)
    args = _cast_args(dst, 0)
    count = accumulate_jit.call("from_float", x.reshape(-1), out.reshape(-1), float(2.0**dst.frac),
                                float(2.0 ** (dst.integer + 1)), float(args[3]), float(args[4]), args[5],
                                float(args[6]), float(2.0**dst.width))
    return None if count < 0 else (out, Overflow(int(count), int(x.size)))


def _affine_cast(m, s, b, out, inner, ps, pb, k, h, conv, lo, hi, ov_mode, lo_w, mask):  # pragma: no cover
    """``out``: ``(m * s[c]) << ps + (b[c] << pb)`` cast as :func:`_cast` casts, where ``m`` and ``out`` are
    ``(outer, C, inner)`` in memory order and ``c`` the channel (a batch-norm's scale and shift, int64)."""
    mask2 = (np.int64(1) << (k + 1)) - 1 if k > 0 else np.int64(0)
    tie = np.int64(1) << k if k > 0 else np.int64(0)
    n_ch = s.size
    count = 0
    for o in range(m.size // (n_ch * inner)):
        for c in range(n_ch):
            sv = s[c]
            bv = b[c] << pb
            base = (o * n_ch + c) * inner
            for j in range(inner):
                v = ((np.int64(m[base + j]) * sv) << ps) + bv
                if k <= 0:
                    q = v << -k
                else:
                    t = v + h
                    q = t >> k
                    if conv and (t & mask2) == tie:
                        q -= 1
                if q < lo or q > hi:
                    count += 1
                    if ov_mode == 0:
                        q = ((q - lo_w) & mask) + lo_w
                    elif ov_mode == 1:
                        q = lo if q < lo else hi
                    else:
                        q = 0
                out[base + j] = q
    return count


accumulate_jit.register_kernel("affine_cast", _affine_cast)


def _affine_cast_float(m, s, b, out, inner, scale, h, lo, hi, ov_mode, lo_w, span):  # pragma: no cover - numba
    """:func:`_affine_cast` in float64 (``s`` and ``b`` already shifted), cast as :func:`_cast_float` casts."""
    inv = 1.0 / span
    n_ch = s.size
    count = 0
    for o in range(m.size // (n_ch * inner)):
        for c in range(n_ch):
            sv = s[c]
            bv = b[c]
            base = (o * n_ch + c) * inner
            for j in range(inner):
                q = np.floor((m[base + j] * sv + bv + h) * scale)
                out_of_range = (q < lo) | (q > hi)
                count += out_of_range
                if ov_mode == 0:
                    q = q - span * np.floor((q - lo_w) * inv)
                elif ov_mode == 1:
                    q = min(max(q, lo), hi)
                else:
                    q = 0.0 if out_of_range else q
                out[base + j] = q
    return count


accumulate_jit.register_kernel("affine_cast_float", _affine_cast_float)


def usable(src: FixedType, dst: FixedType) -> bool:
    """Whether the kernel gives ``requantize``'s integers for a cast from ``src`` to ``dst``."""
    k = src.frac - dst.frac
    return (dst.rounding in ROUNDINGS and dst.overflow in OVERFLOWS and src.width <= FLOAT_BITS
            and storage_dtype(dst.width) == np.float64 and -(62 - src.width) <= k <= 60 and dst.width <= 60
            and accumulate_jit.enabled())


def _memory_order(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The axes of ``m`` in memory order and ``m`` transposed to them (C-contiguous; a copy where it was not)."""
    order = np.argsort(m.strides, kind="stable")[::-1]
    mt = m.transpose(order)
    if not mt.flags.c_contiguous:
        order, mt = np.arange(m.ndim), np.ascontiguousarray(m)
    return order, mt


def _cast_args(dst: FixedType, k: int) -> tuple:
    mode = ROUNDINGS[dst.rounding]
    h = 0 if k <= 0 or mode == 0 else (1 << (k - 1)) - (mode == 2)
    lo, hi = sat_bounds(dst)
    return (np.int64(k), np.int64(h), mode == 3, np.int64(lo), np.int64(hi), np.int64(OVERFLOWS[dst.overflow]),
            np.int64(dst.min_mantissa), np.int64((1 << dst.width) - 1))


def affine_cast(m: np.ndarray, src: FixedType, sm: np.ndarray, tw: FixedType, bm: np.ndarray, tb: FixedType,
                dst: FixedType) -> tuple[np.ndarray, Overflow] | None:
    """ScaleShift's ``x * scale + shift`` cast to ``dst`` in one pass, or None where the kernel does not apply:
    per-channel constants (``(C,)``, the last axis), every value within int64 (``src`` float64 storage)."""
    fp = src.frac + tw.frac
    f = max(fp, tb.frac)
    bits = max(src.width + tw.width + f - fp, tb.width + f - tb.frac) + 2
    c = m.shape[-1] if m.ndim > 1 else 0
    if (np.shape(sm) != (c,) or np.shape(bm) != (c,) or bits > 62 or m.dtype != np.float64 or not m.size
            or f - dst.frac < -(62 - bits) or not usable(FixedType(min(bits, FLOAT_BITS), min(bits, FLOAT_BITS) - f),
                                                         dst)):
        return None
    order, mt = _memory_order(m)
    p = int(np.flatnonzero(order == m.ndim - 1)[0])  # where the channel axis is in memory order
    out = np.empty(mt.shape, dtype=np.float64)
    inner, args = int(np.prod(mt.shape[p + 1:])), _cast_args(dst, f - dst.frac)
    fl = affine_float_args(src, sm, tw, bm, tb, dst)
    if fl is not None:  # every term, sum and shift an integer below 2**52
        sb, a = fl
        count = accumulate_jit.call("affine_cast_float", mt.reshape(-1), sb[0], sb[1], out.reshape(-1), inner,
                                    a[0], a[1], a[2], a[3], np.int64(a[4]), a[5], a[6])
    else:
        count = accumulate_jit.call("affine_cast", mt.reshape(-1), np.asarray(sm, dtype=np.int64),
                                    np.asarray(bm, dtype=np.int64), out.reshape(-1), inner, np.int64(f - fp),
                                    np.int64(f - tb.frac), *args)
    return out.transpose(np.argsort(order)), Overflow(int(count), int(m.size))


def affine_float_args(src: FixedType, sm: np.ndarray, tw: FixedType, bm: np.ndarray, tb: FixedType,
                      dst: FixedType) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`_affine_cast_float`'s constants for ScaleShift's ``x * scale + shift`` (``x`` of type ``src``, the
    scale's mantissas ``sm`` of type ``tw``, the shift's ``bm`` of ``tb``, per channel: shape ``(C,)``) cast to
    ``dst``: the scale and the shift moved onto the sum's grid, ``(2, C)`` float64, and the cast's ``2**-k``, ``h``,
    range, overflow mode, wrap's low end and span (7 float64); None where the float kernel does not give
    :func:`_affine_cast`'s integers (every term, sum and shift an integer below ``2**52``: :func:`float_usable`).
    The convolution kernel's epilogue (:mod:`nnfpga.ops.conv_jit`) applies the same constants, term for term."""
    fp = src.frac + tw.frac
    f = max(fp, tb.frac)
    bits = max(src.width + tw.width + f - fp, tb.width + f - tb.frac) + 2
    c = np.shape(sm)[0] if np.ndim(sm) == 1 else -1
    if (c < 0 or np.shape(bm) != (c,) or bits > 62 or f - dst.frac < -(62 - bits)
            or not usable(FixedType(min(bits, FLOAT_BITS), min(bits, FLOAT_BITS) - f), dst)
            or not float_usable(FixedType(bits, bits - f), dst)):
        return None
    a = _cast_args(dst, f - dst.frac)
    sb = np.stack([np.asarray(sm, dtype=np.float64) * 2.0 ** (f - fp),
                   np.asarray(bm, dtype=np.float64) * 2.0 ** (f - tb.frac)])
    return sb, np.array([2.0 ** -(f - dst.frac), a[1], a[3], a[4], a[5], a[6], 2.0**dst.width], dtype=np.float64)


def float_usable(src: FixedType, dst: FixedType) -> bool:
    """Whether :func:`_cast_float` gives :func:`_cast`'s integers: not RND_CONV, and the source (plus ``h``), the
    shifted value and the destination's wrap span all below ``2**52``."""
    k = src.frac - dst.frac
    return dst.rounding != "RND_CONV" and src.width + 1 + max(-k, 0) <= 52 and dst.width + 1 <= 52


def result_cast_args(src: FixedType, dst: FixedType) -> np.ndarray | None:
    """:func:`_cast_float`'s constants for a cast from ``src`` to ``dst`` as one float64 array (a flag 1, ``2**-k``,
    ``h``, the range, the overflow mode, the wrap's low end and span, 0: no ReLU): what :mod:`nnfpga.ops.conv_jit`
    reads to cast in its epilogue), or None where the float kernel does not give ``requantize``'s integers."""
    if not (usable(src, dst) and float_usable(src, dst)):
        return None
    k = src.frac - dst.frac
    a = _cast_args(dst, k)
    return np.array([1.0, 2.0**-k, a[1], a[3], a[4], a[5], a[6], 2.0**dst.width, 0.0], dtype=np.float64)


def cast(m: np.ndarray, src: FixedType, dst: FixedType, *, relu: bool = False) -> tuple[np.ndarray, Overflow]:
    """``requantize(m, src.frac, src.width, dst)`` for float64 mantissas ``m`` of type ``src`` (see :func:`usable`);
    ``relu``: of ``max(m, 0)`` (a ReLU and its cast in the same pass)."""
    order, mt = _memory_order(m)
    out = np.empty(mt.shape, dtype=np.float64)
    k = src.frac - dst.frac
    args = _cast_args(dst, k)
    if float_usable(src, dst):
        count = accumulate_jit.call("cast_float", mt.reshape(-1), out.reshape(-1), float(2.0**-k), float(args[1]),
                                    float(args[3]), float(args[4]), args[5], float(args[6]), float(2.0**dst.width),
                                    relu)
    else:
        count = accumulate_jit.call("cast", mt.reshape(-1), out.reshape(-1), *args, relu)
    return out.transpose(np.argsort(order)), Overflow(int(count), int(m.size))
