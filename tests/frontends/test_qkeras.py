"""QKeras frontend: real files saved by QKeras (tests/frontends/data/make_qkeras_fixture.py), read without
TensorFlow, emulated and C-simulated bit for bit equal to QKeras's own quantized inference."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnfpga
from frontend_models import assert_same_bits, predict_quantized
from keras2_files import edited_h5
from nnfpga.errors import UnsupportedLayerError
from nnfpga.fixed import FixedType, from_float, to_float
from nnfpga.frontends.qkeras import activation_type, graph_from_qkeras, parse_quantizer, quantize_weights
from tooling import gxx

DATA = Path(__file__).parent / "data"
DIGITS = DATA / "qkeras_digits.h5"


def decode(codes: np.ndarray) -> np.ndarray:
    """The fixture's inputs, exactly as the script fed them to QKeras (float32 values)."""
    return (codes.astype(np.float32) / np.float32(1024) - np.float32(0.25)).astype(np.float64)


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    z = np.load(DATA / "qkeras_digits.npz")
    return decode(z["x_codes"]), z["y"].astype(np.float64)






# -- an independent NumPy rendering of QKeras 0.9's formulas (quantizers.py), float32 as in TensorFlow ---------
def ref_quantized_bits(x: np.ndarray, bits: int, integer: int, symmetric: int, keep_negative: bool) -> np.ndarray:
    x = x.astype(np.float32)
    m, m_i = np.float32(2.0 ** (bits - keep_negative)), np.float32(2.0**integer)
    p = x * m / m_i
    return (m_i * np.clip(np.round(p), keep_negative * (-m + symmetric), m - 1) / m).astype(np.float64)


def ref_quantized_relu(x: np.ndarray, bits: int, integer: int) -> np.ndarray:
    x = x.astype(np.float32)
    m, m_i = np.float32(2.0**bits), np.float32(2.0**integer)
    return (m_i * np.clip(np.round(x * m / m_i) / m, 0.0, 1.0 - 1.0 / m)).astype(np.float64)


@pytest.mark.parametrize("spec", ["quantized_bits(8,0,alpha=1)", "quantized_bits(6,2,1,alpha=1)",
                                  "quantized_bits(5,1,keep_negative=False)", "quantized_bits(4,-2,alpha=1)",
                                  "quantized_bits(3,3,symmetric=True)", "quantized_relu(6,2)", "quantized_relu(3,0)",
                                  "quantized_relu(8,-1)"])
def test_activation_types_match_the_formulas(spec: str) -> None:
    name, p = parse_quantizer(spec)
    t = activation_type(name, p)
    lsb = 2.0 ** (int(p["integer"]) - int(p["bits"]) + (name == "quantized_bits" and bool(p["keep_negative"])))
    k = np.arange(-4000, 4000)
    x = np.concatenate([k * lsb / 8, (k + 0.5) * lsb, [1e9, -1e9, 0.0]])  # ties, either side of every bound
    if name == "quantized_bits":
        want = ref_quantized_bits(x, p["bits"], p["integer"], int(p["symmetric"]), bool(p["keep_negative"]))
    else:
        want = ref_quantized_relu(x, p["bits"], p["integer"])
    np.testing.assert_array_equal(to_float(from_float(x, t)[0], t), want)


def test_weight_quantizers_match_the_formulas() -> None:
    w = np.random.default_rng(0).normal(0, 0.7, 2000)
    w[:8] = [0.0, -0.0, 0.1, -0.1, 0.0999, 0.5 / 32, 1.5 / 32, 7.0]
    np.testing.assert_array_equal(quantize_weights(*parse_quantizer("quantized_bits(6,0,alpha=1)"), w),
                                  ref_quantized_bits(w, 6, 0, 0, True))
    np.testing.assert_array_equal(quantize_weights(*parse_quantizer("quantized_bits(4,1,1,alpha=4)"), w),
                                  4 * ref_quantized_bits(w, 4, 1, 1, True))
    ternary = quantize_weights(*parse_quantizer("ternary(alpha=1, threshold=0.1)"), w)
    np.testing.assert_array_equal(ternary, np.where(np.abs(w.astype(np.float32)) >= np.float32(0.1), np.sign(w), 0))
    np.testing.assert_array_equal(quantize_weights(*parse_quantizer("binary(alpha=1)"), w), np.where(w >= 0, 1, -1))
    np.testing.assert_array_equal(quantize_weights(*parse_quantizer("binary(use_01=True)"), w), w >= 0)


