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


def cancel_transposes(graph: Graph) -> bool:
    """Cancel a Transpose that undoes the one before it (and drop identity Transposes)."""
    changed = False
    for node in graph:
        if node.op != "transpose" or node.name not in graph:
            continue
        perm = tuple(node.attrs["perm"])
        if perm == tuple(range(len(perm))):
            graph.bypass(node.name, f"transpose {node.name!r} keeps every axis in place and was removed")
            changed = True
            continue
        src = graph[node.inputs[0]]
        if src.op == "transpose" and not node.types and not src.types:
            inner = tuple(src.attrs["perm"])
            if tuple(inner[p] for p in perm) == tuple(range(len(perm))):  # the two permutations compose to none
                graph.replace_uses(node.name, src.inputs[0])
                graph.remove(node.name, f"transpose {node.name!r} undoes {src.name!r}: both were removed")
                changed = True
    return changed


def remove_dead(graph: Graph) -> bool:
    """Delete nodes whose values reach no output (e.g. a transpose left unread by cancel_transposes)."""
    live, todo = set(), list(graph.outputs)
    while todo:
        name = todo.pop()
        if name not in live:
            live.add(name)
            todo += graph[name].inputs
    dead = [n.name for n in graph if n.name not in live and n.op != "input"]
    for name in reversed(dead):  # users before their producers
        graph.remove(name, f"{graph[name].describe()} does not reach the output and was removed")
    return bool(dead)


def transposes_as_reshapes(graph: Graph) -> bool:
    """Turn a Transpose that only moves axes of size 1 into a Reshape (the flat order does not change)."""
    changed = False
    for node in graph:
        if node.op != "transpose" or node.types:
            continue
        in_shape = graph[node.inputs[0]].shape
        moved = [p for p in node.attrs["perm"] if in_shape[p] != 1]
        if moved == sorted(moved):
            node.op = "reshape"
            del node.attrs["perm"]
            changed = True
    return changed


def merge_reshapes(graph: Graph) -> bool:
    """Read through a Flatten/Reshape that feeds a Flatten/Reshape: one reshape of the original tensor."""
    changed = False
    for node in graph:
        if node.op not in ("flatten", "reshape") or node.types:
            continue
        src = graph[node.inputs[0]]
        if src.op in ("flatten", "reshape") and not src.types and not src.attrs.get("qtypes"):
            node.inputs = [src.inputs[0]]
            changed = True
    return changed
