"""ONNX convolutional nodes: each attribute against onnxruntime (float kernels), torch.onnx.export of a Keras CNN's
PyTorch twin emulates to the Keras model's bits, and the refusals are listed at once."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnfpga
from conv_twins import keras_twin
from frontend_models import export_onnx
from nnfpga.errors import UnsupportedLayerError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
h = onnx.helper


def model_of(nodes: list[Any], shape: tuple[int, ...], inits: dict[str, np.ndarray], opset: int = 17) -> Any:
    """An ONNX model of ``nodes`` from input ``x`` (batch, *shape) to output ``y``."""
    tensors = [onnx.numpy_helper.from_array(np.asarray(v, dtype=np.int64 if k.startswith("i_") else np.float32), k)
               for k, v in inits.items()]
    return h.make_model(h.make_graph(nodes, "g", [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT,
                                                                             ["n", *shape])],
                                     [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)], tensors),
                        opset_imports=[h.make_opsetid("", opset)])


def ort_run(model: Any, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x.astype(np.float32)})[0].astype(np.float64)


def conv(shape: tuple[int, ...], c_out: int, k: tuple[int, ...], group: int = 1, bias: bool = True,
         **attrs: Any) -> tuple[Any, dict[str, np.ndarray]]:
    rng = np.random.default_rng(len(shape) + c_out + sum(k))
    inits = {"w": rng.normal(size=(c_out, shape[0] // group, *k))}
    if bias:
        inits["b"] = rng.normal(size=c_out)
    return h.make_node("Conv", ["x", "w", "b"] if bias else ["x", "w"], ["y"], name="conv", group=group,
                       **attrs), inits


def one(op: str, **attrs: Any) -> tuple[Any, dict[str, np.ndarray]]:
    return h.make_node(op, ["x"], ["y"], name=op.lower(), **attrs), {}


# name -> (per-sample NCHW shape, (node, initializers))
CASES: dict[str, tuple[tuple[int, ...], Any]] = {
    "conv1d": ((2, 9), lambda s: conv(s, 3, (3,))),
    "conv1d_same_upper_stride2": ((2, 10), lambda s: conv(s, 3, (4,), strides=[2], auto_pad="SAME_UPPER")),
    "conv1d_same_lower_stride2": ((2, 10), lambda s: conv(s, 3, (4,), strides=[2], auto_pad="SAME_LOWER")),
    "conv2d_pads_strides_dilations": ((2, 8, 9), lambda s: conv(s, 3, (3, 2), strides=[2, 1], dilations=[1, 2],
                                                                pads=[1, 0, 2, 1])),
    "conv2d_valid_no_bias": ((3, 6, 5), lambda s: conv(s, 2, (3, 3), bias=False, auto_pad="VALID")),
    "conv2d_group": ((4, 5, 5), lambda s: conv(s, 6, (2, 2), group=2)),
    "depthwise2d": ((3, 6, 7), lambda s: conv(s, 6, (3, 3), group=3, pads=[1, 1, 1, 1])),
    "maxpool2d_pads": ((2, 7, 6), lambda s: one("MaxPool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
    "maxpool1d": ((2, 9), lambda s: one("MaxPool", kernel_shape=[2], strides=[2])),
    "avgpool2d_exclude_pad": ((2, 5, 7), lambda s: one("AveragePool", kernel_shape=[3, 3], pads=[1, 1, 1, 1])),
    "avgpool2d_include_pad": ((2, 5, 7), lambda s: one("AveragePool", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                                       count_include_pad=1)),
    "avgpool1d_same_upper": ((2, 8), lambda s: one("AveragePool", kernel_shape=[3], strides=[2],
                                                   auto_pad="SAME_UPPER")),
    "global_avg2d": ((3, 4, 4), lambda s: one("GlobalAveragePool")),
    "global_max1d": ((3, 7), lambda s: one("GlobalMaxPool")),
    "pad2d": ((2, 4, 5), lambda s: (h.make_node("Pad", ["x", "i_pads"], ["y"], name="pad"),
                                    {"i_pads": [0, 0, 1, 0, 0, 0, 2, 3]})),
    "resize_scales_asymmetric": ((2, 3, 4), lambda s: (
        h.make_node("Resize", ["x", "", "scales"], ["y"], name="resize", mode="nearest",
                    coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        {"scales": [1, 1, 2, 3]})),
    "resize_sizes_axes_half_pixel": ((2, 4), lambda s: (  # opset 18's axes
        h.make_node("Resize", ["x", "", "", "i_sizes"], ["y"], name="resize", mode="nearest", axes=[2]),
        {"i_sizes": [12]})),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_float_kernels_equal_onnxruntime(name: str) -> None:
    shape, make = CASES[name]
    node, inits = make(shape)
    model = model_of([node], shape, inits, opset=18)
    x = np.random.default_rng(1).normal(scale=1.5, size=(20, *shape))
    want = ort_run(model, x)
    hw = nnfpga.convert_from_onnx_model(model)
    got = hw.predict_float(x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)  # the input at ap_fixed<16,6>
        fixed = hw.predict(x)
    assert np.abs(fixed - want).max() < 0.02  # the default config: ap_fixed<16,6> results, exact accumulators


class Named(torch.nn.Module):
    """The twin with a forward argument named ``x`` (the dynamo exporter's dynamic shapes name it)."""

    def __init__(self, net: Any) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Any) -> Any:
        return self.net(x)


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
@pytest.mark.parametrize("conv1d", [True, False], ids=["conv1d", "conv2d"])
def test_onnx_export_of_a_keras_cnn_twin_emulates_to_the_same_bits(keras: Any, tmp_path: Path, conv1d: bool,
                                                                   dynamo: bool) -> None:
    model, tm, shape = keras_twin(keras, conv1d)
    torch_shape = (shape[-1], *shape[:-1])
    path = export_onnx(Named(tm).eval(), tmp_path / "twin.onnx", torch.zeros(2, *torch_shape), dynamo=dynamo)
    x = np.random.default_rng(2).normal(scale=1.5, size=(200, *shape))
    xt = np.moveaxis(x, -1, 1)
    ho, hk = nnfpga.convert_from_onnx_model(path), nnfpga.convert_from_keras_model(model)
    np.testing.assert_allclose(ho.predict_float(xt), ort_run(onnx.load(str(path)), xt), atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        assert np.array_equal(ho.predict(xt), hk.predict(x))
    ops = [n.op for n in ho.graph.nodes.values()]  # the transposes between spatial ops (and the Relu) cancelled
    assert "transpose" not in ops[ops.index("conv"):ops.index("avg_pool")]


def test_unsupported_attributes_are_listed_at_once() -> None:
    nodes = [h.make_node("MaxPool", ["x"], ["a"], name="ceil", kernel_shape=[1, 1], ceil_mode=1),
             h.make_node("Pad", ["a", "i_pads"], ["b"], name="reflect", mode="reflect"),
             h.make_node("Resize", ["b", "", "scales"], ["c"], name="linear", mode="linear"),
             h.make_node("Pad", ["c", "i_chan"], ["d"], name="channel_pad"),
             h.make_node("MaxPool", ["d"], ["y"], name="short_pads", kernel_shape=[2, 2], pads=[1, 1])]
    model = model_of(nodes, (2, 4, 4), {"i_pads": [0, 0, 1, 1, 0, 0, 1, 1], "scales": [1, 1, 2, 2],
                                        "i_chan": [0, 1, 0, 0, 0, 0, 0, 0]})
    with pytest.raises(UnsupportedLayerError) as err:
        nnfpga.convert_from_onnx_model(model)
    assert [name for name, _ in err.value.layers] == ["ceil", "reflect", "linear", "channel_pad", "short_pads"]
    msg = str(err.value)
    for what in ("ceil_mode=1", "mode='reflect'", "mode='linear'", "pads=[0, 1, 0, 0, 0, 0, 0, 0]",
                 "pads [1, 1]: expected 4 values"):
        assert what in msg, what


def test_opset9_upsample_equals_onnxruntime() -> None:
    node = h.make_node("Upsample", ["x", "scales"], ["y"], name="up", mode="nearest")
    model = model_of([node], (2, 3, 4), {"scales": [1, 1, 3, 2]}, opset=9)
    x = np.random.default_rng(3).normal(size=(5, 2, 3, 4))
    hw = nnfpga.convert_from_onnx_model(model)
    np.testing.assert_array_equal(hw.predict_float(x.astype(np.float32)), ort_run(model, x))  # a pure copy
    assert [n.op for n in hw.graph.nodes.values()].count("upsample") == 1


def test_batchnorm_after_a_conv_folds_and_after_a_relu_stays_per_channel() -> None:
    """Conv -> BatchNormalization folds into the conv; BatchNormalization after the Relu cannot fold and stays a
    per-channel scale/shift (channels-first constants on the channels-last tensor): both equal onnxruntime."""
    rng = np.random.default_rng(4)
    inits = {"w": rng.normal(size=(3, 2, 3, 3)), "b": rng.normal(size=3)}
    for n in ("bn_folded", "bn_kept"):
        inits |= {f"{n}_s": rng.uniform(0.5, 2, 3), f"{n}_b": rng.normal(0, 0.5, 3),
                  f"{n}_m": rng.normal(0, 0.5, 3), f"{n}_v": rng.uniform(0.3, 3, 3)}

    def bn(name: str, src: str, dst: str) -> Any:
        return h.make_node("BatchNormalization", [src, *(f"{name}_{k}" for k in "sbmv")], [dst], name=name)

    nodes = [h.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]), bn("bn_folded", "c", "n"),
             h.make_node("Relu", ["n"], ["r"], name="relu"), bn("bn_kept", "r", "y")]
    model = model_of(nodes, (2, 6, 5), inits)
    hw = nnfpga.convert_from_onnx_model(model)
    assert hw.graph["conv"].attrs["folded_batchnorm"] == ["bn_folded"]
    assert [n.name for n in hw.graph if n.op == "scale_shift"] == ["bn_kept"]
    x = rng.normal(size=(50, 2, 6, 5))
    want = ort_run(model, x)
    np.testing.assert_allclose(hw.predict_float(x.astype(np.float32)), want, rtol=1e-5, atol=1e-5)
    assert np.abs(hw.predict(x) - want).max() < 0.05  # ap_fixed<16,6> results, 16-bit weights: a few LSBs
