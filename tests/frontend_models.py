"""Small deterministic models of each frontend family, shared by the frontend tests and the graph-dump goldens
(``tests/frontends/test_golden_dumps.py``). Optional frameworks (ONNX, Brevitas, HGQ2) are imported inside the
builders that need them."""

from __future__ import annotations

import importlib.util
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from graphs import randomize_torch_batchnorm
from tooling import require

QDOMAIN = "qonnx.custom_op.general"


# -- PyTorch (torch.fx) -----------------------------------------------------------------------------------
class Custom(nn.Module):
    """A custom forward with functional calls, a reshape by the batch size and an unfoldable batch-norm."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.bn = nn.BatchNorm1d(8)
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(8, 4))

    def forward(self, x: Any) -> Any:
        h = x.view(x.size(0), -1)
        h = torch.relu(self.fc1(h))
        h = torch.sigmoid(self.bn(h))
        return F.softmax(self.head(h), dim=-1)


def custom_net() -> Custom:
    """:class:`Custom` with fixed weights and batch-norm statistics (input per sample: (2, 3))."""
    torch.manual_seed(0)
    m = Custom()
    randomize_torch_batchnorm(m.bn)
    return m


# -- Brevitas ----------------------------------------------------------------------------------------------
def require_brevitas() -> Any:
    require(importlib.util.find_spec("brevitas"), "brevitas", "make setup: extra [brevitas]")
    import brevitas.nn as qnn

    return qnn


def qat_mlp() -> nn.Module:
    """A Brevitas QAT MLP 64 -> 32 -> 10 with 8-bit fixed-point quantizers (weights from torch's RNG)."""
    qnn = require_brevitas()
    from brevitas.quant import (
        Int8ActPerTensorFixedPoint,
        Int8BiasPerTensorFixedPointInternalScaling,
        Int8WeightPerTensorFixedPoint,
        Uint8ActPerTensorFixedPoint,
    )
    from brevitas.quant.scaled_int import Int16Bias

    w8 = {"weight_quant": Int8WeightPerTensorFixedPoint, "return_quant_tensor": True}
    return nn.Sequential(OrderedDict(
        inp=qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=True),
        fc1=qnn.QuantLinear(64, 32, bias_quant=Int16Bias, **w8),
        relu1=qnn.QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, return_quant_tensor=True),
        fc2=qnn.QuantLinear(32, 10, bias_quant=Int8BiasPerTensorFixedPointInternalScaling, **w8),
    ))


# -- ONNX (torch.onnx export) ------------------------------------------------------------------------------
class ViewNet(nn.Module):
    """A view by the batch size (ONNX: Shape -> Gather -> Unsqueeze -> Concat -> Reshape), a batch-norm, leaky ReLU,
    a reshape and a flatten, hard tanh, sigmoid."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.bn, self.fc2 = nn.Linear(12, 8), nn.BatchNorm1d(8), nn.Linear(8, 6)
        self.flat, self.fc3 = nn.Flatten(), nn.Linear(6, 3)

    def forward(self, x: Any) -> Any:
        x = x.view(x.size(0), -1)  # Shape -> Gather -> Unsqueeze -> Concat -> Reshape
        x = torch.relu(self.bn(self.fc1(x)))
        x = nn.functional.leaky_relu(self.fc2(x), 0.125).reshape(-1, 2, 3)
        x = nn.functional.hardtanh(self.flat(x))
        return torch.sigmoid(self.fc3(x))


def view_net() -> ViewNet:
    """:class:`ViewNet` with fixed weights, in eval mode (input per sample: (3, 4))."""
    torch.manual_seed(3)
    net = ViewNet()
    randomize_torch_batchnorm(net.bn, weight_hi=1.5)
    return net.eval()


def export_onnx(net: nn.Module, path: Path, sample: Any, dynamo: bool) -> Path:
    """``torch.onnx.export`` with a dynamic batch dimension, by the TorchScript or the dynamo exporter."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(net, (sample,), str(path), dynamo=True, input_names=["x"],
                              dynamic_shapes={"x": {0: torch.export.Dim("n")}}, verbose=False)
        else:
            torch.onnx.export(net, sample, str(path), dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "n"}})
    return path


