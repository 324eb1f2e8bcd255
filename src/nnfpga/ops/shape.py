"""Graph input and shape-only ops: Input, Flatten, Reshape, Transpose, Dropout (identity at inference)."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnfpga.errors import ShapeError
from nnfpga.fixed import from_float
from nnfpga.ir.graph import Node
from nnfpga.ir.layout import size
from nnfpga.ops import cast_jit
from nnfpga.ops.base import Context, OpDef, QArray, RunStats, register, set_default


@register
class Input(OpDef):
    """Quantizes the float input to its ``result`` type (ap_fixed's conversion from double)."""

    name = "input"
    config_name = "Input"
    category = "io"
    default_slots = ("result",)
    min_inputs = max_inputs = 0

    def infer_types(self, node: Node, in_types: list, ctx: Context) -> None:
        set_default(node, "result", ctx.default)

    def infer_shape(self, node: Node, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        return tuple(node.shape)  # the model's input shape

    def run_fixed(self, node: Node, xs: list[Any], prep: dict, stats: RunStats) -> QArray:
        t = node.types["result"]
        stats.observe(node.name, xs[0])
        fast = cast_jit.from_float(xs[0], t) if isinstance(xs[0], np.ndarray) else None  # one compiled pass
        m, ov = fast if fast is not None else from_float(xs[0], t)
        stats.record(node.name, "result", ov)
        return QArray(m, t)

    def run_float(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        return np.asarray(xs[0], dtype=np.float64)


class _Reshape(OpDef):
    category = "shape"

    def infer_shape(self, node: Node, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        if size(node.shape) != size(in_shapes[0]):
            raise ShapeError(f"{node.describe()}: cannot reshape {in_shapes[0]} ({size(in_shapes[0])} values) to "
                             f"{tuple(node.shape)} ({size(node.shape)} values)")
        return tuple(node.shape)

    def run_fixed(self, node: Node, xs: list[QArray], prep: dict, stats: RunStats) -> QArray:
        x = xs[0]
        return QArray(x.m.reshape((x.m.shape[0], *node.shape)), x.t)

    def run_float(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        return xs[0].reshape((xs[0].shape[0], *node.shape))


@register
class Flatten(_Reshape):
    name = "flatten"
    config_name = "Flatten"
    view = True


@register
class Reshape(_Reshape):
    name = "reshape"
    config_name = "Reshape"
    view = True


@register
class Transpose(OpDef):
    """Per-sample axes permuted (attribute ``perm``, a permutation of ``0..ndim-1``); values unchanged. Frontends
    of channels-first frameworks insert it where their layout meets nnfpga's channels-last one."""

    name = "transpose"
    config_name = "Transpose"
    category = "shape"

    def infer_shape(self, node: Node, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        perm = tuple(node.attrs.get("perm", ()))
        if sorted(perm) != list(range(len(in_shapes[0]))):
            raise ShapeError(f"{node.describe()}: perm {perm} is not a permutation of the axes of {in_shapes[0]}")
        return tuple(in_shapes[0][p] for p in perm)

    def run_fixed(self, node: Node, xs: list[QArray], prep: dict, stats: RunStats) -> QArray:
        return QArray(np.transpose(xs[0].m, (0, *(p + 1 for p in node.attrs["perm"]))), xs[0].t)

    def run_float(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        return np.transpose(xs[0], (0, *(p + 1 for p in node.attrs["perm"])))


@register
class Dropout(_Reshape):
    """Identity at inference; the ``remove_dropout`` pass deletes it."""

    name = "dropout"
    config_name = "Dropout"
    view = True

    def infer_shape(self, node: Node, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        return in_shapes[0]
