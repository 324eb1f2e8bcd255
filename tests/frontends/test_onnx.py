"""ONNX/QONNX frontend: torch.onnx exports against Keras and onnxruntime, errors, and QONNX quantizers bit-exact
with QONNX's own execution (qonnx.core.onnx_exec) in the emulator and the HLS C simulation."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnfpga
from frontend_models import QDOMAIN, Q, export_onnx, onnx_model, qonnx_mlp, view_net
from graphs import randomize_torch_batchnorm
from nnfpga.errors import ModelLoadError, UnsupportedLayerError
from nnfpga.frontends.onnx import graph_from_onnx
from tooling import gxx, require

N_EXACT = 10_000


def need(module: str, what: str) -> Any:
    require(importlib.util.find_spec(module), what, "pip install -e '.[onnx,keras]'")
    return importlib.import_module(module)


@pytest.fixture(scope="module")
def onnx() -> Any:
    return need("onnx", "onnx")


@pytest.fixture(scope="module")
def torch() -> Any:
    return need("torch", "torch")


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    need("sklearn", "scikit-learn")
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    return x[:1400], y[:1400], x[1400:], y[1400:]


def ort_run(path: Path, x: np.ndarray) -> np.ndarray:
    ort = need("onnxruntime", "onnxruntime")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0].astype(np.float64)


def qonnx_run(model: Any, x: np.ndarray) -> np.ndarray:
    """QONNX's own execution (its Quant/BipolarQuant reference kernels, onnxruntime for the rest), whole batch."""
    onnx = need("onnx", "onnx")
    need("qonnx", "qonnx")
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    m = onnx.ModelProto()
    m.CopyFrom(onnx.load(str(model)) if isinstance(model, (str, Path)) else model)
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_value = len(x)
    m.graph.output[0].type.tensor_type.ClearField("shape")  # inferred below from the input
    del m.graph.value_info[:]
    mw = ModelWrapper(m).transform(InferShapes())
    return execute_onnx(mw, {m.graph.input[0].name: x.astype(np.float32)})[m.graph.output[0].name].astype(np.float64)


def typed(hw: nnfpga.HWModel) -> list[tuple[str, dict[str, str]]]:
    return [(n.op, {k: str(v) for k, v in sorted(n.types.items())}) for n in hw.graph]


def train_torch(torch: Any, model: Any, x: np.ndarray, y: np.ndarray, epochs: int = 150, lr: float = 0.01) -> None:
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    model.train()
    for _ in range(epochs):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    model.eval()


# -- float models ----------------------------------------------------------------------------------------------
def test_torch_mlp_same_as_keras(tmp_path: Path, torch: Any, keras: Any, digits: Any) -> None:
    """torch.onnx.export of an MLP trained on digits == the Keras model with the same weights: same typed graph,
    same emulated outputs; onnxruntime is the float reference."""
    x_tr, y_tr, x_te, y_te = digits
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 10))
    train_torch(torch, net, x_tr, y_tr)
    full = nn.Sequential(*net, nn.Softmax(dim=-1)).eval()
    path = tmp_path / "mlp.onnx"
    torch.onnx.export(full, torch.zeros(1, 64), str(path), dynamo=False, input_names=["x"],
                      dynamic_axes={"x": {0: "n"}})
    L = keras.layers
    km = keras.Sequential([keras.Input((64,)), L.Dense(32, activation="relu"), L.Dense(16, activation="relu"),
                           L.Dense(10), L.Softmax()])
    for layer, lin in zip([la for la in km.layers if la.weights], [net[0], net[2], net[4]], strict=True):
        layer.set_weights([lin.weight.detach().numpy().T, lin.bias.detach().numpy()])

    cfg_o = nnfpga.config_from_onnx_model(str(path), granularity="name", calibration_data=x_tr)
    cfg_k = nnfpga.config_from_keras_model(km, granularity="name", calibration_data=x_tr)
    assert [e.get("Precision") for e in cfg_o["LayerName"].values()] == \
           [e.get("Precision") for e in cfg_k["LayerName"].values()]
    hw_o = nnfpga.convert_from_onnx_model(str(path), hls_config=cfg_o, output_dir=tmp_path / "o")
    hw_k = nnfpga.convert_from_keras_model(km, hls_config=cfg_k, output_dir=tmp_path / "k")
    assert typed(hw_o) == typed(hw_k)
    assert [n.op for n in hw_o.graph] == ["input", "dense", "relu", "dense", "relu", "dense", "softmax"]
    y_o, y_k = hw_o.predict(x_te), hw_k.predict(x_te)
    np.testing.assert_array_equal(y_o, y_k)
    ref = ort_run(path, x_te)
    np.testing.assert_allclose(hw_o.predict_float(x_te), ref, rtol=1e-5, atol=1e-6)
    acc_float = float(np.mean(ref.argmax(1) == y_te))
    acc_fixed = float(np.mean(y_o.argmax(1) == y_te))
    print(f"\ndigits MLP: float (onnxruntime) accuracy {acc_float:.4f}, emulated {acc_fixed:.4f}, "
          f"difference {acc_fixed - acc_float:+.4f}, argmax agreement {np.mean(ref.argmax(1) == y_o.argmax(1)):.4f}")
    assert acc_float > 0.9 and abs(acc_fixed - acc_float) <= 0.01


