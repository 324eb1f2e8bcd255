"""Pruning while training with Keras 3 (torch backend): masks in the forward pass, the schedule through ``fit``,
``strip``, saving, conversion, and the errors."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnfpga
from nnfpga import compress
from nnfpga.compress.schedule import PolynomialDecay
from nnfpga.errors import PruningError

SCHEDULE = {"begin_step": 4, "end_step": 20, "frequency": 4}  # 8 steps per epoch below: at target from epoch 3
N, BATCH = 256, 32


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, 6)).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1).astype(np.int64)


@pytest.fixture
def mlp(keras: Any, build: Any) -> Any:
    L = keras.layers
    return build([L.Dense(16, activation="relu", name="fc1"), L.Dense(8, activation="relu", name="fc2"),
                  L.Dense(3, activation="softmax", name="out")], seed=4)


def kernels(model: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Pruned layer -> (stored kernel, mask)."""
    return {w.layer.name: (w.layer.kernel.numpy().copy(), w.mask.numpy().copy())
            for w in compress.keras_pruning.pruned_layers(model)}


def fit(model: Any, data: tuple[np.ndarray, np.ndarray], epochs: int, *callbacks: Any) -> None:
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(*data, epochs=epochs, batch_size=BATCH, shuffle=False, verbose=0,
              callbacks=[compress.UpdatePruningStep(), *callbacks])


def test_wrapped_copy_predicts_like_the_original_and_leaves_it_alone(keras: Any, mlp: Any, data: Any) -> None:
    before = [w.copy() for w in mlp.get_weights()]
    pruned = compress.prune_low_magnitude(mlp, 0.75, **SCHEDULE)
    assert [type(layer).__name__ for layer in pruned.layers[1:]] == ["PruneLowMagnitude"] * 3
    np.testing.assert_array_equal(pruned.predict(data[0], verbose=0), mlp.predict(data[0], verbose=0))
    fit(pruned, data, 1)
    assert all(np.array_equal(a, b) for a, b in zip(before, mlp.get_weights(), strict=True))


def test_masks_follow_the_schedule_and_pruned_weights_stay_zero_through_fit(keras: Any, mlp: Any, data: Any) -> None:
    pruned = compress.prune_low_magnitude(mlp, 0.75, **SCHEDULE)
    sched = PolynomialDecay(0.0, 0.75, **SCHEDULE)
    seen: list[dict[str, tuple[np.ndarray, np.ndarray]]] = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            seen.append(kernels(self.model))

    fit(pruned, data, 4, Record())
    assert len(seen) == 32
    last_prune = -1
    for step, ks in enumerate(seen):
        if sched.should_prune(step):
            last_prune = step
        for name, (kernel, mask) in ks.items():
            expected = 0.0 if last_prune < 0 else sched.sparsity(last_prune)
            assert np.count_nonzero(mask == 0) == round(expected * mask.size), (step, name)
            assert np.all(kernel[mask == 0] == 0), (step, name)  # the stored kernel holds the zeros
            if step:
                assert np.all(mask[seen[step - 1][name][1] == 0] == 0), (step, name)  # never regrown
    assert compress.sparsity(pruned) == {"fc1": 0.75, "fc2": 0.75, "out": 0.75}
    assert all(w.step == 31 for w in compress.keras_pruning.pruned_layers(pruned))


def test_the_forward_pass_multiplies_by_the_mask(keras: Any, mlp: Any, data: Any) -> None:
    pruned = compress.prune_low_magnitude(mlp, 0.5, **SCHEDULE)
    fit(pruned, data, 3)
    y = pruned.predict(data[0], verbose=0)
    for w in compress.keras_pruning.pruned_layers(pruned):  # values where the mask is 0 must not matter
        kernel, mask = w.layer.kernel.numpy(), w.mask.numpy()
        w.layer.kernel.assign(np.where(mask == 0, 123.0, kernel))
    np.testing.assert_array_equal(pruned.predict(data[0], verbose=0), y)


def test_strip_gives_plain_dense_layers_with_identical_predictions(keras: Any, mlp: Any, data: Any,
                                                                     tmp_path: Path) -> None:
    pruned = compress.prune_low_magnitude(mlp, 0.75, **SCHEDULE)
    fit(pruned, data, 3)
    plain = compress.strip(pruned)
    assert [type(layer).__name__ for layer in plain.layers] == ["InputLayer", "Dense", "Dense", "Dense"]
    assert [layer.name for layer in plain.layers] == [layer.name for layer in mlp.layers]
    np.testing.assert_array_equal(plain.predict(data[0], verbose=0), pruned.predict(data[0], verbose=0))
    assert compress.sparsity(plain) == {"fc1": 0.75, "fc2": 0.75, "out": 0.75}
    assert compress.strip_pruning is compress.strip  # TFMOT's name

    hw_dense, hw_pruned = nnfpga.convert_from_keras_model(mlp), nnfpga.convert_from_keras_model(plain)
    n_weights = 6 * 16 + 16 * 8 + 8 * 3
    assert sum(c.weights for c in compress.dense_costs(hw_pruned)) == n_weights
    assert compress.multipliers(hw_pruned) <= round(0.25 * 6 * 16) + round(0.25 * 16 * 8) + round(0.25 * 8 * 3)
    assert compress.multipliers(hw_dense) > 2 * compress.multipliers(hw_pruned)
    np.testing.assert_array_equal(hw_pruned.predict(data[0]).argmax(1) == plain.predict(data[0], verbose=0).argmax(1),
                                  True)

    pruned.save(tmp_path / "pruned.keras")  # the wrapper, its mask and step are saved with the model
    again = keras.models.load_model(tmp_path / "pruned.keras")
    np.testing.assert_array_equal(again.predict(data[0], verbose=0), pruned.predict(data[0], verbose=0))
    assert [w.step for w in compress.keras_pruning.pruned_layers(again)] == [23] * 3


