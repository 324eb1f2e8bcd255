"""Backend knobs as config keys (the Verilog backend's PipelineStages, AddersPerStage, Multipliers) and Trace."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import nnfpga
from graphs import chain
from nnfpga.backends.rtl import build_design, rtl_files
from nnfpga.config import apply_config, parse_config
from nnfpga.errors import ConfigError
from nnfpga.examples import DEFAULT_JET_MODEL
from nnfpga.ir.graph import Graph

JET = str(DEFAULT_JET_MODEL)
KNOB_ATTRS = ("pipeline_stages", "adders_per_stage", "multipliers")


def graph() -> Graph:
    """x(6) -> fc Dense(6x8) -> r ReLU -> out Dense(8x4) -> sm Softmax."""
    rng = np.random.default_rng(0)
    return chain((6,),
                 ("fc", "dense", {"shape": (8,), "weights": {"kernel": rng.normal(size=(6, 8)),
                                                             "bias": rng.normal(size=8)}}),
                 ("r", "relu", {}),
                 ("out", "dense", {"shape": (4,), "weights": {"kernel": rng.normal(size=(8, 4)), "bias": np.zeros(4)}}),
                 ("sm", "softmax", {}))


def knobs(cfg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    g = apply_config(graph(), parse_config(cfg))
    return {n.name: {k: n.attrs[k] for k in KNOB_ATTRS if k in n.attrs} for n in g}


def err(cfg: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        apply_config(graph(), parse_config(cfg))
    return str(info.value)


def test_unset_knobs_set_no_attribute() -> None:
    assert knobs({}) == {"x": {}, "fc": {}, "r": {}, "out": {}, "sm": {}}


def test_model_layer_type_and_layer_name_precedence() -> None:
    got = knobs({"Model": {"PipelineStages": 2, "AddersPerStage": 3, "Multipliers": "CSD"},
                 "LayerType": {"Dense": {"Multipliers": "operator", "PipelineStages": 0}},
                 "LayerName": {"out": {"AddersPerStage": None, "Multipliers": "shared", "PipelineStages": 4}}})
    assert got == {
        "x": {"pipeline_stages": 2},  # AddersPerStage and Multipliers do not apply to an input: passed by
        "fc": {"pipeline_stages": 0, "adders_per_stage": 3, "multipliers": "operator"},
        "r": {"pipeline_stages": 2},
        "out": {"pipeline_stages": 4, "adders_per_stage": None, "multipliers": "shared"},
        "sm": {"pipeline_stages": 2, "adders_per_stage": 3},
    }
    # LayerType Activation reaches the softmax
    assert knobs({"LayerType": {"Activation": {"AddersPerStage": 2}}})["sm"] == {"adders_per_stage": 2}


@pytest.mark.parametrize(("cfg", "message"), [
    ({"Model": {"PipelineStages": -1}}, "Model.PipelineStages must be an integer >= 0 (registers after the layer), "
                                        "got -1"),
    ({"LayerName": {"fc": {"PipelineStages": True}}}, "LayerName.fc.PipelineStages must be an integer >= 0 "
                                                      "(registers after the layer), got True"),
    ({"LayerType": {"Dense": {"AddersPerStage": 0}}}, "LayerType.Dense.AddersPerStage must be \"auto\" (registers "
                                                      "placed for the clock period), an integer >= 1 (adders "
                                                      "between registers inside the layer), or null (no register "
                                                      "inside the layer), got 0"),
    ({"LayerName": {"fc": {"Multipliers": "dsp"}}}, "LayerName.fc.Multipliers must be one of auto, shared, csd, "
                                                    "operator, got 'dsp'"),
    ({"LayerName": {"r": {"Multipliers": "csd"}}}, "LayerName.r.Multipliers: ReLU layer 'r' has no Multipliers "
                                                   "setting; it applies to Dense, LSTM, GRU, SimpleRNN layers"),
    ({"LayerName": {"r": {"AddersPerStage": 2}}}, "LayerName.r.AddersPerStage: ReLU layer 'r' has no AddersPerStage "
                                                  "setting; it applies to Dense, Softmax, LSTM, GRU, SimpleRNN "
                                                  "layers"),
])
def test_invalid_values_quote_what_they_got(cfg: dict[str, Any], message: str) -> None:
    assert err(cfg) == message


def test_knob_keys_are_known_keys() -> None:
    with pytest.raises(ConfigError, match=r"^unknown key 'PipelineStage' in LayerName.fc \(did you mean "
                                          r"'PipelineStages'\?\); allowed keys: Precision, ReuseFactor, Strategy, "
                                          r"TableSize, TableRange, Trace, Static, RecurrentReuseFactor, "
                                          r"PipelineStages, AddersPerStage, Multipliers$"):
        parse_config({"LayerName": {"fc": {"PipelineStage": 1}}})


def _jet(changes: dict[str, Any], **kw: Any) -> nnfpga.HWModel:
    cfg = nnfpga.config_from_keras_model(JET, granularity="name")
    for section, entries in changes.items():
        cfg.setdefault(section, {})
        for key, value in entries.items():
            if isinstance(value, dict):
                cfg[section].setdefault(key, {}).update(value)
            else:
                cfg[section][key] = value
    return nnfpga.convert_from_keras_model(JET, hls_config=cfg, project_name="jet", backend="verilog", **kw)


def test_knobs_build_the_design_the_lowering_arguments_build() -> None:
    """Config keys set what build_design's arguments and node attributes set; the default config's Verilog is the
    default design's."""
    plain = _jet({})
    default = build_design(plain.graph, "jet", prep=plain.interpreter.prep)
    assert rtl_files(plain)["rtl/jet.v"].decode() == default.sources()["jet.v"]
    hw = _jet({"Model": {"AddersPerStage": None}, "LayerType": {"Dense": {"Multipliers": "operator"}}})
    want = build_design(plain.graph, "jet", prep=plain.interpreter.prep, adders_per_stage=None,
                        multipliers="operator")
    assert rtl_files(hw)["rtl/jet.v"].decode() == want.sources()["jet.v"]
    hw = _jet({"Model": {"AddersPerStage": None, "PipelineStages": 0}, "LayerName": {"fc2": {"PipelineStages": 3}}})
    assert build_design(hw.graph, "jet", prep=hw.interpreter.prep).latency == 3


