"""Fold batch-norm (a ScaleShift node) into the Dense that feeds it."""

from __future__ import annotations

import numpy as np

from nnfpga.ir.graph import Graph


def fold_scale_shift(graph: Graph) -> bool:
    """Fold a ScaleShift (batch-norm) into the preceding Dense when the Dense feeds only it.

    ``W' = W * scale``, ``b' = b * scale + shift``, in float, before any quantization."""
    changed = False
    for node in graph:
        if node.op != "scale_shift" or node.types or node.attrs.get("qtypes"):
            continue
        src = graph[node.inputs[0]]
        if (src.op != "dense" or len(graph.users(src.name)) != 1 or src.name in graph.outputs or src.types
                or src.attrs.get("qtypes")):
            continue
        scale = node.weights["scale"].astype(np.float64)
        shift = node.weights["shift"].astype(np.float64)
        src.weights["kernel"] = src.weights["kernel"].astype(np.float64) * scale[None, :]
        src.weights["bias"] = src.weights["bias"].astype(np.float64) * scale + shift
        graph.bypass(node.name, f"batch-norm {node.name!r} was folded into Dense {src.name!r}")
        changed = True
    return changed
