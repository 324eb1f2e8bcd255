"""QKeras convolution layers: real CNN files saved by QKeras (tests/frontends/data/make_qkeras_conv_fixture.py),
read without TensorFlow, emulated and C-simulated bit for bit equal to QKeras's own quantized inference."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import nnfpga
from frontend_models import predict_quantized
from keras2_files import edited_h5
from nnfpga.errors import UnsupportedLayerError
from nnfpga.frontends.qkeras import graph_from_qkeras
from tooling import gxx

DATA = Path(__file__).parent / "data"
CNN = DATA / "qkeras_cnn.h5"
CONV1D = DATA / "qkeras_conv1d.h5"
GAP = DATA / "qkeras_gap.h5"
SHAPES = {"cnn": (8, 8, 1), "conv1d": (8, 8), "gap": (8, 8, 1)}


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    """The inputs exactly as the script fed them to QKeras (float32 values on a 1/128 grid), QKeras's outputs."""
    z = np.load(DATA / "qkeras_conv.npz")
    x = (z["x_codes"].astype(np.float32) / np.float32(128) - np.float32(0.25)).astype(np.float64)
    return {"x": x, **{key: z[f"y_{key}"].astype(np.float64) for key in SHAPES}}




def mismatches(got: np.ndarray, want: np.ndarray) -> int:
    return int(np.sum(np.any(got != want, axis=1)))


@pytest.mark.parametrize(("fname", "key"), [("qkeras_cnn.h5", "cnn"), ("qkeras_cnn.keras", "cnn"),
                                            ("qkeras_conv1d.h5", "conv1d"), ("qkeras_gap.h5", "gap")])
def test_emulator_equals_qkeras(data: dict[str, np.ndarray], fname: str, key: str) -> None:
    x, want = data["x"].reshape(-1, *SHAPES[key]), data[key]
    assert len(x) >= 5_000 and len(np.unique(want, axis=0)) == len(x)  # every output differs: no constant
    hw = nnfpga.convert_from_keras_model(str(DATA / fname))  # dispatches to the QKeras reader
    got = predict_quantized(hw, x)
    bad = np.argwhere(got != want)
    assert bad.size == 0, (f"{mismatches(got, want)} of {len(x)} samples differ; first at {tuple(bad[0])}: "
                           f"nnfpga {got[tuple(bad[0])]!r}, QKeras {want[tuple(bad[0])]!r}")
    assert "tensorflow" not in sys.modules and "qkeras" not in sys.modules


