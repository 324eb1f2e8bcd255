"""Compression while training: magnitude pruning with TensorFlow Model Optimization's names, for Keras 3 (any
backend) and PyTorch (``torch.nn.utils.prune``).

Keras::

    from nnfpga import compress
    pruned = compress.prune_low_magnitude(model, target_sparsity=0.75, begin_step=600, end_step=1800, frequency=100)
    pruned.compile(...)
    pruned.fit(X, y, epochs=8, callbacks=[compress.UpdatePruningStep()])
    model = compress.strip(pruned)        # plain Dense layers, zeros in the kernels: convert it as usual

PyTorch (:mod:`nnfpga.compress.torch`)::

    from nnfpga.compress import torch as tprune
    sched = tprune.prune_low_magnitude(module, 0.75, begin_step=600, end_step=1800)
    ...  # in the training loop, after optimizer.step(): sched.step()
    tprune.strip(module)                  # prune.remove: plain weights with the zeros

The schedule (:class:`PolynomialDecay`) and the mask rule are in :mod:`nnfpga.compress.schedule`; the hardware
effect of a converted model (multipliers = nonzero quantized weights) in :mod:`nnfpga.compress.hardware`. The Keras
names are imported on first use (they import Keras), and ``nnfpga.compress.torch`` imports PyTorch only when used.
"""

from __future__ import annotations

import importlib
from typing import Any

from nnfpga.compress.hardware import DenseCost, cost_table, dense_costs, multipliers
from nnfpga.compress.schedule import PolynomialDecay
from nnfpga.errors import PruningError

_KERAS = ("PruneLowMagnitude", "UpdatePruningStep", "prune_low_magnitude", "sparsity", "strip", "strip_pruning")

__all__ = ["DenseCost", "PolynomialDecay", "PruningError", "cost_table", "dense_costs", "multipliers", *_KERAS]


def __getattr__(name: str) -> Any:
    if name in _KERAS:
        return getattr(importlib.import_module("nnfpga.compress.keras_pruning"), name)
    if name == "torch":
        return importlib.import_module("nnfpga.compress.torch")
    raise AttributeError(f"module 'nnfpga.compress' has no attribute {name!r}")
