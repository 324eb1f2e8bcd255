"""Max pooling in one compiled pass (numba), on the batch-innermost layout the convolution kernel leaves.

:mod:`nnfpga.ops.pool` folds ``np.maximum`` over one strided view per window position: a pass over the output per
position, each reading the input with the batch innermost but walking it in sample-major order. This kernel reads
the input as ``(*spatial, C, B)`` (a view of the ``(B, *spatial, C)`` tensor: contiguous where the tensor came from
:mod:`nnfpga.ops.conv_jit` or a cast of it) and writes each output pixel's ``B`` values once per position, the batch
the innermost loop (``vmaxpd``). Semantics are the fold's: the maximum over the window's real positions, starting
from the padding's fill (the input type's least mantissa, which never wins but where a window has nothing else),
so the result is the same float64 integers. It applies to float64 mantissas of 1D and 2D poolings with numba on
(:func:`usable`); the caller casts to ``accum`` and ``result`` as before. The output is ``(B, *out, C)``, a view of
``(*out, C, B)`` memory: the next layer's kernel reads it as it reads a convolution's output.
"""

from __future__ import annotations

import numpy as np

from nnfpga.ops import accumulate_jit
from nnfpga.ops.spatial import Window


def _max_pool(x, out, size, strides, pads, fill):  # pragma: no cover - numba
    """``out[oy, ox, c, b]``: the greatest of ``fill`` and ``x[iy, ix, c, b]`` over the window's positions inside
    the input (``iy = oy * strides[0] + py - pads[0]``, likewise ``ix``)."""
    h, w = x.shape[0], x.shape[1]
    oh, ow, n_c, batch = out.shape
    for oy in range(oh):
        for ox in range(ow):
            for c in range(n_c):
                o = out[oy, ox, c]
                for b in range(batch):
                    o[b] = fill
                for py in range(size[0]):
                    iy = oy * strides[0] + py - pads[0]
                    if iy < 0 or iy >= h:
                        continue
                    for px in range(size[1]):
                        ix = ox * strides[1] + px - pads[1]
                        if ix < 0 or ix >= w:
                            continue
                        r = x[iy, ix, c]
                        for b in range(batch):
                            o[b] = max(o[b], r[b])
    return out


accumulate_jit.register_kernel("max_pool", _max_pool)


def usable(m: np.ndarray, win: Window) -> bool:
    """Whether the kernel applies: float64 mantissas, a 1D or 2D window without dilation, numba on."""
    return (m.dtype == np.float64 and win.ndim in (1, 2) and all(d == 1 for d in win.dilation)
            and accumulate_jit.enabled())


def max_pool(m: np.ndarray, win: Window, fill: float) -> np.ndarray:
    """The max pooling of mantissas ``m`` ``(B, *spatial, C)`` (see :func:`usable`), ``(B, *out, C)``."""
    lift = win.ndim == 1  # a 1D pooling is a 2D one of height 1
    spatial = m.shape[1:-1]
    out_sp = win.out_spatial(spatial)
    xt = np.moveaxis(m[:, None] if lift else m, 0, -1)  # (H, W, C, B): a view
    if not xt.flags.c_contiguous:
        xt = np.ascontiguousarray(xt)
    out = np.empty((*((1,) if lift else ()), *out_sp, m.shape[-1], m.shape[0]), dtype=np.float64)
    size = (1, *win.size) if lift else win.size
    strides = (1, *win.strides) if lift else win.strides
    pads = (0, win.pads[0][0]) if lift else (win.pads[0][0], win.pads[1][0])
    accumulate_jit.call("max_pool", xt, out, np.array(size, dtype=np.int64), np.array(strides, dtype=np.int64),
                        np.array(pads, dtype=np.int64), float(fill))
    res = np.moveaxis(out, -1, 0)
    return res[:, 0] if lift else res
