"""The IR: one small node type in a topologically ordered graph.

A :class:`Node` names its op (a key of :data:`nnfpga.ops.OPS`), its producers, its per-sample output shape,
op attributes, float weights and fixed-point types (``result`` always; ``weight``, ``bias``, ``accum``,
``table``... per op). Config parsing and backend spelling live elsewhere.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnfpga.errors import GraphError
from nnfpga.fixed import FixedType


@dataclass
class Node:
    name: str
    op: str
    inputs: list[str]
    shape: tuple[int, ...]
    attrs: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    types: dict[str, FixedType] = field(default_factory=dict)
    source: str = ""  # the framework layer this node came from, e.g. "Dense 'fc1'"

    def describe(self) -> str:
        return f"{self.op} {self.name!r}" + (f" (from {self.source})" if self.source else "")


@dataclass
class Graph:
    """Nodes in topological order, the graph inputs and outputs, and what the passes removed."""

    nodes: dict[str, Node] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    removed: dict[str, str] = field(default_factory=dict)  # node name -> why (for config messages)
    name: str = "model"

    # -- building ------------------------------------------------------------------------------
    def add(self, node: Node) -> Node:
        if node.name in self.nodes:
            raise GraphError(f"duplicate node name {node.name!r}")
        for src in node.inputs:
            if src not in self.nodes:
                raise GraphError(f"node {node.name!r} reads {src!r}, which is not defined before it")
        self.nodes[node.name] = node
        return node

    def unique_name(self, base: str) -> str:
        name, i = base, 1
        while name in self.nodes or name in self.removed:
            name, i = f"{base}_{i}", i + 1
        return name

    # -- queries -------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Node]:
        return iter(list(self.nodes.values()))

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    def __contains__(self, name: object) -> bool:
        return name in self.nodes

    @property
    def inputs(self) -> list[str]:
        return [n.name for n in self.nodes.values() if n.op == "input"]

    def users(self, name: str) -> list[Node]:
        """The nodes that read node ``name``'s output, in graph order (a node reading it twice counts once)."""
        return [n for n in self.nodes.values() if name in n.inputs]

    def is_read(self, name: str) -> bool:
        """Whether anything reads node ``name``: a node, or the graph's outputs."""
        return name in self.outputs or any(name in n.inputs for n in self.nodes.values())

    # -- rewriting -----------------------------------------------------------------------------
    def replace_uses(self, old: str, new: str) -> None:
        """Every read of node ``old`` (by nodes and as a graph output) reads node ``new`` instead."""
        if new not in self.nodes:
            raise GraphError(f"cannot replace uses of {old!r} with {new!r}: no node of that name")
        for user in self.users(old):
            user.inputs = [new if i == old else i for i in user.inputs]
        self.outputs = [new if o == old else o for o in self.outputs]

    def insert_before(self, anchor: str, node: Node) -> Node:
        """Add ``node`` just before node ``anchor`` in the topological order (its inputs must come earlier)."""
        if node.name in self.nodes:
            raise GraphError(f"duplicate node name {node.name!r}")
        order = list(self.nodes)
        if anchor not in self.nodes:
            raise GraphError(f"cannot insert {node.name!r} before {anchor!r}: no node of that name")
        earlier = set(order[:order.index(anchor)])
        missing = [i for i in node.inputs if i not in earlier]
        if missing:
            raise GraphError(f"cannot insert {node.name!r} before {anchor!r}: it reads {missing}, not defined before")
        items = list(self.nodes.items())
        at = order.index(anchor)
        self.nodes = dict([*items[:at], (node.name, node), *items[at:]])
        return node

    def remove(self, name: str, reason: str) -> None:
        """Delete node ``name``, which nothing may read any more."""
        if self.is_read(name):
            raise GraphError(f"cannot remove {self.nodes[name].describe()}: it is still read")
        del self.nodes[name]
        self.removed[name] = reason

    def bypass(self, name: str, reason: str) -> None:
        """Remove a single-input node, rewiring its consumers (and graph outputs) to its producer."""
        node = self.nodes[name]
        if len(node.inputs) != 1:
            raise GraphError(f"cannot bypass {node.describe()}: it has {len(node.inputs)} inputs")
        self.replace_uses(name, node.inputs[0])
        self.remove(name, reason)

    def copy(self) -> Graph:
        return copy.deepcopy(self)

    # -- text ----------------------------------------------------------------------------------
    def dump(self) -> str:
        """One line per node: name, op, inputs, shape, types, attributes."""
        lines = [f"graph {self.name}: outputs {self.outputs}"]
        for n in self.nodes.values():
            types = ", ".join(f"{k}={v}" for k, v in sorted(n.types.items()))
            attrs = ", ".join(f"{k}={v}" for k, v in sorted(n.attrs.items()))
            ws = ", ".join(f"{k}{list(v.shape)}" for k, v in n.weights.items())
            lines.append(f"  {n.name}: {n.op}({', '.join(n.inputs)}) -> {list(n.shape)}"
                         + (f" [{ws}]" if ws else "") + (f" {{{attrs}}}" if attrs else "")
                         + (f" <{types}>" if types else ""))
        return "\n".join(lines)

    # -- serialization -------------------------------------------------------------------------
    def to_dict(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able description and a flat dict of weight arrays (``"node/weight"`` keys)."""
        nodes, arrays = [], {}
        for n in self.nodes.values():
            nodes.append({
                "name": n.name, "op": n.op, "inputs": n.inputs, "shape": list(n.shape),
                "attrs": n.attrs, "types": {k: str(v) for k, v in n.types.items()},
                "weights": list(n.weights), "source": n.source,
            })
            for k, v in n.weights.items():
                arrays[f"{n.name}/{k}"] = v
        return {"name": self.name, "outputs": self.outputs, "removed": self.removed, "nodes": nodes}, arrays

    @staticmethod
    def from_dict(desc: dict[str, Any], arrays: dict[str, np.ndarray]) -> Graph:
        g = Graph(name=desc["name"], removed=dict(desc.get("removed", {})))
        for d in desc["nodes"]:
            g.add(Node(
                name=d["name"], op=d["op"], inputs=list(d["inputs"]), shape=tuple(d["shape"]),
                attrs=dict(d["attrs"]), weights={k: np.asarray(arrays[f"{d['name']}/{k}"]) for k in d["weights"]},
                types={k: FixedType.parse(v) for k, v in d["types"].items()}, source=d.get("source", ""),
            ))
        g.outputs = list(desc["outputs"])
        return g