def test_types_are_the_trained_ones() -> None:
    g = nnfpga.graph_from_keras_model(str(CNN))
    assert [(n.name, n.op, n.shape) for n in g] == [
        ("x", "input", (8, 8, 1)), ("q_in", "linear", (8, 8, 1)), ("conv1", "conv", (8, 8, 4)),
        ("conv1_act", "relu", (8, 8, 4)), ("dw2", "conv", (6, 6, 8)), ("relu2", "relu", (6, 6, 8)),
        ("avg", "avg_pool", (3, 3, 8)), ("avg_act", "linear", (3, 3, 8)), ("pad", "zero_pad", (5, 5, 8)),
        ("sep3_depthwise", "conv", (3, 3, 8)), ("sep3_pointwise", "conv", (3, 3, 8)), ("sep3_act", "relu", (3, 3, 8)),
        ("max", "max_pool", (2, 2, 8)), ("flat", "flatten", (32,)), ("out", "dense", (10,)),
        ("q_out", "linear", (10,))]
    q = {n.name: n.attrs.get("qtypes", {}) for n in g}
    assert q["x"]["result"] == "ap_ufixed<6,0,AP_RND_CONV,AP_SAT>"
    assert q["conv1"]["weight"] == "ap_fixed<6,1>" and q["conv1_act"]["result"] == "ap_ufixed<6,2,AP_RND_CONV,AP_SAT>"
    assert q["dw2"]["weight"] == "ap_fixed<5,1>" and g["dw2"].attrs["groups"] == 4  # depth multiplier 2
    assert q["conv1"]["result"] == "ap_fixed<15,4>"  # exact: the sums QKeras computes in float32
    assert q["avg"] == {"accum": "ap_ufixed<10,4>", "result": "ap_ufixed<8,2>"}  # the exact mean of 2x2
    assert q["avg_act"]["result"] == "ap_fixed<8,3,AP_RND_CONV,AP_SAT>"  # QAveragePooling2D's activation
    assert q["pad"]["result"] == q["avg_act"]["result"]
    assert q["sep3_depthwise"]["bias"] == "ap_fixed<2,2>"  # zeros: the bias is the pointwise one's
    assert q["sep3_pointwise"]["result"] == "ap_fixed<24,9>"
    assert q["max"]["result"] == q["sep3_act"]["result"]
    g1 = nnfpga.graph_from_keras_model(str(CONV1D))
    assert [(n.name, n.shape) for n in g1 if n.op in ("conv", "avg_pool")] == [
        ("c1", (8, 8)), ("sep2_depthwise", (8, 16)), ("sep2_pointwise", (8, 8)), ("c2", (3, 12)), ("avg", (1, 12))]
    assert set(np.unique(g1["c2"].weights["kernel"])) == {-1.0, 0.0, 1.0}  # ternary
    g2 = nnfpga.graph_from_keras_model(str(GAP))
    assert (g2["gap"].op, g2["gap"].shape, g2["gap"].attrs["global"]) == ("avg_pool", (16,), True)
    assert g2["gap"].attrs["qtypes"]["result"] == "ap_ufixed<10,2>"  # the exact mean of 4x4: 4 more bits


def test_the_fixture_exercises_the_mean_and_the_sums(data: dict[str, np.ndarray]) -> None:
    """A mean cut by one bit, or separable sums rounded before the activation, change outputs: the fixture's
    inputs really test the exact types."""
    x, want = data["x"].reshape(-1, 8, 8, 1), data["cnn"]
    for layer, precision in (("avg", {"result": "ap_ufixed<7,2>"}), ("sep3_pointwise", {"result": "ap_fixed<16,6>"})):
        cfg = {"Model": {"Precision": "ap_fixed<16,6>"}, "LayerName": {layer: {"Precision": precision}}}
        with pytest.warns(UserWarning, match="the firmware's outputs then differ from the trained model's"):
            hw = nnfpga.convert_from_keras_model(str(CNN), hls_config=cfg)
        assert mismatches(predict_quantized(hw, x), want) > 0, layer


@pytest.mark.tools
@pytest.mark.slow
@pytest.mark.parametrize(("key", "io_type"), [("cnn", "io_parallel"), ("cnn", "io_stream"), ("conv1d", "io_parallel"),
                                              ("gap", "io_parallel")])
def test_csim_equals_qkeras(data: dict[str, np.ndarray], tmp_path: Path, key: str, io_type: str) -> None:
    """HLS C simulation with g++: equal to the emulator and to QKeras on every input (1.5 to 4.5 s each)."""
    gxx()
    x, want = data["x"].reshape(-1, *SHAPES[key]), data[key]
    hw = nnfpga.convert_from_keras_model(str(DATA / f"qkeras_{key}.h5"), output_dir=tmp_path / "prj", io_type=io_type)
    hw.compile()
    got = predict_quantized(hw, x, engine="csim")
    assert mismatches(got, predict_quantized(hw, x)) == 0 and mismatches(got, want) == 0


# -- what is refused ------------------------------------------------------------------------------------


