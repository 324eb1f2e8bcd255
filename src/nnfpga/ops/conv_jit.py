"""A convolution's accumulator sums computed directly from its input, compiled with numba (no im2col matrix).

For each output pixel and output channel the sum ``bias + sum_i r(x_i * w_i)`` over the window's inputs of its group
(the :class:`~nnfpga.ops.dense.DensePlan`'s exact value before the accumulator's cast, see
:mod:`nnfpga.ops.accumulate`), in int32 lanes where the inputs, every product (plus ``h``) and every sum fit them
(:func:`lanes`: 16 lanes per AVX-512 vector, ``vpmulld``; the benchmark's ``ap_fixed<16,6>`` CNNs, whose kernel
ran 9.8 -> 13 billion products/s), else int64 (8 lanes, ``vpmullq``), where ``r`` is the product's move onto the
accumulator's grid:

* ``shift = fa - fp >= 0`` (the ``matmul`` path): ``r(p) = p * 2**shift``, exact;
* ``k = fp - fa > 0`` (the ``products`` path, a rounding that is ``floor((p + h) / 2**k)``: TRN, RND,
  RND_MIN_INF): ``r(p) = (p + h) >> k`` (an arithmetic shift is the floor); RND_CONV: the RND result minus 1 where
  ``q = (p + h) mod 2**(k+1)`` is ``2**k`` (a tie whose RND result is odd), as in ``ProductSum``.

``r(0) = 0`` in every case (``h < 2**k``), so zero padding adds nothing and an input that is zero on every sample
of a block is skipped. The batch is the innermost axis (the input transposed to ``(*spatial, C, B)``, a block of
up to 256 samples at a time): each weight is a scalar times a contiguous vector, the loop LLVM vectorizes (the
layout of :mod:`nnfpga.ops.accumulate_jit`'s split kernel). The sums are written batch-innermost too,
``(*out_spatial, C_out, B)``, and returned as a ``(B, *out_spatial, C_out)`` view: the writes are contiguous (a
sample-major output scattered each pixel's 256 values a row apart; the small CNN of benchmarks/cnn_cases.py ran
75k -> 96k samples/s CPU time, the SVHN-style CNN 3.0k -> 3.4k), and the elementwise ops after it keep that
layout, so the next convolution's transpose is a view. Every value is an exact integer: the products and
``h`` below ``2**62`` and the sums below ``2**53`` (checked by the caller, :func:`usable`), so the float64 result
equals the im2col path's integers, bit for bit; ``NNFPGA_NUMBA=0`` selects that path. A layer's output rows are
cut into bands run on threads where it is large enough and ``NNFPGA_THREADS`` asks for them
(:mod:`nnfpga.ops.conv_threads`).
"""

from __future__ import annotations

import numpy as np

from nnfpga.fixed.arith import FLOAT_BITS
from nnfpga.ops import accumulate_jit, conv_threads

BLOCK = 256  # samples per block: a block's sums (outputs x samples, int64) stay in the L1/L2 caches
SHIFT, FLOOR, TIES_EVEN = 0, 1, 2
INT64 = np.dtype(np.int64)
RC_SIZE = 17  # the epilogue's constants (_conv's rc): the result's cast, the ReLU's flag, a batch-norm's cast