@pytest.mark.parametrize("dynamo", [False, True])
def test_batchnorm_flatten_reshape(tmp_path: Path, torch: Any, dynamo: bool) -> None:
    if dynamo:
        need("onnxscript", "onnxscript (the dynamo exporter)")
    path = export_onnx(view_net(), tmp_path / "view.onnx", torch.zeros(4, 3, 4), dynamo)
    hw = nnfpga.convert_from_onnx_model(str(path), output_dir=tmp_path / "prj")
    ops = [n.op for n in hw.graph]
    assert ops[:3] == ["input", "flatten", "dense"] and "scale_shift" not in ops  # batch-norm folded into fc1
    assert ops[-2:] == ["dense", "sigmoid"] and "hard_tanh" in ops and "leaky_relu" in ops
    x = np.random.default_rng(0).normal(size=(300, 3, 4))
    ref = ort_run(path, x)
    np.testing.assert_allclose(hw.predict_float(x), ref, rtol=1e-5, atol=1e-6)
    assert np.max(np.abs(hw.predict(x) - ref)) < 0.01
    unfolded = graph_from_onnx(str(path))  # before the passes: the batch-norm is there
    assert "scale_shift" in [n.op for n in unfolded] or dynamo  # the dynamo exporter may fold it itself


# -- errors ----------------------------------------------------------------------------------------------------
def test_unsupported_nodes_listed_at_once(onnx: Any) -> None:
    h = onnx.helper
    nodes = [h.make_node("Gemm", ["x", "w"], ["a"], name="fc"),
             h.make_node("Softplus", ["a"], ["b"], name="soft"),
             h.make_node("Sum", ["b", "a", "lo"], ["c"], name="skip"),
             h.make_node("Relu", ["c"], ["d"], name="act"),
             h.make_node("Clip", ["d", "lo", "hi"], ["e"], name="clip"),
             h.make_node("MyOp", ["e"], ["f"], name="custom", domain="my.domain"),
             h.make_node("Hardmax", ["w2"], ["w2h"], name="hardmax"),  # on a constant: what reads it is skipped
             h.make_node("Gemm", ["f", "w2h"], ["g"], name="fc2"),
             h.make_node("Softmax", ["g"], ["y"], name="")]
    model = onnx_model(onnx, nodes, {"w": np.ones((4, 3)), "w2": np.ones((3, 2)), "lo": np.float32(-2),
                                 "hi": np.float32(3)})
    with pytest.raises(UnsupportedLayerError) as err:
        graph_from_onnx(model)
    assert str(err.value).splitlines()[:6] == [
        "5 unsupported ONNX layer(s):",
        "  - 'soft' (Softplus)",
        "  - 'skip' (Sum with 2 non-constant inputs and constants)",
        "  - 'clip' (Clip: Clip(-2.0, 3.0): expected Clip(0, max) (ReLU) or Clip(-1, 1) (HardTanh))",
        "  - 'custom' (MyOp from domain 'my.domain')",
        "  - 'hardmax' (Hardmax)",
    ]
    assert str(err.value).splitlines()[6] == (
        "Remove or replace them; supported ONNX layers: Gemm, MatMul, Add, Sub, Mul, Div, BatchNormalization, Relu, "
        "LeakyRelu, Elu, Sigmoid, Tanh, HardSigmoid, Clip, Softmax, Flatten, Reshape, Identity, Dropout, Cast, "
        "Constant, Shape, Max, Min, Sum, Mean, Concat, Squeeze, Unsqueeze, Quant, IntQuant, BipolarQuant, Trunc, "
        "Conv, MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, Pad, Resize, Upsample, Transpose, Gather, "
        "Slice, LSTM, GRU, RNN.")


