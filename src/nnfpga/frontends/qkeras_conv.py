"""QKeras's convolution and pooling layers in a saved file -> ``conv``, ``avg_pool`` (and Keras's spatial layers
between them) with the exact types QKeras computes, for :mod:`nnfpga.frontends.qkeras`.

QConv1D, QConv2D, QDepthwiseConv2D and QSeparableConv1D/2D are their Keras layers (:mod:`~nnfpga.frontends.
keras_conv`: geometry, the depthwise kernel's channel order, a separable one split into ``<name>_depthwise`` and
``<name>_pointwise``) with quantized kernels and biases: each quantizer's values are stored exactly, with the
narrowest type holding them. QKeras convolves in float32, which is exact while the sums fit 24 bits, so a conv
whose input type is known gets its exact sum as result (as QDense; the intermediate of a separable conv too),
and a quantizing activation after it rounds that sum as QKeras does.

QAveragePooling2D and QGlobalAveragePooling2D compute Keras's float mean ``m`` of each window, then
``m * area * average_quantizer(1 / area)`` (``area``: the pool's size, padding included). That is the exact mean,
an ``avg_pool`` with an exact result, when every window averages a power-of-two number of real positions (so the
float mean is exact) and the quantizer keeps ``1 / area`` exact; anything else is refused (a plain AveragePooling
too: its float mean is rounded). Max pooling, zero padding, cropping and upsampling keep their input's type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nnfpga.frontends import Rejected
from nnfpga.frontends.keras_common import exact_weight_type, known_type, pin_exact_dense
from nnfpga.frontends.keras_conv import add_spatial_layer
from nnfpga.ir.graph import Graph, Node
from nnfpga.ops import OPS
from nnfpga.ops.spatial import window_counts

# QKeras layer -> the Keras layer it quantizes
QCONV_LAYERS = {"QConv1D": "Conv1D", "QConv2D": "Conv2D", "QDepthwiseConv2D": "DepthwiseConv2D",
                "QSeparableConv1D": "SeparableConv1D", "QSeparableConv2D": "SeparableConv2D",
                "QAveragePooling2D": "AveragePooling2D", "QGlobalAveragePooling2D": "GlobalAveragePooling2D"}
# weight -> the config key of its quantizer
WEIGHT_QUANTIZERS = {"kernel": "kernel_quantizer", "depthwise_kernel": "depthwise_quantizer",
                     "pointwise_kernel": "pointwise_quantizer", "bias": "bias_quantizer"}

# (config key of a quantizer, values) -> the quantized values, or None when the layer has no such quantizer
Quantize = Callable[[str, np.ndarray], np.ndarray | None]


def add_qkeras_spatial(g: Graph, kind: str, cfg: dict[str, Any], ws: dict[str, np.ndarray], src: str,
                       quantize: Quantize) -> str:
    """A layer of :data:`QCONV_LAYERS` or Keras's :data:`~nnfpga.frontends.keras_conv.SPATIAL_LAYERS` reading
    node ``src``, its activation aside; the node carrying its output. Raises Rejected for what is not exact."""
    name = cfg["name"]
    quantized: dict[str, np.ndarray] = {}
    if kind in QCONV_LAYERS:
        for key, qkey in WEIGHT_QUANTIZERS.items():
            q = quantize(qkey, np.asarray(ws[key])) if key in ws else None
            if q is not None:
                quantized[key] = q
    before = set(g.nodes)
    unsupported: list[tuple[str, str]] = []
    out = add_spatial_layer(g, QCONV_LAYERS.get(kind, kind), name, src, cfg, {**ws, **quantized}, unsupported)
    if out is None:
        raise Rejected("; ".join(why for _, why in unsupported))
    t_in = known_type(g, src)
    new = [n for n in g if n.name not in before]  # the layer's nodes, in order
    exact_bias = "bias" in quantized or "bias" not in ws  # quantized, or zeros
    if kind.startswith("QSeparable"):  # depthwise (its bias: zeros), then pointwise
        _pin_conv(g, new[0], "depthwise_kernel" in quantized, True)
        _pin_conv(g, new[1], "pointwise_kernel" in quantized, exact_bias)
        return out
    for node in new:
        if node.op == "conv":
            _pin_conv(g, node, ("depthwise_kernel" if "Depthwise" in kind else "kernel") in quantized, exact_bias)
        elif node.op == "avg_pool":
            _pin_average(node, kind, g[src].shape, t_in, quantize)
        elif t_in is not None:  # max_pool, zero_pad, crop, upsample: the input's values, moved
            node.attrs["qtypes"] = {s: str(t_in) for s in OPS[node.op].slots}
    return out


def _pin_conv(g: Graph, node: Node, exact_kernel: bool, exact_bias: bool) -> None:
    """Pin a convolution's weight and bias types where they are exact (quantized, or a bias of zeros), then its
    exact result (known input type) or, with a quantized kernel and no quantizer before it, its exact sum."""
    qtypes: dict[str, str] = {}
    if exact_kernel:
        qtypes["weight"] = str(exact_weight_type(node.weights["kernel"]))
    if exact_bias:
        qtypes["bias"] = str(exact_weight_type(node.weights["bias"]))
    if qtypes:
        node.attrs["qtypes"] = qtypes
    if pin_exact_dense(g, node, known_type(g, node.inputs[0])) is None and exact_kernel:
        node.attrs["exact_result"] = True  # QKeras's output is the float sum, which its next quantizer rounds


def _pin_average(node: Node, kind: str, in_shape: tuple[int, ...], t_in: Any,
                 quantize: Quantize) -> None:
    win = OPS["avg_pool"].window(node)
    counts = np.unique(window_counts(in_shape[:-1], win))
    inexact = [int(c) for c in counts if c & (c - 1)]
    if inexact:
        raise Rejected(f"windows average {inexact} positions: Keras's float32 mean of a number of values that is not "
                       "a power of two is rounded, not a fixed-point value; use a pool of 2, 4, 2x2... (with "
                       "padding='same', sizes where every edge window covers a power of two too)")
    if kind in ("QAveragePooling2D", "QGlobalAveragePooling2D"):
        area = win.positions()
        q = quantize("average_quantizer", np.array([1.0 / area]))
        if q is not None and float(q[0]) * area != 1.0:
            raise Rejected(f"average_quantizer rounds 1/{area} to {float(q[0])!r}, "
                           f"so QKeras outputs the mean times {float(q[0]) * area!r}, not the mean nnfpga's "
                           "avg_pool computes; give it enough fractional bits to hold 1/pool area exactly")
    if t_in is not None:  # the exact mean: the accumulator and result avg_pool's defaults choose
        probe = Node(node.name, "avg_pool", [], node.shape, dict(node.attrs))
        OPS["avg_pool"].infer_types(probe, [t_in], None)  # type: ignore[arg-type]
        node.attrs["qtypes"] = {s: str(t) for s, t in probe.types.items()}

