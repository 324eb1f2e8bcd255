"""Issue 10's acceptance: per-channel batch-norm on non-flat tensors, residual and concatenating models, and every
merge op, bit-exact across the three engines (emulator, g++ C simulation in both io types, Verilator) on 10,000
inputs each."""

from __future__ import annotations

import copy
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnfpga
from tooling import gxx, require

N = 10_000


def bn_reshape(keras: Any) -> Any:
    """The issue's model: Input(16) -> Reshape((4, 4)) -> BatchNormalization -> Flatten -> Dense(3)."""
    L = keras.layers
    i = keras.Input((16,))
    bn = L.BatchNormalization(name="bn")
    m = keras.Model(i, L.Dense(3, name="fc")(L.Flatten()(bn(L.Reshape((4, 4))(i)))), name="bn_reshape")
    _randomize(bn, 4, 1)
    return m


def bn_image(keras: Any) -> Any:
    """Batch-norm over the last axis of an (8, 8, 3) tensor."""
    L = keras.layers
    i = keras.Input((8, 8, 3))
    bn = L.BatchNormalization(name="bn")
    m = keras.Model(i, L.Dense(3, name="fc")(L.Flatten()(bn(i))), name="bn_image")
    _randomize(bn, 3, 2)
    return m


def residual(keras: Any) -> Any:
    """Dense -> Add with a skip -> Dense."""
    L = keras.layers
    i = keras.Input((16,))
    h = L.Dense(16, activation="relu", name="fc1")(i)
    return keras.Model(i, L.Dense(5, name="out")(L.Add(name="skip")([h, i])), name="residual")


def concat(keras: Any) -> Any:
    L = keras.layers
    i = keras.Input((16,))
    a, b = L.Dense(8, activation="relu", name="a")(i), L.Dense(4, activation="tanh", name="b")(i)
    return keras.Model(i, L.Dense(5, name="out")(L.Concatenate(name="cat")([a, b, i])), name="concat")


def every_merge(keras: Any) -> Any:
    """Subtract, Multiply, Average, Maximum (3 inputs), Minimum, and a Concatenate of them all on (2, 4) tensors."""
    L = keras.layers
    i = keras.Input((8,))
    a, b = L.Dense(8, name="a")(i), L.Dense(8, activation="sigmoid", name="b")(i)
    merged = [L.Subtract()([a, b]), L.Multiply()([a, i]), L.Average()([a, b]), L.Maximum()([a, b, i]),
              L.Minimum()([a, i])]
    rows = [L.Reshape((2, 4))(x) for x in merged]
    return keras.Model(i, L.Dense(3, name="out")(L.Flatten()(L.Concatenate(axis=1)(rows))), name="every_merge")


