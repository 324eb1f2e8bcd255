"""Fold batch-norm (a ScaleShift node) into the Dense or convolution that feeds it, after the config is applied.

The fold follows hls4ml's meaning: it happens unless the user pinned the Dense's result precision
(``LayerName.<dense>.Precision.result``). Then the Dense output is cast to that type first and the batch-norm
applies to the cast value, as hls4ml's C simulation computes it. Model and LayerType precisions do not stop the
fold (hls4ml's do, when they give the Dense result a type; nnfpga keeps folding as the default). A convolution
folds the same way, when the batch-norm reads it directly and its constants are per channel (the kernel's last
axis): every pixel of an output channel shares that channel's scale and shift.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection

import numpy as np

from nnfpga.ir.graph import Graph, Node
from nnfpga.ir.layout import broadcast_flat, size
from nnfpga.ops import OPS

FOLDED = "folded_batchnorm"  # Dense attribute: the batch-norms folded into it, in order (the last one's result)


def fold_scale_shift(graph: Graph, keep: Collection[str] = ()) -> bool:
    """Fold a ScaleShift (batch-norm) into the preceding Dense when the Dense feeds only it.

    ``keep``: Dense layers whose result precision the user pinned; they keep their batch-norm. Reshapes between
    them (a Dense output unsqueezed for a channels-first batch-norm) keep the flat order, so the constants
    broadcast to the batch-norm's tensor are per Dense output.

    ``W' = W * scale``, ``b' = b * scale + shift``, in float, before any quantization (the Dense's weight and
    bias types apply to the folded values); the folded Dense's result type is the batch-norm's."""
    changed = False
    for node in graph:
        if node.op != "scale_shift" or node.attrs.get("qtypes"):
            continue
        src = graph[node.inputs[0]]
        while OPS[src.op].view and _sole_user(graph, src) and not src.types:  # a Dense reshaped (same flat order)
            src = graph[src.inputs[0]]
        if src.op not in ("dense", "conv") or src.name in keep or not _sole_user(graph, src) or \
                src.attrs.get("qtypes"):
            continue
        if src.op == "dense" and size(node.shape) != src.shape[-1]:
            continue
        if src.op == "conv":  # per output channel only: a constant that varies over the pixels cannot fold
            if src.name != node.inputs[0] or size(np.shape(node.weights["scale"])) != node.shape[-1] or \
                    size(np.shape(node.weights["shift"])) != node.shape[-1]:
                continue
            scale = np.asarray(node.weights["scale"], dtype=np.float64).reshape(-1)
            shift = np.asarray(node.weights["shift"], dtype=np.float64).reshape(-1)
        else:  # the batch-norm's constant for each flat element = for each Dense output
            scale = broadcast_flat(node.weights["scale"], node.shape).astype(np.float64)
            shift = broadcast_flat(node.weights["shift"], node.shape).astype(np.float64)
        src.weights["kernel"] = src.weights["kernel"].astype(np.float64) * scale  # scales the last (output) axis
        src.weights["bias"] = src.weights["bias"].astype(np.float64) * scale + shift
        dropped = [s for s in ("weight", "bias") if node.types.get(s) is not None]
        if dropped:
            warnings.warn(f"the {' and '.join(dropped)} precision{'s' if len(dropped) > 1 else ''} set for "
                          f"batch-norm {node.name!r} {'have' if len(dropped) > 1 else 'has'} no effect: it was folded "
                          f"into {_kind(src)} {src.name!r}, whose weight and bias types quantize the folded constants "
                          f"(set LayerName.{src.name}.Precision.result to keep the batch-norm as a layer)",
                          stacklevel=2)
        src.types.pop("result", None)
        if node.types.get("result") is not None:
            src.types["result"] = node.types["result"]
        src.attrs[FOLDED] = [*src.attrs.get(FOLDED, []), node.name]
        graph.bypass(node.name, f"batch-norm {node.name!r} was folded into {_kind(src)} {src.name!r}")
        changed = True
    return changed


def _sole_user(graph: Graph, node: Node) -> bool:
    return len(graph.users(node.name)) == 1 and node.name not in graph.outputs


def _kind(node: Node) -> str:
    return OPS[node.op].config_type(node)  # "Dense", "Conv2D", "DepthwiseConv1D"...