def test_knobs_of_another_backend_warn() -> None:
    cfg = nnfpga.config_from_keras_model(JET, granularity="name")
    cfg["Model"]["PipelineStages"] = 2
    cfg["LayerName"]["fc1"]["Multipliers"] = "csd"
    with pytest.warns(UserWarning, match=r"^Multipliers, PipelineStages: backend 'vitis' does not read these keys "
                                         r"\(another backend's setting\)$"):
        nnfpga.convert_from_keras_model(JET, hls_config=cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        nnfpga.convert_from_keras_model(JET, hls_config=cfg, backend="verilog")


def test_trace_shows_the_traced_layers(tiny_mlp: Any, X: np.ndarray) -> None:
    cfg = nnfpga.config_from_keras_model(tiny_mlp, granularity="name")
    assert list(nnfpga.convert_from_keras_model(tiny_mlp, hls_config=cfg).trace(X[:4])) == \
        ["x", "fc1", "fc1_relu", "fc2", "sm"]  # none traced: every layer
    cfg["LayerName"]["fc1"]["Trace"] = True
    cfg["LayerName"]["sm"]["Trace"] = True
    hw = nnfpga.convert_from_keras_model(tiny_mlp, hls_config=cfg)
    tr = hw.trace(X[:4])
    assert list(tr) == ["fc1", "sm"]
    np.testing.assert_array_equal(tr["sm"].fixed, hw.predict(X[:4]))
    cfg = {"Model": {"Precision": "ap_fixed<16,6>", "TraceOutput": True}, "LayerName": {"fc2": {"Trace": False}}}
    assert list(nnfpga.convert_from_keras_model(tiny_mlp, hls_config=cfg).trace(X[:4])) == \
        ["x", "fc1", "fc1_relu", "sm"]