def test_corrupt_and_missing_files(tmp_path: Path, onnx: Any) -> None:
    h = onnx.helper
    model = onnx_model(onnx, [h.make_node("Gemm", ["x", "w"], ["y"], name="fc")], {"w": np.ones((4, 300))})
    good = tmp_path / "good.onnx"
    onnx.save(model, str(good))
    data = good.read_bytes()
    bad = tmp_path / "truncated.onnx"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match=r"^cannot read '.*truncated\.onnx' as an ONNX model \(DecodeError: .*\); "
                                             r"is it truncated or of another format\?$"):
        nnfpga.graph_from_onnx_model(str(bad))
    text = tmp_path / "notes.onnx"
    text.write_text("not a model")
    with pytest.raises(ModelLoadError, match=r"^cannot read '.*notes\.onnx' as an ONNX model"):
        graph_from_onnx(text)
    with pytest.raises(ModelLoadError, match=r"^model file '.*missing\.onnx' does not exist$"):
        graph_from_onnx(tmp_path / "missing.onnx")
    assert [n.op for n in graph_from_onnx(good)] == ["input", "dense"]


# -- QONNX -----------------------------------------------------------------------------------------------------
def qonnx_binary(onnx: Any) -> Any:
    """Binary network: bipolar weights (BipolarQuant and 1-bit signed Quant), a bipolar activation, and an
    8-bit output."""
    rng = np.random.default_rng(5)
    q = Q(onnx)
    q.quant("x", "xq", np.float32(2**-3), 6)
    q.inits["w1"] = rng.normal(size=(10, 16))
    q.bipolar("w1", "w1q", 0.25)
    q.inits["bias1"] = rng.integers(-4, 4, 16) / 8
    q.node("MatMul", ["xq", "w1q"], "h")
    q.node("Add", ["h", "bias1"], "hb")
    q.bipolar("hb", "s", 1.0)
    q.inits["w2"] = rng.normal(size=(16, 5))
    q.quant("w2", "w2q", np.float32(0.5), 1)
    q.node("MatMul", ["s", "w2q"], "o")
    q.quant("o", "y", np.float32(2**-2), 8)
    return q.model(10, "y")


