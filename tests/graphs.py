"""Small hand-built graphs shared by the op and pass tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Graph, Node


def dense_graph(kernel: np.ndarray, bias: np.ndarray, *, input_type: FixedType | None = None,
                types: dict[str, FixedType | None] | None = None) -> Graph:
    """input 'x' -> dense 'fc' (optionally typed)."""
    g = Graph(name="g")
    g.add(Node("x", "input", [], (kernel.shape[0],), types={"result": input_type} if input_type else {}))
    g.add(Node("fc", "dense", ["x"], (kernel.shape[1],), weights={"kernel": kernel, "bias": bias},
               types=dict(types or {})))
    g.outputs = ["fc"]
    return g


def chain(input_shape: tuple[int, ...], *nodes: tuple[str, str, dict], input_type: FixedType | None = None) -> Graph:
    """input 'x' followed by single-input nodes given as (name, op, Node keyword arguments); shape defaults to
    the producer's."""
    g = Graph(name="g")
    g.add(Node("x", "input", [], tuple(input_shape), types={"result": input_type} if input_type else {}))
    prev = "x"
    for name, op, kw in nodes:
        kw = dict(kw)
        shape = tuple(kw.pop("shape", g[prev].shape))
        g.add(Node(name, op, [prev], shape, **kw))
        prev = name
    g.outputs = [prev]
    return g


def randomize_batchnorm(layer: Any, rng: np.random.Generator) -> None:
    """Give a BatchNormalization layer non-trivial gamma, beta, moving mean and variance."""
    values = {
        "gamma": lambda n: rng.uniform(0.5, 2.0, n),
        "beta": lambda n: rng.normal(0.0, 0.5, n),
        "moving_mean": lambda n: rng.normal(0.0, 0.5, n),
        "moving_variance": lambda n: rng.uniform(0.3, 3.0, n),
    }
    layer.set_weights([values[w.path.split("/")[-1]](w.shape[0]) for w in layer.weights])


def randomize_torch_batchnorm(bn: Any, weight_hi: float = 2.0) -> None:
    """Give a torch BatchNorm1d non-trivial running statistics and scale (in place, torch's own RNG)."""
    import torch

    with torch.no_grad():
        bn.running_mean.normal_(0.0, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, weight_hi)
