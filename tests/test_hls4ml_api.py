"""hls4ml's API, unchanged: the tutorial's part 1 and part 2 code (written from hls4ml 1.3's documented API) with
only ``import nnfpga as hls4ml``, and the configs hls4ml itself writes, accepted as they are."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnfpga
from nnfpga.errors import ConfigError, Hls4mlKeyWarning, NnfpgaError, ToolNotFoundError
from nnfpga.examples import DEFAULT_MNIST_MODEL, load_example


def accuracy_score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(y_true == y_pred))


@pytest.mark.slow
@pytest.mark.tools
def test_tutorial_part1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nnfpga as hls4ml  # the only change to the tutorial's code

    monkeypatch.chdir(tmp_path)
    model, X_test, y_test = load_example()
    y_keras = model.predict(X_test, verbose=0)

    config = hls4ml.utils.config_from_keras_model(model, granularity="model", backend="Vitis")
    hls_model = hls4ml.converters.convert_from_keras_model(
        model, hls_config=config, backend="Vitis", output_dir="model_1/hls4ml_prj", part="xcu250-figd2104-2L-e")
    hls_model.compile()
    X_test = np.ascontiguousarray(X_test)
    y_hls = hls_model.predict(X_test)

    keras_acc = accuracy_score(y_test, np.argmax(y_keras, axis=1))
    hls_acc = accuracy_score(y_test, np.argmax(y_hls, axis=1))
    assert keras_acc > 0.7 and abs(keras_acc - hls_acc) < 0.01
    assert (tmp_path / "model_1/hls4ml_prj").is_dir() and hls_model.settings["part"] == "xcu250-figd2104-2L-e"
    # the C simulation compile() built gives the same bits as predict()
    np.testing.assert_array_equal(hls_model.predict(X_test[:300], engine="csim"), y_hls[:300])
    if not _has("vitis_hls"):  # hls_model.build(csim=False): Vitis HLS is not installed here: said, not faked
        with pytest.raises(ToolNotFoundError, match="vitis_hls"):
            hls_model.build(csim=False)


@pytest.mark.slow
def test_tutorial_part2_mnist_resource(tmp_path: Path, keras: Any) -> None:
    import nnfpga as hls4ml
    from nnfpga.datasets import load_mnist_5k

    model = keras.models.load_model(DEFAULT_MNIST_MODEL, compile=False)
    X, y = load_mnist_5k()
    X_test, y_test = X[-1000:], y[-1000:]
    y_keras = model.predict(X_test, verbose=0)

    config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    config["Model"]["Precision"] = "ap_fixed<16,6>"
    config["Model"]["ReuseFactor"] = 128
    config["Model"]["Strategy"] = "Resource"
    for layer in ["fc2", "fc3", "output"]:  # a 'name' config has a ReuseFactor per layer, over Model's (as in hls4ml)
        config["LayerName"][layer]["ReuseFactor"] = 128
    config["LayerName"]["fc1"]["ReuseFactor"] = 112
    config["LayerName"]["softmax"]["exp_table_t"] = "ap_fixed<18,8>"  # hls4ml's '<slot>_t' keys
    config["LayerName"]["softmax"]["inv_table_t"] = "ap_fixed<18,4>"
    for layer in ["fc1", "fc2", "fc3", "output"]:
        config["LayerName"][layer]["Trace"] = True
    hls_model = hls4ml.converters.convert_from_keras_model(
        model, hls_config=config, backend="Vitis", output_dir=str(tmp_path / "hls4ml_prj_2"),
        part="xcu250-figd2104-2L-e")
    hls4ml_pred, hls4ml_trace = hls_model.trace(np.ascontiguousarray(X_test))

    assert sorted(hls4ml_trace) == ["fc1", "fc2", "fc3", "output"]
    assert hls4ml_trace["fc1"].shape == (1000, 128)
    assert hls_model.graph["fc1"].attrs["reuse_factor"] == 112 and hls_model.graph["fc2"].attrs["reuse_factor"] == 128
    assert hls_model.graph["fc2"].attrs["strategy"] == "Resource"
    assert str(hls_model.graph["softmax"].types["inv_table"]) == "ap_fixed<18,4>"
    keras_acc = accuracy_score(y_test, np.argmax(y_keras, axis=1))
    hls_acc = accuracy_score(y_test, np.argmax(hls4ml_pred, axis=1))
    assert keras_acc > 0.85 and abs(keras_acc - hls_acc) < 0.02


def test_configs_hls4ml_writes_are_accepted(keras: Any) -> None:
    """hls4ml 1.3's own config_from_keras_model output (every granularity, its Vitis keys: BramFactor, table
    precisions, TableSize on ReLU, softmax Implementation/Skip...) converts as it is, without a warning."""
    import hls4ml

    model = keras.models.load_model(nnfpga.examples.DEFAULT_JET_MODEL, compile=False)
    for granularity in ("model", "type", "name"):
        cfg = hls4ml.utils.config_from_keras_model(model, granularity=granularity, backend="Vitis")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Hls4mlKeyWarning)
            hw = nnfpga.converters.convert_from_keras_model(model, hls_config=cfg, backend="Vitis")
        assert hw.settings["backend"] == "vitis"


def test_hls4ml_keys_that_matter_warn_and_typos_are_refused(keras: Any) -> None:
    model = keras.models.load_model(nnfpga.examples.DEFAULT_JET_MODEL, compile=False)
    cfg = nnfpga.utils.config_from_keras_model(model, granularity="name")
    cfg["Model"]["BramFactor"] = 100
    cfg["LayerName"]["fc1_relu"] = {"Precision": {"table": "ap_fixed<10,4>"}, "TableSize": 64}
    with pytest.warns(Hls4mlKeyWarning, match=r"Model.BramFactor = 100 \(weights are always constants"):
        nnfpga.converters.convert_from_keras_model(model, hls_config=cfg, backend="Vitis")
    cfg["Model"]["BramFactr"] = 1
    with pytest.raises(ConfigError, match="unknown key 'BramFactr' in Model \\(did you mean 'BramFactor'"):
        nnfpga.converters.convert_from_keras_model(model, hls_config=cfg, backend="Vitis")
    del cfg["Model"]["BramFactr"]
    cfg["LayerName"]["softmax"]["Skip"] = True
    with pytest.raises(ConfigError, match="Skip: true \\(hls4ml drops the softmax\\) is not supported"):
        nnfpga.converters.convert_from_keras_model(model, hls_config=cfg, backend="Vitis")


def test_backend_spellings_and_arguments(keras: Any) -> None:
    model = keras.models.load_model(nnfpga.examples.DEFAULT_JET_MODEL, compile=False)
    with pytest.warns(Hls4mlKeyWarning, match="backend 'Vivado': nnfpga writes Vitis HLS C"):
        hw = nnfpga.converters.convert_from_keras_model(model)  # hls4ml's default backend='Vivado'
    assert hw.settings["backend"] == "vitis" and str(hw.output_dir) == "my-hls-test"
    hw = nnfpga.converters.convert_from_keras_model(model, backend="VITIS", io_type="io_stream", clock_period=4)
    assert (hw.settings["io_type"], hw.settings["clock_period"]) == ("io_stream", 4.0)
    with pytest.raises(ConfigError, match="backend 'Quartus' is not available in nnfpga; expected 'Vitis'"):
        nnfpga.converters.convert_from_keras_model(model, backend="Quartus")
    with pytest.raises(ConfigError, match="unexpected keyword argument 'clock_perod' \\(did you mean 'clock_period'"):
        nnfpga.converters.convert_from_keras_model(model, backend="Vitis", clock_perod=4)
    with pytest.raises(ConfigError, match="build\\(validation=True\\): C/RTL validation is not available"):
        hw.build(validation=True)
    with pytest.raises(NnfpgaError, match="plot_model is not available in nnfpga"):
        nnfpga.utils.plot_model(hw, show_shapes=True)


def test_pytorch_input_shape_travels_in_the_config() -> None:
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 5))
    cfg = nnfpga.utils.config_from_pytorch_model(model, (16,), granularity="name", backend="Vitis")
    hw = nnfpga.converters.convert_from_pytorch_model(model, hls_config=cfg, backend="Vitis")  # as in hls4ml 1.3
    x = np.random.default_rng(0).normal(size=(50, 16))
    want = model(torch.tensor(x, dtype=torch.float32)).detach().numpy()
    np.testing.assert_allclose(hw.predict_float(x), want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ConfigError, match="needs the input shape in hls_config\\['InputShape'\\]"):
        nnfpga.converters.convert_from_pytorch_model(model, hls_config={"Model": {}}, backend="Vitis")


def _has(tool: str) -> bool:
    import shutil

    return shutil.which(tool) is not None


def dense_bn_model(keras: Any) -> Any:
    """Dense -> BatchNormalization twice (one before a ReLU), the batch-norms' statistics randomized."""
    L = keras.layers
    keras.utils.set_random_seed(3)
    m = keras.Sequential([keras.Input((10,), name="x"), L.Dense(16, name="fc1"), L.BatchNormalization(name="bn1"),
                          L.ReLU(name="r1"), L.Dense(8, name="fc2"), L.BatchNormalization(name="bn2"),
                          L.Dense(4, name="out")])
    rng = np.random.default_rng(0)
    for name in ("bn1", "bn2"):
        n = m.get_layer(name).get_weights()[0].shape[0]
        m.get_layer(name).set_weights([rng.uniform(0.5, 2, n), rng.normal(0, 0.5, n), rng.normal(0, 0.5, n),
                                       rng.uniform(0.5, 2, n)])
    return m


