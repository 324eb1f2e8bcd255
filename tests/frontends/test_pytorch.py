"""PyTorch frontend (torch.fx): float models against Keras and torch, errors, and Brevitas QAT models bit for bit."""

from __future__ import annotations

import contextlib
import time
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch  # the Keras frontend's backend: installed with the [keras] extra
import torch.nn.functional as F
from torch import nn

import nnfpga
from frontend_models import custom_net, qat_mlp, require_brevitas
from graphs import randomize_batchnorm
from nnfpga.errors import ModelLoadError, ShapeError, UnsupportedLayerError
from nnfpga.frontends.pytorch import graph_from_pytorch
from tooling import gxx

SUPPORTED_HINT = (
    "Remove or replace them; supported PyTorch layers: Linear, ReLU, ReLU6, LeakyReLU, ELU, Sigmoid, Tanh, Softmax, "
    "Hardtanh, Hardsigmoid, BatchNorm1d, Flatten, Dropout, Identity, Sequential, Conv1d, Conv2d, MaxPool1d, "
    "MaxPool2d, AvgPool1d, AvgPool2d, AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool1d, AdaptiveMaxPool2d, "
    "Upsample, ZeroPad1d, ZeroPad2d, BatchNorm2d, LSTM, GRU, RNN, QuantIdentity, QuantReLU, "
    "QuantHardTanh, QuantLinear, QuantConv1d, QuantConv2d, TruncAvgPool2d, TruncAdaptiveAvgPool2d, F.linear, "
    "F.dropout, torch.flatten, Tensor.flatten, Tensor.view, Tensor.reshape, "
    "+, -, *, torch.add, torch.sub, torch.mul, torch.maximum, torch.minimum, torch.cat, F.interpolate, F.pad, "
    "F.max_pool1d/2d, F.avg_pool1d/2d, F.adaptive_avg_pool1d/2d, F.adaptive_max_pool1d/2d; "
    "activations: relu, relu6, leaky_relu, elu, sigmoid, tanh, softmax, hardtanh, hardsigmoid.")


def ops(g: Any) -> list[tuple[str, str]]:
    return [(n.name, n.op) for n in g]


def torch_out(model: nn.Module, x: np.ndarray) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        y = model(torch.tensor(np.asarray(x, dtype=np.float32)))
    return np.asarray((y.value if hasattr(y, "scale") else y).numpy(), dtype=np.float64)


class Fn(nn.Module):
    """Linear(6, 5) followed by a functional call ``f``."""

    def __init__(self, f: Any) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 5)
        self.f = f

    def forward(self, x: Any) -> Any:
        return self.f(self.fc(x))


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Train on one thread: tiny models gain nothing from more, and on a busy machine they lose a lot."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32), y


# -- float models ----------------------------------------------------------------------------------