def _conv(x, w, bias, out, strides, dil, group_in, mode, kh_, extremes, rc, pool, sb):  # pragma: no cover - numba
    """``out[b, oy, ox, o] = bias[o] + sum r(x[iy, ix, c, b] * w[ky, kx, c', o])`` over the window and the
    group's channels (``c = g * group_in + c'`` for output ``o`` of group ``g``); ``extremes``: the least and the
    greatest sum, and how many casts left their range. ``x``, ``w``, ``bias`` and ``kh_ = (k, h)`` share one
    integer dtype (int32 or int64), the lanes every product, ``h`` and sum is computed in (numba compiles one
    kernel per dtype). ``rc`` (float64): where ``rc[0]`` is 1, each sum is written cast to the layer's result type
    instead, as :func:`nnfpga.ops.cast_jit._cast_float` casts (``rc[1:]``: ``2**-k``, ``h``, the range, the
    overflow mode, the wrap's low end and span; ``rc[8]``: 1 for a ReLU after it), counted in ``extremes[2]``;
    where ``rc[9]`` is 1, each cast value ``q`` of channel ``o`` is then a batch-norm's input (the next node's,
    fused): ``q * sb[0, o] + sb[1, o]`` cast as :func:`nnfpga.ops.cast_jit._affine_cast_float` casts (``rc[10:17]``:
    :func:`nnfpga.ops.cast_jit.affine_float_args`), counted in ``extremes[3]``, before the ReLU.
    ``pool = (ph, pw, oh, ow)``: the sums' ``oh x ow`` pixels; with a cast (``rc[0]`` 1), ``out`` holds the max
    pooling of the cast values over ``ph x pw`` windows at strides ``ph, pw`` (windows past ``out``'s edge
    dropped, as a valid pooling drops them; ``1, 1``: no pooling); the extremes and the count still cover every
    sum."""
    fused, rscale, rh, rlo, rhi, rmode, rlo_w, rspan = rc[0], rc[1], rc[2], rc[3], rc[4], rc[5], rc[6], rc[7]
    relu_floor = 0.0 if rc[8] != 0.0 else -np.inf  # rc[8]: a ReLU after the cast (the next node's, fused)
    rinv = 1.0 / rspan
    count = 0
    bn, bscale, bh, blo, bhi, bmode, blo_w, bspan = rc[9], rc[10], rc[11], rc[12], rc[13], rc[14], rc[15], rc[16]
    binv = 1.0 / bspan
    cast_floor = relu_floor if bn == 0.0 else -np.inf  # the ReLU after the batch-norm where there is one
    bcount = 0
    ph, pw, oh, ow = pool[0], pool[1], pool[2], pool[3]
    qh, qw, n_out, batch = out.shape
    row = np.empty(BLOCK, dtype=np.float64)
    kh, kw = w.shape[0], w.shape[1]
    per_group = n_out // (x.shape[2] // group_in)
    lane = x.dtype.type
    acc = np.empty((n_out, BLOCK), dtype=x.dtype)
    # the shift masked to the lane's width (the caller keeps k below it): LLVM then shifts in the lanes' own
    # width (vpsravd on int32); an unmasked one was widened to int64 and ran 10x slower (benchmarks/cnn_ratio.py)
    k, h = kh_[0] & lane(np.iinfo(x.dtype).bits - 1), kh_[1]
    mask2 = lane((1 << (k + 1)) - 1) if mode == TIES_EVEN else lane(0)
    tie = lane(1 << k) if mode == TIES_EVEN else lane(0)
    lo = np.int64(1) << 62
    hi = -(np.int64(1) << 62)
    for b0 in range(0, batch, BLOCK):
        nb = min(BLOCK, batch - b0)
        for oy in range(oh):
            for ox in range(ow):
                for o in range(n_out):
                    for b in range(nb):
                        acc[o, b] = bias[o]
                for ky in range(kh):
                    iy = oy * strides[0] + ky * dil[0]
                    if mode == FLOOR and kw == 3:  # a row of three: one load and store of acc per three products
                        ix0 = ox * strides[1]
                        for c in range(x.shape[2]):
                            xr0 = x[iy, ix0, c, b0:b0 + nb]
                            xr1 = x[iy, ix0 + dil[1], c, b0:b0 + nb]
                            xr2 = x[iy, ix0 + 2 * dil[1], c, b0:b0 + nb]
                            g = c // group_in
                            ci = c - g * group_in
                            o = g * per_group
                            o1 = o + per_group
                            while o + 4 <= o1:
                                u0, v0, z0 = w[ky, 0, ci, o], w[ky, 1, ci, o], w[ky, 2, ci, o]
                                u1, v1, z1 = w[ky, 0, ci, o + 1], w[ky, 1, ci, o + 1], w[ky, 2, ci, o + 1]
                                u2, v2, z2 = w[ky, 0, ci, o + 2], w[ky, 1, ci, o + 2], w[ky, 2, ci, o + 2]
                                u3, v3, z3 = w[ky, 0, ci, o + 3], w[ky, 1, ci, o + 3], w[ky, 2, ci, o + 3]
                                a0 = acc[o]
                                a1 = acc[o + 1]
                                a2 = acc[o + 2]
                                a3 = acc[o + 3]
                                for b in range(nb):
                                    p, q, r = xr0[b], xr1[b], xr2[b]
                                    a0[b] += lane(lane(lane(p * u0 + h) >> k) + lane(lane(q * v0 + h) >> k)
                                                  + lane(lane(r * z0 + h) >> k))
                                    a1[b] += lane(lane(lane(p * u1 + h) >> k) + lane(lane(q * v1 + h) >> k)
                                                  + lane(lane(r * z1 + h) >> k))
                                    a2[b] += lane(lane(lane(p * u2 + h) >> k) + lane(lane(q * v2 + h) >> k)
                                                  + lane(lane(r * z2 + h) >> k))
                                    a3[b] += lane(lane(lane(p * u3 + h) >> k) + lane(lane(q * v3 + h) >> k)
                                                  + lane(lane(r * z3 + h) >> k))
                                o += 4
                            for oo in range(o, o1):
                                u0, v0, z0 = w[ky, 0, ci, oo], w[ky, 1, ci, oo], w[ky, 2, ci, oo]
                                a = acc[oo]
                                for b in range(nb):
                                    a[b] += lane(lane(lane(xr0[b] * u0 + h) >> k) + lane(lane(xr1[b] * v0 + h) >> k)
                                                 + lane(lane(xr2[b] * z0 + h) >> k))
                        continue
                    for kx in range(kw):
                        ix = ox * strides[1] + kx * dil[1]
                        for c in range(x.shape[2]):
                            xr = x[iy, ix, c, b0:b0 + nb]
                            nonzero = lane(0)
                            for b in range(nb):
                                nonzero |= xr[b]
                            if nonzero == 0:
                                continue
                            g = c // group_in
                            ci = c - g * group_in
                            o = g * per_group
                            o1 = o + per_group
                            if mode == FLOOR:  # four outputs per pass: one load of x for them
                                while o + 4 <= o1:
                                    w0 = w[ky, kx, ci, o]
                                    w1 = w[ky, kx, ci, o + 1]
                                    w2 = w[ky, kx, ci, o + 2]
                                    w3 = w[ky, kx, ci, o + 3]
                                    a0 = acc[o]
                                    a1 = acc[o + 1]
                                    a2 = acc[o + 2]
                                    a3 = acc[o + 3]
                                    for b in range(nb):
                                        xb = xr[b]
                                        a0[b] += lane(lane(xb * w0 + h) >> k)
                                        a1[b] += lane(lane(xb * w1 + h) >> k)
                                        a2[b] += lane(lane(xb * w2 + h) >> k)
                                        a3[b] += lane(lane(xb * w3 + h) >> k)
                                    o += 4
                            for oo in range(o, o1):
                                wv = w[ky, kx, ci, oo]
                                if wv == 0:
                                    continue
                                a = acc[oo]
                                if mode == SHIFT:
                                    for b in range(nb):
                                        a[b] += lane(lane(xr[b] * wv) << k)
                                elif mode == FLOOR:
                                    for b in range(nb):
                                        a[b] += lane(lane(xr[b] * wv + h) >> k)
                                else:
                                    for b in range(nb):
                                        t = lane(xr[b] * wv + h)
                                        a[b] += lane((t >> k) - ((t & mask2) == tie))
                qy, qx = oy // ph, ox // pw
                kept = qy < qh and qx < qw  # a pooling window's pixel (else only counted)
                first = oy == qy * ph and ox == qx * pw  # its window's first pixel
                if n_out > 0:  # the pixel's least and greatest sum, compared in the lanes' own type
                    plo = acc[0, 0]
                    phi = plo
                    for o in range(n_out):
                        a = acc[o]
                        for b in range(nb):
                            plo = min(plo, a[b])
                            phi = max(phi, a[b])
                    lo = min(lo, np.int64(plo))
                    hi = max(hi, np.int64(phi))
                for o in range(n_out):
                    a = acc[o]
                    if fused == 0.0:
                        for b in range(nb):
                            out[oy, ox, o, b0 + b] = np.float64(a[b])
                        continue
                    for b in range(nb):  # the result's cast while the sums are in cache
                        q = np.floor((np.float64(a[b]) + rh) * rscale)
                        out_of_range = (q < rlo) | (q > rhi)
                        count += out_of_range
                        if rmode == 0.0:
                            q = q - rspan * np.floor((q - rlo_w) * rinv)
                        elif rmode == 1.0:
                            q = min(max(q, rlo), rhi)
                        else:
                            q = 0.0 if out_of_range else q
                        row[b] = max(q, cast_floor)
                    if bn != 0.0:  # the batch-norm's scale, shift and cast (_affine_cast_float's steps)
                        sv, bv = sb[0, o], sb[1, o]
                        for b in range(nb):
                            q = np.floor((row[b] * sv + bv + bh) * bscale)
                            out_of_range = (q < blo) | (q > bhi)
                            bcount += out_of_range
                            if bmode == 0.0:
                                q = q - bspan * np.floor((q - blo_w) * binv)
                            elif bmode == 1.0:
                                q = min(max(q, blo), bhi)
                            else:
                                q = 0.0 if out_of_range else q
                            row[b] = max(q, relu_floor)
                    if not kept:
                        continue
                    dst = out[qy, qx, o, b0:b0 + nb]
                    if first:
                        for b in range(nb):
                            dst[b] = row[b]
                    else:  # the pooling's maximum while the values are in cache
                        for b in range(nb):
                            dst[b] = max(dst[b], row[b])
    extremes[0] = lo
    extremes[1] = hi
    extremes[2] = count
    extremes[3] = bcount
    return out