# -- the saved model ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fname", ["qkeras_digits.h5", "qkeras_digits.keras"])
def test_emulator_equals_qkeras(digits: tuple[np.ndarray, np.ndarray], fname: str) -> None:
    x, want = digits
    assert len(x) >= 10_000
    hw = nnfpga.convert_from_keras_model(str(DATA / fname))  # dispatches to the QKeras reader
    assert_same_bits(predict_quantized(hw, x), want, "QKeras")
    assert "tensorflow" not in sys.modules and "qkeras" not in sys.modules


def test_types_are_the_trained_ones() -> None:
    g = nnfpga.graph_from_keras_model(str(DIGITS))
    q = {n.name: n.attrs.get("qtypes", {}) for n in g}
    assert [(n.name, n.op) for n in g] == [
        ("x", "input"), ("flat", "flatten"), ("q_in", "linear"), ("fc1", "dense"), ("relu1", "relu"),
        ("fc2", "dense"), ("fc2_act", "relu"), ("fc3", "dense"), ("sign3_step", "scale_shift"),
        ("sign3", "hard_tanh"), ("out", "dense"), ("q_out", "linear")]  # the dropout is gone
    assert q["x"]["result"] == q["q_in"]["result"] == "ap_ufixed<8,0,AP_RND_CONV,AP_SAT>"
    assert q["relu1"]["result"] == "ap_ufixed<6,2,AP_RND_CONV,AP_SAT>"
    assert q["fc2_act"]["result"] == "ap_ufixed<5,1,AP_RND_CONV,AP_SAT>"
    assert q["q_out"]["result"] == "ap_fixed<8,5,AP_RND_CONV,AP_SAT>"
    assert q["fc1"]["weight"] == "ap_fixed<6,1>" and q["fc2"]["weight"] == q["fc3"]["weight"] == "ap_fixed<2,2>"
    assert q["fc1"]["result"] == "ap_fixed<18,5>"  # exact: the sums QKeras computes in float32
    assert set(np.unique(g["fc2"].weights["kernel"])) == {-1.0, 0.0, 1.0}
    assert q["sign3"]["result"] == "ap_fixed<2,2>"


def test_ties_are_exercised(digits: tuple[np.ndarray, np.ndarray]) -> None:
    """Rounding the input half up instead of half to even changes outputs: the data really tests the mode."""
    x, want = digits
    cfg = {"Model": {"Precision": "ap_fixed<16,6>"},
           "LayerName": {"x": {"Precision": {"result": "ap_ufixed<8,0,AP_RND,AP_SAT>"}}}}
    hw = nnfpga.convert_from_keras_model(str(DIGITS), hls_config=cfg)
    assert np.sum(predict_quantized(hw, x) != want) > 0