def test_mlp_equals_keras_mlp(keras: Any) -> None:
    """Same weights: the same graph, the same types (default and calibrated configs), the same emulated output."""
    L = keras.layers
    keras.utils.set_random_seed(4)
    km = keras.Sequential([keras.Input((16,), name="x"), L.Dense(32, name="fc1"), L.BatchNormalization(
        epsilon=1e-5, name="bn"), L.ReLU(name="relu"), L.Dense(16, activation="tanh", name="fc2"), L.Dense(
        5, name="out"), L.LeakyReLU(negative_slope=0.1, name="lrelu"), L.Dense(5, name="logits"), L.Softmax(name="sm")])
    rng = np.random.default_rng(4)
    randomize_batchnorm(km.get_layer("bn"), rng)
    tm = nn.Sequential(OrderedDict(fc1=nn.Linear(16, 32), bn=nn.BatchNorm1d(32), relu=nn.ReLU(), fc2=nn.Linear(16, 16),
                                   tanh=nn.Tanh(), out=nn.Linear(16, 5), lrelu=nn.LeakyReLU(0.1),
                                   logits=nn.Linear(5, 5), sm=nn.Softmax(dim=-1)))
    tm.fc2 = nn.Linear(32, 16)
    with torch.no_grad():
        for name in ("fc1", "fc2", "out", "logits"):
            kernel, bias = km.get_layer(name).get_weights()
            getattr(tm, name).weight.copy_(torch.tensor(kernel.T))
            getattr(tm, name).bias.copy_(torch.tensor(rng.normal(0, 0.3, bias.shape)))
            km.get_layer(name).set_weights([kernel, getattr(tm, name).bias.numpy()])
        gamma, beta, mean, var = km.get_layer("bn").get_weights()
        for p, v in zip((tm.bn.weight, tm.bn.bias, tm.bn.running_mean, tm.bn.running_var), (gamma, beta, mean, var),
                        strict=True):
            p.copy_(torch.tensor(v))
    x = rng.normal(0, 1.5, size=(3000, 16)).astype(np.float32)

    gk, gt = nnfpga.graph_from_keras_model(km), nnfpga.graph_from_pytorch_model(tm, (16,))
    assert [n.op for n in gk] == [n.op for n in gt] == ["input", "dense", "scale_shift", "relu", "dense", "tanh",
                                                        "dense", "leaky_relu", "dense", "softmax"]
    folded = nnfpga.convert_from_pytorch_model(tm, (16,)).graph
    assert "scale_shift" not in [n.op for n in folded]
    assert folded.removed["bn"] == "batch-norm 'bn' was folded into Dense 'fc1'"
    for a, b in zip(gk, gt, strict=True):
        assert a.attrs == b.attrs and a.shape == b.shape and a.weights.keys() == b.weights.keys()
        for k in a.weights:
            np.testing.assert_array_equal(a.weights[k], b.weights[k])

    for kw in ({}, {"granularity": "name", "calibration_data": x[:1000]}):
        ck, ct = nnfpga.config_from_keras_model(km, **kw), nnfpga.config_from_pytorch_model(tm, (16,), **kw)
        assert list(ck.get("LayerName", {}).values()) == list(ct.get("LayerName", {}).values())
        hk = nnfpga.convert_from_keras_model(km, hls_config=ck)
        ht = nnfpga.convert_from_pytorch_model(tm, (16,), hls_config=ct)
        assert [(n.op, n.types) for n in hk.graph] == [(n.op, n.types) for n in ht.graph]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", nnfpga.OverflowWarning)
            assert np.array_equal(hk.predict(x), ht.predict(x))
    np.testing.assert_allclose(ht.predict_float(x), torch_out(tm, x), atol=2e-6)


def test_functional_forward_and_batchnorm() -> None:
    m = custom_net()
    m.train()
    g = nnfpga.graph_from_pytorch_model(m, (2, 3))
    assert m.training  # converted in eval mode, then given back as it was
    assert ops(g) == [("x", "input"), ("view", "reshape"), ("fc1", "dense"), ("relu", "relu"),
                      ("bn", "scale_shift"), ("sigmoid", "sigmoid"), ("head_1", "dense"), ("softmax", "softmax")]
    assert g["head_1"].source == "Linear 'head.1'" and g["relu"].source == "torch.relu 'relu'"
    assert g.removed["head_0"] == "Dropout 'head_0' is an identity at inference and was removed"
    np.testing.assert_array_equal(g["fc1"].weights["kernel"], m.fc1.weight.detach().numpy().T)
    x = np.random.default_rng(1).normal(size=(500, 2, 3))
    hw = nnfpga.convert_from_pytorch_model(m, (2, 3))
    np.testing.assert_allclose(hw.predict_float(x), torch_out(m, x), atol=1e-6)
    assert np.abs(hw.predict(x) - torch_out(m, x)).max() < 0.01

    cfg = nnfpga.config_from_pytorch_model(m, (2, 3), granularity="name")
    assert list(cfg["LayerName"]) == ["x", "view", "fc1", "relu", "bn", "sigmoid", "head_1", "softmax"]
    cfg["LayerName"]["head_1"]["ReuseFactor"] = 4
    assert nnfpga.convert_from_pytorch_model(m, (2, 3), hls_config=cfg).graph["head_1"].attrs["reuse_factor"] == 4


