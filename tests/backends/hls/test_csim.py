"""HLS backend: generated C++ compiled with g++ (nnfpga's ap_types and Xilinx's) equals the emulator bit for bit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import nnfpga
from backends.hls.conftest import all_activations_model, edge_inputs, random_config
from nnfpga.examples import DEFAULT_JET_MODEL, DEFAULT_MNIST_MODEL

pytestmark = [pytest.mark.tools, pytest.mark.slow]


def assert_bit_exact(hw: nnfpga.HWModel, x: np.ndarray, ap_types: str | None) -> None:
    hw.compile(ap_types_dir=ap_types)
    y_csim = hw.predict(x, engine="csim")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)  # edge inputs overflow on purpose
        y_emu = hw.predict(x)
    bad = np.argwhere(y_csim != y_emu)
    assert bad.size == 0, (f"{len(bad)} of {y_emu.size} outputs differ; first at {tuple(bad[0])}: "
                           f"csim {y_csim[tuple(bad[0])]!r} emulator {y_emu[tuple(bad[0])]!r}")


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_jet_mlp(tmp_path, ap_types, io_type):
    cfg = nnfpga.config_from_keras_model(str(DEFAULT_JET_MODEL), granularity="name")
    hw = nnfpga.convert_from_keras_model(str(DEFAULT_JET_MODEL), hls_config=cfg, output_dir=tmp_path / "prj",
                                         io_type=io_type)
    assert_bit_exact(hw, edge_inputs(16, 3000, np.random.default_rng(1)), ap_types)


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_mnist_mlp_resource_strategy(tmp_path, ap_types, io_type):
    cfg = nnfpga.config_from_keras_model(str(DEFAULT_MNIST_MODEL), granularity="name")
    for name, entry in cfg["LayerName"].items():
        if "ReuseFactor" in entry:
            entry["ReuseFactor"] = 112 if name == "fc1" else 128
            entry["Strategy"] = "Resource"
    hw = nnfpga.convert_from_keras_model(str(DEFAULT_MNIST_MODEL), hls_config=cfg, output_dir=tmp_path / "prj",
                                         io_type=io_type)
    x = np.random.default_rng(2).uniform(0, 1, size=(300, 784))
    assert_bit_exact(hw, x, ap_types)
    assert "STRATEGY_RESOURCE" in (tmp_path / "prj" / "firmware" / "parameters.h").read_text()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_random_precisions_all_activations(tmp_path, ap_types, io_type, seed):
    model = all_activations_model(seed)
    rng = np.random.default_rng(100 + seed)
    cfg = random_config(nnfpga.config_from_keras_model(model, granularity="name"), rng)
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, output_dir=tmp_path / "prj", io_type=io_type)
    assert_bit_exact(hw, edge_inputs(10, 2000, rng), ap_types)
