"""Fold batch-norm (a ScaleShift node) into the Dense that feeds it."""

from __future__ import annotations

import numpy as np

from nnfpga.ir.graph import Graph, Node
from nnfpga.ir.layout import broadcast_flat, size
from nnfpga.ops import OPS


def fold_scale_shift(graph: Graph) -> bool:
    """Fold a ScaleShift (batch-norm) into the preceding Dense when the Dense feeds only it.

    Reshapes between them (a Dense output unsqueezed for a channels-first batch-norm) keep the flat order, so the
    constants broadcast to the batch-norm's tensor are per Dense output.

    ``W' = W * scale``, ``b' = b * scale + shift``, in float, before any quantization."""
    changed = False
    for node in graph:
        if node.op != "scale_shift" or node.types or node.attrs.get("qtypes"):
            continue
        src = graph[node.inputs[0]]
        while OPS[src.op].view and _sole_user(graph, src) and not src.types:  # a Dense reshaped (same flat order)
            src = graph[src.inputs[0]]
        if src.op != "dense" or not _sole_user(graph, src) or src.types or src.attrs.get("qtypes"):
            continue
        if size(node.shape) != src.shape[-1]:
            continue
        # the batch-norm's constant for each flat element = for each Dense output
        scale = broadcast_flat(node.weights["scale"], node.shape).astype(np.float64)
        shift = broadcast_flat(node.weights["shift"], node.shape).astype(np.float64)
        src.weights["kernel"] = src.weights["kernel"].astype(np.float64) * scale[None, :]
        src.weights["bias"] = src.weights["bias"].astype(np.float64) * scale + shift
        graph.bypass(node.name, f"batch-norm {node.name!r} was folded into Dense {src.name!r}")
        changed = True
    return changed


def _sole_user(graph: Graph, node: Node) -> bool:
    return len(graph.users(node.name)) == 1 and node.name not in graph.outputs
