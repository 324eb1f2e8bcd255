"""Default configs at each granularity, and calibration that removes every overflow on its data."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
import yaml

import nnfpga
from nnfpga.config import default_config
from nnfpga.errors import ConfigError
from nnfpga.fixed import FixedType

MODEL = {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency", "TraceOutput": False}


def smallest_integer_bits(values: np.ndarray, width: int = 16) -> FixedType:
    """The signed ``width``-bit type with the fewest integer bits whose range holds every value."""
    lo, hi = float(np.min(values)), float(np.max(values))
    if lo == hi == 0:
        return FixedType(width, 1)  # documented choice for all-zero values
    for i in range(-40, 60):
        t = FixedType(width, i)
        if t.min_value <= lo and hi < 2.0 ** (i - 1):
            return t
    raise AssertionError


def predict_quiet(hw: Any, x: np.ndarray) -> tuple[np.ndarray, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", nnfpga.OverflowWarning)
        y = hw.predict(x)
    return y, [w for w in caught if issubclass(w.category, nnfpga.OverflowWarning)]


def test_model_granularity(tiny_mlp: Any) -> None:
    assert nnfpga.config_from_keras_model(tiny_mlp) == {"Model": MODEL}
    cfg = nnfpga.config_from_keras_model(tiny_mlp, default_precision="fixed<10,4,RND,SAT>", default_reuse_factor=2)
    assert cfg == {"Model": {**MODEL, "Precision": "ap_fixed<10,4,AP_RND,AP_SAT>", "ReuseFactor": 2}}


def test_type_granularity(tiny_mlp: Any) -> None:
    cfg = nnfpga.config_from_keras_model(tiny_mlp, granularity="type")
    assert cfg == {"Model": MODEL, "LayerType": {
        "Input": {"Precision": {"result": "ap_fixed<16,6>"}},
        "Dense": {"Precision": {"weight": "auto", "bias": "auto", "accum": "auto", "result": "ap_fixed<16,6>"}},
        "ReLU": {"Precision": {"result": "auto"}},
        "BatchNormalization": {"Precision": {"weight": "auto", "bias": "auto", "result": "ap_fixed<16,6>"}},
        "Softmax": {"Precision": {"exp_table": "auto", "inv_table": "auto", "result": "auto"}},
    }}


def test_name_granularity(tiny_mlp: Any) -> None:
    cfg = nnfpga.config_from_keras_model(tiny_mlp, granularity="name", default_reuse_factor=2)
    assert cfg["Model"] == {**MODEL, "ReuseFactor": 2}
    layers = cfg["LayerName"]
    assert list(layers) == ["x", "fc1", "fc1_relu", "fc2", "bn", "sm"]
    # 'bn' folds into fc2: the folded result type is bn's; fc2's own result left auto (pinned, it keeps 'bn')
    assert layers["bn"] == {"Precision": {"weight": "auto", "bias": "auto", "result": "ap_fixed<16,6>"},
                            "Trace": False}
    assert layers["x"] == {"Precision": {"result": "ap_fixed<16,6>"}, "Trace": False}
    assert layers["fc1_relu"] == {"Precision": {"result": "auto"}, "Trace": False}
    assert layers["sm"] == {"Precision": {"exp_table": "auto", "inv_table": "auto", "result": "auto"},
                            "TableSize": 1024, "Trace": False}
    typed = nnfpga.convert_from_keras_model(tiny_mlp).graph
    for name in ("fc1", "fc2"):
        entry = layers[name]
        assert entry["ReuseFactor"] == 2 and entry["Trace"] is False
        prec = entry["Precision"]
        assert list(prec) == ["weight", "bias", "accum", "result"]
        assert prec["accum"] == "auto" and prec["result"] == ("auto" if name == "fc2" else "ap_fixed<16,6>")
        # weights and biases: the default width, integer bits just holding the (folded) values
        assert prec["weight"] == str(smallest_integer_bits(typed[name].weights["kernel"]))
        assert prec["bias"] == str(smallest_integer_bits(typed[name].weights["bias"]))


def test_granularities_convert_to_the_same_model(tiny_mlp: Any, X: np.ndarray) -> None:
    outs, summaries = [], []
    for gran in ("model", "type", "name"):
        cfg = nnfpga.config_from_keras_model(tiny_mlp, granularity=gran)
        hw = nnfpga.convert_from_keras_model(tiny_mlp, hls_config=yaml.safe_load(yaml.safe_dump(cfg)))
        outs.append(hw.predict(X))
        summaries.append(hw.summary())
    assert summaries[0] == summaries[1] == summaries[2]
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])


def test_invalid_arguments(tiny_mlp: Any) -> None:
    with pytest.raises(ConfigError, match=r"^granularity must be one of model, type, name, got 'layer'$"):
        nnfpga.config_from_keras_model(tiny_mlp, granularity="layer")
    with pytest.raises(ConfigError, match=r"^Model\.Precision: invalid precision 'ap_fixed<16\.6>'"):
        nnfpga.config_from_keras_model(tiny_mlp, default_precision="ap_fixed<16.6>")


def test_default_graph_argument_is_not_modified(tiny_mlp: Any, X: np.ndarray) -> None:
    g = nnfpga.graph_from_keras_model(tiny_mlp)
    before = g.dump()
    default_config(g, "name", calibration_data=X)
    assert g.dump() == before


# -- calibration ------------------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [50.0, 3000.0])
def test_calibration_removes_overflow(tiny_mlp: Any, X: np.ndarray, scale: float) -> None:
    x = X * scale
    # the default config overflows on these inputs, and says so
    hw0 = nnfpga.convert_from_keras_model(tiny_mlp)
    _, caught = predict_quiet(hw0, x)
    assert len(caught) == 1 and "fixed-point overflow: x.result:" in str(caught[0].message)
    assert sum(o.count for o in hw0.last_stats.overflow.values()) > 0
    # calibrated: nothing overflows on the calibration data
    cfg = nnfpga.config_from_keras_model(tiny_mlp, granularity="name", calibration_data=x)
    hw = nnfpga.convert_from_keras_model(tiny_mlp, hls_config=cfg)
    y, caught = predict_quiet(hw, x)
    assert caught == []
    assert hw.last_stats.overflow and all(o.count == 0 for o in hw.last_stats.overflow.values())
    assert all(o.total > 0 for (_, slot), o in hw.last_stats.overflow.items() if slot == "result")
    # the input type follows the data: as few integer bits as hold it
    assert cfg["LayerName"]["x"]["Precision"]["result"] == str(smallest_integer_bits(x))
    # and the outputs stay close to Keras
    keras_y = np.asarray(tiny_mlp.predict(x.astype(np.float32), verbose=0), dtype=np.float64)
    assert np.mean(y.argmax(1) == keras_y.argmax(1)) > 0.9


def test_calibrated_softmax_table_range_covers_the_logit_spread(tiny_mlp: Any, X: np.ndarray) -> None:
    x = X * 50
    cfg = nnfpga.config_from_keras_model(tiny_mlp, granularity="name", calibration_data=x)
    logits = nnfpga.convert_from_keras_model(tiny_mlp).interpreter.run(x, mode="float", keep=True).values["fc2"]
    spread = float((logits.max(axis=1) - logits.min(axis=1)).max())
    expected = max(2.0 ** math.ceil(math.log2(spread)), 1.0)
    assert cfg["LayerName"]["sm"]["TableRange"] == expected
    assert cfg["LayerName"]["sm"]["TableRange"] >= spread


def test_calibrated_config_is_plain_yaml(tiny_mlp: Any, X: np.ndarray) -> None:
    cfg = nnfpga.config_from_keras_model(tiny_mlp, granularity="name", calibration_data=X * 50)
    again = yaml.safe_load(yaml.safe_dump(cfg))
    assert again == cfg
    a = nnfpga.convert_from_keras_model(tiny_mlp, hls_config=cfg).predict(X * 50)
    b = nnfpga.convert_from_keras_model(tiny_mlp, hls_config=again).predict(X * 50)
    np.testing.assert_array_equal(a, b)


def test_calibration_rejects_bad_data(tiny_mlp: Any) -> None:
    with pytest.raises(nnfpga.EmulationError, match=r"input shape \(4, 5\) does not match the model"):
        nnfpga.config_from_keras_model(tiny_mlp, granularity="name", calibration_data=np.zeros((4, 5)))
    bad = np.zeros((4, 6))
    bad[1, 2] = np.nan
    with pytest.raises(nnfpga.EmulationError, match=r"non-finite"):
        nnfpga.config_from_keras_model(tiny_mlp, granularity="name", calibration_data=bad)
