"""Type inference: give every type slot that the config left open a type, by each op's own rule."""

from __future__ import annotations

from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Graph
from nnfpga.ops import OPS, Context


def infer_types(graph: Graph, default: FixedType) -> bool:
    """Fill open type slots (``None`` / missing) in topological order; returns whether any slot was filled."""
    ctx = Context(default=default)
    changed = False
    for node in graph:
        op = OPS[node.op]
        before = {k: v for k, v in node.types.items() if v is not None}
        node.types = dict(before)
        op.infer_types(node, [graph[i].types["result"] for i in node.inputs], ctx)
        missing = [s for s in op.slots if node.types.get(s) is None]
        if missing:
            raise AssertionError(f"type rule of {node.op} left {missing} open on {node.name!r}")
        changed |= node.types != before
    return changed
