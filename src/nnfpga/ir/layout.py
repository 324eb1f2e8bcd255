"""Tensor layout: per-sample shapes, channels-last, and the one broadcast rule for per-axis constants.

Every tensor in the IR is a per-sample array (the batch axis is implicit) in one canonical layout:
channels-last, like Keras (``(length, channels)``, ``(height, width, channels)``). Frontends of channels-first
frameworks (PyTorch, ONNX) insert explicit ``transpose`` nodes where the layouts meet.

Backends see every tensor flattened in C (row-major) order: element ``(i0, i1, ..., ik)`` of a tensor of shape
``(d0, d1, ..., dk)`` is flat element ``((i0 * d1 + i1) * d2 + ...) * dk + ik``.

A per-axis constant (a batch-norm scale, a bias...) of shape ``c`` applies to a tensor of shape ``s`` by NumPy's
broadcast rule with the shapes aligned on their last axes: a constant of shape ``(C,)`` is per channel (the last
axis), a constant of the tensor's own shape is per element. :func:`broadcast_flat` is that rule for backends:
the constant for each flat element. The emulator's NumPy kernels apply the same rule natively (the batch axis is
in front, so the alignment on the last axes is unchanged).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nnfpga.errors import ShapeError


def size(shape: Sequence[int]) -> int:
    """Number of elements of a per-sample shape."""
    return int(np.prod(shape, dtype=np.int64))


def check_broadcast(const_shape: Sequence[int], shape: Sequence[int], what: str) -> None:
    """Raise ShapeError unless a constant of ``const_shape`` broadcasts to ``shape`` (last axes aligned)."""
    c, s = tuple(const_shape), tuple(shape)
    ok = len(c) <= len(s) and all(a in (1, b) for a, b in zip(reversed(c), reversed(s), strict=False))
    if not ok:
        raise ShapeError(f"{what}: a constant of shape {c} does not apply to a tensor of per-sample shape {s}; "
                         f"per-axis constants align with the last (channel) axis: expected shape {s[-1:]} "
                         f"(per channel) or {s} (per element)")


def broadcast_flat(const: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """The constant for each element of a tensor of per-sample ``shape``, in flat C order."""
    const = np.asarray(const)
    check_broadcast(const.shape, shape, "broadcast")
    return np.broadcast_to(const, tuple(shape)).reshape(-1)


def normalize_axis(axis: int, ndim: int, what: str) -> int:
    """A per-sample axis in ``0..ndim-1`` from a possibly negative one; ShapeError when out of range."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise ShapeError(f"{what}: axis {axis!r} is out of range for a per-sample tensor of {ndim} axes "
                         f"(valid: {-ndim}..{ndim - 1})")
    return int(axis) % ndim


def transpose_order(shape: Sequence[int], perm: Sequence[int]) -> np.ndarray:
    """For each flat element of the transposed tensor, the flat index of the element it reads."""
    idx = np.arange(size(shape)).reshape(tuple(shape))
    return np.transpose(idx, tuple(perm)).reshape(-1)


def concat_order(shapes: Sequence[Sequence[int]], axis: int) -> list[tuple[int, int]]:
    """For each flat element of the concatenation along per-sample ``axis``: (input number, flat index in it)."""
    parts = [np.stack([np.full(size(s), k), np.arange(size(s))], axis=-1).reshape(*s, 2)
             for k, s in enumerate(shapes)]
    cat = np.concatenate(parts, axis=axis).reshape(-1, 2)
    return [(int(k), int(i)) for k, i in cat]


def channel_constants(const: np.ndarray, shape: Sequence[int]) -> tuple[np.ndarray, int]:
    """A per-axis constant as ``(values, period)``: flat element ``i`` of the tensor uses ``values[i % period]``.
    Per-channel constants keep their ``C`` values (period ``C``); any other broadcast is expanded per element."""
    const = np.asarray(const)
    check_broadcast(const.shape, shape, "per-axis constant")
    per_channel = const.ndim > 0 and const.shape[-1] == shape[-1] and const.size == shape[-1]
    if per_channel:
        return const.reshape(-1), int(shape[-1])
    return broadcast_flat(const, shape), size(shape)


def channels_last_perms(ndim: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """For a channels-first per-sample tensor of ``ndim`` axes ``(C, d1, ..., dk)``: the transpose to channels-last
    ``(d1, ..., dk, C)`` and the one back."""
    return (*range(1, ndim), 0), (ndim - 1, *range(ndim - 1))
