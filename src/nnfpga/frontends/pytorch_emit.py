"""What one traced PyTorch call needs to add its nodes to the graph (:class:`Emit`): shared by the torch.fx
frontend (:mod:`nnfpga.frontends.pytorch`) and the Brevitas layers it hands on (:mod:`nnfpga.frontends.brevitas`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnfpga.ir.graph import Graph, Node


@dataclass
class Emit:
    """What one traced call needs to add its nodes: the graph, its producer and shapes, the problem list."""

    g: Graph
    name: str  # node name for the first node this call adds
    src: str  # graph node holding the call's tensor input
    in_shape: tuple[int, ...]  # per-sample
    out_shape: tuple[int, ...]  # per-sample, from the recorded run
    source: str
    unsupported: list[tuple[str, str]]
    label: str  # the name to report in the unsupported list
    input_exclusive: bool  # src is the graph input and this call is its only consumer
    notes: dict[str, Any] = field(default_factory=dict)

    def add(self, op: str, shape: tuple[int, ...] | None = None, attrs: dict[str, Any] | None = None,
            weights: dict[str, np.ndarray] | None = None, *, src: str | None = None, suffix: str = "") -> str:
        node = Node(self.g.unique_name(self.name + suffix), op, [src or self.src],
                    self.out_shape if shape is None else shape, dict(attrs or {}), dict(weights or {}),
                    source=self.source)
        return self.g.add(node).name

    def reject(self, reason: str) -> None:
        self.unsupported.append((self.label, reason))