@pytest.mark.tools
@pytest.mark.slow
def test_csim_equals_qkeras(digits: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    gxx()
    x, want = digits
    hw = nnfpga.convert_from_keras_model(str(DIGITS), output_dir=tmp_path / "prj")
    hw.compile()
    assert_same_bits(hw.predict(x, engine="csim"), want, "QKeras")


def test_plain_layers_beside_quantized_ones() -> None:
    """Dense, BatchNormalization, Dropout and softmax next to quantizers: converted, close to QKeras."""
    z = np.load(DATA / "qkeras_mixed.npz")
    x, want = decode(z["x_codes"]), z["y"].astype(np.float64)
    g = nnfpga.graph_from_keras_model(str(DATA / "qkeras_mixed.h5"))
    assert [n.op for n in g] == ["input", "linear", "dense", "relu", "scale_shift", "dense", "softmax"]
    y = predict_quantized(nnfpga.convert_from_keras_model(str(DATA / "qkeras_mixed.h5")), x)
    assert np.abs(y - want).max() < 0.02
    assert np.mean(y.argmax(axis=1) == want.argmax(axis=1)) > 0.99


# -- what is refused ------------------------------------------------------------------------------------


def test_rejected_quantizers_are_listed_with_their_layers(tmp_path: Path) -> None:
    def edit(layers: dict[str, Any]) -> None:
        layers["fc1"]["kernel_quantizer"]["config"]["alpha"] = "auto_po2"
        layers["relu1"]["activation"] = "quantized_relu(6,2,negative_slope=0.25)"
        layers["sign3"]["activation"] = "ternary()"
        layers["q_out"]["activation"] = "quantized_po2(4)"
        layers["fc3"]["bias_quantizer"]["config"]["alpha"] = 0.75

    with pytest.raises(UnsupportedLayerError) as info:
        graph_from_qkeras(edited_h5(tmp_path, DIGITS, edit))
    msg = str(info.value)
    assert msg.startswith("5 unsupported QKeras layer(s):\n")
    assert ("'fc1' (QDense: quantized_bits alpha='auto_po2': the scale is computed from the weights at run time; "
            "train with alpha=1 (or a fixed power of two))") in msg
    assert "'relu1' (QActivation: quantized_relu with use_sigmoid, negative_slope or is_quantized_clip=False)" in msg
    assert "'sign3' (QActivation: ternary activations are not supported" in msg
    assert "'q_out' (QActivation: quantizer/activation 'quantized_po2' is not supported)" in msg
    assert "'fc3' (QDense: quantized_bits alpha=0.75 is not a power of two" in msg
    assert "supported QKeras layers: InputLayer, QDense, QActivation, Dense, Activation" in msg


def test_activation_alpha_and_qnoise_are_refused(tmp_path: Path) -> None:
    def edit(layers: dict[str, Any]) -> None:
        layers["q_out"]["activation"] = "quantized_bits(8,4,alpha=2)"
        layers["q_in"]["activation"]["config"]["qnoise_factor"] = 0.5

    with pytest.raises(UnsupportedLayerError, match=r"'q_in' \(QActivation: quantized_bits with qnoise_factor=0.5 "
                                                    r"mixes float and quantized values\)"):
        graph_from_qkeras(edited_h5(tmp_path, DIGITS, edit))


def test_po2_weight_alpha_is_exact(tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]) -> None:
    path = edited_h5(tmp_path, DIGITS, lambda layers: layers["out"]["kernel_quantizer"]["config"].update(alpha=2))
    g = graph_from_qkeras(path)
    base = graph_from_qkeras(DIGITS)
    np.testing.assert_array_equal(g["out"].weights["kernel"], 2 * base["out"].weights["kernel"])
    assert FixedType.parse(g["out"].attrs["qtypes"]["weight"]) == FixedType(8, 3)


def float32_dense(g: Any) -> Any:
    """``dense(a, name)``: the graph's Dense ``name`` in float32, as QKeras computes it (its float64 result)."""
    w = {n.name: (n.weights["kernel"].astype(np.float32), n.weights["bias"].astype(np.float32))
         for n in g if n.op == "dense"}

    def dense(a: np.ndarray, name: str) -> np.ndarray:
        k, b = w[name]
        return (a.astype(np.float32) @ k + b).astype(np.float64)

    return dense


def test_without_an_input_quantizer_the_default_config_keeps_qkeras_semantics(tmp_path: Path) -> None:
    """A QDense with no quantizer before it: QKeras adds in float32 and its next quantizer rounds that sum. The
    default config keeps the sum exact (result = the exact accumulator) instead of cutting it to the model's
    default type first, so the emulator equals an independent float32 rendering of QKeras's inference."""
    path = edited_h5(tmp_path, DIGITS, lambda layers: layers["q_in"].update(activation="linear"))  # no input quantizer
    g = graph_from_qkeras(path)
    dense = float32_dense(g)
    x = decode(np.load(DATA / "qkeras_digits.npz")["x_codes"]).reshape(-1, 64)

    h = ref_quantized_relu(dense(x, "fc1"), 6, 2)
    h = ref_quantized_relu(dense(h, "fc2"), 5, 1)
    h = np.where(dense(h, "fc3") >= 0, 1.0, -1.0)  # binary(): sign, with 0 -> +1
    want = ref_quantized_bits(dense(h, "out"), 8, 4, 0, True)
    hw = nnfpga.convert_from_keras_model(str(path), output_dir=tmp_path / "prj")
    assert hw.graph["fc1"].types["result"] == hw.graph["fc1"].types["accum"]  # exact
    assert_same_bits(predict_quantized(hw, x.reshape(-1, 8, 8)), want, "QKeras")
    cfg = nnfpga.config_from_keras_model(str(path), granularity="name")
    assert cfg["LayerName"]["fc1"]["Precision"]["result"] == "auto"
    cfg["LayerName"]["fc1"]["Precision"]["result"] = "ap_fixed<16,6>"  # what the default used to choose
    cut = predict_quantized(nnfpga.convert_from_keras_model(str(path), hls_config=cfg, output_dir=tmp_path / "cut"),
                  x.reshape(-1, 8, 8))
    assert np.sum(np.any(cut != want, axis=1)) > 0  # rounding before the quantizer: 30 of 12,000 samples differ