ACTIVATIONS = [
    (nn.ReLU(), "relu", {}), (nn.ReLU6(), "relu", {"max_value": 6.0}),
    (nn.LeakyReLU(0.1), "leaky_relu", {"alpha": 0.1}), (nn.ELU(0.5), "elu", {"alpha": 0.5}),
    (nn.Sigmoid(), "sigmoid", {}), (nn.Tanh(), "tanh", {}), (nn.Hardtanh(), "hard_tanh", {}),
    (nn.Hardtanh(0.0, 2.0), "relu", {"max_value": 2.0}), (nn.Softmax(dim=1), "softmax", {}),
    (nn.Hardsigmoid(), "hard_sigmoid", {"slope": 1 / 6, "offset": 0.5}),
    (lambda h: F.relu(h), "relu", {}), (lambda h: h.relu(), "relu", {}),
    (lambda h: F.relu6(h), "relu", {"max_value": 6.0}), (lambda h: F.leaky_relu(h, 0.2), "leaky_relu", {"alpha": 0.2}),
    (lambda h: F.elu(h, alpha=0.7), "elu", {"alpha": 0.7}), (lambda h: h.sigmoid(), "sigmoid", {}),
    (lambda h: torch.tanh(h), "tanh", {}), (lambda h: F.hardtanh(h), "hard_tanh", {}),
    (lambda h: F.hardsigmoid(h), "hard_sigmoid", {"slope": 1 / 6, "offset": 0.5}),
    (lambda h: torch.softmax(h, -1), "softmax", {}), (lambda h: h.softmax(dim=1), "softmax", {}),
]


@pytest.mark.parametrize(("f", "op", "attrs"), ACTIVATIONS, ids=[f"{i}-{a[1]}" for i, a in enumerate(ACTIVATIONS)])
def test_each_activation(f: Any, op: str, attrs: dict[str, Any]) -> None:
    torch.manual_seed(2)
    m = Fn(f)
    g = nnfpga.graph_from_pytorch_model(m, (6,))
    assert [n.op for n in g] == ["input", "dense", op]
    assert list(g)[-1].attrs == attrs
    x = np.random.default_rng(3).normal(scale=3.0, size=(200, 6))
    np.testing.assert_allclose(nnfpga.convert_from_pytorch_model(m, (6,)).predict_float(x), torch_out(m, x), atol=1e-6)


def test_identity_flatten_reshape_and_custom_linear() -> None:
    class MyLinear(nn.Linear):  # traced through: F.linear with the module's parameters
        def forward(self, x: Any) -> Any:
            return F.linear(x, self.weight, self.bias)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.id, self.flat, self.fc = nn.Identity(), nn.Flatten(), MyLinear(12, 3)

        def forward(self, x: Any) -> Any:
            return self.fc(self.flat(self.id(x)).contiguous()).reshape(-1, 3, 1)

    torch.manual_seed(3)
    m = Net()
    g = nnfpga.graph_from_pytorch_model(m, (3, 4))
    assert ops(g) == [("x", "input"), ("flat", "flatten"), ("linear", "dense"), ("reshape", "reshape")]
    assert g["reshape"].shape == (3, 1)
    x = np.random.default_rng(0).normal(size=(50, 3, 4))
    np.testing.assert_allclose(nnfpga.convert_from_pytorch_model(m, (3, 4)).predict_float(x), torch_out(m, x),
                               atol=1e-6)


def test_digits_mlp_float_vs_emulated_accuracy() -> None:
    x, y = digits()
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.Adam(m.parameters(), lr=0.01)
    xt, yt = torch.tensor(x[:1400]), torch.tensor(y[:1400])
    with one_thread():
        for _ in range(150):
            opt.zero_grad()
            F.cross_entropy(m(xt), yt).backward()
            opt.step()
    test_x, test_y = x[1400:], y[1400:]
    acc_float = float((torch_out(m, test_x).argmax(1) == test_y).mean())
    cfg = nnfpga.config_from_pytorch_model(m, (64,), granularity="name", calibration_data=x[:1400])
    hw = nnfpga.convert_from_pytorch_model(m, (64,), hls_config=cfg)
    acc_fixed = float((hw.predict(test_x).argmax(1) == test_y).mean())
    agree = float((hw.predict(test_x).argmax(1) == torch_out(m, test_x).argmax(1)).mean())
    print(f"\ndigits float MLP: float accuracy {acc_float:.4f}, emulated {acc_fixed:.4f} "
          f"(difference {acc_fixed - acc_float:+.4f}), argmax agreement {agree:.4f} on {len(test_y)} test digits")
    assert acc_float > 0.9 and abs(acc_fixed - acc_float) <= 0.01