def test_functional_and_nested_models_and_single_layers(keras: Any, data: Any) -> None:
    L = keras.layers
    keras.utils.set_random_seed(1)
    inp = keras.Input((6,))
    h = L.Dense(8, activation="relu", name="a")(inp)
    sub = keras.Sequential([keras.Input((8,)), L.Dense(8, name="b"), L.BatchNormalization(name="bn")], name="sub")
    model = keras.Model(inp, L.Dense(3, activation="softmax", name="c")(L.Add()([sub(h), h])))
    pruned = compress.prune_low_magnitude(model, 0.5, **SCHEDULE)
    fit(pruned, data, 3)
    assert compress.sparsity(pruned) == {"a": 0.5, "b": 0.5, "c": 0.5}
    plain = compress.strip(pruned)
    np.testing.assert_array_equal(plain.predict(data[0], verbose=0), pruned.predict(data[0], verbose=0))
    assert not compress.keras_pruning.pruned_layers(plain)

    seq = keras.Sequential([keras.Input((6,)), compress.prune_low_magnitude(L.Dense(4, name="d"), 0.5, end_step=8,
                                                                            frequency=2), L.Dense(3, name="e")])
    fit(seq, data, 1)
    assert compress.sparsity(seq) == {"d": 0.5, "e": 0.0}
    assert type(compress.strip(seq.layers[0])).__name__ == "Dense"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras's own (NumPy 2), re-emitted by pytest.warns
def test_stripping_before_end_step_warns(keras: Any, mlp: Any, data: Any) -> None:
    pruned = compress.prune_low_magnitude(mlp, 0.75, begin_step=0, end_step=1000, frequency=2)
    fit(pruned, data, 1)
    with pytest.warns(UserWarning, match=r"not reached its target sparsity.*fc1 .*step 7.*end_step 1000"):
        compress.strip(pruned)
    done = compress.prune_low_magnitude(mlp, 0.75, **SCHEDULE)
    fit(done, data, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        compress.strip(done)


def test_errors(keras: Any, mlp: Any, data: Any) -> None:
    L = keras.layers
    with pytest.raises(PruningError, match=r"target_sparsity must be a number in \[0, 1\).*got 1\.0"):
        compress.prune_low_magnitude(mlp, 1.0, end_step=10)
    with pytest.raises(PruningError, match=r"target_sparsity .*got -0\.5"):
        compress.prune_low_magnitude(mlp, -0.5, end_step=10)
    with pytest.raises(PruningError, match=r"begin_step \(10\) must be smaller than end_step \(10\)"):
        compress.prune_low_magnitude(mlp, 0.5, begin_step=10, end_step=10)
    no_dense = keras.Sequential([keras.Input((6,)), L.ReLU(name="r"), L.Softmax()], name="nodense")
    with pytest.raises(PruningError, match=r"'nodense' has no Dense layer to prune \(layers: ReLU, Softmax\)"):
        compress.prune_low_magnitude(no_dense, 0.5, end_step=10)
    with pytest.raises(PruningError, match=r"expects a keras.Model or a keras.layers.Dense, got ndarray"):
        compress.prune_low_magnitude(np.zeros(3), 0.5, end_step=10)
    with pytest.raises(PruningError, match=r"wraps a keras.layers.Dense, got ReLU"):
        compress.prune_low_magnitude(L.ReLU(), 0.5, end_step=10)

    class Sub(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.d = L.Dense(3)

        def call(self, x: Any) -> Any:
            return self.d(x)

    sub = Sub()
    sub(data[0][:2])
    with pytest.raises(PruningError, match=r"cannot rebuild model .*Use a Sequential or functional model"):
        compress.prune_low_magnitude(sub, 0.5, end_step=10)

    pruned = compress.prune_low_magnitude(mlp, 0.5, **SCHEDULE)
    with pytest.raises(PruningError, match="already pruned"):
        compress.prune_low_magnitude(pruned, 0.5, end_step=10)
    pruned.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(PruningError, match=r"without the pruning callback: pass callbacks=\["
                                           r"nnfpga.compress.UpdatePruningStep\(\)\]"):
        pruned.fit(*data, epochs=1, verbose=0)
    mlp.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(PruningError, match="has no pruned layer"):
        mlp.fit(*data, epochs=1, verbose=0, callbacks=[compress.UpdatePruningStep()])
    with pytest.raises(PruningError, match=r"still wrapped for pruning .*nnfpga.compress.strip\(model\)"):
        nnfpga.convert_from_keras_model(pruned)
    with pytest.raises(PruningError, match=r"pruning_schedule must be a nnfpga.compress.PolynomialDecay, got dict"):
        compress.prune_low_magnitude(mlp, pruning_schedule={"final_sparsity": 0.5}, end_step=10)  # type: ignore