def ref_quantized_tanh(x: np.ndarray, bits: int) -> np.ndarray:
    """quantized_tanh(bits): 2 * hard_sigmoid(x) - 1 (QKeras's default internal sigmoid), float32."""
    x, m = x.astype(np.float32), np.float32(2.0 ** (bits - 1))
    p = np.float32(2) * np.clip(np.float32(0.5) * x + np.float32(0.5), 0, 1) - np.float32(1)
    return np.clip(np.round(p * m) / m, -1, 1 - 1 / m).astype(np.float64)


def ref_quantized_sigmoid(x: np.ndarray, bits: int) -> np.ndarray:
    x, m = x.astype(np.float32), np.float32(2.0**bits)
    p = np.clip(np.float32(0.5) * x + np.float32(0.5), 0, 1)
    return np.clip(np.round(p * m) / m, 0, 1 - 1 / m).astype(np.float64)


def test_quantized_tanh_and_sigmoid_activations_are_exact(tmp_path: Path) -> None:
    """QActivation(quantized_tanh()) and QDense(activation=quantized_sigmoid(6)), as QKeras saves them: the hard
    curve cast to the quantizer's type, equal to an independent float32 rendering of QKeras's formulas (and in the
    C simulation); QActivation("hard_sigmoid") is QKeras's own slope 0.5 (get_quantizer finds quantizers.py's)."""
    def edit(layers: dict[str, Any]) -> None:
        layers["relu1"]["activation"] = {"class_name": "quantized_tanh", "config": {
            "bits": 8, "symmetric": False, "use_stochastic_rounding": False, "use_real_tanh": False}}
        layers["fc2"]["activation"] = "quantized_sigmoid(6)"

    path = edited_h5(tmp_path, DIGITS, edit)
    g = graph_from_qkeras(path)
    assert (g["relu1"].op, g["relu1"].attrs["qtypes"]["result"]) == ("hard_tanh", "ap_fixed<8,1,AP_RND_CONV,AP_SAT>")
    dense = float32_dense(g)
    x = decode(np.load(DATA / "qkeras_digits.npz")["x_codes"]).reshape(-1, 64)

    h = ref_quantized_tanh(dense(ref_quantized_bits(x, 8, 0, 0, False), "fc1"), 8)
    h = ref_quantized_sigmoid(dense(h, "fc2"), 6)
    assert 0 < np.mean(h == 0) < 0.9 and np.mean(h == 63 / 64) > 0  # both ends of the clip are reached
    h = np.where(dense(h, "fc3") >= 0, 1.0, -1.0)
    want = ref_quantized_bits(dense(h, "out"), 8, 4, 0, True)
    hw = nnfpga.convert_from_keras_model(str(path), output_dir=tmp_path / "prj")
    assert_same_bits(predict_quantized(hw, x.reshape(-1, 8, 8)), want, "QKeras")
    gxx()
    hw.compile()
    assert_same_bits(predict_quantized(hw, x.reshape(-1, 8, 8), engine="csim"), want, "QKeras")

    g = graph_from_qkeras(edited_h5(tmp_path, DIGITS, lambda layers: layers["relu1"].update(activation="hard_sigmoid")))
    assert (g["relu1"].op, g["relu1"].attrs["slope"]) == ("hard_sigmoid", 0.5)
