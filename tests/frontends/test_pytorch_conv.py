"""PyTorch convolutional modules: each option against torch's own forward (float kernels), a Keras CNN and its
PyTorch twin with the same weights emulate to the same bits, and the refusals are listed at once."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import nnfpga
from conv_twins import keras_twin
from nnfpga.errors import UnsupportedLayerError

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional


def torch_out(model: Any, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(torch.tensor(np.asarray(x, dtype=np.float32))).double().numpy()


class Interp(nn.Module):
    def forward(self, x: Any) -> Any:
        return F.interpolate(x, None, 2, "nearest")


def trained_bn(bn: Any) -> Any:
    """A batch norm with running statistics and an affine part that are not the identity."""
    with torch.no_grad():
        for t, lo in ((bn.running_mean, -1.0), (bn.running_var, 0.5), (bn.weight, 0.5), (bn.bias, -1.0)):
            t.copy_(torch.rand(t.shape) * 1.5 + lo)
    return bn


class Functional(nn.Module):
    """A forward written with torch.nn.functional, ending in x.view(N, -1) of a channels-first tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)

    def forward(self, x: Any) -> Any:
        h = F.max_pool2d(F.relu(self.conv(F.pad(x, (1, 0, 2, 1)))), 2, padding=1)
        h = F.avg_pool2d(h, 2, stride=1, padding=1, count_include_pad=False)
        return h.view(h.size(0), -1)


class Functional1d(nn.Module):
    def forward(self, x: Any) -> Any:
        pooled = torch.flatten(F.avg_pool1d(F.max_pool1d(x, 3, 2), 2), 1)
        return torch.cat([pooled, F.adaptive_max_pool1d(x, 1).flatten(1)], 1)


# name -> (per-sample channels-first shape, module factory)
CASES: dict[str, tuple[tuple[int, ...], Any]] = {
    "conv1d": ((2, 9), lambda: nn.Conv1d(2, 4, 3)),
    "conv1d_same_dilated": ((2, 9), lambda: nn.Conv1d(2, 3, 4, padding="same", dilation=2)),
    "conv1d_stride_pad_nobias": ((3, 10), lambda: nn.Conv1d(3, 2, 3, stride=2, padding=2, bias=False)),
    "conv2d": ((2, 6, 5), lambda: nn.Conv2d(2, 4, 3)),
    "conv2d_strides_pads": ((2, 7, 8), lambda: nn.Conv2d(2, 3, (3, 2), stride=(2, 3), padding=(1, 2))),
    "conv2d_same_even": ((1, 7, 6), lambda: nn.Conv2d(1, 2, 4, padding="same")),
    "conv2d_groups": ((4, 5, 5), lambda: nn.Conv2d(4, 6, 2, groups=2)),
    "depthwise2d": ((3, 6, 7), lambda: nn.Conv2d(3, 6, 3, groups=3, stride=2, padding=1)),
    "maxpool1d": ((2, 9), lambda: nn.MaxPool1d(2)),
    "maxpool2d_pad": ((2, 7, 6), lambda: nn.MaxPool2d(3, stride=2, padding=1)),
    "avgpool1d": ((2, 8), lambda: nn.AvgPool1d(3, stride=1)),
    "avgpool2d": ((2, 6, 6), lambda: nn.AvgPool2d(2)),
    "avgpool2d_pad_count": ((2, 5, 7), lambda: nn.AvgPool2d(3, stride=1, padding=1)),
    "avgpool2d_pad_exclude": ((2, 5, 7), lambda: nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)),
    "adaptive_avg2d": ((3, 4, 4), lambda: nn.AdaptiveAvgPool2d(1)),
    "adaptive_max1d": ((3, 7), lambda: nn.AdaptiveMaxPool1d(1)),
    "upsample2d": ((2, 3, 4), lambda: nn.Upsample(scale_factor=(2, 3))),
    "upsample2d_nearest_exact": ((2, 3, 4), lambda: nn.Upsample(scale_factor=(2, 3), mode="nearest-exact")),
    "interpolate1d": ((2, 4), Interp),
    "zeropad2d": ((2, 4, 5), lambda: nn.ZeroPad2d((0, 3, 1, 2))),
    "functional2d_view": ((2, 7, 8), Functional),
    "conv2d_batchnorm2d_relu": ((2, 6, 6), lambda: nn.Sequential(nn.Conv2d(2, 3, 3), trained_bn(nn.BatchNorm2d(3)),
                                                                 nn.ReLU())),
    "conv1d_batchnorm1d": ((2, 8), lambda: nn.Sequential(nn.Conv1d(2, 3, 3), trained_bn(nn.BatchNorm1d(3)))),
    "functional1d_flatten": ((3, 11), Functional1d),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_float_kernels_equal_torch(name: str) -> None:
    shape, make = CASES[name]
    torch.manual_seed(sorted(CASES).index(name))
    m = nn.Sequential(make())  # the root module is traced through: wrap it
    x = np.random.default_rng(1).normal(scale=1.5, size=(20, *shape))
    hw = nnfpga.convert_from_pytorch_model(m, shape)
    want = torch_out(m, x)
    got = hw.predict_float(x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)  # the input at ap_fixed<16,6>
        fixed = hw.predict(x)
    assert np.abs(fixed - want).max() < 0.02  # the default config: ap_fixed<16,6> results, exact accumulators
    if "batchnorm" in name:  # folded into the convolution
        assert [n.op for n in hw.graph.nodes.values()].count("scale_shift") == 0


