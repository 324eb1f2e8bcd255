"""Brevitas convolutions through the PyTorch frontend: a QAT CNN (QuantConv2d, depthwise and strided "same"
QuantConv2d, nn.MaxPool2d, TruncAvgPool2d, TruncAdaptiveAvgPool2d, QuantLinear) trained briefly on scikit-learn's
8x8 digits and a QuantConv1d model; emulated, and C-simulated once, bit for bit equal to Brevitas's own quantized
inference on inputs on a 2**-9 grid (rounding ties for the 8-bit input quantizer); refusals listed at once."""

from __future__ import annotations

import importlib.util
import time
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nnfpga
from frontend_models import qat_cnn, qat_cnn1d, require_brevitas
from nnfpga.errors import UnsupportedLayerError
from nnfpga.fixed import FixedType
from tooling import gxx, require

N_TEST = 6_000


def digit_images() -> tuple[np.ndarray, np.ndarray]:
    require(importlib.util.find_spec("sklearn"), "scikit-learn", "extra [data]")
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x / 16).reshape(-1, 1, 8, 8).astype(np.float32), y


def grid_inputs(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``x`` and perturbed copies of it up to ``n`` samples, on a 2**-9 grid, some beyond the input quantizer's
    range (saturation), as float32."""
    rng = np.random.default_rng(seed)
    noisy = x[rng.integers(0, len(x), n - len(x))] + rng.integers(-64, 65, (n - len(x), *x.shape[1:])) / 512
    return (np.round(np.clip(np.concatenate([x, noisy]), -1.5, 2.5) * 512) / 512).astype(np.float32)


def brevitas_out(m: nn.Module, x: np.ndarray) -> np.ndarray:
    m.eval()
    with torch.no_grad():
        y = m(torch.tensor(x))
    return np.asarray((y.value if hasattr(y, "scale") else y).numpy(), dtype=np.float64)


def assert_same(hw: nnfpga.HWModel, x: np.ndarray, want: np.ndarray, **kw: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)  # the quantizers saturate, as in training
        got = hw.predict(x, **kw)
    bad = np.argwhere(got != want)
    assert bad.size == 0, (f"{len(bad)} of {want.size} outputs differ; first at {tuple(bad[0])}: "
                           f"nnfpga {got[tuple(bad[0])]!r}, Brevitas {want[tuple(bad[0])]!r}")


@pytest.fixture(scope="module")
def trained() -> tuple[nn.Module, np.ndarray, np.ndarray]:
    x, y = digit_images()
    torch.manual_seed(0)
    m = qat_cnn()
    opt = torch.optim.Adam(m.parameters(), lr=0.02)
    xt, yt = torch.tensor(x), torch.tensor(y)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model trains fastest on one thread, the more so on a busy machine
    try:
        t0 = time.perf_counter()
        for _ in range(4):
            perm = torch.randperm(len(xt))
            for i in range(0, len(xt), 64):
                idx = perm[i : i + 64]
                opt.zero_grad()
                out = m(xt[idx])
                F.cross_entropy(out.value if hasattr(out, "scale") else out, yt[idx]).backward()
                opt.step()
        print(f"\nBrevitas CNN trained in {time.perf_counter() - t0:.1f} s")
    finally:
        torch.set_num_threads(threads)
    xs = grid_inputs(x, N_TEST, 0)
    want = brevitas_out(m, xs)
    assert float((want[:len(y)].argmax(1) == y).mean()) > 0.6  # it learned: the values are not trivial
    return m, xs, want


def test_emulator_equals_brevitas_cnn(trained: tuple[nn.Module, np.ndarray, np.ndarray]) -> None:
    m, x, want = trained
    assert len(x) >= 5_000 and len(np.unique(want)) > 5_000
    g = nnfpga.graph_from_pytorch_model(m, (1, 8, 8))
    convs = {n.name: n for n in g if n.op == "conv"}
    assert list(convs) == ["conv1", "dw", "conv3"]
    assert convs["dw"].attrs["groups"] == 8 and convs["dw"].attrs["depthwise"]
    # Brevitas keeps padding=0 on a strided "same" conv and pads it itself, as TensorFlow (3x3 in, 2x2 out)
    assert convs["conv3"].attrs["pads"] == [[1, 1], [1, 1]] and convs["conv3"].attrs["strides"] == [2, 2]
    assert FixedType.parse(convs["dw"].attrs["qtypes"]["weight"]).width > 4  # per-channel scales: their union
    assert all(set(n.attrs["qtypes"]) == {"weight", "bias", "result"} for n in convs.values())
    relu2, avg = (FixedType.parse(g[n].attrs["qtypes"]["result"]) for n in ("relu2", "avg"))
    assert avg == relu2  # 8 bits in, RoundTo8bit out: the mean of 4 rounded half to even to the input's type
    assert g["gap"].attrs["global"] and g["avg"].attrs["strides"] == [1, 1]
    assert_same(nnfpga.convert_from_pytorch_model(m, (1, 8, 8)), x, want)


@pytest.mark.tools
def test_csim_equals_brevitas_cnn(trained: tuple[nn.Module, np.ndarray, np.ndarray], tmp_path: Path) -> None:
    gxx()
    m, x, want = trained
    hw = nnfpga.convert_from_pytorch_model(m, (1, 8, 8), output_dir=tmp_path / "prj", io_type="io_parallel")
    hw.compile()
    assert_same(hw, x[:2000], want[:2000], engine="csim")


def test_emulator_equals_brevitas_cnn1d() -> None:
    torch.manual_seed(1)
    m = qat_cnn1d()
    x = grid_inputs(digit_images()[0], 5_000, 1).reshape(-1, 8, 8)
    want = brevitas_out(m, x)
    assert len(np.unique(want)) > 5_000
    g = nnfpga.graph_from_pytorch_model(m, (8, 8))
    assert g["conv"].attrs["pads"] == [[1, 1]]
    assert g["conv"].attrs["qtypes"]["result"] == "ap_fixed<6,1,AP_TRN,AP_SAT>"  # the output quantizer's
    assert_same(nnfpga.convert_from_pytorch_model(m, (8, 8)), x, want)


def test_brevitas_conv_rejections_listed_at_once() -> None:
    qnn = require_brevitas()
    from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint

    w8 = {"weight_quant": Int8WeightPerTensorFixedPoint, "bias": False, "return_quant_tensor": True}
    torch.manual_seed(0)
    m = nn.Sequential(OrderedDict(
        inp=qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=True),
        float_w=qnn.QuantConv2d(2, 4, 3, padding=1, bias=False, return_quant_tensor=True),  # float-scale weights
        reflect=qnn.QuantConv2d(4, 4, 3, padding=1, padding_mode="reflect", **w8),
        up=qnn.QuantConvTranspose2d(4, 4, 2, stride=2, **w8),
        avg=qnn.TruncAvgPool2d(3),  # a mean of 9: a non-power-of-two scale
    ))
    with pytest.raises(UnsupportedLayerError) as info:
        nnfpga.graph_from_pytorch_model(m, (2, 6, 6))
    layers = dict(info.value.layers)
    assert list(layers) == ["float_w", "reflect", "up", "avg"], layers
    scale = float(m.float_w.quant_weight().scale.detach())
    assert layers["float_w"] == (f"QuantConv2d: weight_quant scale {scale:.6g} is not a power of two, so its values "
                                 "are not exact fixed-point numbers; use a fixed-point (power-of-two scale) "
                                 "quantizer: weight_quant=Int8WeightPerTensorFixedPoint")
    assert layers["reflect"] == ("QuantConv2d(padding_mode='reflect'); nnfpga pads convolutions with zeros "
                                 "only")
    assert layers["avg"].startswith("TruncAvgPool2d: trunc_quant scale ") and layers["avg"].endswith(
        "is not a power of two, so its values are not exact fixed-point numbers; use a fixed-point (power-of-two "
        "scale) quantizer: a power-of-two window (2x2, 4x4) with trunc_quant=RoundTo8bit")
    assert layers["up"] == ("Brevitas QuantConvTranspose2d; supported Brevitas layers: QuantIdentity, QuantReLU, "
                            "QuantHardTanh, QuantLinear, QuantConv1d, QuantConv2d, TruncAvgPool2d, "
                            "TruncAdaptiveAvgPool2d")