def exact_inputs(n_in: int, n: int = N_EXACT) -> np.ndarray:
    """Gaussian inputs plus values on and around the quantizer's ties and edges (float32-representable)."""
    rng = np.random.default_rng(7)
    x = rng.normal(0, 3, (n, n_in))
    x[: n // 4] = rng.integers(-160, 160, (n // 4, n_in)) / 32  # on the 2**-5 grid: ties of a 2**-4 quantizer
    x[n // 4 : n // 4 + 50] = 0.0
    return x.astype(np.float32).astype(np.float64)


def assert_exact(hw: nnfpga.HWModel, model: Any, x: np.ndarray, csim: bool = True) -> None:
    want = qonnx_run(model, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)  # the quantizers saturate: that is their job
        got = hw.predict(x)
    bad = int(np.sum(got != want))
    print(f"\n{hw.graph.name}: emulator vs QONNX: {bad} mismatches of {got.size} outputs ({len(x)} samples)")
    assert bad == 0
    if csim:
        gxx()
        hw.compile()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", nnfpga.OverflowWarning)
            y_c = hw.predict(x, engine="csim")
        print(f"csim vs QONNX: {int(np.sum(y_c != want))} mismatches")
        np.testing.assert_array_equal(y_c, want)


def test_qonnx_mlp_types(onnx: Any) -> None:
    g = nnfpga.graph_from_onnx_model(qonnx_mlp(onnx))
    assert [(n.op, n.attrs.get("qtypes")) for n in g] == [
        ("input", {"result": "ap_fixed<8,4,AP_RND_CONV,AP_SAT>"}),
        ("dense", {"weight": "ap_fixed<6,2>", "bias": "ap_fixed<8,2>",
                   "result": "ap_fixed<7,4,AP_RND_INF,AP_SAT>"}),
        ("relu", {"result": "ap_ufixed<6,3,AP_RND_INF,AP_SAT>"}),
        ("dense", {"weight": "ap_fixed<2,1>", "bias": "ap_fixed<8,3>", "result": "ap_fixed<7,5,AP_TRN,AP_SAT_SYM>"}),
    ]


@pytest.mark.slow
@pytest.mark.tools
def test_qonnx_mlp_bit_exact(tmp_path: Path, onnx: Any) -> None:
    model = qonnx_mlp(onnx)
    hw = nnfpga.convert_from_onnx_model(model, output_dir=tmp_path / "prj")
    assert_exact(hw, model, exact_inputs(16))


@pytest.mark.slow
@pytest.mark.tools
def test_qonnx_binary_bit_exact(tmp_path: Path, onnx: Any) -> None:
    model = qonnx_binary(onnx)
    hw = nnfpga.convert_from_onnx_model(model, output_dir=tmp_path / "prj")
    assert [n.op for n in hw.graph] == ["input", "dense", "hard_sigmoid", "scale_shift", "dense"]
    pm = next(n for n in hw.graph if n.op == "scale_shift")
    assert str(pm.types["result"]) == "ap_fixed<2,2>"  # exactly +-1
    x = exact_inputs(10)
    assert_exact(hw, model, x)


@pytest.mark.parametrize("mode", ["ROUND", "HALF_EVEN", "FLOOR", "DOWN", "HALF_UP", "HALF_DOWN"])
@pytest.mark.parametrize("signed,narrow", [(1, 0), (1, 1), (0, 0)])
def test_quant_rounding_modes(onnx: Any, mode: str, signed: int, narrow: int) -> None:
    """One activation quantizer per mode: ties, saturation and narrow range as QONNX's reference computes them."""
    q = Q(onnx)
    q.quant("x", "y", np.float32(2**-2), 4, signed=signed, narrow=narrow, mode=mode)
    model = q.model(3, "y")
    x = (np.arange(-3 * 120, 3 * 120) / 16).reshape(-1, 3)  # every 1/16 step in [-22.5, 22.5): ties included
    hw = nnfpga.convert_from_onnx_model(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)  # saturation is the point here
        np.testing.assert_array_equal(hw.predict(x), qonnx_run(model, x))


@pytest.mark.parametrize("mode", ["FLOOR", "ROUND"])
def test_trunc(onnx: Any, mode: str) -> None:
    """Trunc (QONNX opset 2) after a Dense: round half to even onto the input grid, then cast to the output."""
    q = Q(onnx)
    q.quant("x", "xq", np.float32(2**-3), 8)
    q.inits["w"] = np.random.default_rng(2).integers(-8, 8, (3, 4)) / 8
    q.node("MatMul", ["xq", "w"], "h")
    q.inits.update(ts=np.float32(2**-6), tz=np.float32(0), tb=np.float32(12), tos=np.float32(2**-2),
                   tob=np.float32(6))
    q.nodes.append(onnx.helper.make_node("Trunc", ["h", "ts", "tz", "tb", "tos", "tob"], ["y"], domain=QDOMAIN,
                                         name="trunc", rounding_mode=mode, signed=1, narrow=0))
    model = q.model(3, "y", qonnx_opset=2)
    hw = nnfpga.convert_from_onnx_model(model)
    assert [str(n.types["result"]) for n in hw.graph][-2:] == [
        "ap_fixed<12,6,AP_RND_CONV,AP_SAT>", f"ap_fixed<6,4,AP_{'TRN' if mode == 'FLOOR' else 'RND_CONV'},AP_SAT>"]
    x = exact_inputs(3, 2000) * 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        np.testing.assert_array_equal(hw.predict(x), qonnx_run(model, x))


def test_inexact_quantizers_rejected_at_once(onnx: Any) -> None:
    q = Q(onnx)
    q.quant("x", "a", np.float32(0.1), 8)
    q.quant("a", "b", np.float32(0.25), 8, mode="CEIL")
    q.quant("b", "c", np.float32(0.25), 8, zeropt=3.0)
    q.quant("c", "d", np.float32(0.25), 8, signed=0, narrow=1)
    q.quant("d", "y", np.array([[0.25, 0.5, 0.5]], np.float32), 8)
    with pytest.raises(UnsupportedLayerError) as err:
        graph_from_onnx(q.model(3, "y"))
    assert str(err.value).splitlines()[:6] == [
        "5 unsupported ONNX layer(s):",
        "  - 'q_a' (Quant: scale 0.10000000149011612 is not a power of two; only power-of-two scales map to exact "
        "fixed-point types (e.g. Brevitas *PerTensorFixedPoint / *FixedPoint quantizers))",
        "  - 'q_b' (Quant: rounding_mode 'CEIL' has no ap_fixed equivalent; expected one of ROUND, HALF_EVEN, FLOOR, "
        "DOWN, HALF_UP, HALF_DOWN)",
        "  - 'q_c' (Quant: zero point 3.0: expected 0 (asymmetric quantization has no ap_fixed form))",
        "  - 'q_d' (Quant: unsigned narrow range [0, 254] has no ap_fixed form; expected narrow=0 for unsigned "
        "quantizers)",
        "  - 'q_y' (Quant: per-channel scales 2**[-2, -1, -1] on an activation: expected one scale (one fixed-point "
        "type per tensor))",
    ]


@pytest.mark.slow
@pytest.mark.tools
def test_brevitas_qat_digits_bit_exact(tmp_path: Path, torch: Any, digits: Any) -> None:
    """A Brevitas QAT MLP trained briefly on digits, exported to QONNX: emulator and csim == QONNX execution."""
    need("brevitas", "brevitas")
    need("onnxoptimizer", "onnxoptimizer (Brevitas' QONNX export needs it)")
    import brevitas.nn as qnn
    from brevitas.export import export_qonnx
    from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Uint8ActPerTensorFixedPoint

    x_tr, y_tr, x_te, y_te = digits
    torch.manual_seed(0)
    w = {"weight_quant": Int8WeightPerTensorFixedPoint, "weight_bit_width": 4}
    net = torch.nn.Sequential(
        qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, bit_width=8, return_quant_tensor=True),
        qnn.QuantLinear(64, 32, bias=True, **w),
        qnn.QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=5, return_quant_tensor=True),
        qnn.QuantLinear(32, 10, bias=True, **w),
        qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, bit_width=8),
    )
    train_torch(torch, net, x_tr, y_tr, epochs=60)
    with torch.no_grad():  # float biases on a 2**-8 grid keep QONNX's float32 sums exact (see the module notes)
        for layer in (net[1], net[3]):
            layer.bias.copy_(torch.round(layer.bias * 256) / 256)
    rng = np.random.default_rng(11)
    x = np.concatenate([x_te, rng.uniform(0, 1, (N_EXACT - len(x_te), 64))]).astype(np.float32).astype(np.float64)
    path = tmp_path / "brevitas.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(net, torch.zeros(1, 64), export_path=str(path))
    hw = nnfpga.convert_from_onnx_model(str(path), output_dir=tmp_path / "prj")
    print(hw.summary())
    assert all(n.attrs.get("qtypes") for n in hw.graph)  # every layer carries the trained types
    assert_exact(hw, path, x)
    with torch.no_grad():
        y_torch = net(torch.tensor(x, dtype=torch.float32)).numpy().astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)  # inputs of 1.0 saturate the 8-bit input quantizer
        y = hw.predict(x)
    n = len(x_te)
    print(f"Brevitas torch vs emulator: {int(np.sum(y_torch != y))} mismatches; digits accuracy: torch "
          f"{np.mean(y_torch[:n].argmax(1) == y_te):.4f}, emulated {np.mean(y[:n].argmax(1) == y_te):.4f}")
    np.testing.assert_array_equal(y, y_torch)