@pytest.mark.parametrize("conv1d", [True, False], ids=["conv1d", "conv2d"])
def test_torch_twin_of_a_keras_cnn_emulates_to_the_same_bits(keras: Any, conv1d: bool) -> None:
    model, tm, shape = keras_twin(keras, conv1d)
    x = np.random.default_rng(2).normal(scale=1.5, size=(200, *shape))
    xt = np.moveaxis(x, -1, 1)
    torch_shape = (shape[-1], *shape[:-1])
    np.testing.assert_allclose(torch_out(tm, xt), model.predict(x.astype(np.float32), verbose=0), atol=1e-4)
    hk = nnfpga.convert_from_keras_model(model)
    ht = nnfpga.convert_from_pytorch_model(tm, torch_shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        yk, yt = hk.predict(x), ht.predict(xt)
    assert np.array_equal(yk, yt)
    ops = [n.op for n in ht.graph.nodes.values()]  # the transposes between spatial ops (and the ReLU) cancelled
    assert "transpose" not in ops[ops.index("zero_pad"):ops.index("avg_pool")]
    np.testing.assert_allclose(ht.predict_float(xt), torch_out(tm, xt), atol=1e-5)


def test_unsupported_options_are_listed_at_once() -> None:
    m = nn.Sequential(nn.Conv2d(1, 2, 3, padding_mode="reflect"), nn.MaxPool2d(2, ceil_mode=True),
                      nn.AvgPool2d(2, divisor_override=3), nn.AdaptiveAvgPool2d(2),
                      nn.Upsample(scale_factor=2, mode="bilinear"))
    with pytest.raises(UnsupportedLayerError) as err:
        nnfpga.convert_from_pytorch_model(m, (1, 12, 12))
    msg = str(err.value)
    for what in ("padding_mode='reflect'", "ceil_mode=True", "divisor_override=3", "output_size=2",
                 "mode='bilinear'"):
        assert what in msg, what


def test_unsupported_functional_calls_are_listed_at_once() -> None:
    class Bad(nn.Module):
        def forward(self, x: Any) -> Any:
            h = F.pad(F.max_pool2d(x, 2, ceil_mode=True), (1, 1, 1, 1), mode="reflect")
            return F.interpolate(F.avg_pool2d(h, 2, divisor_override=2), scale_factor=2, mode="bilinear")

    with pytest.raises(UnsupportedLayerError) as err:
        nnfpga.convert_from_pytorch_model(Bad(), (1, 12, 12))
    assert [name for name, _ in err.value.layers] == ["max_pool2d", "pad", "avg_pool2d", "interpolate"]
    for what in ("ceil_mode=True", "mode='reflect'", "divisor_override=2", "mode='bilinear'"):
        assert what in str(err.value), what


def test_unrepresentable_padding_and_upsampling_modules_are_listed_at_once() -> None:
    """Reflect/replicate/circular padding (modules and conv padding modes) and bilinear/bicubic upsampling have no
    exact zero-padding or nearest-neighbour equivalent: every such layer is named in one error."""
    m = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(2, 2, 3), nn.ReplicationPad2d(1),
                      nn.UpsamplingBilinear2d(scale_factor=2), nn.Upsample(scale_factor=2, mode="bicubic"),
                      nn.Conv2d(2, 2, 3, padding=1, padding_mode="circular"),
                      nn.Conv2d(2, 2, 3, padding=1, padding_mode="replicate"))
    with pytest.raises(UnsupportedLayerError) as err:
        nnfpga.convert_from_pytorch_model(m, (2, 6, 6))
    assert [name for name, _ in err.value.layers] == ["0", "2", "3", "4", "5", "6"]
    for what in ("ReflectionPad2d", "ReplicationPad2d", "UpsamplingBilinear2d", "mode='bicubic'",
                 "padding_mode='circular'", "padding_mode='replicate'"):
        assert what in str(err.value), what