# -- ONNX / QONNX built node by node -------------------------------------------------------------------------
def onnx_model(onnx: Any, nodes: list[Any], inits: dict[str, np.ndarray], n_in: int = 4, out: str = "y",
               batch: int | str = "n", opset: int = 17, qonnx_opset: int = 1) -> Any:
    """An ONNX model of ``nodes`` on input ``x`` (batch, n_in), output ``out``, float32 initializers ``inits``."""
    h = onnx.helper
    return h.make_model(
        h.make_graph(nodes, "g", [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [batch, n_in])],
                     [h.make_tensor_value_info(out, onnx.TensorProto.FLOAT, None)],
                     [onnx.numpy_helper.from_array(np.asarray(v, dtype=np.float32), k) for k, v in inits.items()]),
        opset_imports=[h.make_opsetid("", opset), h.make_opsetid(QDOMAIN, qonnx_opset)])


class Q:
    """Builds QONNX Quant nodes with their scale/zeropt/bitwidth initializers."""

    def __init__(self, onnx: Any) -> None:
        self.onnx, self.nodes, self.inits, self.i = onnx, [], {}, 0

    def quant(self, x: str, out: str, scale: Any, bits: int, signed: int = 1, narrow: int = 0,
              mode: str = "ROUND", zeropt: float = 0.0) -> str:
        self.i += 1
        names = [f"s{self.i}", f"z{self.i}", f"b{self.i}"]
        self.inits.update(zip(names, [np.asarray(scale), np.float32(zeropt), np.float32(bits)], strict=True))
        self.nodes.append(self.onnx.helper.make_node("Quant", [x, *names], [out], domain=QDOMAIN, name=f"q_{out}",
                                                     signed=signed, narrow=narrow, rounding_mode=mode))
        return out

    def bipolar(self, x: str, out: str, scale: float) -> str:
        self.i += 1
        self.inits[f"s{self.i}"] = np.float32(scale)
        self.nodes.append(self.onnx.helper.make_node("BipolarQuant", [x, f"s{self.i}"], [out], domain=QDOMAIN,
                                                     name=f"q_{out}"))
        return out

    def node(self, op: str, ins: list[str], out: str, **attrs: Any) -> str:
        self.nodes.append(self.onnx.helper.make_node(op, ins, [out], name=f"n_{out}", **attrs))
        return out

    def model(self, n_in: int, out: str, qonnx_opset: int = 1) -> Any:
        return onnx_model(self.onnx, self.nodes, self.inits, n_in=n_in, out=out, qonnx_opset=qonnx_opset)


def qonnx_mlp(onnx: Any, seed: int = 0) -> Any:
    """16 -> 12 -> 6: 8-bit input, 4-bit narrow weights with per-channel power-of-two scales, 8-bit bias,
    ReLU + 6-bit unsigned HALF_UP quantizer, ternary (2-bit narrow) weights in a transB Gemm, 7-bit FLOOR output.
    Every sum stays below 2**24 LSBs, so QONNX's float32 arithmetic is exact and 0 mismatches are expected."""
    rng = np.random.default_rng(seed)
    q = Q(onnx)
    q.quant("x", "xq", np.float32(2**-4), 8)
    q.inits["w1"] = rng.normal(0, 0.5, (16, 12))
    q.quant("w1", "w1q", (2.0 ** -rng.integers(2, 5, (1, 12))).astype(np.float32), 4, narrow=1)
    q.inits["bias1"] = rng.normal(0, 0.5, 12)
    q.quant("bias1", "b1q", np.float32(2**-6), 8)
    q.node("MatMul", ["xq", "w1q"], "h")
    q.node("Add", ["h", "b1q"], "hb")
    q.node("Relu", ["hb"], "r")
    q.quant("r", "rq", np.float32(2**-3), 6, signed=0, mode="HALF_UP")
    q.inits["w2"] = rng.normal(0, 1.0, (6, 12))
    q.quant("w2", "w2q", np.float32(0.5), 2, narrow=1)
    q.inits["bias2"] = rng.normal(0, 0.5, 6)
    q.quant("bias2", "b2q", np.float32(2**-5), 8)
    q.node("Gemm", ["rq", "w2q", "b2q"], "o", transB=1)
    q.quant("o", "y", np.float32(2**-2), 7, narrow=1, mode="FLOOR")
    return q.model(16, "y")


