"""Shared fixtures: tiny Keras models with fixed seeds and random inputs.

``tests/`` is put on ``sys.path`` so that test modules can import the independent reference arithmetic in
``tests/fxref.py`` and the small graph builders in ``tests/graphs.py``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
# One OpenMP thread per test process (torch's intra-op pool, numpy's OpenBLAS, and the notebooks' kernels,
# which inherit the environment): CI runs one xdist worker per core, and the suite's models are tiny, so a second
# thread per worker only spins against the other worker (training the jet MLP one epoch on the loaded 2-core
# machine: 10.3 s of CPU with 2 threads, 0.9 s with 1). Set before anything imports numpy or torch; a value of
# the caller's own is kept.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from graphs import randomize_batchnorm  # tests/ is on sys.path from here on

N_IN = 6


@pytest.fixture(scope="session")
def keras() -> Any:
    from nnfpga.frontends.keras import import_keras

    return import_keras()


@pytest.fixture(scope="session")
def build(keras: Any) -> Callable[..., Any]:
    """``build(layers, input_shape=(6,), seed=0, name="tiny", sequential=False)``: a Keras model from a list
    of layer objects, with deterministic initial weights, random Dense biases and batch-norm statistics."""

    def _build(layers: list[Any], input_shape: tuple[int, ...] = (N_IN,), seed: int = 0, name: str = "tiny",
               sequential: bool = False) -> Any:
        keras.utils.set_random_seed(seed)
        for i, layer in enumerate(layers):
            # Keras drew an unseeded initializer's seed from Python's `random` when the layer was made, before
            # this function could seed anything: fix it, or the kernels change from run to run.
            init = getattr(layer, "kernel_initializer", None)
            if isinstance(getattr(init, "seed", None), int):
                init.seed = seed * 1000 + i
        if sequential:
            model = keras.Sequential([keras.Input(input_shape, name="x"), *layers], name=name)
        else:
            inp = keras.Input(input_shape, name="x")
            h = inp
            for layer in layers:
                h = layer(h)
            model = keras.Model(inp, h, name=name)
        rng = np.random.default_rng(seed)
        for layer in model.layers:
            if type(layer).__name__ == "BatchNormalization":
                randomize_batchnorm(layer, rng)
            if type(layer).__name__ == "Dense" and layer.use_bias:  # Keras starts biases at zero
                kernel, bias = layer.get_weights()
                layer.set_weights([kernel, rng.normal(0.0, 0.3, bias.shape)])
        return model

    return _build


@pytest.fixture(scope="session")
def tiny_mlp(keras: Any, build: Callable[..., Any]) -> Any:
    """x(6) -> fc1 Dense(8, relu) -> fc2 Dense(4) -> bn BatchNormalization -> sm Softmax (bn folds into fc2)."""
    L = keras.layers
    return build([L.Dense(8, activation="relu", name="fc1"), L.Dense(4, name="fc2"),
                  L.BatchNormalization(name="bn"), L.Softmax(name="sm")], seed=1)


@pytest.fixture
def X() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(64, N_IN))


