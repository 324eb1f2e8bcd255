"""The pruning schedule and the magnitude mask, shared by the Keras and the PyTorch pruning (no framework here).

:class:`PolynomialDecay` is TensorFlow Model Optimization's schedule of the same name: between ``begin_step`` and
``end_step`` the sparsity rises from ``initial_sparsity`` to ``final_sparsity`` as

    ``s(t) = final + (initial - final) * (1 - p)**power``,
    ``p = clip((t - begin_step) / (end_step - begin_step), 0, 1)``

and the masks are recomputed at the steps ``begin_step + k * frequency`` up to ``end_step``. One difference: the
masks are also recomputed at ``end_step`` itself when it is not such a step, so that a layer that trains to
``end_step`` always ends at ``final_sparsity`` exactly (TFMOT stops at the last multiple of ``frequency``).

:func:`magnitude_mask` keeps the ``n - round(s * n)`` largest magnitudes of a weight matrix: the sparsity of every
layer is exact, whatever the ties, and a weight pruned once stays pruned (its magnitude is taken as zero).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nnfpga.errors import PruningError


def check_sparsity(value: object, name: str = "target_sparsity") -> float:
    """``value`` as a float in [0, 1); a :class:`PruningError` quoting it otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
        raise PruningError(f"{name} must be a number in [0, 1) (the fraction of each layer's weights set to "
                           f"zero, e.g. 0.75), got {value!r}")
    return float(value)


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise PruningError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class PolynomialDecay:
    """Sparsity from ``initial_sparsity`` at ``begin_step`` to ``final_sparsity`` at ``end_step`` (TFMOT's
    ``PolynomialDecay``; steps count optimizer steps from 0). Invalid values raise :class:`PruningError`."""

    initial_sparsity: float
    final_sparsity: float
    begin_step: int
    end_step: int
    power: float = 3.0
    frequency: int = 100

    def __post_init__(self) -> None:
        check_sparsity(self.initial_sparsity, "initial_sparsity")
        check_sparsity(self.final_sparsity, "target_sparsity")
        if self.initial_sparsity > self.final_sparsity:
            raise PruningError(f"initial_sparsity ({self.initial_sparsity!r}) must not exceed the target sparsity "
                               f"({self.final_sparsity!r}): pruning only removes weights")
        begin = _check_int(self.begin_step, "begin_step", 0)
        end = _check_int(self.end_step, "end_step", 0)
        if begin >= end:
            raise PruningError(f"begin_step ({self.begin_step!r}) must be smaller than end_step ({self.end_step!r}): "
                               "the sparsity rises from begin_step to end_step (optimizer steps: batches per epoch x "
                               "epochs)")
        _check_int(self.frequency, "frequency", 1)
        p = self.power
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not (math.isfinite(p) and p > 0):
            raise PruningError(f"power must be a positive number (3 in TFMOT's PolynomialDecay), got {p!r}")

    def sparsity(self, step: int) -> float:
        """The scheduled sparsity at ``step`` (``initial_sparsity`` before ``begin_step``, ``final_sparsity``
        from ``end_step`` on)."""
        p = min(1.0, max(0.0, (step - self.begin_step) / (self.end_step - self.begin_step)))
        return self.final_sparsity + (self.initial_sparsity - self.final_sparsity) * (1.0 - p) ** self.power

    def should_prune(self, step: int) -> bool:
        """Whether the masks are recomputed at ``step``: every ``frequency`` steps from ``begin_step``, and at
        ``end_step``."""
        if not self.begin_step <= step <= self.end_step:
            return False
        return (step - self.begin_step) % self.frequency == 0 or step == self.end_step

    def to_config(self) -> dict[str, float | int]:
        return {"initial_sparsity": self.initial_sparsity, "final_sparsity": self.final_sparsity,
                "begin_step": self.begin_step, "end_step": self.end_step, "power": self.power,
                "frequency": self.frequency}


def schedule_of(target_sparsity: float, begin_step: int, end_step: int, frequency: int, initial_sparsity: float,
                power: float, pruning_schedule: PolynomialDecay | None) -> PolynomialDecay:
    """The schedule from ``prune_low_magnitude``'s arguments (``pruning_schedule`` wins when given, as in TFMOT)."""
    if pruning_schedule is not None:
        if not isinstance(pruning_schedule, PolynomialDecay):
            raise PruningError(f"pruning_schedule must be a nnfpga.compress.PolynomialDecay, got "
                               f"{type(pruning_schedule).__name__}")
        return pruning_schedule
    return PolynomialDecay(initial_sparsity, target_sparsity, begin_step, end_step, power, frequency)


def magnitude_mask(weights: np.ndarray, sparsity: float, mask: np.ndarray | None = None) -> np.ndarray:
    """A 0/1 mask (the dtype of ``weights``) zeroing the ``round(sparsity * n)`` smallest ``|weights|``; entries
    already zero in ``mask`` count as magnitude 0, so they stay pruned (the schedule never lowers sparsity)."""
    w = np.abs(np.asarray(weights, dtype=np.float64)).ravel()
    if mask is not None:
        w = w * (np.asarray(mask).ravel() != 0)
    n_prune = round(sparsity * w.size)
    out = np.ones(w.size, dtype=np.asarray(weights).dtype)
    if n_prune:
        out[np.argsort(w, kind="stable")[:n_prune]] = 0
    return out.reshape(np.shape(weights))


def layer_sparsity(mask: np.ndarray) -> float:
    m = np.asarray(mask)
    return float(np.count_nonzero(m == 0)) / m.size if m.size else 0.0