def test_inexact_conv_layers_are_listed_in_one_error(tmp_path: Path) -> None:
    def edit(layers: dict[str, Any]) -> None:
        layers["conv1"]["kernel_quantizer"]["config"]["alpha"] = "auto"
        layers["dw2"]["depthwise_quantizer"]["config"]["alpha"] = 0.75
        layers["avg"]["average_quantizer"]["config"].update(bits=2, integer=0)  # 1/4 rounds to 0
        layers["sep3"]["pointwise_quantizer"] = "quantized_po2(4)"

    with pytest.raises(UnsupportedLayerError) as info:
        graph_from_qkeras(edited_h5(tmp_path, CNN, edit))
    msg = str(info.value)
    assert msg.startswith("4 unsupported QKeras layer(s):\n")
    assert "'conv1' (QConv2D: quantized_bits alpha='auto': the scale is computed from the weights at run time" in msg
    assert "'dw2' (QDepthwiseConv2D: quantized_bits alpha=0.75 is not a power of two" in msg
    assert "'avg' (QAveragePooling2D: average_quantizer rounds 1/4 to 0.0, so QKeras outputs the mean times 0.0" in msg
    assert "'sep3' (QSeparableConv2D: quantized_po2 weights)" in msg
    assert ("QConv1D, QConv2D, QDepthwiseConv2D, QSeparableConv1D, QSeparableConv2D, QAveragePooling2D, "
            "QGlobalAveragePooling2D") in msg


def test_a_mean_of_three_is_refused(tmp_path: Path) -> None:
    """Keras's float32 mean of 3 values is rounded: not a fixed-point value, so the layer is refused."""
    path = edited_h5(tmp_path, CONV1D, lambda layers: layers["avg"].update(pool_size=[3], strides=[3]))
    with pytest.raises(UnsupportedLayerError, match=r"'avg' \(AveragePooling1D: windows average \[3\] positions"):
        graph_from_qkeras(path)


@pytest.mark.filterwarnings("ignore:QKeras model without an input quantizer")
def test_without_an_input_quantizer_the_conv_sums_stay_exact(data: dict[str, np.ndarray], tmp_path: Path) -> None:
    """No quantizer before the first QConv2D: QKeras convolves the float input and its activation rounds the float
    sum, so the default config keeps that sum exact. Fed the values the removed quantizer made, the edited model
    must give QKeras's stored outputs."""
    path = edited_h5(tmp_path, CNN, lambda layers: layers["q_in"].update(activation="linear"))
    hw = nnfpga.convert_from_keras_model(str(path))
    assert hw.graph["conv1"].attrs.get("exact_result") and "result" not in hw.graph["conv1"].attrs["qtypes"]
    assert hw.graph["conv1"].types["result"] == hw.graph["conv1"].types["accum"]
    x = data["x"].reshape(-1, 8, 8, 1)
    x_q = np.clip(np.round(x * 64), 0, 63) / 64  # quantized_bits(6, 0, keep_negative=False); half to even as tf
    assert mismatches(predict_quantized(hw, x_q), data["cnn"]) == 0
    cfg = nnfpga.config_from_keras_model(str(path), granularity="name")
    assert cfg["LayerName"]["conv1"]["Precision"]["result"] == "auto"
    cfg["LayerName"]["conv1"]["Precision"]["result"] = "ap_fixed<16,6>"  # the model default: rounds the sums
    cut = nnfpga.convert_from_keras_model(str(path), hls_config=cfg)
    assert mismatches(predict_quantized(cut, x_q), data["cnn"]) > 0


def test_a_file_that_names_no_module_is_still_read_as_qkeras(data: dict[str, np.ndarray], tmp_path: Path) -> None:
    """Keras before 2.13 saved no ``"module"`` keys: the QKeras layer classes alone route the file."""
    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "module"}
        return [strip(v) for v in node] if isinstance(node, list) else node

    path = tmp_path / "old_gap.h5"
    shutil.copy(GAP, path)
    with h5py.File(path, "r+") as f:
        text = json.dumps(strip(json.loads(f.attrs["model_config"])))
        assert '"qkeras.' not in text
        f.attrs["model_config"] = text
    x = data["x"].reshape(-1, *SHAPES["gap"])[:500]
    got = predict_quantized(nnfpga.convert_from_keras_model(str(path)), x)
    assert mismatches(got, data["gap"][:500]) == 0
