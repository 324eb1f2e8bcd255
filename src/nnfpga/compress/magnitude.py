"""One-shot magnitude pruning of Dense kernels, after training: the smallest-magnitude fraction of each kernel
set to zero (ties at the cut go too). One rule for a Keras model (:func:`nnfpga.examples.prune_dense`) and for
nnfpga's graph (the sweep's ``Sparsity``, :func:`nnfpga.dse.sweep.prune_graph`), so both give the same zeros."""

from __future__ import annotations

import numpy as np

from nnfpga.errors import ConfigError


def prune_kernels(kernels: dict[str, np.ndarray], fraction: float, layers: dict[str, float] | None = None, *,
                  who: str) -> dict[str, np.ndarray]:
    """The pruned copies of ``kernels`` (Dense layer name -> kernel) whose fraction is not 0: ``fraction`` for
    every layer, ``layers`` for some by name. ConfigError (prefixed ``who``) for a fraction outside [0, 1) or a
    name that is not among ``kernels``."""
    for name, f in {"": fraction, **(layers or {})}.items():
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0.0 <= f < 1.0:
            where = f" for layer {name!r}" if name else ""
            raise ConfigError(f"{who}: fraction{where} must be in [0, 1), got {f!r}")
    missing = sorted(set(layers or {}) - set(kernels))
    if missing:
        raise ConfigError(f"{who}: no Dense layer named {', '.join(map(repr, missing))}; the model's Dense "
                          f"layers: {', '.join(kernels) or 'none'}")
    out = {}
    for name, kernel in kernels.items():
        f = (layers or {}).get(name, fraction)
        if f:
            out[name] = np.where(np.abs(kernel) <= np.quantile(np.abs(kernel), f), 0.0, kernel)
    return out


__all__ = ["prune_kernels"]