# -- merges (several inputs) ---------------------------------------------------------------------------------

def test_merges_from_onnx(onnx: Any) -> None:
    """Add, Sub, Mul, Max, Min, Sum, Mean and Concat of non-constant tensors become merge nodes."""
    h = onnx.helper
    rng = np.random.default_rng(0)
    nodes = [h.make_node("Gemm", ["x", "w1"], ["a"], name="fc1"), h.make_node("Gemm", ["x", "w2"], ["b"], name="fc2"),
             h.make_node("Add", ["a", "x"], ["s"], name="skip"), h.make_node("Sub", ["a", "b"], ["d"], name="sub"),
             h.make_node("Mul", ["s", "d"], ["p"], name="mul"), h.make_node("Max", ["a", "b", "x"], ["mx"], name="max"),
             h.make_node("Min", ["a", "b"], ["mn"], name="min"),
             h.make_node("Sum", ["a", "b", "x"], ["sm"], name="sum"),
             h.make_node("Mean", ["a", "b"], ["mean"], name="mean"),
             h.make_node("Concat", ["p", "mx", "mn", "sm", "mean"], ["cat"], name="cat", axis=1),
             h.make_node("Gemm", ["cat", "w3"], ["y"], name="out")]
    model = onnx_model(onnx, nodes, {"w1": rng.normal(size=(4, 4)), "w2": rng.normal(size=(4, 4)),
                                 "w3": rng.normal(size=(20, 2))})
    g = graph_from_onnx(model)
    assert [(n.op, len(n.inputs)) for n in g if len(n.inputs) > 1] == [
        ("add", 2), ("subtract", 2), ("multiply", 2), ("maximum", 3), ("minimum", 2), ("add", 3), ("average", 2),
        ("concatenate", 5)]
    x = rng.uniform(-2, 2, (300, 4))
    a, b = x @ model_init(model, "w1"), x @ model_init(model, "w2")
    cat = np.concatenate([(a + x) * (a - b), np.maximum(np.maximum(a, b), x), np.minimum(a, b), a + b + x,
                          (a + b) / 2], axis=1)
    hw = nnfpga.convert_from_onnx_model(model, output_dir="unused")
    np.testing.assert_allclose(hw.predict_float(x), cat @ model_init(model, "w3"), rtol=1e-5, atol=1e-5)