@pytest.mark.slow
@pytest.mark.tools
def test_dense_batchnorm_with_every_precision_explicit_equals_hls4ml(keras: Any, tmp_path: Path) -> None:
    """hls4ml folds a batch-norm into its Dense only when the Dense result is ``auto``; with every precision set
    by hand (``ap_fixed<16,6>``) the Dense output is cast, then the batch-norm applies: the same bits as
    hls4ml 1.3's C simulation of the same config, with hls4ml's config dict as it writes it."""
    import copy
    import importlib.util

    from tooling import gxx, require

    require(importlib.util.find_spec("hls4ml"), "hls4ml", "make setup: extra [test]")
    gxx()
    import hls4ml

    model = dense_bn_model(keras)
    x = np.random.default_rng(1).uniform(-3, 3, (3000, 10))
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    for layer in cfg["LayerName"].values():
        layer["Precision"] = {k: "ap_fixed<16,6>" for k in layer["Precision"]}
    theirs = hls4ml.converters.convert_from_keras_model(model, hls_config=copy.deepcopy(cfg), backend="Vitis",
                                                        output_dir=str(tmp_path / "hls4ml"))
    theirs.compile()
    expected = theirs.predict(np.ascontiguousarray(x))
    assert [layer.class_name for layer in theirs.get_layers()].count("BatchNormalization") == 2  # not folded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Hls4mlKeyWarning)  # the ReLU's param/table types: no such slots here
        ours = nnfpga.convert_from_keras_model(model, hls_config=cfg, output_dir=tmp_path / "nnfpga")
    assert [n.op for n in ours.graph].count("scale_shift") == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        got = ours.predict(x)
    assert np.array_equal(got, expected), f"{int((got != expected).sum())} of {got.size} logits differ"
    # the default config still folds both, as hls4ml's 'auto' results do
    assert "scale_shift" not in [n.op for n in nnfpga.convert_from_keras_model(model).graph]
    name_cfg = nnfpga.config_from_keras_model(model, granularity="name")
    assert "scale_shift" not in [n.op for n in nnfpga.convert_from_keras_model(model, hls_config=name_cfg).graph]