# -- HGQ2 ---------------------------------------------------------------------------------------------------
def require_hgq() -> Any:
    """HGQ2, imported after Keras (fails the test when it is not installed)."""
    require(importlib.util.find_spec("hgq"), "HGQ2", "pip install hgq2 'torch==2.13.0' (extra [hgq])")
    from nnfpga.frontends.hgq import import_hgq
    from nnfpga.frontends.keras import import_keras

    import_keras()
    return import_hgq()


def datalane(q_type: str = "kif", **kw: Any) -> Any:
    """An activation quantizer with one (k, i, f) for the whole tensor."""
    from hgq.quantizer.config import QuantizerConfig

    return QuantizerConfig(q_type, "datalane", heterogeneous_axis=(), **kw)


def hgq_mlp(seed: int = 0, **first: Any) -> Any:
    """An HGQ2 MLP 64 -> 24 -> 16 -> 10 (untrained; ``first``: ``iq_conf`` of the first layer). Needs HGQ2."""
    import keras
    from hgq.layers import QDense

    keras.utils.set_random_seed(seed)
    x = keras.Input((64,), name="x")
    h = QDense(24, activation="relu", name="fc1",
               iq_conf=first.get("iq_conf") or datalane(i0=1, f0=4, round_mode="RND", overflow_mode="SAT"))(x)
    h = QDense(16, activation="relu", name="fc2",
               iq_conf=datalane(i0=2, f0=3, round_mode="RND_CONV", overflow_mode="WRAP"))(h)
    h = QDense(10, name="out", iq_conf=datalane("kbi", b0=6, i0=2, round_mode="TRN", overflow_mode="SAT_SYM"))(h)
    return keras.Model(x, h, name="hgq_digits")


def hgq_cnn(seed: int = 0) -> Any:
    """An HGQ2 CNN on 8x8x1 digits: QConv2D 8 3x3 same + ReLU, QMaxPooling2D 2, a grouped QConv2D 16 3x3 (groups
    2) + ReLU, QGlobalAveragePooling2D (2x2: a power of two), QDense 10; one activation type per quantizer, every
    rounding and overflow mode family (untrained). Needs HGQ2."""
    import keras
    from hgq.layers import QConv2D, QDense, QGlobalAveragePooling2D, QMaxPooling2D

    keras.utils.set_random_seed(seed)
    x = keras.Input((8, 8, 1), name="x")
    h = QConv2D(8, 3, padding="same", activation="relu", name="conv1",
                iq_conf=datalane(i0=1, f0=5, round_mode="RND", overflow_mode="SAT"))(x)
    h = QMaxPooling2D(2, name="pool", iq_conf=datalane(i0=2, f0=3, round_mode="RND_CONV", overflow_mode="WRAP"))(h)
    h = QConv2D(16, 3, groups=2, activation="relu", name="conv2",
                iq_conf=datalane(i0=2, f0=3, round_mode="TRN", overflow_mode="SAT"))(h)
    h = QGlobalAveragePooling2D(name="gap", iq_conf=datalane(i0=3, f0=2, round_mode="RND", overflow_mode="SAT"))(h)
    h = QDense(10, name="out", iq_conf=datalane(i0=3, f0=3, round_mode="RND", overflow_mode="SAT_SYM"))(h)
    return keras.Model(x, h, name="hgq_cnn")


def hgq_cnn1d(seed: int = 1) -> Any:
    """An HGQ2 1D CNN on digits as 8 steps of 8 features: QConv1D 8 k3 causal + ReLU with an output quantizer,
    QAveragePooling1D 2, Flatten, QDense 10 (untrained). Needs HGQ2."""
    import keras
    from hgq.layers import QAveragePooling1D, QConv1D, QDense

    keras.utils.set_random_seed(seed)
    x = keras.Input((8, 8), name="x")
    h = QConv1D(8, 3, padding="causal", activation="relu", name="conv", enable_oq=True,
                iq_conf=datalane(i0=1, f0=4, round_mode="RND_CONV", overflow_mode="SAT"),
                oq_conf=datalane(i0=2, f0=2, round_mode="TRN", overflow_mode="WRAP"))(x)
    h = QAveragePooling1D(2, name="pool", iq_conf=datalane(i0=2, f0=2, round_mode="RND", overflow_mode="SAT"))(h)
    h = keras.layers.Flatten(name="flat")(h)
    h = QDense(10, name="out", iq_conf=datalane(i0=3, f0=3, round_mode="RND", overflow_mode="SAT"))(h)
    return keras.Model(x, h, name="hgq_cnn1d")


