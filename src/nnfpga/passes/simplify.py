"""Passes that delete nodes with no effect at inference."""

from __future__ import annotations

from nnfpga.ir.graph import Graph


def remove_dropout(graph: Graph) -> bool:
    """Delete Dropout nodes (identity at inference)."""
    changed = False
    for node in graph:
        if node.op == "dropout":
            graph.bypass(node.name, f"Dropout {node.name!r} is an identity at inference and was removed")
            changed = True
    return changed


def remove_linear(graph: Graph) -> bool:
    """Fuse linear (identity) activations into their producer by deleting them."""
    changed = False
    for node in graph:
        if node.op == "linear" and not node.types and not node.attrs.get("qtypes"):
            src = node.inputs[0]
            graph.bypass(node.name, f"linear activation {node.name!r} was fused into {src!r}")
            changed = True
    return changed


def remove_noop_reshape(graph: Graph) -> bool:
    """Delete Flatten/Reshape nodes whose output shape equals their input shape."""
    changed = False
    for node in graph:
        if node.op in ("flatten", "reshape") and tuple(graph[node.inputs[0]].shape) == tuple(node.shape):
            graph.bypass(node.name, f"{node.op} {node.name!r} does not change the shape and was removed")
            changed = True
    return changed