def model_init(model: Any, name: str) -> np.ndarray:
    import onnx.numpy_helper as nh

    return next(nh.to_array(t).astype(np.float64) for t in model.graph.initializer if t.name == name)


def test_merges_onnx_cannot_map(onnx: Any) -> None:
    h = onnx.helper
    nodes = [h.make_node("Gemm", ["x", "w"], ["a"], name="fc"), h.make_node("Gemm", ["x", "w5"], ["b"], name="fc5"),
             h.make_node("Concat", ["a", "x"], ["c"], name="cat0", axis=0),
             h.make_node("Add", ["a", "b"], ["d"], name="add_shapes"),
             h.make_node("Mean", ["a", "x", "x"], ["y"], name="mean3")]
    model = onnx_model(onnx, nodes, {"w": np.ones((4, 4)), "w5": np.ones((4, 5))})
    with pytest.raises(UnsupportedLayerError) as err:
        graph_from_onnx(model)
    kinds = dict(err.value.layers)
    assert kinds["cat0"] == "Concat over axis 0, the batch axis"
    assert kinds["add_shapes"] == "Add 'add_shapes': add needs inputs of one shape, got (4,), (5,) (broadcasting " \
                                  "merges are not supported: reshape the inputs first)"


def test_channels_first_batchnorm(tmp_path: Path, torch: Any) -> None:
    """BatchNormalization over the channels of (N, C, L): a transpose to channels-last, the per-channel op, and
    one back; between two batch-norms the pair cancels."""
    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.BatchNorm1d(3), nn.BatchNorm1d(3), nn.Flatten(), nn.Linear(15, 4))
    for bn in model[:2]:
        randomize_torch_batchnorm(bn)
    model.eval()
    path = tmp_path / "cf.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(2, 3, 5), str(path), dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "n"}})
    g = nnfpga.graph_from_onnx_model(str(path))
    assert [n.op for n in g] == ["input", "transpose", "scale_shift", "scale_shift", "transpose", "flatten", "dense"]
    x = np.random.default_rng(0).normal(size=(300, 3, 5))
    hw = nnfpga.convert_from_onnx_model(str(path), output_dir=tmp_path / "prj")
    np.testing.assert_allclose(hw.predict_float(x), ort_run(path, x), rtol=1e-5, atol=1e-5)


