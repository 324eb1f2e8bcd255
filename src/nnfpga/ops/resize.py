"""Ops that move values across the spatial axes without arithmetic: zero padding, cropping, nearest upsampling.

On channels-last tensors ``(*spatial, C)`` (:mod:`nnfpga.ir.layout`):
- ``zero_pad``: attribute ``pads``, one ``(before, after)`` pair per spatial axis; the new positions hold 0;
- ``crop``: attribute ``crops``, one ``(before, after)`` pair per spatial axis, the positions removed;
- ``upsample``: attribute ``size``, one factor per spatial axis; each position repeated (nearest neighbour).
The values are the input's; the default ``result`` type is the input's (exact: 0 is in every type), and a
result type the config sets is a cast, as in hls4ml (whose padding, cropping and resize layers output their
input's precision).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnfpga.errors import ShapeError
from nnfpga.ir.graph import Node
from nnfpga.ops.base import OpDef, QArray, RunStats, cast, register
from nnfpga.ops.spatial import int_tuple, pad_pairs, pad_spatial, spatial_input


def _axes(node: Node, key: str) -> int:
    value = node.attrs.get(key)
    if not isinstance(value, (list, tuple)) or not value:
        raise ShapeError(f"{node.describe()}: {key} must list one entry per spatial axis, got {value!r}")
    return len(value)


class _Spatial(OpDef):
    category = "shape"

    def run_fixed(self, node: Node, xs: list[QArray], prep: Any, stats: RunStats) -> QArray:
        return cast(node, QArray(self.move(node, xs[0].m), xs[0].t), "result", stats)

    def run_float(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        return self.move(node, np.asarray(xs[0], dtype=np.float64))

    def move(self, node: Node, x: np.ndarray) -> np.ndarray:
        """The output for a batch ``x`` (batch, *spatial, C), of mantissas or of floats."""
        raise NotImplementedError

    attr = ""  # the attribute with one entry per spatial axis
    family = ""  # the Keras class name before "1D"/"2D"

    def config_type(self, node: Node) -> str:
        return f"{self.family}{len(node.attrs.get(self.attr) or [0, 0])}D"


@register
class ZeroPad(_Spatial):
    name = "zero_pad"
    config_name = "ZeroPadding2D"
    config_names = ("ZeroPadding1D", "ZeroPadding2D")

    attr, family = "pads", "ZeroPadding"

    def pads(self, node: Node) -> tuple[tuple[int, int], ...]:
        return pad_pairs(node.attrs.get("pads"), _axes(node, "pads"), f"{node.describe()}: pads")

    def infer_shape(self, node: Node, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        pads = self.pads(node)
        spatial = spatial_input(node, in_shapes[0], len(pads))
        return (*(n + b + a for n, (b, a) in zip(spatial, pads, strict=True)), in_shapes[0][-1])

    def move(self, node: Node, x: np.ndarray) -> np.ndarray:
        return pad_spatial(x, self.pads(node), 0)


@register
class Crop(_Spatial):
    name = "crop"
    config_name = "Cropping2D"
    config_names = ("Cropping1D", "Cropping2D")

    attr, family = "crops", "Cropping"

    def crops(self, node: Node) -> tuple[tuple[int, int], ...]:
        return pad_pairs(node.attrs.get("crops"), _axes(node, "crops"), f"{node.describe()}: crops")

    def infer_shape(self, node: Node, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        crops = self.crops(node)
        spatial = spatial_input(node, in_shapes[0], len(crops))
        out = tuple(n - b - a for n, (b, a) in zip(spatial, crops, strict=True))
        if any(o < 1 for o in out):
            raise ShapeError(f"{node.describe()}: cropping {[list(c) for c in crops]} leaves nothing of the spatial "
                             f"shape {spatial}")
        return (*out, in_shapes[0][-1])

    def move(self, node: Node, x: np.ndarray) -> np.ndarray:
        return x[(slice(None), *(slice(b, n - a) for (b, a), n in zip(self.crops(node), x.shape[1:-1], strict=True)))]


@register
class Upsample(_Spatial):
    name = "upsample"
    config_name = "UpSampling2D"
    config_names = ("UpSampling1D", "UpSampling2D")

    attr, family = "size", "UpSampling"

    def size(self, node: Node) -> tuple[int, ...]:
        return int_tuple(node.attrs.get("size"), _axes(node, "size"), f"{node.describe()}: size", minimum=1)

    def infer_shape(self, node: Node, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        size = self.size(node)
        spatial = spatial_input(node, in_shapes[0], len(size))
        return (*(n * f for n, f in zip(spatial, size, strict=True)), in_shapes[0][-1])

    def move(self, node: Node, x: np.ndarray) -> np.ndarray:
        for axis, f in enumerate(self.size(node)):
            x = np.repeat(x, f, axis=axis + 1)
        return x
