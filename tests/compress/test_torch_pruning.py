"""Pruning while training with PyTorch (``torch.nn.utils.prune``): the scheduler, masks through training,
``strip`` and conversion with ``nnfpga.convert_from_pytorch_model``, and the errors."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch

import nnfpga
from nnfpga import compress
from nnfpga.compress.schedule import PolynomialDecay
from nnfpga.errors import PruningError

tprune = compress.torch

SCHEDULE = {"begin_step": 4, "end_step": 20, "frequency": 4}


def mlp(seed: int = 0) -> Any:
    torch.manual_seed(seed)
    nn = torch.nn
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))


def data() -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(256, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1).astype(np.int64)
    return torch.tensor(X), torch.tensor(y)


def train(model: Any, sched: Any, steps: int, on_step: Any = None) -> None:
    X, y = data()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(steps):
        idx = slice((step % 8) * 32, (step % 8 + 1) * 32)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(X[idx]), y[idx]).backward()
        opt.step()
        sched.step()
        if on_step is not None:
            on_step(step + 1)


def test_masks_follow_the_schedule_and_pruned_weights_stay_zero() -> None:
    model = mlp()
    sched = tprune.prune_low_magnitude(model, 0.75, **SCHEDULE)
    ref = PolynomialDecay(0.0, 0.75, **SCHEDULE)
    linears = {"0": model[0], "2": model[2], "4": model[4]}
    prev: dict[str, np.ndarray] = {}

    def check(step: int) -> None:
        last = max((t for t in range(step + 1) if ref.should_prune(t)), default=-1)
        for name, m in linears.items():
            mask = m.weight_mask.numpy().copy()
            expected = 0.0 if last < 0 else ref.sparsity(last)
            assert np.count_nonzero(mask == 0) == round(expected * mask.size), (step, name)
            assert np.all(m.weight.detach().numpy()[mask == 0] == 0), (step, name)  # what forward uses
            if name in prev:
                assert np.all(mask[prev[name] == 0] == 0), (step, name)  # never regrown
            prev[name] = mask

    check(0)
    train(model, sched, 32, check)
    assert sched.step_count == 32
    assert sched.sparsity() == tprune.sparsity(model) == {"0": 0.75, "2": 0.75, "4": 0.75}
    X, _ = data()
    with torch.no_grad():
        before = model(X).numpy()
        for m in linears.values():  # the forward pass multiplies by the mask: stored values there do not matter
            m.weight_orig[m.weight_mask == 0] = 123.0
        np.testing.assert_array_equal(model(X).numpy(), before)


def test_strip_removes_the_masks_and_converts_with_fewer_multipliers() -> None:
    dense, model = mlp(), mlp()
    sched = tprune.prune_low_magnitude(model, 0.75, **SCHEDULE)
    train(model, sched, 24)
    X, _ = data()
    with torch.no_grad():
        before = model(X).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert tprune.strip(model, sched) is model
    assert sorted(n for n, _ in model.named_parameters()) == ["0.bias", "0.weight", "2.bias", "2.weight", "4.bias",
                                                              "4.weight"]
    assert not any(torch.nn.utils.prune.is_pruned(m) for m in model)
    with torch.no_grad():
        np.testing.assert_array_equal(model(X).numpy(), before)
    assert tprune.sparsity(model) == {"0": 0.75, "2": 0.75, "4": 0.75}

    hw_dense = nnfpga.convert_from_pytorch_model(dense, input_shape=(6,))
    hw = nnfpga.convert_from_pytorch_model(model, input_shape=(6,))
    assert [c.sparsity for c in compress.dense_costs(hw)] == [0.75, 0.75, 0.75]
    assert compress.multipliers(hw) == (6 * 16 + 16 * 8 + 8 * 3) // 4 < compress.multipliers(hw_dense) // 3
    assert np.mean(hw.predict(X.numpy()).argmax(1) == before.argmax(1)) > 0.95  # 16-bit fixed point vs float


def test_stripping_before_end_step_warns() -> None:
    model = mlp()
    sched = tprune.prune_low_magnitude(model, 0.5, begin_step=0, end_step=100, frequency=2)
    train(model, sched, 10)
    with pytest.warns(UserWarning, match=r"target sparsity 50% in: 0 .*\(step 10; .*end_step 100\)"):
        tprune.strip(model, sched)


def test_errors() -> None:
    with pytest.raises(PruningError, match=r"target_sparsity must be a number in \[0, 1\).*got 1"):
        tprune.prune_low_magnitude(mlp(), 1, end_step=10)
    with pytest.raises(PruningError, match=r"begin_step \(20\) must be smaller than end_step \(10\)"):
        tprune.prune_low_magnitude(mlp(), 0.5, begin_step=20, end_step=10)
    conv = torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3), torch.nn.ReLU())
    with pytest.raises(PruningError, match=r"Sequential has no torch.nn.Linear to prune \(modules: Conv1d, ReLU, "
                                           r"Sequential\)"):
        tprune.prune_low_magnitude(conv, 0.5, end_step=10)
    with pytest.raises(PruningError, match=r"expects a torch.nn.Module, got str"):
        tprune.prune_low_magnitude("model", 0.5, end_step=10)
    model = mlp()
    sched = tprune.prune_low_magnitude(model, 0.5, end_step=10, frequency=1)
    with pytest.raises(PruningError, match=r"already pruned \(0, 2, 4\)"):
        tprune.prune_low_magnitude(model, 0.5, end_step=10)
    tprune.strip(model)
    with pytest.raises(PruningError, match="no longer pruned"):
        sched.step()