def qat_cnn() -> nn.Module:
    """A Brevitas QAT CNN on (1, 8, 8) digits with fixed-point quantizers: QuantConv2d 8 3x3 pad 1 + QuantReLU,
    nn.MaxPool2d 2, a depthwise QuantConv2d 3x3 (4-bit per-channel weights) + QuantReLU, TruncAvgPool2d 2 stride 1,
    a strided QuantConv2d 16 3x3 padding="same" (Brevitas pads it as TensorFlow) + QuantReLU,
    TruncAdaptiveAvgPool2d to 1, flatten, QuantLinear 16 -> 10."""
    qnn = require_brevitas()
    from brevitas.quant import (
        Int8ActPerTensorFixedPoint,
        Int8BiasPerTensorFixedPointInternalScaling,
        Int8WeightPerTensorFixedPoint,
        Uint8ActPerTensorFixedPoint,
    )
    from brevitas.quant.fixed_point import Int8WeightPerChannelFixedPoint
    from brevitas.quant.scaled_int import Int16Bias

    class W4PerChannel(Int8WeightPerChannelFixedPoint):
        bit_width = 4

    q = {"bias_quant": Int16Bias, "return_quant_tensor": True}
    w8 = {"weight_quant": Int8WeightPerTensorFixedPoint, **q}
    relu = {"act_quant": Uint8ActPerTensorFixedPoint, "return_quant_tensor": True}
    return nn.Sequential(OrderedDict(
        inp=qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=True),
        conv1=qnn.QuantConv2d(1, 8, 3, padding=1, **w8),
        relu1=qnn.QuantReLU(**relu),
        pool=nn.MaxPool2d(2),
        dw=qnn.QuantConv2d(8, 8, 3, padding=1, groups=8, weight_quant=W4PerChannel, **q),
        relu2=qnn.QuantReLU(**relu),
        avg=qnn.TruncAvgPool2d(2, stride=1),
        conv3=qnn.QuantConv2d(8, 16, 3, stride=2, padding="same", **w8),
        relu3=qnn.QuantReLU(**relu),
        gap=qnn.TruncAdaptiveAvgPool2d(1),
        flat=nn.Flatten(),
        fc=qnn.QuantLinear(16, 10, weight_quant=Int8WeightPerTensorFixedPoint,
                           bias_quant=Int8BiasPerTensorFixedPointInternalScaling),
    ))


def qat_cnn1d() -> nn.Module:
    """A Brevitas 1D CNN on digits as 8 channels x 8 steps: QuantConv1d 8 -> 6, k3, padding="same", floor-rounded
    output quantizer, nn.MaxPool1d 2, flatten, QuantLinear 24 -> 10 (weights from torch's RNG)."""
    qnn = require_brevitas()
    from brevitas.inject.enum import FloatToIntImplType
    from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint
    from brevitas.quant.scaled_int import Int16Bias

    class Floor6(Int8ActPerTensorFixedPoint):
        bit_width = 6
        float_to_int_impl_type = FloatToIntImplType.FLOOR

    w8 = {"weight_quant": Int8WeightPerTensorFixedPoint, "bias_quant": Int16Bias, "return_quant_tensor": True}
    return nn.Sequential(OrderedDict(
        inp=qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=True),
        conv=qnn.QuantConv1d(8, 6, 3, padding="same", output_quant=Floor6, **w8),
        pool=nn.MaxPool1d(2),
        flat=nn.Flatten(),
        fc=qnn.QuantLinear(24, 10, **w8),
    ))


# -- comparing a quantization-aware framework's outputs with nnfpga's, bit for bit --------------------------------
def predict_quantized(hw: Any, x: np.ndarray, **kw: Any) -> np.ndarray:
    """``hw.predict`` without the overflow warnings that quantizers' saturation and wrapping cause by design."""
    import nnfpga

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        return hw.predict(x, **kw)


def assert_same_bits(got: np.ndarray, want: np.ndarray, peer: str) -> None:
    """Every output equal; else how many differ and the first one, nnfpga's value beside ``peer``'s."""
    bad = np.argwhere(got != want)
    assert bad.size == 0, (f"{len(bad)} of {want.size} outputs differ; first at {tuple(bad[0])}: "
                           f"nnfpga {got[tuple(bad[0])]!r}, {peer} {want[tuple(bad[0])]!r}")
