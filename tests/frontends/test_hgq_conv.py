"""HGQ2 convolutions and poolings (Keras 3, torch backend): a 2D CNN trained briefly on scikit-learn's 8x8 digits
(per-weight kernel bit widths, a grouped convolution, max and global average pooling) and an untrained 1D CNN
(causal convolution with an output quantizer, average pooling); emulated, and C-simulated once, bit for bit equal
to HGQ2's own quantized inference."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnfpga
from frontend_models import assert_same_bits, datalane, hgq_cnn, hgq_cnn1d, predict_quantized, require_hgq
from nnfpga.errors import UnsupportedLayerError
from nnfpga.fixed import FixedType
from tooling import gxx, require

N_TEST = 6_000


@pytest.fixture(scope="module")
def hgq() -> Any:
    require(importlib.util.find_spec("sklearn"), "scikit-learn", "extra [data]")
    return require_hgq()


def digit_images() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.data / 16).reshape(-1, 8, 8).astype(np.float32), digits.target


def grid_inputs(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``x`` and perturbed copies of it up to ``n`` samples, on a 2**-9 grid (rounding ties for every input
    quantizer here), some beyond the quantizers' ranges (saturation and wrapping)."""
    rng = np.random.default_rng(seed)
    noisy = x[rng.integers(0, len(x), n - len(x))] + rng.integers(-96, 97, (n - len(x), *x.shape[1:])) / 512
    return np.round(np.concatenate([x, np.clip(noisy, -1.5, 2.5)]) * 512) / 512


def keras_out(model: Any, x: np.ndarray) -> np.ndarray:
    import keras

    return keras.ops.convert_to_numpy(model(x.astype(np.float32), training=False)).astype(np.float64)