# -- errors ----------------------------------------------------------------------------------------

def test_unsupported_ops_listed_at_once() -> None:
    class Bad(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.fc, self.act = nn.Conv1d(1, 2, 3, padding_mode="circular"), nn.Linear(8, 3), \
                nn.GELU()

        def forward(self, x: Any) -> Any:
            h = torch.cumsum(self.conv(x), dim=-1).flatten(1)
            return self.act(self.fc(h)) + 1.0

    with pytest.raises(UnsupportedLayerError) as info:
        graph_from_pytorch(Bad(), (1, 6))
    conv = "Conv1d(padding_mode='circular'); nnfpga pads convolutions with zeros only"
    assert info.value.layers == [("conv", conv), ("cumsum", "torch.cumsum"), ("act", "GELU"),
                                 ("add", "operator.add")]
    assert str(info.value) == ("4 unsupported PyTorch layer(s):\n  - 'conv' (" + conv + ")\n"
                               "  - 'cumsum' (torch.cumsum)\n  - 'act' (GELU)\n  - 'add' (operator.add)\n"
                               + SUPPORTED_HINT)
    assert isinstance(info.value, nnfpga.NnfpgaError)


def test_unsupported_configurations() -> None:
    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc3d = nn.Linear(3, 3)
            self.bn = nn.BatchNorm1d(6, track_running_stats=False)
            self.ht = nn.Hardtanh(-2.0, 2.0)
            self.sm = nn.Softmax(dim=0)

        def forward(self, x: Any) -> Any:
            h = torch.flatten(self.fc3d(x), 1)
            h = self.sm(self.ht(self.bn(h)))
            return torch.flatten(h) * 1

    with pytest.raises(UnsupportedLayerError) as info:
        graph_from_pytorch(Odd(), (2, 3))
    assert info.value.layers == [
        ("fc3d", "Linear on per-sample shape (2, 3); nnfpga supports Linear on flat vectors: flatten first"),
        ("bn", "BatchNorm1d without running statistics (track_running_stats=False) normalizes each batch with its "
               "own statistics"),
        ("ht", "Hardtanh(min_val=-2, max_val=2); supported: (-1, 1) and (0, max)"),
        ("sm", "Softmax over dim 0 of a 2-d tensor; nnfpga supports softmax over the last dimension"),
        ("flatten_1", "torch.flatten changes the batch dimension (output shape (18,) for a batch of 3)"),
        ("mul", "operator.mul changes the batch dimension (output shape (18,) for a batch of 3)"),
    ]


def test_trace_and_input_errors() -> None:
    class Branchy(nn.Module):
        def forward(self, x: Any) -> Any:
            return x if x.sum() > 0 else -x

    with pytest.raises(ModelLoadError, match=r"^cannot trace Branchy with torch.fx: TraceError: symbolically traced "
                       r"variables cannot be used as inputs to control flow. nnfpga reads forward\(\) symbolically"):
        graph_from_pytorch(Branchy(), (4,))
    with pytest.raises(ModelLoadError, match=r"^running Sequential on a zero batch of shape \(3, 5\) failed at '0' "
                       r"\(Linear\): RuntimeError: mat1 and mat2 shapes cannot be multiplied \(3x5 and 4x2\); is "
                       r"input_shape=\(5,\) the per-sample input shape \(without the batch dimension\)\?$"):
        graph_from_pytorch(nn.Sequential(nn.Linear(4, 2)), (5,))
    with pytest.raises(ShapeError, match=r"input_shape must be the per-sample shape as a tuple of positive integers"):
        graph_from_pytorch(nn.Sequential(nn.Linear(4, 2)), (None, 4))
    with pytest.raises(ModelLoadError, match=r"^expected a torch.nn.Module \(or the path of a saved one\), got int"):
        graph_from_pytorch(42, (4,))

    class TwoOut(nn.Module):
        def forward(self, x: Any) -> Any:
            return torch.relu(x), torch.sigmoid(x)

    with pytest.raises(ShapeError, match=r"^TwoOut.forward returns 2 values .*nnfpga supports one output tensor"):
        graph_from_pytorch(TwoOut(), (4,))


# -- Brevitas --------------------------------------------------------------------------------------

def grid_samples(x: np.ndarray, n: int, lo: float, hi: float, rng: np.random.Generator) -> np.ndarray:
    """``x`` tiled and perturbed, then uniform samples: all on a 2**-9 grid (ties for every coarser quantizer),
    some beyond the quantizers' ranges (saturation), as float32 values."""
    tiled = np.tile(x, (max(1, n // (2 * len(x))), 1))
    tiled = tiled + rng.integers(-64, 65, tiled.shape) / 512
    uniform = rng.uniform(lo, hi, size=(n - len(tiled), x.shape[1]))
    return (np.round(np.concatenate([tiled, uniform]) * 512) / 512).astype(np.float32)


def assert_bit_exact(hw: nnfpga.HWModel, m: nn.Module, x: np.ndarray, csim: bool) -> None:
    want = torch_out(m, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)  # the quantizers saturate, as in training
        got = hw.predict(x)
    bad = np.argwhere(got != want)
    print(f"\n{type(m).__name__}: emulator vs Brevitas: {len(bad)} of {want.size} outputs differ "
          f"({len(x)} samples)")
    assert bad.size == 0, f"first at {tuple(bad[0])}: emulator {got[tuple(bad[0])]!r} Brevitas {want[tuple(bad[0])]!r}"
    if csim:
        hw.compile()
        bad = np.argwhere(hw.predict(x, engine="csim") != want)
        print(f"csim vs Brevitas: {len(bad)} of {want.size} outputs differ")
        assert bad.size == 0, f"csim differs first at {tuple(bad[0])}"


@pytest.mark.tools
def test_brevitas_qat_digits_bit_exact(tmp_path: Any) -> None:
    x, y = digits()
    torch.manual_seed(0)
    m = qat_mlp()
    gxx()
    opt = torch.optim.Adam(m.parameters(), lr=0.01)
    xt, yt = torch.tensor(x), torch.tensor(y)
    t0 = time.perf_counter()
    with one_thread():
        for _ in range(4):
            perm = torch.randperm(len(xt))
            for i in range(0, len(xt), 64):
                idx = perm[i : i + 64]
                opt.zero_grad()
                F.cross_entropy(m(xt[idx]), yt[idx]).backward()
                opt.step()
    train_s = time.perf_counter() - t0
    acc = float((torch_out(m, x).argmax(1) == y).mean())

    g = nnfpga.graph_from_pytorch_model(m, (64,))
    assert ops(g) == [("input", "input"), ("fc1", "dense"), ("relu1", "relu"), ("fc2", "dense")]
    assert g["input"].source == "input 'input', quantized by QuantIdentity 'inp'"
    tin = nnfpga.FixedType.parse(g["input"].attrs["qtypes"]["result"])
    assert (tin.width, tin.rounding, tin.overflow, tin.signed) == (8, "RND_CONV", "SAT", True)
    relu = nnfpga.FixedType.parse(g["relu1"].attrs["qtypes"]["result"])
    assert (relu.width, relu.rounding, relu.overflow, relu.signed) == (8, "RND_CONV", "SAT", False)
    assert set(g["fc1"].attrs["qtypes"]) == {"weight", "bias", "result"}

    hw = nnfpga.convert_from_pytorch_model(m, (64,), output_dir=tmp_path / "prj")
    samples = grid_samples(x, 12_000, -3.0, 3.0, np.random.default_rng(0))
    ties = int(np.count_nonzero(np.ldexp(samples.astype(np.float64), tin.frac) % 1 == 0.5))
    assert ties > 1000  # round-half-even is exercised at the input quantizer
    assert_bit_exact(hw, m, samples, csim=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        acc_fixed = float((hw.predict(x).argmax(1) == y).mean())
    print(f"Brevitas QAT digits MLP (trained {train_s:.1f} s): Brevitas accuracy {acc:.4f}, emulated {acc_fixed:.4f}; "
          f"{ties} input values on a rounding tie")
    assert acc > 0.85 and acc_fixed == acc

    # a calibrated per-layer config keeps what training fixed, and stays bit-exact
    cfg = nnfpga.config_from_pytorch_model(m, (64,), granularity="name", calibration_data=samples[:2000])
    assert cfg["LayerName"]["relu1"]["Precision"]["result"] == str(relu)
    cfg["LayerName"]["inp"] = {"ReuseFactor": 1}
    with pytest.warns(UserWarning, match="LayerName.inp has no effect: QuantIdentity 'inp' quantizes the graph input"):
        hw = nnfpga.convert_from_pytorch_model(m, (64,), hls_config=cfg)
    assert_bit_exact(hw, m, samples[:3000], csim=False)


def quantizer_zoo() -> nn.Module:
    """Floor rounding, narrow range, 6 and 4 bits, per-channel weight scales, both bias scalings, HardTanh, output
    and input quantizers on QuantLinear, no bias."""
    qnn = require_brevitas()
    from brevitas.inject.enum import FloatToIntImplType
    from brevitas.quant import (
        Int8ActPerTensorFixedPoint,
        Int8BiasPerTensorFixedPointInternalScaling,
        Int8WeightPerTensorFixedPoint,
        Uint8ActPerTensorFixedPoint,
    )
    from brevitas.quant.fixed_point import Int8WeightPerChannelFixedPoint
    from brevitas.quant.scaled_int import Int16Bias

    class FloorNarrow6(Int8ActPerTensorFixedPoint):
        bit_width = 6
        narrow_range = True
        float_to_int_impl_type = FloatToIntImplType.FLOOR

    class W4PerChannel(Int8WeightPerChannelFixedPoint):
        bit_width = 4

    class ToZero(Int8ActPerTensorFixedPoint):
        float_to_int_impl_type = FloatToIntImplType.ROUND_TO_ZERO

    torch.manual_seed(1)
    m = nn.Sequential(OrderedDict(
        inp=qnn.QuantIdentity(act_quant=FloorNarrow6, return_quant_tensor=True),
        fc1=qnn.QuantLinear(12, 16, weight_quant=W4PerChannel, bias_quant=Int16Bias, return_quant_tensor=True),
        htanh=qnn.QuantHardTanh(act_quant=Int8ActPerTensorFixedPoint, max_val=1.0, min_val=-1.0,
                                return_quant_tensor=True),
        flat=nn.Flatten(),
        fc2=qnn.QuantLinear(16, 8, weight_quant=Int8WeightPerTensorFixedPoint, output_quant=ToZero,
                            bias_quant=Int8BiasPerTensorFixedPointInternalScaling),
        relu=qnn.QuantReLU(act_quant=Uint8ActPerTensorFixedPoint),
        fc3=qnn.QuantLinear(8, 3, weight_quant=Int8WeightPerTensorFixedPoint, input_quant=Int8ActPerTensorFixedPoint,
                            bias=False),
    ))
    with torch.no_grad():
        m.fc1.weight.mul_(torch.tensor([2.0 ** (i % 3) for i in range(16)])[:, None])  # per-channel scales differ
        for fc in (m.fc1, m.fc2, m.fc3):
            fc.weight.mul_(3.0)
            if fc.bias is not None:
                fc.bias.normal_(0, 0.5)
    return m


@pytest.mark.tools
def test_brevitas_quantizer_zoo_bit_exact(tmp_path: Any) -> None:
    m = quantizer_zoo()
    gxx()
    g = nnfpga.graph_from_pytorch_model(m, (12,))
    assert [(n.name, n.op, n.attrs.get("qtypes")) for n in g] == [
        ("input", "input", {"result": "ap_fixed<6,1,AP_TRN,AP_SAT_SYM>"}),
        ("fc1", "dense", {"result": "ap_fixed<14,6>", "weight": "ap_fixed<6,3>", "bias": "ap_fixed<18,10>"}),
        ("htanh", "linear", {"result": "ap_fixed<8,1,AP_RND_CONV,AP_SAT>"}),
        ("fc2", "dense", {"result": "ap_fixed<8,1,AP_TRN_ZERO,AP_SAT>", "weight": "ap_fixed<8,1>",
                          "bias": "ap_fixed<8,2>"}),
        ("relu", "relu", {"result": "ap_ufixed<8,0,AP_RND_CONV,AP_SAT>"}),
        ("fc3_input_quant", "linear", {"result": "ap_fixed<8,1,AP_RND_CONV,AP_SAT>"}),
        ("fc3", "dense", {"result": "ap_fixed<19,4>", "weight": "ap_fixed<8,2>"}),
    ]
    hw = nnfpga.convert_from_pytorch_model(m, (12,), output_dir=tmp_path / "prj")
    x = grid_samples(np.zeros((1, 12)), 20_000, -2.5, 2.5, np.random.default_rng(1))
    assert_bit_exact(hw, m, x, csim=True)
    hw.write(force=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        assert np.array_equal(nnfpga.load_project(tmp_path / "prj").predict(x), hw.predict(x))


def test_brevitas_rejections_listed_at_once() -> None:
    qnn = require_brevitas()
    from brevitas.inject.enum import FloatToIntImplType
    from brevitas.quant import Int8ActPerTensorFixedPoint, Uint8ActPerTensorFixedPoint

    class Ceil(Uint8ActPerTensorFixedPoint):
        float_to_int_impl_type = FloatToIntImplType.CEIL

    class UNarrow(Uint8ActPerTensorFixedPoint):
        narrow_range = True

    torch.manual_seed(0)
    m = nn.Sequential(OrderedDict(
        inp=qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=True),
        fc=qnn.QuantLinear(4, 4, bias=True),  # Brevitas's default weight quantizer: a float scale
        ceil=qnn.QuantReLU(act_quant=Ceil),
        narrow=qnn.QuantIdentity(act_quant=UNarrow),
        sig=qnn.QuantSigmoid(),
    ))
    with pytest.raises(UnsupportedLayerError) as info:
        graph_from_pytorch(m, (4,))
    scale = float(m.fc.quant_weight().scale.detach())
    assert info.value.layers == [
        ("fc", f"QuantLinear: weight_quant scale {scale:.6g} is not a power of two, so its values are not exact "
               "fixed-point numbers; use a fixed-point (power-of-two scale) quantizer: "
               "weight_quant=Int8WeightPerTensorFixedPoint"),
        ("ceil", "QuantReLU: act_quant rounds with CeilSte, which has no ap_fixed equivalent; use RoundSte (round "
                 "half to even, the default), FloorSte or RoundToZeroSte"),
        ("narrow", "QuantIdentity: act_quant is an unsigned narrow-range quantizer (0..2**b-2), which no ap_ufixed "
                   "saturation mode reproduces; use narrow_range=False"),
        ("sig", "Brevitas QuantSigmoid; supported Brevitas layers: QuantIdentity, QuantReLU, QuantHardTanh, "
                "QuantLinear, QuantConv1d, QuantConv2d, TruncAvgPool2d, TruncAdaptiveAvgPool2d"),
    ]


def test_brevitas_trained_float_scale_rejected() -> None:
    qnn = require_brevitas()
    torch.manual_seed(0)
    m = nn.Sequential(OrderedDict(inp=qnn.QuantIdentity(return_quant_tensor=False)))  # Int8ActPerTensorFloat
    m.train()
    for _ in range(3):  # the runtime statistics make the scale an arbitrary float
        m(torch.randn(64, 4) * 0.37)
    with pytest.raises(UnsupportedLayerError, match=r"'inp' \(QuantIdentity: act_quant scale [0-9.e-]+ is not a power "
                       r"of two.*act_quant=Int8ActPerTensorFixedPoint \(Uint8ActPerTensorFixedPoint for QuantReLU\)\)"):
        graph_from_pytorch(m, (4,))


def test_brevitas_float_parts_warn() -> None:
    qnn = require_brevitas()
    from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint

    m = nn.Sequential(OrderedDict(
        inp=qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=True),
        fc=qnn.QuantLinear(4, 3, weight_quant=Int8WeightPerTensorFixedPoint),  # float bias
        sm=nn.Softmax(dim=-1),
    ))
    with pytest.warns(UserWarning, match=r"Brevitas model 'Sequential': the firmware reproduces the model's quantized "
                      r"output bit for bit only where Brevitas quantizers fix every type; from these layers on it can "
                      r"differ:\n  - 'fc' \(QuantLinear 'fc'\): float bias \(bias_quant=None\): use bias_quant="):
        g = graph_from_pytorch(m, (4,))
    assert "result" not in g["fc"].attrs["qtypes"]  # the sum's type is left to the config

    m2 = nn.Sequential(qnn.QuantLinear(4, 3, weight_quant=Int8WeightPerTensorFixedPoint, bias=False))
    with pytest.warns(UserWarning, match=r"- 'input' \(input 'input'\): the input is not quantized: start the "
                      "model with a QuantIdentity"):
        graph_from_pytorch(m2, (4,))


# -- merges (several inputs) ---------------------------------------------------------------------------

class Residual(nn.Module):
    """A skip add, maximum, product, difference and torch.cat of traced tensors."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.out = nn.Linear(8, 8), nn.Linear(8, 4), nn.Linear(20, 3)

    def forward(self, x: Any) -> Any:
        h = torch.relu(self.a(x))
        r = h + x
        m = torch.maximum(r, x) * h
        return self.out(torch.cat([r - m, self.b(x), x], dim=1))


def test_merges() -> None:
    torch.manual_seed(0)
    model = Residual().eval()
    g = graph_from_pytorch(model, (8,))
    assert [(n.op, len(n.inputs)) for n in g if len(n.inputs) > 1] == [
        ("add", 2), ("maximum", 2), ("multiply", 2), ("subtract", 2), ("concatenate", 3)]
    x = np.random.default_rng(0).uniform(-3, 3, (500, 8))
    hw = nnfpga.convert_from_pytorch_model(model, (8,), hls_config=nnfpga.config_from_pytorch_model(
        model, (8,), default_precision="ap_fixed<18,8>"), output_dir="unused")
    np.testing.assert_allclose(hw.predict_float(x), torch_out(model, x), rtol=1e-5, atol=1e-5)
    assert np.abs(hw.predict(x) - torch_out(model, x)).max() < 0.01


def test_merges_nnfpga_cannot_map() -> None:
    class Bad(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: Any) -> Any:
            h = self.fc(x)
            a = torch.add(h, x, alpha=2.0)
            return torch.cat([a, h], dim=0)

    with pytest.raises(UnsupportedLayerError) as info:
        graph_from_pytorch(Bad(), (4,))
    kinds = dict(info.value.layers)
    assert kinds["add"].startswith("torch.add with arguments") and "nnfpga merges two tensors (no alpha" in kinds["add"]
    assert kinds["cat"].startswith("torch.cat(dim=0)") and "along a non-batch dim" in kinds["cat"]


def test_saved_model_files(tmp_path: Any) -> None:
    """A path to a whole pickled model converts only with allow_pickle=True (unpickling runs code); a state dict
    says what to do; other files are refused with the reason."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).eval()
    whole, state, junk = tmp_path / "model.pt", tmp_path / "state.pt", tmp_path / "junk.pt"
    torch.save(model, whole)
    torch.save(model.state_dict(), state)
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ModelLoadError, match=r"pickles a whole model: loading it runs code from the file\. If you "
                                             r"trust it, pass allow_pickle=True"):
        graph_from_pytorch(str(whole), (4,))
    g = nnfpga.graph_from_pytorch_model(whole, (4,), allow_pickle=True)
    assert [n.op for n in g] == ["input", "dense", "relu", "dense"]
    x = np.random.default_rng(0).normal(size=(50, 4))
    hw = nnfpga.convert_from_pytorch_model(whole, (4,), output_dir=tmp_path / "prj", allow_pickle=True)
    np.testing.assert_allclose(hw.predict_float(x), torch_out(model, x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ModelLoadError, match=r"holds a state dict \(weights only\), not a model: build the model, "
                                             r"call model.load_state_dict"):
        graph_from_pytorch(state, (4,))
    with pytest.raises(ModelLoadError, match=r"cannot read .*junk.pt' as a PyTorch file"):
        graph_from_pytorch(junk, (4,))
    with pytest.raises(ModelLoadError, match=r"does not exist"):
        graph_from_pytorch(tmp_path / "missing.pt", (4,))