def _randomize(bn: Any, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    bn.set_weights([rng.uniform(0.5, 2, n), rng.uniform(-1, 1, n), rng.uniform(-1, 1, n), rng.uniform(0.5, 2, n)])


MODELS: dict[str, Callable[[Any], Any]] = {f.__name__: f for f in (bn_reshape, bn_image, residual, concat,
                                                                    every_merge)}


def convert(model: Any, tmp: Path, backend: str, io_type: str = "io_parallel") -> nnfpga.HWModel:
    cfg = nnfpga.config_from_keras_model(model, default_precision="ap_fixed<18,8>")
    return nnfpga.convert_from_keras_model(model, hls_config=cfg, output_dir=tmp / f"{backend}_{io_type}",
                                           backend=backend, io_type=io_type)


def inputs(model: Any) -> np.ndarray:
    return np.random.default_rng(0).uniform(-6, 6, size=(N, *model.inputs[0].shape[1:]))


@pytest.mark.parametrize("name", MODELS)
def test_emulator_follows_keras(keras: Any, tmp_path: Path, name: str) -> None:
    model = MODELS[name](keras)
    x = inputs(model)[:2000]
    hw = convert(model, tmp_path, "vitis")
    ref = model.predict(x, verbose=0)
    assert np.abs(hw.predict_float(x) - ref).max() < 1e-4  # the graph is the model
    with warnings.catch_warnings():
        warnings.simplefilter("error", nnfpga.OverflowWarning)  # exact merge types: nothing overflows
        assert np.abs(hw.predict(x) - ref).max() < 0.05 * max(1.0, np.abs(ref).max())


@pytest.mark.tools
@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_three_engines_agree(keras: Any, tmp_path: Path, name: str) -> None:
    gxx()
    require(shutil.which("verilator"), "verilator", "make tools")
    model = MODELS[name](keras)
    x = inputs(model)
    expected = convert(model, tmp_path, "vitis").predict(x)
    for io_type in ("io_parallel", "io_stream"):
        hw = convert(model, tmp_path, "vitis", io_type)
        hw.compile()
        got = hw.predict(x, engine="csim")
        assert np.array_equal(got, expected), f"{name} csim {io_type}: {int((got != expected).sum())} outputs differ"
    rtl = convert(model, tmp_path, "verilog")
    got = rtl.predict(x, engine="rtl")
    assert np.array_equal(got, expected), f"{name} Verilator: {int((got != expected).sum())} outputs differ"


@pytest.mark.tools
@pytest.mark.slow
def test_channels_first_batchnorm_from_pytorch(tmp_path: Path) -> None:
    """PyTorch's BatchNorm1d over the channels of (N, C, L): transposes to channels-last and back (the pair between
    the two batch-norms cancels), bit-exact across the three engines."""
    import torch
    from torch import nn

    from graphs import randomize_torch_batchnorm

    torch.manual_seed(0)
    model = nn.Sequential(nn.BatchNorm1d(3), nn.BatchNorm1d(3), nn.Flatten(), nn.Linear(15, 4))
    for bn in model[:2]:
        randomize_torch_batchnorm(bn)
    model.eval()
    x = np.random.default_rng(0).uniform(-3, 3, (N, 3, 5))
    cfg = nnfpga.config_from_pytorch_model(model, (3, 5), default_precision="ap_fixed<18,8>")
    hw = nnfpga.convert_from_pytorch_model(model, (3, 5), hls_config=cfg, output_dir=tmp_path / "v")
    assert [n.op for n in hw.graph] == ["input", "transpose", "scale_shift", "scale_shift", "transpose", "flatten",
                                        "dense"]
    ref = model(torch.tensor(x[:500], dtype=torch.float32)).detach().numpy()
    np.testing.assert_allclose(hw.predict_float(x[:500]), ref, rtol=1e-5, atol=1e-5)
    expected = hw.predict(x)
    gxx()
    hw.compile()
    assert np.array_equal(hw.predict(x, engine="csim"), expected)
    rtl = nnfpga.convert_from_pytorch_model(model, (3, 5), hls_config=cfg, output_dir=tmp_path / "r",
                                            backend="verilog")
    assert np.array_equal(rtl.predict(x, engine="rtl"), expected)


def hls4ml_merges(keras: Any) -> Any:
    """Every merge hls4ml 1.3 builds (two inputs each), joined by two-input Concatenates."""
    L = keras.layers
    keras.utils.set_random_seed(1)
    i = keras.Input((8,), name="x")
    a, b = L.Dense(8, name="a")(i), L.Dense(8, activation="relu", name="b")(i)
    merged = [L.Add(name="add")([a, i]), L.Subtract(name="sub")([a, b]), L.Multiply(name="mul")([a, b]),
              L.Average(name="avg")([a, b]), L.Maximum(name="max")([a, b]), L.Minimum(name="min")([a, i])]
    c = merged[0]
    for k, t in enumerate(merged[1:]):
        c = L.Concatenate(name=f"cat{k}")([c, t])
    return keras.Model(i, L.Dense(3, name="out")(c), name="hls4ml_merges")


@pytest.mark.tools
@pytest.mark.slow
@pytest.mark.parametrize("precision", ["ap_fixed<16,6>", "ap_fixed<10,4,AP_RND,AP_SAT>"])
def test_merges_equal_hls4ml(keras: Any, tmp_path: Path, precision: str) -> None:
    """With every precision explicit, nnfpga's merges give hls4ml 1.3's C simulation's bits (its config as hls4ml
    writes it, less the keys nnfpga does not read yet)."""
    import importlib.util

    require(importlib.util.find_spec("hls4ml"), "hls4ml", "make setup: extra [test]")
    gxx()
    import hls4ml

    model = hls4ml_merges(keras)
    x = np.random.default_rng(0).uniform(-4, 4, (3000, 8))
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    for layer in cfg["LayerName"].values():
        layer["Precision"] = {k: "ap_fixed<32,12>" if k == "accum" else precision for k in layer["Precision"]}
    cfg["LayerName"]["b_relu"] = {"Precision": {"result": precision}}  # hls4ml also lists a table for ReLU
    theirs = hls4ml.converters.convert_from_keras_model(model, hls_config=copy.deepcopy(cfg),
                                                        output_dir=str(tmp_path / "hls4ml"), backend="Vitis")
    theirs.compile()
    expected = theirs.predict(np.ascontiguousarray(x))
    cfg["Model"] = {k: v for k, v in cfg["Model"].items() if k in ("Precision", "ReuseFactor", "Strategy")}
    ours = nnfpga.convert_from_keras_model(model, hls_config=cfg, output_dir=tmp_path / "nnfpga")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        got = ours.predict(x)
    assert np.array_equal(got, expected), f"{int((got != expected).sum())} of {got.size} outputs differ"


def test_a_merge_too_wide_for_the_hls_backend_is_refused_at_conversion(tmp_path: Path) -> None:
    from nnfpga.fixed import FixedType
    from nnfpga.ir.graph import Graph, Node
    from nnfpga.passes import infer_types

    g = Graph(name="wide")
    g.add(Node("x", "input", [], (2,), types={"result": FixedType(50, 10)}))
    g.add(Node("p", "multiply", ["x", "x", "x"], (2,), types={"result": FixedType(16, 6)}))
    g.outputs = ["p"]
    infer_types(g, FixedType(16, 6))
    with pytest.raises(nnfpga.ConfigError, match=r"types too wide for the HLS backend: p's exact multiply = "
                                                 r"ap_fixed<148,28> \(148 bits > 128\)"):
        nnfpga.HWModel(g, {}, output_dir=tmp_path / "prj")
    nnfpga.HWModel(g, {}, output_dir=tmp_path / "prj", backend="verilog")  # exact in Verilog, whatever the width