@pytest.fixture(scope="module")
def trained(hgq: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    import keras
    import torch

    x, y = digit_images()
    model = hgq_cnn()
    model.compile(optimizer=keras.optimizers.Adam(0.02),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model trains fastest on one thread, the more so on a busy machine
    try:
        t0 = time.perf_counter()
        model.fit(x[..., None], y, epochs=3, batch_size=128, verbose=0)
        print(f"\nHGQ2 CNN trained in {time.perf_counter() - t0:.1f} s")
    finally:
        torch.set_num_threads(threads)
    kq = model.get_layer("conv1").kq.quantizer  # per-weight bit widths, as longer training would make them
    kq._b.assign(keras.ops.convert_to_tensor(np.random.default_rng(1).integers(3, 9, kq._b.shape).astype("float32")))
    xt = grid_inputs(x, N_TEST, 0)[..., None]
    want = keras_out(model, xt)
    assert float((want[:len(y)].argmax(1) == y).mean()) > 0.5  # it learned something: the values are not trivial
    return model, xt, want


def test_emulator_equals_hgq_cnn(trained: tuple[Any, np.ndarray, np.ndarray]) -> None:
    model, x, want = trained
    assert len(x) >= 5_000 and len(np.unique(want)) > 500
    assert_same_bits(predict_quantized(nnfpga.convert_from_keras_model(model), x), want, "HGQ2")


def test_cnn_types(trained: tuple[Any, np.ndarray, np.ndarray]) -> None:
    model, _, _ = trained
    g = nnfpga.graph_from_keras_model(model)
    assert [(n.name, n.op) for n in g] == [
        ("x", "input"), ("conv1_iq", "linear"), ("conv1", "conv"), ("conv1_relu", "relu"), ("pool_iq", "linear"),
        ("pool", "max_pool"), ("conv2_iq", "linear"), ("conv2", "conv"), ("conv2_relu", "relu"),
        ("gap_iq", "linear"), ("gap", "avg_pool"), ("out_iq", "linear"), ("out", "dense")]
    q = {n.name: n.attrs.get("qtypes", {}) for n in g}
    k, i, f = (int(v.detach().numpy().ravel()[0]) for v in model.get_layer("conv2").iq.quantizer.kif)
    assert FixedType.parse(q["conv2_iq"]["result"]) == FixedType(k + i + f, k + i, bool(k), "TRN", "SAT")
    assert g["conv2"].attrs["groups"] == 2 and g["conv1"].attrs["pads"] == [[1, 1], [1, 1]]
    np.testing.assert_array_equal(g["conv1"].weights["kernel"], model.get_layer("conv1").qkernel.detach().numpy())
    f_bits = model.get_layer("conv1").kq.quantizer.f.detach().numpy()
    assert f_bits.min() != f_bits.max() and FixedType.parse(q["conv1"]["weight"]).frac == int(f_bits.max())
    assert q["pool"]["result"] == q["pool_iq"]["result"]  # a max keeps its input's type
    assert FixedType.parse(q["gap"]["result"]).frac == FixedType.parse(q["gap_iq"]["result"]).frac + 2  # / 4


def test_emulator_equals_hgq_cnn1d(hgq: Any) -> None:
    model = hgq_cnn1d()
    x = grid_inputs(digit_images()[0], 5_000, 1)
    want = keras_out(model, x)
    assert len(np.unique(want)) > 500
    g = nnfpga.graph_from_keras_model(model)
    assert [n.op for n in g] == ["input", "linear", "conv", "relu", "linear", "linear", "avg_pool", "flatten",
                                 "linear", "dense"]
    assert g["conv"].attrs["pads"] == [[2, 0]]  # causal
    assert_same_bits(predict_quantized(nnfpga.convert_from_keras_model(model), x), want, "HGQ2")


def test_saved_cnn_file(trained: tuple[Any, np.ndarray, np.ndarray], tmp_path: Path) -> None:
    model, x, want = trained
    path = tmp_path / "hgq_cnn.keras"
    model.save(path)
    assert_same_bits(predict_quantized(nnfpga.convert_from_keras_model(str(path)), x[:1000]), want[:1000], "HGQ2")


@pytest.mark.tools
def test_csim_equals_hgq_cnn(trained: tuple[Any, np.ndarray, np.ndarray], tmp_path: Path) -> None:
    gxx()
    model, x, want = trained
    hw = nnfpga.convert_from_keras_model(model, output_dir=tmp_path / "prj", io_type="io_parallel")
    hw.compile()
    assert_same_bits(hw.predict(x[:2000], engine="csim"), want[:2000], "HGQ2")


def test_unsupported_listed_at_once(hgq: Any) -> None:
    import keras
    from hgq.layers import QAveragePooling2D, QConv2D, QConv3D
    from hgq.quantizer.config import QuantizerConfig

    x = keras.Input((4, 4, 8), name="x")
    h = QConv2D(4, 1, name="perelem", iq_conf=QuantizerConfig("kif", "datalane"))(x)  # a type per element
    h = QConv2D(4, 1, name="scaled", iq_conf=datalane(i0=1, f0=4, scaler=3.0))(h)
    h = QAveragePooling2D(3, strides=1, padding="same", name="avg3", iq_conf=datalane(i0=1, f0=4))(h)
    h = QConv2D(4, 1, name="cf", data_format="channels_first", iq_conf=datalane(i0=1, f0=4))(h)
    h = keras.layers.Reshape((4, 4, 4, 1), name="r")(h)
    h = QConv3D(2, 3, name="c3d", iq_conf=datalane(i0=1, f0=4))(h)
    model = keras.Model(x, h)
    iq = model.get_layer("perelem").iq.quantizer
    f = np.arange(int(np.prod(iq._f.shape)), dtype=np.float32).reshape(iq._f.shape) % 5
    iq._f.assign(keras.ops.convert_to_tensor(f))
    with pytest.raises(UnsupportedLayerError) as info:
        nnfpga.graph_from_keras_model(model)
    layers = dict(info.value.layers)
    assert list(layers) == ["perelem", "scaled", "avg3", "cf", "c3d"], layers
    assert layers["c3d"].startswith("QConv3D: not supported (HGQ2 layers supported: QDense, Quantizer, QConv1D")
    assert layers["perelem"] == (
        "QConv2D: QConv2D 'perelem' input quantizer quantizes elements with different bit widths (f in 0..4); one "
        "tensor has one fixed-point type here: train it with QuantizerConfig(..., heterogeneous_axis=())")
    assert "has a scaler or affine transform" in layers["scaled"]
    assert layers["cf"] == "QConv2D: Conv2D with data_format='channels_first' (nnfpga reads channels-last layers)"
    assert layers["avg3"] == (
        "QAveragePooling2D: windows averaging [6, 9] positions; HGQ2 divides in float32 and the firmware's "
        "fixed-point mean truncates, so only power-of-two windows (2, 4, 2x2, ...) are exact: use one, or a max "
        "pooling")
