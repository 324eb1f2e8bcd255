"""QKeras QLSTM / QGRU / QSimpleRNN with QKeras's *default* activations (``quantized_tanh()`` saved as its config
dict, ``"hard_sigmoid"`` resolved by QKeras to its own ``clip(0.5 x + 0.5, 0, 1)``), written with json and h5py
as TF 2.x saves them (QKeras is not installed here): they load, their emulation matches a float64 reference of
QKeras's own formulas (``qkeras/qrecurrent.py``, ``qkeras/quantizers.py``), exactly where the gates' rounding is
QKeras's (QSimpleRNN) and within the documented gate error otherwise; the C simulation and Verilator give the
emulator's bits; the activations nnfpga cannot compute are refused naming the layer, the activation and what to use.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_recurrent_qkeras import QUANTIZERS, save_qkeras

import nnfpga
from nnfpga.errors import UnsupportedLayerError
from nnfpga.frontends.qkeras import graph_from_qkeras, parse_quantizer, quantize_weights

STEPS, FEATS, UNITS = 6, 4, 5
QTANH = {"class_name": "quantized_tanh",  # QKeras's default activation, as activations.serialize writes it
         "config": {"bits": 8, "symmetric": False, "use_stochastic_rounding": False, "use_real_tanh": False}}
DEFAULTS = {"QLSTM": {"activation": QTANH, "recurrent_activation": "hard_sigmoid"},
            "QGRU": {"activation": QTANH, "recurrent_activation": "hard_sigmoid", "reset_after": False},
            "QSimpleRNN": {"activation": QTANH}}
LAYERS = {"QLSTM": lambda L: L.LSTM(UNITS, return_sequences=True, name="rnn"),
          "QGRU": lambda L: L.GRU(UNITS, reset_after=False, return_sequences=True, name="rnn"),
          "QSimpleRNN": lambda L: L.SimpleRNN(UNITS, return_sequences=True, name="rnn")}
STATE = 2.0**-8  # the LSB of the state quantizer quantized_bits(12,3)
GATE = 2.0**-7  # the LSB of quantized_tanh(8): the most a hard_tanh gate in the table type is off by


def model_of(keras: Any, kind: str, scale: float = 0.6) -> Any:
    keras.utils.set_random_seed(sorted(LAYERS).index(kind))
    inp = keras.Input((STEPS, FEATS), name="x")
    model = keras.Model(inp, LAYERS[kind](keras.layers)(inp))
    for w in model.get_layer("rnn").weights:
        w.assign(np.random.default_rng(1).normal(0, scale, w.shape))
    return model


def save_default(keras: Any, kind: str, path: Path, **extra: Any) -> Path:
    return save_qkeras(model_of(keras, kind), path, kind, **{**QUANTIZERS, **DEFAULTS[kind], **extra})


def load(path: Path, **kw: Any) -> nnfpga.HWModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no input quantizer; the shared table type
        return nnfpga.convert_from_keras_model(str(path), **kw)


# -- QKeras's formulas in float64 --------------------------------------------------------------------------
def q_bits(x: np.ndarray, spec: Any) -> np.ndarray:
    return quantize_weights(*parse_quantizer(spec), x)  # type: ignore[misc]


def q_tanh(x: np.ndarray, bits: int = 8) -> np.ndarray:
    """quantized_tanh(bits): 2 * hard_sigmoid(x) - 1 rounded half to even to bits - 1 fractional bits."""
    m = 2.0 ** (bits - 1)
    return np.clip(np.round((2 * np.clip(0.5 * x + 0.5, 0, 1) - 1) * m) / m, -1, 1 - 1 / m)


def hard_sigmoid(x: np.ndarray) -> np.ndarray:
    return np.clip(0.5 * x + 0.5, 0.0, 1.0)


def reference(kind: str, x: np.ndarray, kernel: np.ndarray, rk: np.ndarray, bias: np.ndarray,
              unquantized: bool = False) -> np.ndarray:
    """The QKeras cell's output sequence (quantized weights, the state quantized as each step reads it);
    ``unquantized``: with quantized_tanh's curve unrounded and no state quantizer (nnfpga's float reference)."""
    sq = QUANTIZERS["state_quantizer"]
    h = np.zeros((len(x), UNITS))
    c = np.zeros_like(h)
    out = []
    q_tanh = (lambda v: np.clip(v, -1, 1)) if unquantized else globals()["q_tanh"]
    for t in range(STEPS):
        hq, zx = (h if unquantized else q_bits(h, sq)), x[:, t] @ kernel + bias
        if kind == "QSimpleRNN":
            h = q_tanh(zx + hq @ rk)
        elif kind == "QLSTM":
            z = zx + hq @ rk
            i, f, g, o = (z[:, k * UNITS:(k + 1) * UNITS] for k in range(4))
            c = hard_sigmoid(f) * (c if unquantized else q_bits(c, sq)) + hard_sigmoid(i) * q_tanh(g)
            h = hard_sigmoid(o) * q_tanh(c)
        else:  # QGRU, reset_after=False
            zh = hq @ rk[:, :2 * UNITS]
            z = hard_sigmoid(zx[:, :UNITS] + zh[:, :UNITS])
            r = hard_sigmoid(zx[:, UNITS:2 * UNITS] + zh[:, UNITS:])
            n = q_tanh(zx[:, 2 * UNITS:] + (r * hq) @ rk[:, 2 * UNITS:])
            h = z * hq + (1 - z) * n
        out.append(h)
    return np.stack(out, axis=1)


def quantized_weights(model: Any) -> list[np.ndarray]:
    return [q_bits(w, QUANTIZERS[q]) for q, w in zip(("kernel_quantizer", "recurrent_quantizer", "bias_quantizer"),
                                                     model.get_layer("rnn").get_weights(), strict=True)]


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_default_activations_load_and_follow_qkeras(keras: Any, tmp_path: Path, kind: str) -> None:
    path = save_default(keras, kind, tmp_path / "q.h5")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        hw = nnfpga.convert_from_keras_model(str(path))
    shared = [str(w.message) for w in seen if "share one table type" in str(w.message)]
    node = hw.graph["rnn"]
    assert node.attrs["activation"] == "hard_tanh"
    if kind == "QSimpleRNN":  # its one gate rounds to quantized_tanh(8)'s type: the table type is that one
        assert str(node.types["table"]) == "ap_fixed<8,1,AP_RND_CONV,AP_SAT>" and not shared
    else:
        assert node.attrs["recurrent_activation"] == "hard_sigmoid_qkeras"
        assert len(shared) == 1 and "'rnn'" in shared[0] and "ap_fixed<8,1,AP_RND_CONV,AP_SAT>" in shared[0]
    # inputs on a 1/64 grid inside the default input type: the reference reads the same values
    x = np.round(np.random.default_rng(3).normal(0, 1.5, size=(400, STEPS, FEATS)) * 64) / 64
    weights = quantized_weights(model_of(keras, kind))
    want = reference(kind, x, *weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        got = hw.predict(x).reshape(want.shape)
    # the float reference of the same graph: the same gates, unrounded
    np.testing.assert_allclose(hw.predict_float(x).reshape(want.shape), reference(kind, x, *weights, True),
                               rtol=0, atol=1e-12)
    err = np.abs(got - want)
    if kind == "QSimpleRNN":  # every rounding is QKeras's: the output h is the quantized_tanh value, exactly
        np.testing.assert_array_equal(got, want)
    else:  # per step: the gates within GATE (+ the table's half LSB), the state within its half LSB
        assert err.max() <= STEPS * (GATE + STATE), err.max()
        assert np.mean(err) < GATE, np.mean(err)
    assert err.max() > 0 or kind == "QSimpleRNN"


def test_quantized_gates_are_pinned_when_they_agree(keras: Any, tmp_path: Path) -> None:
    """Both LSTM gates quantized_sigmoid(6) / quantized_tanh(6,use_real_tanh) pin nothing (two types); a GRU with
    quantized_tanh(6) in both pins ap_fixed<6,1,AP_RND_CONV,AP_SAT>; use_real_* are the tables."""
    path = save_default(keras, "QLSTM", tmp_path / "a.h5", activation="quantized_tanh(6,use_real_tanh=True)",
                        recurrent_activation="quantized_sigmoid(6)")
    node = load(path).graph["rnn"]
    assert (node.attrs["activation"], node.attrs["recurrent_activation"]) == ("tanh", "hard_sigmoid_qkeras")
    path = save_default(keras, "QGRU", tmp_path / "b.h5", activation="quantized_tanh(6)",
                        recurrent_activation="quantized_tanh(6)")
    node = load(path).graph["rnn"]
    assert str(node.types["table"]) == "ap_fixed<6,1,AP_RND_CONV,AP_SAT>"
    path = save_default(keras, "QSimpleRNN", tmp_path / "c.h5", activation="quantized_sigmoid(5,0,1)")
    node = load(path).graph["rnn"]
    assert (node.attrs["activation"], str(node.types["table"])) == ("sigmoid", "ap_ufixed<5,0,AP_RND_CONV,AP_SAT>")


def test_keras2_layer_hard_sigmoid_is_keras2s(keras: Any, tmp_path: Path) -> None:
    """A plain Keras 2 LSTM read by the QKeras reader (a file with QKeras layers elsewhere): "hard_sigmoid" is
    Keras 2's clip(0.2 x + 0.5, 0, 1); QKeras's own hard_tanh is no Keras 2 activation."""
    path = save_qkeras(model_of(keras, "QLSTM"), tmp_path / "k.h5", "LSTM", recurrent_activation="hard_sigmoid")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert graph_from_qkeras(path)["rnn"].attrs["recurrent_activation"] == "hard_sigmoid_keras2"
    path = save_qkeras(model_of(keras, "QLSTM"), tmp_path / "k2.h5", "LSTM", activation="hard_tanh")
    with pytest.raises(UnsupportedLayerError, match="'hard_tanh' is not a gate nnfpga has"):
        graph_from_qkeras(path)


def test_refusals_name_layer_activation_and_what_to_use(keras: Any, tmp_path: Path) -> None:
    path = save_default(keras, "QLSTM", tmp_path / "bad.h5", activation="quantized_tanh(8,1)",
                        recurrent_activation="quantized_sigmoid(8,symmetric=True)")
    with pytest.raises(UnsupportedLayerError) as info:
        load(path)
    text = str(info.value)
    for what in ("'rnn'", "activation='quantized_tanh(8,1)'", "set use_stochastic_rounding=False",
                 "recurrent_activation='quantized_sigmoid(8,symmetric=True)'", "use symmetric=False"):
        assert what in text, (what, text)
    path = save_default(keras, "QSimpleRNN", tmp_path / "bad2.h5", activation="binary_tanh")
    with pytest.raises(UnsupportedLayerError, match=r"'rnn'.*'binary_tanh' is not a gate .* use quantized_tanh\(\)"):
        load(path)
    path = save_default(keras, "QGRU", tmp_path / "bad3.h5", recurrent_activation="smooth_sigmoid")
    with pytest.raises(UnsupportedLayerError, match=r"'smooth_sigmoid' is not a gate .* use quantized_sigmoid\(\)"):
        load(path)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_bare_default_layer_loads(keras: Any, tmp_path: Path, kind: str) -> None:
    """A layer built as QLSTM(units) / QGRU(units) / QSimpleRNN(units): no quantizer at all, default activations;
    its emulation follows its float reference (the gates unrounded) within the default precision's error and, for
    QSimpleRNN whose one gate rounds to quantized_tanh(8) as in QKeras, that rounding's (2**-8 a step, amplified
    by the recurrence)."""
    path = save_qkeras(model_of(keras, kind), tmp_path / "bare.h5", kind, **DEFAULTS[kind])
    hw = load(path)
    x = np.random.default_rng(4).normal(0, 1, size=(200, STEPS, FEATS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        err = np.abs(hw.predict(x) - hw.predict_float(x))
    assert 0 < err.max() < (0.15 if kind == "QSimpleRNN" else 0.05), err.max()
