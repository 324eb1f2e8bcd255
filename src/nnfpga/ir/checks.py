"""Checks of a graph's weights that every path (config, emulator, backends) relies on."""

from __future__ import annotations

import numpy as np

from nnfpga.errors import ShapeError, WeightError
from nnfpga.ir.graph import Graph


def check_weights(graph: Graph) -> None:
    """Refuse NaN or infinite weights (fixed-point hardware has neither), naming every layer that has them, and
    Dense weights whose shape is not the layer's (inputs x outputs), before anything is allocated for them."""
    bad = []
    for node in graph:
        if node.op == "dense" and "kernel" in node.weights and node.inputs:
            src = graph[node.inputs[0]]
            n_in, n_out = int(src.shape[-1]), int(node.shape[-1])
            if tuple(np.shape(node.weights["kernel"])) != (n_in, n_out):
                raise ShapeError(f"{node.describe()}: kernel of shape {tuple(np.shape(node.weights['kernel']))} does "
                                 f"not match the layer: {n_in} inputs (from {src.name!r}, shape {tuple(src.shape)}) x "
                                 f"{n_out} outputs (shape {tuple(node.shape)})")
        for key, w in node.weights.items():
            w = np.asarray(w)
            if w.dtype.kind == "f" and not np.all(np.isfinite(w)):
                first = tuple(int(i) for i in np.argwhere(~np.isfinite(w))[0])
                bad.append(f"{node.describe()}: {int(np.sum(~np.isfinite(w)))} non-finite {key} value(s), first "
                           f"{float(w[first])!r} at index {first}")
    if bad:
        raise WeightError("the model has NaN or infinite weights, which fixed-point hardware cannot hold: "
                          + "; ".join(bad) + ". Check the training (or clip/replace them) before converting")
