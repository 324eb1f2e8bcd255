"""Make the QKeras test fixtures: real model files saved by QKeras, and QKeras's own quantized predictions.

This script needs TensorFlow 2.x with Keras 2 and QKeras; nnfpga itself does not (it reads the saved files
with h5py). The committed files were made in this environment (Python 3.11.7, Linux x86_64):

    python3.11 -m venv /tmp/qk-venv
    /tmp/qk-venv/bin/pip install "tensorflow-cpu==2.15.1" "numpy<2" scikit-learn h5py
    /tmp/qk-venv/bin/pip install "qkeras==0.9.0" "tensorflow-cpu==2.15.1" "numpy<2" \
        "tensorflow-model-optimization==0.7.5" pyparsing
    /tmp/qk-venv/bin/python tests/frontends/data/make_qkeras_fixture.py

(tensorflow-cpu 2.15.1, keras 2.15.0, qkeras 0.9.0, numpy 1.26.4, h5py 3.16.0.)

Outputs, next to this script:
- ``qkeras_digits.h5`` and ``qkeras_digits.keras``: the same model, trained briefly on scikit-learn's digits,
  in Keras 2's HDF5 format and in the zip format (config.json + model.weights.h5). Every layer is quantized:
  an input quantizer, QDense layers with quantized_bits (symmetric and not), ternary and binary kernels,
  quantized_relu (as a QActivation and as a QDense activation) and a binary activation.
- ``qkeras_digits.npz``: ``x_codes`` (uint16; the inputs are ``x_codes / 1024 - 0.25``, on a grid that makes
  the input quantizer round ties and saturate on both sides; shape (N, 8, 8)) and ``y`` (float32): QKeras's
  predictions, i.e. TensorFlow's float32 inference through the quantizers.
- ``qkeras_mixed.h5``: quantized layers next to plain Dense, BatchNormalization, Activation and Dropout, and
  ``qkeras_mixed.npz`` with its float32 predictions (plain layers are not bit-exact: compare with a tolerance).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf
from qkeras import QActivation, QDense, binary, quantized_bits, quantized_relu, ternary
from sklearn.datasets import load_digits

HERE = Path(__file__).parent
N_SAMPLES = 12_000


def inputs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    digits = load_digits()
    base = digits.images.astype(np.float64) / 16.0
    idx = rng.integers(0, len(base), N_SAMPLES)
    noisy = base[idx] + rng.normal(0.0, 0.15, size=(N_SAMPLES, 8, 8))
    noisy[: len(base)] = base  # the digits themselves first
    codes = np.clip(np.round((noisy + 0.25) * 1024), 0, 1536).astype(np.uint16)
    return codes, digits.images / 16.0, digits.target


def decode(codes: np.ndarray) -> np.ndarray:
    return (codes.astype(np.float32) / np.float32(1024) - np.float32(0.25)).astype(np.float32)


def digits_model() -> tf.keras.Model:
    L = tf.keras.layers
    x = L.Input((8, 8), name="x")
    h = L.Flatten(name="flat")(x)
    h = QActivation(quantized_bits(8, 0, keep_negative=False, alpha=1), name="q_in")(h)
    h = QDense(32, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(8, 2, alpha=1),
               name="fc1")(h)
    h = QActivation("quantized_relu(6,2)", name="relu1")(h)
    h = L.Dropout(0.1, name="drop")(h)
    h = QDense(24, kernel_quantizer=ternary(alpha=1, threshold=0.1),
               bias_quantizer=quantized_bits(6, 2, symmetric=1, alpha=1), activation=quantized_relu(5, 1),
               name="fc2")(h)
    h = QDense(16, kernel_quantizer=binary(alpha=1), bias_quantizer=quantized_bits(8, 3, alpha=1), name="fc3")(h)
    h = QActivation(binary(alpha=1), name="sign3")(h)
    h = QDense(10, kernel_quantizer=quantized_bits(8, 1, symmetric=1, alpha=1),
               bias_quantizer=quantized_bits(8, 3, alpha=1), name="out")(h)
    y = QActivation("quantized_bits(8,4,alpha=1)", name="q_out")(h)
    return tf.keras.Model(x, y, name="qkeras_digits")


def mixed_model() -> tf.keras.Model:
    L = tf.keras.layers
    return tf.keras.Sequential([
        L.Input((64,), name="x"),
        QActivation(quantized_bits(8, 0, keep_negative=False, alpha=1), name="q_in"),
        L.Dense(16, activation="relu", name="fc1"),
        L.BatchNormalization(name="bn1"),
        L.Dropout(0.1, name="drop"),
        QDense(10, kernel_quantizer=quantized_bits(8, 2, alpha=1), bias_quantizer=quantized_bits(8, 2, alpha=1),
               name="out"),
        L.Activation("softmax", name="sm"),
    ], name="qkeras_mixed")


def train(model: tf.keras.Model, x: np.ndarray, y: np.ndarray, epochs: int) -> None:
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=model.name != "qkeras_mixed"),
                  metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    print(model.name, "training accuracy", model.evaluate(x, y, verbose=0)[1])


def main() -> None:
    tf.keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    codes, images, target = inputs(rng)
    x = decode(codes)

    model = digits_model()
    train(model, images.astype(np.float32), target, epochs=30)
    model.save(HERE / "qkeras_digits.h5", include_optimizer=False)
    bare = digits_model()  # uncompiled: the zip then holds no optimizer state
    bare.set_weights(model.get_weights())
    bare.save(HERE / "qkeras_digits.keras")
    y = model.predict(x, batch_size=1024, verbose=0).astype(np.float32)
    np.savez_compressed(HERE / "qkeras_digits.npz", x_codes=codes, y=y)
    acc = float(np.mean(np.argmax(y[: len(target)], axis=1) == target))
    print("digits model: accuracy on the digits", acc, "distinct outputs", len(np.unique(y)))

    mixed = mixed_model()
    flat = images.reshape(len(images), 64).astype(np.float32)
    train(mixed, flat, target, epochs=10)
    mixed.save(HERE / "qkeras_mixed.h5", include_optimizer=False)
    xm = x[:2000].reshape(2000, 64)
    np.savez_compressed(HERE / "qkeras_mixed.npz", x_codes=codes[:2000].reshape(2000, 64),
                        y=mixed.predict(xm, batch_size=1024, verbose=0).astype(np.float32))
    for f in sorted(HERE.glob("qkeras_*")):
        print(f.name, os.path.getsize(f), "bytes")


if __name__ == "__main__":
    main()