accumulate_jit.register_kernel("conv", _conv)


def _to_lanes(x, out):  # pragma: no cover - numba
    """``out[n, b] = x[b, n]`` (float64 integers to the lanes' integers) in 32 x 32 tiles: a sample-major input
    transposed to the kernel's batch-innermost layout (NumPy's strided copy: 11 -> 2 us per SVHN-style sample)."""
    batch, n = x.shape
    lane = out.dtype.type
    for n0 in range(0, n, 32):
        n1 = min(n0 + 32, n)
        for b0 in range(0, batch, 32):
            b1 = min(b0 + 32, batch)
            for b in range(b0, b1):  # reads along a row: a column's stride (N * 8 bytes) hits one cache set
                for i in range(n0, n1):
                    out[i, b] = lane(x[b, i])
    return out


accumulate_jit.register_kernel("to_lanes", _to_lanes)


def usable(pbits: int, bits: int, k: int = 0) -> bool:
    """Whether the kernel's integers are exact: products (plus ``h``) in int64, every sum in float64, the shift
    ``k`` below 64 (the kernel masks it to the lane's width)."""
    return accumulate_jit.enabled() and pbits <= 62 and bits <= FLOAT_BITS and 0 <= k < 64


def lanes(mode: int, xbits: int, pbits: int, bits: int, k: int = 0) -> np.dtype:
    """The kernel's integer dtype: int32 where the inputs (``xbits`` wide), every product (plus ``h``, ``pbits``)
    and every sum (``bits``, sign included) fit it, the shift ``k`` is below 32 (the kernel masks it to the lane's
    width) and the rounding is not RND_CONV's (its tie test measured slower in int32 lanes); else int64."""
    return np.dtype(np.int32 if mode != TIES_EVEN and max(xbits, pbits, bits) <= 32 and 0 <= k < 32 else np.int64)


