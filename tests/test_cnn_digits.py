"""A small CNN trained in the test on scikit-learn's digits (8x8): the default config keeps the float model's
decisions (argmax agreement >= 99.5 %, accuracy within 0.5 %)."""

from __future__ import annotations

from typing import Any

import numpy as np


def digits_cnn(keras: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images / 16.0)[..., None]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    x, y = x[order], data.target[order]
    L = keras.layers
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1), name="x")
    h = L.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inp)
    h = L.MaxPooling2D(2, name="pool1")(h)
    h = L.Conv2D(16, 3, activation="relu", name="conv2")(h)
    h = L.GlobalAveragePooling2D(name="gap")(h)
    model = keras.Model(inp, L.Dense(10, name="out")(h), name="digits_cnn")
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    n_train = 1400
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: one thread is fastest, and several collapse on a busy 2-core machine
    try:
        model.fit(x[:n_train], y[:n_train], epochs=40, batch_size=100, verbose=0)
    finally:
        torch.set_num_threads(before)
    return model, x[n_train:], y[n_train:]


def test_digits_cnn_default_config_keeps_decisions(keras: Any) -> None:
    import nnfpga

    model, x, y = digits_cnn(keras)
    want = np.asarray(model.predict(x.astype(np.float32), verbose=0))
    float_acc = float((want.argmax(1) == y).mean())
    assert float_acc > 0.9  # it learned
    hw = nnfpga.convert_from_keras_model(model)
    got = hw.predict(x)
    agree = float((got.argmax(1) == want.argmax(1)).mean())
    fixed_acc = float((got.argmax(1) == y).mean())
    assert agree >= 0.995, f"argmax agreement {agree:.4f}"
    assert abs(fixed_acc - float_acc) <= 0.005, f"accuracy float {float_acc:.4f}, fixed {fixed_acc:.4f}"
