"""HGQ2 frontend (Keras 3, torch backend): a QDense model trained briefly on scikit-learn's digits, with
per-weight bit widths and one activation type per layer; emulated and C-simulated bit for bit equal to
HGQ2's own quantized inference."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnfpga
from frontend_models import assert_same_bits, datalane, hgq_mlp, predict_quantized, require_hgq
from nnfpga.errors import UnsupportedLayerError
from nnfpga.fixed import FixedType
from tooling import gxx, require

N_TEST = 12_000


@pytest.fixture(scope="module")
def hgq() -> Any:
    require(importlib.util.find_spec("sklearn"), "scikit-learn", "extra [data]")
    return require_hgq()


@pytest.fixture(scope="module")
def trained(hgq: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    import keras
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = (digits.data / 16).astype(np.float32), digits.target
    model = hgq_mlp()
    model.compile(optimizer=keras.optimizers.Adam(0.02),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=3, batch_size=256, verbose=0)
    kq = model.get_layer("fc1").kq.quantizer  # per-weight bit widths, as longer training would make them
    kq._b.assign(keras.ops.convert_to_tensor(np.random.default_rng(1).integers(3, 9, kq._b.shape).astype("float32")))
    rng = np.random.default_rng(0)
    noisy = x[rng.integers(0, len(x), N_TEST - len(x))] + rng.normal(0, 0.25, (N_TEST - len(x), 64))
    xt = np.concatenate([x, np.clip(noisy, -1.5, 2.5)]).astype(np.float32)  # saturates and wraps, too
    want = keras.ops.convert_to_numpy(model(xt, training=False)).astype(np.float64)
    return model, xt.astype(np.float64), want






def test_emulator_equals_hgq(trained: tuple[Any, np.ndarray, np.ndarray]) -> None:
    model, x, want = trained
    assert len(x) >= 10_000 and len(np.unique(want)) > 100
    assert_same_bits(predict_quantized(nnfpga.convert_from_keras_model(model), x), want, "HGQ2")


def test_types(trained: tuple[Any, np.ndarray, np.ndarray]) -> None:
    model, _, _ = trained
    g = nnfpga.graph_from_keras_model(model)
    q = {n.name: n.attrs.get("qtypes", {}) for n in g}
    assert [(n.name, n.op) for n in g] == [
        ("x", "input"), ("fc1_iq", "linear"), ("fc1", "dense"), ("fc1_relu", "relu"), ("fc2_iq", "linear"),
        ("fc2", "dense"), ("fc2_relu", "relu"), ("out_iq", "linear"), ("out", "dense")]
    assert q["x"]["result"] == q["fc1_iq"]["result"]  # the first quantizer converts the input itself
    for layer, rounding, overflow in (("fc1", "RND", "SAT"), ("fc2", "RND_CONV", "WRAP"), ("out", "TRN", "SAT_SYM")):
        k, i, f = (int(v.detach().numpy().ravel()[0]) for v in model.get_layer(layer).iq.quantizer.kif)
        assert k == 1  # training moves i (and f): read them back; k + i + f bits, k + i of them integer
        assert FixedType.parse(q[f"{layer}_iq"]["result"]) == FixedType(1 + i + f, 1 + i, True, rounding, overflow)
    kernel = g["fc1"].weights["kernel"]
    np.testing.assert_array_equal(kernel, model.get_layer("fc1").qkernel.detach().numpy())
    f_bits = model.get_layer("fc1").kq.quantizer.f.detach().numpy()
    assert f_bits.min() != f_bits.max()  # per-weight bit widths, all held by one exact type
    assert FixedType.parse(q["fc1"]["weight"]).frac == int(f_bits.max())


def test_saved_file(trained: tuple[Any, np.ndarray, np.ndarray], tmp_path: Path) -> None:
    model, x, want = trained
    path = tmp_path / "hgq.keras"
    model.save(path)
    assert_same_bits(predict_quantized(nnfpga.convert_from_keras_model(str(path)), x[:2000]), want[:2000], "HGQ2")


@pytest.mark.tools
@pytest.mark.slow
def test_csim_equals_hgq(trained: tuple[Any, np.ndarray, np.ndarray], tmp_path: Path) -> None:
    gxx()
    model, x, want = trained
    hw = nnfpga.convert_from_keras_model(model, output_dir=tmp_path / "prj")
    hw.compile()
    assert_same_bits(hw.predict(x, engine="csim"), want, "HGQ2")


def test_heterogeneous_activation_quantizer_is_refused(hgq: Any) -> None:
    import keras
    from hgq.quantizer.config import QuantizerConfig

    model = hgq_mlp(iq_conf=QuantizerConfig("kif", "datalane"))  # HGQ2's default: a type per feature
    iq = model.get_layer("fc1").iq.quantizer
    iq._f.assign(keras.ops.convert_to_tensor(np.arange(64, dtype=np.float32)[None, :] % 5))
    with pytest.raises(UnsupportedLayerError) as info:
        nnfpga.graph_from_keras_model(model)
    assert ("'fc1' (QDense: QDense 'fc1' input quantizer quantizes elements with different bit widths (f in 0..4); "
            "one tensor has one fixed-point type here: train it with QuantizerConfig(..., heterogeneous_axis=()))"
            ) in str(info.value)


def test_scaled_quantizer_is_refused(hgq: Any) -> None:
    model = hgq_mlp(iq_conf=datalane(i0=1, f0=4, scaler=3.0))
    with pytest.raises(UnsupportedLayerError, match=r"'fc1' \(QDense: QDense 'fc1' input quantizer has a scaler "
                                                    r"or affine transform; nnfpga supports plain fixed-point "
                                                    r"quantizers\)"):
        nnfpga.graph_from_keras_model(model)
