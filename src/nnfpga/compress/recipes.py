"""The jet-tagging MLP trained dense or pruned while training with one recipe, in Keras and in PyTorch: the
measurement of ``examples/prune_jet_mlp.py`` and of the pruning tests.

The recipe is :func:`nnfpga.examples.train_jet_mlp`'s (synthetic jets from ``make_jets(n_samples, seed)``, the last
20 % held out, standardized with the training statistics; 16-64-32-32-5, Adam 3e-3, batch 256). Pruned: every
Dense/Linear kernel goes from 0 % at a quarter of the optimizer steps to ``target_sparsity`` at three quarters
(masks every 1/40 of the steps), and trains on at the target for the last quarter; the result is stripped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nnfpga.datasets.jets import standardize
from nnfpga.examples import JET_EPOCHS, JET_SAMPLES, JET_SEED, TEST_FRACTION, _jet_split, build_jet_mlp

BATCH_SIZE = 256
LEARNING_RATE = 3e-3


@dataclass
class JetRun:
    """A trained jet MLP (Keras model or ``torch.nn.Module``, plain: stripped when pruned) and its test set."""

    model: Any
    X_test: np.ndarray
    y_test: np.ndarray
    accuracy: float
    seconds: float = 0.0


def jet_data(n_samples: int, seed: int) -> tuple[np.ndarray, ...]:
    X_train, y_train, X_test, y_test = _jet_split(n_samples, seed, TEST_FRACTION)
    X_train, mean, std = standardize(X_train)
    X_test, _, _ = standardize(X_test, mean, std)
    return X_train, y_train, X_test, y_test


def schedule_steps(n_train: int, epochs: int) -> dict[str, int]:
    """``begin_step``, ``end_step`` and ``frequency`` of the recipe for this many training samples and epochs."""
    steps = -(-n_train // BATCH_SIZE) * epochs
    return {"begin_step": steps // 4, "end_step": steps * 3 // 4, "frequency": max(steps // 40, 1)}


def fit_keras(*, target_sparsity: float = 0.0, n_samples: int = JET_SAMPLES, epochs: int = JET_EPOCHS,
              seed: int = JET_SEED, verbose: int = 0) -> JetRun:
    """The Keras jet MLP, dense (``target_sparsity=0``) or pruned while training."""
    import time

    from nnfpga.compress import keras_pruning as kp

    keras = kp.keras
    X_train, y_train, X_test, y_test = jet_data(n_samples, seed)
    keras.utils.set_random_seed(seed)
    model, callbacks = build_jet_mlp(), []
    if target_sparsity:
        model = kp.prune_low_magnitude(model, target_sparsity, **schedule_steps(len(X_train), epochs))
        callbacks = [kp.UpdatePruningStep()]
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="sparse_categorical_crossentropy")
    t = time.perf_counter()
    model.fit(X_train, y_train, epochs=epochs, batch_size=BATCH_SIZE, verbose=verbose, callbacks=callbacks)
    seconds = time.perf_counter() - t
    if target_sparsity:
        model = kp.strip(model)
    acc = float(np.mean(np.asarray(model.predict(X_test, batch_size=4096, verbose=0)).argmax(axis=1) == y_test))
    return JetRun(model, X_test, y_test, acc, seconds)


def build_jet_torch(seed: int) -> Any:
    """The jet MLP as a ``torch.nn.Sequential`` (logits, then softmax), initialized from ``seed``."""
    import torch

    torch.manual_seed(seed)
    nn = torch.nn
    return nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                         nn.Linear(32, 5), nn.Softmax(dim=-1))


def fit_torch(*, target_sparsity: float = 0.0, n_samples: int = JET_SAMPLES, epochs: int = JET_EPOCHS,
              seed: int = JET_SEED) -> JetRun:
    """The PyTorch jet MLP, dense or pruned while training (``nnfpga.compress.torch``)."""
    import time

    import torch

    from nnfpga.compress import torch as tprune

    X_train, y_train, X_test, y_test = jet_data(n_samples, seed)
    model = build_jet_torch(seed)
    logits = model[:-1]  # the loss takes logits
    opt = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    sched = (tprune.prune_low_magnitude(model, target_sparsity, **schedule_steps(len(X_train), epochs))
             if target_sparsity else None)
    X, Y = torch.tensor(X_train, dtype=torch.float32), torch.tensor(y_train, dtype=torch.int64)
    gen = torch.Generator().manual_seed(seed)
    t = time.perf_counter()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=gen)
        for i in range(0, len(X), BATCH_SIZE):
            idx = order[i:i + BATCH_SIZE]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(logits(X[idx]), Y[idx]).backward()
            opt.step()
            if sched is not None:
                sched.step()
    seconds = time.perf_counter() - t
    model.eval()
    if sched is not None:
        tprune.strip(model, sched)
    with torch.no_grad():
        pred = model(torch.tensor(X_test, dtype=torch.float32)).numpy()
    return JetRun(model, X_test, y_test, float(np.mean(pred.argmax(axis=1) == y_test)), seconds)
