"""Make the QKeras convolution fixtures: real CNN files saved by QKeras, and QKeras's own quantized predictions.

Needs the side environment of ``make_qkeras_fixture.py`` (TensorFlow 2.15 with Keras 2, QKeras 0.9; see its
docstring); nnfpga itself reads the saved files with h5py. Run from anywhere:

    /tmp/qk-venv/bin/python tests/frontends/data/make_qkeras_conv_fixture.py

Outputs, next to this script:
- ``qkeras_cnn.h5`` and ``qkeras_cnn.keras``: a small CNN on scikit-learn's digits (8x8x1), trained briefly, in
  Keras 2's HDF5 format and the zip format. Input quantizer, QConv2D (same padding, quantized_relu inline),
  QDepthwiseConv2D (depth multiplier 2, stride 1, valid), quantized_relu, QAveragePooling2D (2x2, with
  ``average_quantizer`` and a quantized_bits activation), ZeroPadding2D, QSeparableConv2D (valid,
  quantized_relu), MaxPooling2D (same padding: partial windows), Flatten, QDense, output quantizer.
- ``qkeras_conv1d.h5``: QConv1D over the 8 rows of 8 pixels ((8, 8): steps x channels): input quantizer,
  QConv1D (same, quantized_relu), QSeparableConv1D (same, depth multiplier 2, quantized_relu), QConv1D (stride 2,
  valid, ternary kernel), quantized_relu, AveragePooling1D, Flatten, QDense, output quantizer.
- ``qkeras_gap.h5``: input quantizer, QConv2D (stride 2, same, quantized_relu), QGlobalAveragePooling2D (with
  ``average_quantizer`` and a quantized_bits activation), QDense, output quantizer.
- ``qkeras_conv.npz``: ``x_codes`` (uint8, shape (N, 8, 8); the inputs are ``x_codes / 128 - 0.25``: a grid
  twice as fine as the 6-bit input quantizer's LSB, so it rounds ties, and beyond its range on both sides),
  ``y_cnn``, ``y_conv1d`` and ``y_gap`` (float32): QKeras's predictions, TensorFlow's float32 inference through
  the quantizers. The first 1,797 inputs are the digits themselves.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf
from qkeras import (
    QActivation,
    QAveragePooling2D,
    QConv1D,
    QConv2D,
    QDense,
    QDepthwiseConv2D,
    QGlobalAveragePooling2D,
    QSeparableConv1D,
    QSeparableConv2D,
    quantized_bits,
    quantized_relu,
    ternary,
)
from sklearn.datasets import load_digits

HERE = Path(__file__).parent
N_SAMPLES = 5_000


def inputs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    digits = load_digits()
    base = digits.images.astype(np.float64) / 16.0
    idx = rng.integers(0, len(base), N_SAMPLES)
    noisy = base[idx] + rng.normal(0.0, 0.2, size=(N_SAMPLES, 8, 8))
    noisy[: len(base)] = base
    codes = np.clip(np.round((noisy + 0.25) * 128), 0, 255).astype(np.uint8)
    return codes, digits.images / 16.0, digits.target


def decode(codes: np.ndarray) -> np.ndarray:
    return (codes.astype(np.float32) / np.float32(128) - np.float32(0.25)).astype(np.float32)


def cnn_model() -> tf.keras.Model:
    L = tf.keras.layers
    x = L.Input((8, 8, 1), name="x")
    h = QActivation(quantized_bits(6, 0, keep_negative=False, alpha=1), name="q_in")(x)
    h = QConv2D(4, 3, padding="same", kernel_quantizer=quantized_bits(6, 0, alpha=1),
                bias_quantizer=quantized_bits(8, 2, alpha=1), activation=quantized_relu(6, 2), name="conv1")(h)
    h = QDepthwiseConv2D(3, depth_multiplier=2, depthwise_quantizer=quantized_bits(5, 0, symmetric=1, alpha=1),
                         bias_quantizer=quantized_bits(8, 2, alpha=1), name="dw2")(h)
    h = QActivation(quantized_relu(6, 2), name="relu2")(h)
    h = QAveragePooling2D(2, average_quantizer=quantized_bits(8, 0, alpha=1),
                          activation=quantized_bits(8, 2, alpha=1), name="avg")(h)
    h = L.ZeroPadding2D(1, name="pad")(h)
    h = QSeparableConv2D(8, 3, depthwise_quantizer=quantized_bits(6, 0, alpha=1),
                         pointwise_quantizer=quantized_bits(6, 0, alpha=1),
                         bias_quantizer=quantized_bits(8, 2, alpha=1), activation=quantized_relu(6, 2), name="sep3")(h)
    h = L.MaxPooling2D(2, padding="same", name="max")(h)
    h = L.Flatten(name="flat")(h)
    h = QDense(10, kernel_quantizer=quantized_bits(8, 1, alpha=1), bias_quantizer=quantized_bits(8, 3, alpha=1),
               name="out")(h)
    y = QActivation(quantized_bits(10, 5, alpha=1), name="q_out")(h)
    return tf.keras.Model(x, y, name="qkeras_cnn")


def conv1d_model() -> tf.keras.Model:
    L = tf.keras.layers
    x = L.Input((8, 8), name="x")
    h = QActivation(quantized_bits(6, 0, keep_negative=False, alpha=1), name="q_in")(x)
    h = QConv1D(8, 3, padding="same", kernel_quantizer=quantized_bits(6, 0, alpha=1),
                bias_quantizer=quantized_bits(8, 2, alpha=1), activation=quantized_relu(6, 2), name="c1")(h)
    h = QSeparableConv1D(8, 3, padding="same", depth_multiplier=2,
                         depthwise_quantizer=quantized_bits(5, 0, symmetric=1, alpha=1),
                         pointwise_quantizer=quantized_bits(6, 0, alpha=1),
                         bias_quantizer=quantized_bits(8, 2, alpha=1), activation=quantized_relu(6, 2), name="sep2")(h)
    h = QConv1D(12, 3, strides=2, kernel_quantizer=ternary(alpha=1, threshold=0.1),
                bias_quantizer=quantized_bits(6, 2, symmetric=1, alpha=1), name="c2")(h)
    h = QActivation("quantized_relu(5,2)", name="relu2")(h)
    h = L.AveragePooling1D(2, name="avg")(h)
    h = L.Flatten(name="flat")(h)
    h = QDense(10, kernel_quantizer=quantized_bits(8, 1, alpha=1), bias_quantizer=quantized_bits(8, 3, alpha=1),
               name="out")(h)
    y = QActivation(quantized_bits(10, 5, alpha=1), name="q_out")(h)
    return tf.keras.Model(x, y, name="qkeras_conv1d")


def gap_model() -> tf.keras.Model:
    L = tf.keras.layers
    x = L.Input((8, 8, 1), name="x")
    h = QActivation(quantized_bits(6, 0, keep_negative=False, alpha=1), name="q_in")(x)
    h = QConv2D(16, 3, strides=2, padding="same", kernel_quantizer=quantized_bits(6, 0, alpha=1),
                bias_quantizer=quantized_bits(8, 2, alpha=1), activation=quantized_relu(6, 2), name="conv1")(h)
    h = QGlobalAveragePooling2D(average_quantizer=quantized_bits(8, 0, alpha=1),
                                activation=quantized_bits(8, 2, alpha=1), name="gap")(h)
    h = QDense(10, kernel_quantizer=quantized_bits(8, 2, alpha=1), bias_quantizer=quantized_bits(8, 3, alpha=1),
               name="out")(h)
    y = QActivation(quantized_bits(10, 5, alpha=1), name="q_out")(h)
    return tf.keras.Model(x, y, name="qkeras_gap")


def train(model: tf.keras.Model, x: np.ndarray, y: np.ndarray, epochs: int) -> None:
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    print(model.name, "training accuracy", model.evaluate(x, y, verbose=0)[1])


def main() -> None:
    tf.keras.utils.set_random_seed(0)
    codes, images, target = inputs(np.random.default_rng(1))
    x = decode(codes)
    out: dict[str, np.ndarray] = {"x_codes": codes}
    for make, key, shape in ((cnn_model, "cnn", (8, 8, 1)), (conv1d_model, "conv1d", (8, 8)),
                             (gap_model, "gap", (8, 8, 1))):
        model = make()
        train(model, images.reshape(-1, *shape).astype(np.float32), target, epochs=30)
        model.save(HERE / f"qkeras_{key}.h5", include_optimizer=False)
        if key == "cnn":
            bare = make()  # uncompiled: the zip then holds no optimizer state
            bare.set_weights(model.get_weights())
            bare.save(HERE / f"qkeras_{key}.keras")
        y = model.predict(x.reshape(-1, *shape), batch_size=1024, verbose=0).astype(np.float32)
        out[f"y_{key}"] = y
        acc = float(np.mean(np.argmax(y[: len(target)], axis=1) == target))
        print(key, "accuracy on the digits", acc, "distinct outputs", len(np.unique(y)))
    np.savez_compressed(HERE / "qkeras_conv.npz", **out)
    for f in [*sorted(HERE.glob("qkeras_c*")), HERE / "qkeras_gap.h5"]:
        print(f.name, os.path.getsize(f), "bytes")


if __name__ == "__main__":
    main()