def conv_sum(x: np.ndarray, w: np.ndarray, bias: np.ndarray, out_spatial: tuple[int, int], strides: tuple[int, int],
             dilation: tuple[int, int], groups: int, mode: int, k: int, h: int,
             lane: np.dtype = INT64, result_cast: np.ndarray | None = None,
             pool: tuple[int, int] | None = None,
             scale_shift: np.ndarray | None = None) -> tuple[np.ndarray, int, int, int, int]:
    """The accumulator sums ``(B, *out_spatial, C_out)`` (float64, exact) from the zero-padded input mantissas ``x``
    ``(B, H, W, C)`` and the kernel's mantissas ``w`` ``(KH, KW, C / groups, C_out)``; ``bias`` in accumulator
    units; ``mode``: ``SHIFT`` (``k`` is the left shift), ``FLOOR`` or ``TIES_EVEN`` (``k`` bits dropped, offset
    ``h``); ``lane``: the integer dtype of the kernel (:func:`lanes`). Also returns the least and the greatest sum,
    and, with ``result_cast`` (the kernel's ``rc``: see :func:`nnfpga.ops.cast_jit.result_cast_args`), the values
    written cast to the result type instead of the sums and how many of those casts overflowed (else 0); with
    ``pool`` too (a window ``(ph, pw)``, its strides the same, no padding), the max pooling of those values,
    ``(B, *pooled, C_out)`` (``pooled``: ``out_spatial // pool``), the sums' extremes and the count unchanged;
    with a batch-norm's constants (``result_cast[9:17]``, ``scale_shift``: ``(2, C_out)``), its values after the
    cast, and how many of its casts overflowed (else 0)."""
    xt = x.transpose(1, 2, 3, 0)  # (H, W, C, B): a view, contiguous where x is a kernel's batch-innermost output
    if xt.flags.c_contiguous or not x.flags.c_contiguous or x.dtype != np.float64 or not accumulate_jit.enabled():
        xt = xt.astype(lane, order="C")
    else:  # sample-major: a tiled transpose
        xt = accumulate_jit.call("to_lanes", x.reshape(x.shape[0], -1), np.empty(xt.shape, dtype=lane).reshape(
            -1, x.shape[0])).reshape(xt.shape)
    ph, pw = (1, 1) if pool is None or result_cast is None else pool
    pooled = (out_spatial[0] // ph, out_spatial[1] // pw)
    out = np.empty((*pooled, w.shape[-1], x.shape[0]), dtype=np.float64)  # batch innermost: contiguous writes
    wl, bl, khl = np.ascontiguousarray(w, dtype=lane), np.ascontiguousarray(bias, dtype=lane), np.array([k, h], lane)
    st, dl = np.array(strides, dtype=np.int64), np.array(dilation, dtype=np.int64)
    group_in, span = np.int64(x.shape[-1] // groups), (w.shape[0] - 1) * dilation[0] + 1
    rc = np.zeros(RC_SIZE)
    rc[1] = rc[7] = rc[16] = 1.0  # no cast (a span of 1: no division by 0)
    if result_cast is not None:
        rc[:len(result_cast)] = result_cast
    sb = np.zeros((2, w.shape[-1])) if scale_shift is None or rc[9] == 0.0 else np.ascontiguousarray(
        scale_shift, dtype=np.float64)

    def band(q0: int, q1: int) -> np.ndarray:
        """Output rows ``[q0, q1)`` (pooled rows: the sums' rows their windows cover, the last band to the sums'
        last row) from the input rows their windows read; their least and greatest sum."""
        y0, y1 = q0 * ph, (q1 * ph if q1 < pooled[0] else out_spatial[0])
        extremes = np.array([1 << 62, -(1 << 62), 0, 0], dtype=np.int64)  # none yet (an empty layer's)
        if y1 > y0:
            accumulate_jit.call("conv", xt[y0 * strides[0]:(y1 - 1) * strides[0] + span], wl, bl, out[q0:q1], st,
                                dl, group_in, np.int64(mode), khl, extremes, rc,
                                np.array([ph, pw, y1 - y0, out_spatial[1]], dtype=np.int64), sb)
        return extremes

    work = int(np.prod(out_spatial)) * out.shape[-2] * out.shape[-1] * int(np.prod(w.shape[:-1]))
    ext = conv_threads.run_bands(conv_threads.bands(max(out.shape[0], 1), work), band)
    return (out.transpose(3, 0, 1, 2), min(int(e[0]) for e in ext), max(int(e[1]) for e in ext),
            sum(int(e[2]) for e in ext), sum(int(e[3]) for e in ext))
