"""The pruning schedule (TFMOT's PolynomialDecay) and the magnitude mask, without a framework."""

from __future__ import annotations

import numpy as np
import pytest

from nnfpga.compress.schedule import PolynomialDecay, layer_sparsity, magnitude_mask
from nnfpga.errors import ConfigError, NnfpgaError, PruningError


def reference_sparsity(step: int, initial: float, final: float, begin: int, end: int, power: float) -> float:
    """TFMOT's PolynomialDecay, written out independently."""
    if step <= begin:
        return initial
    if step >= end:
        return final
    frac = (step - begin) / (end - begin)
    return final + (initial - final) * (1 - frac) ** power


@pytest.mark.parametrize("initial", [0.0, 0.2])
def test_schedule_follows_the_polynomial_decay_formula(initial: float) -> None:
    s = PolynomialDecay(initial, 0.75, begin_step=100, end_step=500, frequency=50)
    for step in (0, 99, 100, 101, 200, 300, 333, 499, 500, 501, 10_000):
        assert s.sparsity(step) == pytest.approx(reference_sparsity(step, initial, 0.75, 100, 500, 3.0), abs=1e-12)
    assert s.sparsity(300) == pytest.approx(0.75 - (0.75 - initial) * 0.5**3)  # halfway: (1 - 1/2)^3 of the way left
    assert s.sparsity(100) == pytest.approx(initial) and s.sparsity(500) == 0.75


def test_masks_update_every_frequency_steps_and_at_end_step() -> None:
    s = PolynomialDecay(0.0, 0.5, begin_step=10, end_step=45, frequency=10)
    assert [t for t in range(60) if s.should_prune(t)] == [10, 20, 30, 40, 45]
    s2 = PolynomialDecay(0.0, 0.5, begin_step=0, end_step=4, power=1, frequency=1)
    assert [s2.sparsity(t) for t in range(6)] == [0.0, 0.125, 0.25, 0.375, 0.5, 0.5]


def test_mask_prunes_the_exact_count_of_smallest_magnitudes() -> None:
    w = np.array([[0.5, -0.1, 0.3], [-0.9, 0.2, 0.05]], dtype=np.float32)
    m = magnitude_mask(w, 0.5)
    assert m.dtype == np.float32 and m.shape == w.shape
    np.testing.assert_array_equal(m, [[1, 0, 1], [1, 0, 0]])
    tied = np.ones((4, 4))  # all equal: still exactly round(0.75 * 16) = 12 pruned
    assert np.count_nonzero(magnitude_mask(tied, 0.75) == 0) == 12
    assert layer_sparsity(magnitude_mask(tied, 0.75)) == 0.75
    assert np.all(magnitude_mask(w, 0.0) == 1)


def test_a_pruned_weight_stays_pruned_when_the_mask_is_recomputed() -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(8, 8))
    m1 = magnitude_mask(w, 0.25)
    w2 = w.copy()
    w2[m1 == 0] = 100.0  # a large value where the mask was zero (what an optimizer could leave in the kernel)
    m2 = magnitude_mask(w2, 0.5, m1)
    assert np.all(m2[m1 == 0] == 0) and layer_sparsity(m2) == 0.5


@pytest.mark.parametrize(("kwargs", "quoted"), [
    ({"final_sparsity": 1.0}, "got 1.0"),
    ({"final_sparsity": -0.1}, "got -0.1"),
    ({"final_sparsity": "0.5"}, "got '0.5'"),
    ({"final_sparsity": True}, "got True"),
    ({"initial_sparsity": 0.9}, "initial_sparsity (0.9)"),
    ({"begin_step": 500}, "begin_step (500) must be smaller than end_step (500)"),
    ({"begin_step": 600}, "begin_step (600)"),
    ({"begin_step": -1}, "begin_step must be an integer >= 0, got -1"),
    ({"end_step": 2.5}, "end_step must be an integer >= 0, got 2.5"),
    ({"frequency": 0}, "frequency must be an integer >= 1, got 0"),
    ({"power": 0}, "power must be a positive number"),
])
def test_invalid_schedules_are_refused_quoting_the_value(kwargs: dict[str, object], quoted: str) -> None:
    args: dict[str, object] = {"initial_sparsity": 0.0, "final_sparsity": 0.75, "begin_step": 0, "end_step": 500,
                               **kwargs}
    with pytest.raises(PruningError) as exc:
        PolynomialDecay(**args)  # type: ignore[arg-type]
    assert quoted in str(exc.value)
    assert isinstance(exc.value, ConfigError) and isinstance(exc.value, NnfpgaError)
    if "final_sparsity" in kwargs:
        assert "[0, 1)" in str(exc.value)
