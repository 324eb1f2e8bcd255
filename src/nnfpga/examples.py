"""Reference models for demos, docs and tests: train, save and reload them.

* :func:`train_jet_mlp`: the classic hls4ml jet-tagging MLP (16 -> 64 -> 32 -> 32 -> 5,
  ReLU, softmax) trained on standardized synthetic jets from
  :func:`nnfpga.datasets.make_jets`.
* :func:`train_mnist_mlp`: a 784 -> 128 -> 128 -> 128 -> 10 MLP trained on the 5000
  offline MNIST digits from :func:`nnfpga.datasets.load_mnist_5k`.
* :func:`prune_dense`: zero the smallest weights of every Dense kernel (magnitude pruning, as in the
  pruning rows of ``benchmarks/hardware.py``).
* :func:`load_example`: the trained jet MLP with its test set, read from the
  bundled ``nnfpga/data/jet_mlp.keras`` (package data, in the wheel too) when present, trained (15-30 s on two
  CPU cores) otherwise.

Training needs the ``keras`` extra. Keras is imported lazily with the torch
backend unless ``KERAS_BACKEND`` is already set.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nnfpga.datasets.jets import CLASSES, FEATURES, make_jets, standardize

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = [
    "DEFAULT_JET_MODEL",
    "DEFAULT_MNIST_MODEL",
    "build_jet_mlp",
    "build_mnist_mlp",
    "jet_norm_path",
    "load_example",
    "prune_dense",
    "train_jet_mlp",
    "train_mnist_mlp",
]



def _bundled(name: str) -> Path:
    """A file of the package data directory ``nnfpga/data/`` (installed with the package) as a path."""
    res = resources.files("nnfpga") / "data" / name
    return res if isinstance(res, Path) else Path(str(res))


#: The bundled trained jet model (package data ``nnfpga/data/jet_mlp.keras``, with ``jet_mlp_norm.npz``).
DEFAULT_JET_MODEL = _bundled("jet_mlp.keras")
#: The bundled trained MNIST model (package data ``nnfpga/data/mnist_mlp.keras``).
DEFAULT_MNIST_MODEL = _bundled("mnist_mlp.keras")

JET_SEED = 42
JET_SAMPLES = 100_000
JET_EPOCHS = 8
MNIST_SEED = 42
MNIST_EPOCHS = 12
TEST_FRACTION = 0.2


def _keras() -> Any:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    return keras


def jet_norm_path(model_path: str | os.PathLike[str]) -> Path:
    """The standardization file stored next to a jet model: ``<stem>_norm.npz``."""
    p = Path(model_path)
    return p.with_name(p.stem + "_norm.npz")


def build_jet_mlp() -> keras.Model:
    """The hls4ml jet-tagging MLP (untrained): 16 -> 64 -> 32 -> 32 -> 5 -> softmax."""
    keras = _keras()
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((len(FEATURES),)),
            L.Dense(64, activation="relu", name="fc1"),
            L.Dense(32, activation="relu", name="fc2"),
            L.Dense(32, activation="relu", name="fc3"),
            L.Dense(len(CLASSES), name="output"),
            L.Activation("softmax", name="softmax"),
        ],
        name="jet_mlp",
    )


def build_mnist_mlp() -> keras.Model:
    """A 784 -> 128 -> 128 -> 128 -> 10 MLP (ReLU, softmax), untrained."""
    keras = _keras()
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((28 * 28,)),
            L.Dense(128, activation="relu", name="fc1"),
            L.Dense(128, activation="relu", name="fc2"),
            L.Dense(128, activation="relu", name="fc3"),
            L.Dense(10, name="output"),
            L.Activation("softmax", name="softmax"),
        ],
        name="mnist_mlp",
    )


def _jet_split(n_samples: int, seed: int, test_fraction: float) -> tuple[np.ndarray, ...]:
    """Raw (unstandardized) train/test jets; make_jets output is already shuffled."""
    X, y = make_jets(n_samples, seed=seed)
    n_test = round(n_samples * test_fraction)
    n_train = n_samples - n_test
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def _fit_and_save(
    model: keras.Model,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    out_path: Path,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    verbose: int,
) -> float:
    keras = _keras()
    X_train, y_train, X_test, y_test = data
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(X_train, y_train, epochs=epochs, batch_size=batch_size, verbose=verbose, validation_split=0.0)
    pred = np.asarray(model.predict(X_test, batch_size=4096, verbose=0))
    acc = float(np.mean(pred.argmax(axis=1) == y_test))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # Save an uncompiled copy: no optimizer state, so the committed file stays small.
    # (keras.models.clone_model would carry the compiled optimizer over.)
    clean = type(model).from_config(model.get_config())
    clean.set_weights(model.get_weights())
    clean.save(out_path)
    return acc


def train_jet_mlp(
    out_path: str | os.PathLike[str] = DEFAULT_JET_MODEL,
    *,
    epochs: int = JET_EPOCHS,
    seed: int = JET_SEED,
    n_samples: int = JET_SAMPLES,
    test_fraction: float = TEST_FRACTION,
    batch_size: int = 256,
    learning_rate: float = 3e-3,
    verbose: int = 0,
) -> tuple[keras.Model, float]:
    """Train the jet-tagging MLP on synthetic jets and save it.

    ``make_jets(n_samples, seed)`` is split into train/test (the last
    ``test_fraction`` is the test set), standardized with the training
    statistics, and the model is trained with Adam. Writes ``out_path`` (the
    Keras model, saved without optimizer state) and ``<stem>_norm.npz`` next to
    it (``mean``, ``std`` and the generation parameters, used by
    :func:`load_example` to rebuild the test set).

    Returns:
        ``(model, test_accuracy)``.
    """
    keras = _keras()
    keras.utils.set_random_seed(seed)
    out = Path(out_path)
    X_train, y_train, X_test, y_test = _jet_split(n_samples, seed, test_fraction)
    X_train, mean, std = standardize(X_train)
    X_test, _, _ = standardize(X_test, mean, std)
    model = build_jet_mlp()
    acc = _fit_and_save(
        model,
        (X_train, y_train, X_test, y_test),
        out,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        verbose=verbose,
    )
    np.savez(
        jet_norm_path(out),
        mean=mean,
        std=std,
        features=np.array(FEATURES),
        classes=np.array(CLASSES),
        seed=np.int64(seed),
        n_samples=np.int64(n_samples),
        test_fraction=np.float64(test_fraction),
        test_accuracy=np.float64(acc),
    )
    return model, acc


def train_mnist_mlp(
    out_path: str | os.PathLike[str] = DEFAULT_MNIST_MODEL,
    *,
    epochs: int = MNIST_EPOCHS,
    seed: int = MNIST_SEED,
    test_fraction: float = TEST_FRACTION,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    verbose: int = 0,
) -> tuple[keras.Model, float]:
    """Train the 784-128-128-128-10 MLP on the 5000 offline MNIST digits and save it.

    Inputs are pixel values in [0, 1] (no further normalization). A random
    ``test_fraction`` of the digits (permutation seeded by ``seed``) is held out.

    Returns:
        ``(model, test_accuracy)``.
    """
    from nnfpga.datasets.mnist import load_mnist_5k

    keras = _keras()
    keras.utils.set_random_seed(seed)
    X, y = load_mnist_5k()
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = round(len(y) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    model = build_mnist_mlp()
    acc = _fit_and_save(
        model,
        (X[train], y[train], X[test], y[test]),
        Path(out_path),
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        verbose=verbose,
    )
    return model, acc


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nnfpga"


def load_example(path: str | os.PathLike[str] | None = None) -> tuple[keras.Model, np.ndarray, np.ndarray]:
    """The trained jet-tagging MLP and its standardized synthetic test set.

    Args:
        path: a model written by :func:`train_jet_mlp` (with its ``_norm.npz``).
            By default the bundled ``nnfpga/data/jet_mlp.keras`` (package data),
            else ``~/.cache/nnfpga/jet_mlp.keras``; if that file (or
            its norm file) is missing it is trained first and saved there.

    Returns:
        ``(model, X_test, y_test)``: X_test float32 (n, 16) already
        standardized, y_test int64 indices into :data:`~nnfpga.datasets.CLASSES`.
    """
    keras = _keras()
    if path is None:
        p = DEFAULT_JET_MODEL
        if not (p.is_file() and jet_norm_path(p).is_file()):
            p = _cache_dir() / "jet_mlp.keras"
    else:
        p = Path(path)
    if not (p.is_file() and jet_norm_path(p).is_file()):
        train_jet_mlp(p)
    with np.load(jet_norm_path(p), allow_pickle=False) as norm:
        mean, std = norm["mean"], norm["std"]
        seed, n_samples = int(norm["seed"]), int(norm["n_samples"])
        test_fraction = float(norm["test_fraction"])
    _, _, X_test, y_test = _jet_split(n_samples, seed, test_fraction)
    X_test, _, _ = standardize(X_test, mean, std)
    model = keras.models.load_model(p, compile=False)
    return model, X_test, y_test


def prune_dense(model: keras.Model, fraction: float, *, layers: dict[str, float] | None = None) -> keras.Model:
    """Set the smallest-magnitude ``fraction`` (0 <= fraction < 1) of every Dense kernel of a Keras model to
    zero, in place (the biases are kept); returns the model. ``layers`` gives some Dense layers (by name) their
    own fraction. Zero weights cost no multiplier in either backend.
    """
    from nnfpga.compress.magnitude import prune_kernels

    dense = {layer.name: layer for layer in model.layers if type(layer).__name__ == "Dense"}
    pruned = prune_kernels({name: layer.get_weights()[0] for name, layer in dense.items()}, fraction, layers,
                           who="prune_dense")
    for name, kernel in pruned.items():
        _, *rest = dense[name].get_weights()
        dense[name].set_weights([kernel, *rest])
    return model
