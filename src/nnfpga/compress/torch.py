"""Magnitude pruning while training for PyTorch, on ``torch.nn.utils.prune``, with the Keras side's schedule.

:func:`prune_low_magnitude` puts a mask on the ``weight`` of every ``torch.nn.Linear`` of a module (in place:
``prune.identity``, so ``weight = weight_orig * weight_mask`` is recomputed before every forward and a pruned weight
gets no gradient) and returns a :class:`PruningScheduler`. Call its :meth:`~PruningScheduler.step` after each
``optimizer.step()``: the step count is the number of optimizer steps done, and at the schedule's steps
(:class:`~nnfpga.compress.schedule.PolynomialDecay`) the masks are recomputed from the magnitudes. After
training, :func:`strip` calls ``prune.remove``: plain ``weight`` parameters with the zeros in them, which
``nnfpga.convert_from_pytorch_model`` converts as usual.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import numpy as np

from nnfpga.compress.schedule import PolynomialDecay, layer_sparsity, magnitude_mask, schedule_of
from nnfpga.errors import PruningError
from nnfpga.frontends.pytorch import import_torch

torch = import_torch()
prune = importlib.import_module("torch.nn.utils.prune")

__all__ = ["PolynomialDecay", "PruningScheduler", "prune_low_magnitude", "sparsity", "strip"]


def _linears(module: Any) -> list[tuple[str, Any]]:
    return [(name or type(m).__name__, m) for name, m in module.named_modules() if isinstance(m, torch.nn.Linear)]


def _is_pruned(m: Any) -> bool:
    return hasattr(m, "weight_mask") and hasattr(m, "weight_orig")


class PruningScheduler:
    """Recomputes the masks of the pruned Linear layers of a module on a :class:`PolynomialDecay` schedule;
    ``step()`` once per optimizer step. ``state_dict``/``load_state_dict`` keep the step count for resuming."""

    def __init__(self, module: Any, schedule: PolynomialDecay, layers: list[tuple[str, Any]]) -> None:
        self.module = module
        self.schedule = schedule
        self.layers = layers
        self.step_count = 0
        self._update()

    def step(self) -> None:
        """One optimizer step more; recompute the masks when the schedule says so."""
        self.step_count += 1
        self._update()

    def _update(self) -> None:
        if not self.schedule.should_prune(self.step_count):
            return
        s = self.schedule.sparsity(self.step_count)
        with torch.no_grad():
            for name, m in self.layers:
                if not _is_pruned(m):
                    raise PruningError(f"Linear {name!r} is no longer pruned (prune.remove or strip was called); "
                                       "make a new scheduler with prune_low_magnitude")
                mask = magnitude_mask(m.weight_orig.detach().cpu().numpy(), s, m.weight_mask.cpu().numpy())
                m.weight_mask.copy_(torch.from_numpy(mask).to(m.weight_mask))
                m.weight_orig.mul_(m.weight_mask)  # the zeros in the stored weight too, as on the Keras side
                m.weight = m.weight_orig * m.weight_mask  # what forward uses until its pre-hook recomputes it

    def sparsity(self) -> dict[str, float]:
        """Layer name -> fraction of its mask that is zero."""
        return {name: layer_sparsity(m.weight_mask.cpu().numpy()) for name, m in self.layers if _is_pruned(m)}

    def state_dict(self) -> dict[str, Any]:
        return {"step_count": self.step_count, "schedule": self.schedule.to_config()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step_count = int(state["step_count"])


def prune_low_magnitude(module: Any, target_sparsity: float = 0.75, *, end_step: int, begin_step: int = 0,
                        frequency: int = 100, initial_sparsity: float = 0.0, power: float = 3.0,
                        pruning_schedule: PolynomialDecay | None = None) -> PruningScheduler:
    """Prune the weights of every ``torch.nn.Linear`` in ``module`` (in place) to ``target_sparsity`` while
    training, on TFMOT's polynomial-decay schedule (see the Keras :func:`nnfpga.compress.prune_low_magnitude`);
    returns the :class:`PruningScheduler` whose ``step()`` goes after each ``optimizer.step()``. Biases are kept.
    Raises :class:`~nnfpga.errors.PruningError` for invalid settings or a module without a Linear layer."""
    sched = schedule_of(target_sparsity, begin_step, end_step, frequency, initial_sparsity, power, pruning_schedule)
    if not isinstance(module, torch.nn.Module):
        raise PruningError(f"prune_low_magnitude expects a torch.nn.Module, got {type(module).__name__}")
    layers = _linears(module)
    if not layers:
        kinds = sorted({type(m).__name__ for m in module.modules()})
        raise PruningError(f"{type(module).__name__} has no torch.nn.Linear to prune (modules: {', '.join(kinds)}); "
                           "prune_low_magnitude prunes the weights of Linear layers")
    done = [name for name, m in layers if prune.is_pruned(m)]
    if done:
        raise PruningError(f"{type(module).__name__} is already pruned ({', '.join(done)}); call "
                           "nnfpga.compress.torch.strip(module) first")
    for _, m in layers:
        prune.identity(m, "weight")
    return PruningScheduler(module, sched, layers)


def strip(module: Any, scheduler: PruningScheduler | None = None) -> Any:
    """``prune.remove`` on every pruned Linear of ``module`` (in place): a plain ``weight`` parameter holding
    ``weight_orig * weight_mask``. Returns ``module``. With its ``scheduler``, warns when a layer has not reached
    the target sparsity (training stopped before ``end_step``)."""
    if not isinstance(module, torch.nn.Module):
        raise PruningError(f"strip expects a torch.nn.Module, got {type(module).__name__}")
    if scheduler is not None:
        target = scheduler.schedule.final_sparsity
        short = {n: s for n, s in scheduler.sparsity().items() if s < target - 1e-9}
        if short:
            lines = ", ".join(f"{n} {s:.1%}" for n, s in short.items())
            warnings.warn(f"pruning has not reached its target sparsity {target:.0%} in: {lines} (step "
                          f"{scheduler.step_count}; the schedule reaches it at end_step {scheduler.schedule.end_step})",
                          stacklevel=2)
    for _, m in _linears(module):
        if _is_pruned(m):
            prune.remove(m, "weight")
    return module


def sparsity(module: Any) -> dict[str, float]:
    """Linear layer name -> fraction of the weight the forward pass uses that is zero."""
    out = {}
    with torch.no_grad():
        for name, m in _linears(module):
            w = m.weight_orig * m.weight_mask if _is_pruned(m) else m.weight
            out[name] = layer_sparsity(np.asarray(w.detach().cpu().numpy()))
    return out
