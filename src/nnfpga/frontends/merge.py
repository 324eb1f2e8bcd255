"""Merge layers (several inputs), shared by every frontend: one IR node per merge, shapes checked here."""

from __future__ import annotations

from nnfpga.errors import ShapeError
from nnfpga.ir.graph import Graph, Node
from nnfpga.ir.layout import normalize_axis
from nnfpga.ops import OPS

# the elementwise merge ops, from the op records (every merge op but concatenate)
ELEMENTWISE = tuple(name for name, op in OPS.items() if op.category == "merge" and name != "concatenate")


def add_merge(g: Graph, op: str, name: str, srcs: list[str], source: str, axis: int = -1) -> str:
    """Add a merge node ``op`` (an elementwise merge or ``"concatenate"`` along per-sample ``axis``, channels-last)
    reading ``srcs``; returns its name. ShapeError names the layer and the shapes it got."""
    shapes = [tuple(g[s].shape) for s in srcs]
    if op in ELEMENTWISE:
        if len(set(shapes)) != 1:
            raise ShapeError(f"{source}: {op} needs inputs of one shape, got {', '.join(map(str, shapes))} "
                             "(broadcasting merges are not supported: reshape the inputs first)")
        return g.add(Node(name, op, list(srcs), shapes[0], source=source)).name
    if op != "concatenate":
        raise ShapeError(f"{source}: unknown merge {op!r}")
    ndim = len(shapes[0])
    if any(len(s) != ndim for s in shapes):
        raise ShapeError(f"{source}: concatenated inputs must have the same number of axes, got "
                         f"{', '.join(map(str, shapes))}")
    ax = normalize_axis(axis, ndim, source)
    rest = {s[:ax] + s[ax + 1:] for s in shapes}
    if len(rest) != 1:
        raise ShapeError(f"{source}: concatenated inputs must agree on every axis but {ax}, got "
                         f"{', '.join(map(str, shapes))}")
    out = (*shapes[0][:ax], sum(s[ax] for s in shapes), *shapes[0][ax + 1:])
    return g.add(Node(name, "concatenate", list(srcs), out, {"axis": ax}, source=source)).name
