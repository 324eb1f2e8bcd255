"""Spatial geometry shared by the convolution, pooling, padding, cropping and upsampling ops.

A spatial tensor is channels-last (:mod:`nnfpga.ir.layout`): per-sample shape ``(L, C)`` (1D) or ``(H, W, C)``
(2D), any number of spatial axes in general. A sliding window has, per spatial axis, a size ``k``, a stride
``s``, a dilation ``d`` and explicit padding ``(before, after)``: output position ``o`` reads input positions
``o * s - before + j * d`` for ``j = 0..k-1`` (positions outside the input are padding), and there are
``(n + before + after - (k - 1) * d - 1) // s + 1`` output positions. Frontends turn a framework's
``"same"``/``"valid"``/``"causal"`` into these numbers (:func:`same_pads`: TensorFlow's and Keras's rule).

:func:`windows` gives every window as a strided view (no copy but the padding): ``(B, *out, *k, C)``, the
window's positions in row-major order and the channel last. That order, ``(k1, k2, ..., c)``, is the order of
a flattened kernel ``(*k, C_in, C_out)`` and of hls4ml's im2col buffers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nnfpga.errors import ShapeError
from nnfpga.ir.graph import Node


@dataclass(frozen=True)
class Window:
    """A sliding window over ``len(size)`` spatial axes."""

    size: tuple[int, ...]
    strides: tuple[int, ...]
    dilation: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]

    @property
    def ndim(self) -> int:
        return len(self.size)

    def extent(self) -> tuple[int, ...]:
        """Input positions one window spans, per axis (dilation included)."""
        return tuple((k - 1) * d + 1 for k, d in zip(self.size, self.dilation, strict=True))

    def out_spatial(self, spatial: Sequence[int]) -> tuple[int, ...]:
        return tuple((n + b + a - e) // s + 1 for n, (b, a), e, s in
                     zip(spatial, self.pads, self.extent(), self.strides, strict=True))

    def positions(self) -> int:
        return int(np.prod(self.size, dtype=np.int64))


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def int_tuple(value: Any, n: int, what: str, *, minimum: int) -> tuple[int, ...]:
    """``value`` as ``n`` integers >= ``minimum`` (one integer is repeated); ShapeError quoting it otherwise."""
    vals = [value] * n if _is_int(value) else value
    try:
        vals = list(vals)
    except TypeError:
        vals = None
    if vals is None or len(vals) != n or not all(_is_int(v) and int(v) >= minimum for v in vals):
        raise ShapeError(f"{what} must be {n} integer(s) >= {minimum} (one per spatial axis), got {value!r}")
    return tuple(int(v) for v in vals)


def pad_pairs(value: Any, n: int, what: str) -> tuple[tuple[int, int], ...]:
    """``value`` as ``n`` (before, after) pairs of integers >= 0."""
    try:
        pairs = [list(p) for p in value]
    except TypeError:
        pairs = []
    if len(pairs) != n or not all(len(p) == 2 and all(_is_int(v) and v >= 0 for v in p) for p in pairs):
        raise ShapeError(f"{what} must be {n} (before, after) pair(s) of integers >= 0, one per spatial axis, "
                         f"got {value!r}")
    return tuple((int(b), int(a)) for b, a in pairs)


def spatial_input(node: Node, shape: Sequence[int], ndim: int) -> tuple[int, ...]:
    """The spatial part of a channels-last input shape with ``ndim`` spatial axes; ShapeError otherwise."""
    if len(shape) != ndim + 1:
        form = "(L, C)" if ndim == 1 else "(H, W, C)" if ndim == 2 else f"{ndim + 1} axes"
        raise ShapeError(f"{node.describe()}: expects a channels-last input of {ndim} spatial axis(es) and channels, "
                         f"{form}; got per-sample shape {tuple(shape)}")
    return tuple(int(d) for d in shape[:-1])


def node_window(node: Node, size: Sequence[int]) -> Window:
    """The window of a conv or pool node of kernel/pool ``size``, from its attributes ``strides``, ``dilation``,
    ``pads`` (defaults: 1, 1, no padding)."""
    n = len(size)
    where = node.describe()
    return Window(size=tuple(int(k) for k in size),
                  strides=int_tuple(node.attrs.get("strides", 1), n, f"{where}: strides", minimum=1),
                  dilation=int_tuple(node.attrs.get("dilation", 1), n, f"{where}: dilation", minimum=1),
                  pads=pad_pairs(node.attrs.get("pads", [[0, 0]] * n), n, f"{where}: pads"))


def check_fits(node: Node, win: Window, spatial: Sequence[int]) -> tuple[int, ...]:
    """The output's spatial shape; ShapeError when the padded input is smaller than one window."""
    out = win.out_spatial(spatial)
    if any(o < 1 for o in out):
        raise ShapeError(f"{node.describe()}: a window spanning {win.extent()} does not fit the input's spatial "
                         f"shape {tuple(spatial)} padded by {[list(p) for p in win.pads]}")
    return out


def same_pads(spatial: Sequence[int], size: Sequence[int], strides: Sequence[int],
              dilation: Sequence[int] | None = None) -> list[list[int]]:
    """TensorFlow's (and Keras's) ``padding="same"``: ``ceil(n / s)`` outputs, the total padding that needs split
    with the smaller half before."""
    dilation = dilation or [1] * len(size)
    out = []
    for n, k, s, d in zip(spatial, size, strides, dilation, strict=True):
        total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
        out.append([total // 2, total - total // 2])
    return out


def pad_spatial(x: np.ndarray, pads: Sequence[tuple[int, int]], fill: Any = 0) -> np.ndarray:
    """``x`` (batch, *spatial, C) with ``pads`` (before, after) around each spatial axis holding ``fill``. (Not
    ``np.pad``: in an object array, mantissas of any width, it would store the fill as a NumPy int64, which
    overflows when added to a wider Python int.)"""
    if not any(b or a for b, a in pads):
        return x
    shape = (x.shape[0], *(n + b + a for n, (b, a) in zip(x.shape[1:-1], pads, strict=True)), x.shape[-1])
    out = np.full(shape, fill, dtype=x.dtype)
    out[(slice(None), *(slice(b, b + n) for n, (b, _) in zip(x.shape[1:-1], pads, strict=True)))] = x
    return out


def windows(x: np.ndarray, win: Window, fill: Any = 0) -> np.ndarray:
    """Every window of ``x`` (batch, *spatial, C) as a view ``(B, *out, *size, C)``; padding holds ``fill``."""
    nd = win.ndim
    x = pad_spatial(x, win.pads, fill)
    v = sliding_window_view(x, win.extent(), axis=tuple(range(1, nd + 1)))  # (B, *full, C, *extent)
    v = v[(slice(None), *(slice(None, None, s) for s in win.strides), slice(None),
           *(slice(None, None, d) for d in win.dilation))]
    return np.moveaxis(v, 1 + nd, -1)


def window_counts(spatial: Sequence[int], win: Window) -> np.ndarray:
    """How many real (not padding) input positions each output window covers, shape ``out``."""
    ones = np.ones((1, *spatial, 1), dtype=np.int64)
    v = windows(ones, win, fill=0)
    return v.sum(axis=tuple(range(1 + win.ndim, 1 + 2 * win.ndim)))[0, ..., 0]


def rows_per_step(per_sample: int, budget: int = 1 << 18) -> int:
    """Samples per step so that a step's im2col array holds at most ``budget`` elements (bounded memory)."""
    return max(1, budget // max(per_sample, 1))