def test_constant_first_add_and_sub(onnx: Any) -> None:
    """Add(c, x) is x + c and Sub(c, x) is c - x (a constant as the first operand is not a bias add)."""
    h = onnx.helper
    rng = np.random.default_rng(3)
    w, c, d = rng.normal(size=(4, 4)), rng.normal(size=4), rng.normal(size=4)
    nodes = [h.make_node("MatMul", ["x", "w"], ["a"], name="fc"), h.make_node("Add", ["c", "a"], ["b"], name="add"),
             h.make_node("Relu", ["b"], ["r"], name="relu"), h.make_node("Sub", ["d", "r"], ["y"], name="sub")]
    model = onnx_model(onnx, nodes, {"w": w, "c": c, "d": d})
    x = rng.uniform(-2, 2, (50, 4))
    want = d - np.maximum(x @ model_init(model, "w") + model_init(model, "c"), 0)
    hw = nnfpga.convert_from_onnx_model(model, output_dir="unused")
    np.testing.assert_allclose(hw.predict_float(x), want, rtol=1e-5, atol=1e-5)


def test_shape_only_ops_around_batchnorm(tmp_path: Path, onnx: Any) -> None:
    """Unsqueeze -> BatchNormalization -> Squeeze (and Identity) after a Gemm, as exporters write a BatchNorm1d on
    (N, C, 1): shape-only ops pass through, and the batch-norm still folds into the Gemm."""
    h = onnx.helper
    rng = np.random.default_rng(0)
    nodes = [h.make_node("Gemm", ["x", "w"], ["a"], name="fc"),
             h.make_node("Unsqueeze", ["a", "ax"], ["a3"], name="unsq"),
             h.make_node("Identity", ["a3"], ["a3i"], name="ident"),
             h.make_node("BatchNormalization", ["a3i", "g", "b", "m", "v"], ["n3"], name="bn"),
             h.make_node("Squeeze", ["n3", "ax"], ["n"], name="sq"),
             h.make_node("Relu", ["n"], ["r"], name="relu"),
             h.make_node("Gemm", ["r", "w2"], ["y"], name="out")]
    model = onnx_model(onnx, nodes, {"w": rng.normal(size=(4, 5)), "g": rng.uniform(0.5, 2, 5),
                                     "b": rng.normal(size=5), "m": rng.normal(size=5), "v": rng.uniform(0.5, 2, 5),
                                     "w2": rng.normal(size=(5, 2))})
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.array([2], dtype=np.int64), "ax"))
    path = tmp_path / "sq.onnx"
    onnx.save(model, str(path))
    g = nnfpga.graph_from_onnx_model(str(path))
    assert [n.op for n in g] == ["input", "dense", "reshape", "scale_shift", "reshape", "relu", "dense"]
    x = rng.normal(size=(200, 4))
    hw = nnfpga.convert_from_onnx_model(str(path), output_dir=tmp_path / "prj")
    assert [n.op for n in hw.graph] == ["input", "dense", "relu", "dense"]  # folded, the reshapes gone
    np.testing.assert_allclose(hw.predict_float(x), ort_run(path, x), rtol=1e-5, atol=1e-5)
