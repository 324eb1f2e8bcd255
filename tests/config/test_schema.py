"""Parsing and validation of hls4ml-style config dicts (no graph involved)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from nnfpga.config import parse_config
from nnfpga.config.schema import LAYER_KEYS, MODEL_KEYS
from nnfpga.errors import ConfigError
from nnfpga.fixed import FixedType

EXAMPLES = "e.g. 'ap_fixed<16,6>', 'ap_ufixed<8,0,AP_RND,AP_SAT>', 'ap_int<8>' or hls4ml's 'fixed<16,6,RND,SAT>'"


def err(cfg: Any) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(cfg)
    return str(info.value)


def test_defaults() -> None:
    for cfg in (None, {}, {"Model": None}, {"Model": {}, "LayerType": None, "LayerName": {}}):
        c = parse_config(cfg)
        assert (c.default, c.reuse_factor, c.strategy, c.trace) == (FixedType(16, 6), 1, "Latency", False)
        assert c.layer_type == {} and c.layer_name == {}


def test_every_model_key() -> None:
    assert MODEL_KEYS == ("Precision", "ReuseFactor", "Strategy", "TraceOutput")
    c = parse_config({"Model": {"Precision": "ap_fixed<10,4,AP_RND,AP_SAT>", "ReuseFactor": 4,
                                "Strategy": "Resource", "TraceOutput": True}})
    assert c.default == FixedType(10, 4, rounding="RND", overflow="SAT")
    assert (c.reuse_factor, c.strategy, c.trace) == (4, "Resource", True)
    # hls4ml's {default: ...} form and spelling without the ap_ prefix
    assert parse_config({"Model": {"Precision": {"default": "fixed<8,3,RND,SAT>"}}}).default == \
        FixedType(8, 3, rounding="RND", overflow="SAT")
    assert parse_config({"Model": {"Precision": {}}}).default == FixedType(16, 6)


def test_every_layer_key() -> None:
    assert LAYER_KEYS == ("Precision", "ReuseFactor", "Strategy", "TableSize", "TableRange", "Trace")
    c = parse_config({"LayerName": {"fc1": {
        "Precision": {"weight": "ap_fixed<8,2>", "bias": "ap_fixed<8,3>", "accum": "auto", "result": "AUTO"},
        "ReuseFactor": 2, "Strategy": "resource", "TableSize": 512, "TableRange": 0.5, "Trace": True}}})
    lc = c.layer_name["fc1"]
    assert lc.precision == {"weight": FixedType(8, 2), "bias": FixedType(8, 3), "accum": None, "result": None}
    assert not lc.precision_from_string
    assert (lc.reuse_factor, lc.strategy, lc.table_size, lc.table_range, lc.trace) == (2, "Resource", 512, 0.5, True)
    assert isinstance(lc.table_range, float)


def test_layer_type_section_and_unset_keys() -> None:
    c = parse_config({"LayerType": {"Dense": {"ReuseFactor": 3}}, "LayerName": {7: {}}})
    lc = c.layer_type["Dense"]
    assert lc.reuse_factor == 3
    assert (lc.precision, lc.strategy, lc.table_size, lc.table_range, lc.trace) == ({}, None, None, None, None)
    assert list(c.layer_name) == ["7"]  # YAML may give non-string names


def test_string_precision_sets_the_value_slots() -> None:
    lc = parse_config({"LayerName": {"a": {"Precision": "ap_fixed<8,3>"}}}).layer_name["a"]
    assert lc.precision == dict.fromkeys(("result", "weight", "bias", "param"), FixedType(8, 3))
    assert lc.precision_from_string
    assert "accum" not in lc.precision  # the accumulator stays exact
    auto = parse_config({"LayerName": {"a": {"Precision": " Auto "}}}).layer_name["a"]
    assert auto.precision == dict.fromkeys(("result", "weight", "bias", "param"))


@pytest.mark.parametrize(("value", "expected"), [("latency", "Latency"), ("LATENCY", "Latency"),
                                                 ("Resource", "Resource"), ("rEsOuRcE", "Resource")])
def test_strategy_is_case_insensitive(value: str, expected: str) -> None:
    assert parse_config({"Model": {"Strategy": value}}).strategy == expected
    assert parse_config({"LayerName": {"a": {"Strategy": value}}}).layer_name["a"].strategy == expected


def test_yaml_config() -> None:
    text = """
Model:
  Precision: ap_fixed<12,5>
  ReuseFactor: 2
LayerName:
  fc1:
    Precision: {weight: 'ap_fixed<8,2>', result: auto}
    TableRange: 8
"""
    c = parse_config(yaml.safe_load(text))
    assert c.default == FixedType(12, 5) and c.reuse_factor == 2
    assert c.layer_name["fc1"].precision == {"weight": FixedType(8, 2), "result": None}
    assert c.layer_name["fc1"].table_range == 8.0


# -- errors -----------------------------------------------------------------------------------------

def test_config_must_be_a_mapping() -> None:
    assert err([1]) == "the config must be a mapping with sections Model, LayerType, LayerName, got list"
    assert err({"Model": "x"}) == "Model must be a mapping, got str 'x'"
    assert err({"LayerName": ["fc1"]}) == "LayerName must be a mapping, got list ['fc1']"
    assert err({"LayerName": {"fc1": 4}}) == "LayerName.fc1 must be a mapping, got int 4"


@pytest.mark.parametrize(("cfg", "message"), [
    ({"Modle": {}},
     "unknown key 'Modle' in the config (did you mean 'Model'?); allowed keys: Model, LayerType, LayerName"),
    ({"Model": {"Reuse": 2}},
     "unknown key 'Reuse' in Model (did you mean 'ReuseFactor'?); allowed keys: Precision, ReuseFactor, Strategy, "
     "TraceOutput, Static, RecurrentReuseFactor, PipelineStages, AddersPerStage, Multipliers"),
    ({"Model": {"Precision": {"default": "ap_fixed<8,3>", "weight": "ap_fixed<8,3>"}}},
     "unknown key 'weight' in Model.Precision; allowed keys: default"),
    ({"LayerName": {"fc1": {"TableRnage": 8}}},
     "unknown key 'TableRnage' in LayerName.fc1 (did you mean 'TableRange'?); allowed keys: Precision, ReuseFactor, "
     "Strategy, TableSize, TableRange, Trace, Static, RecurrentReuseFactor, PipelineStages, AddersPerStage, "
     "Multipliers"),
    ({"LayerType": {"Dense": {"xyz": 1}}},
     "unknown key 'xyz' in LayerType.Dense; allowed keys: Precision, ReuseFactor, Strategy, TableSize, TableRange, "
     "Trace, Static, RecurrentReuseFactor, PipelineStages, AddersPerStage, Multipliers"),
    ({"Model": {"Trace": True}},
     "unknown key 'Trace' in Model (did you mean 'TraceOutput'?); allowed keys: Precision, ReuseFactor, Strategy, "
     "TraceOutput, Static, RecurrentReuseFactor, PipelineStages, AddersPerStage, Multipliers"),
])
def test_unknown_keys_list_the_allowed_ones(cfg: dict[str, Any], message: str) -> None:
    assert err(cfg) == message


@pytest.mark.parametrize(("cfg", "message"), [
    ({"Model": {"Precision": "ap_fixd<16,6>"}},
     f"Model.Precision: invalid precision 'ap_fixd<16,6>': expected {EXAMPLES}"),
    ({"Model": {"Precision": {"default": "ap_fixed<16>"}}},
     f"Model.Precision: invalid precision 'ap_fixed<16>': ap_fixed<W,I[,Q[,O[,N]]]> takes 2 to 5 arguments, got 1; "
     f"{EXAMPLES}"),
    ({"Model": {"Precision": 16}}, "Model.Precision: a precision must be a string like 'ap_fixed<16,6>', got int 16"),
    ({"LayerName": {"fc1": {"Precision": {"weight": "ap_fixed<8,3,AP_RNDD>"}}}},
     "LayerName.fc1.Precision.weight: invalid precision 'ap_fixed<8,3,AP_RNDD>': unknown rounding mode 'AP_RNDD'; "
     "expected one of AP_TRN, AP_TRN_ZERO, AP_RND, AP_RND_ZERO, AP_RND_INF, AP_RND_MIN_INF, AP_RND_CONV"),
    ({"LayerType": {"Dense": {"Precision": "ap_fixed<0,3>"}}},
     "LayerType.Dense.Precision: invalid precision 'ap_fixed<0,3>': fixed-point width must be an integer in 1..1024, "
     "got 0"),
])
def test_invalid_precisions_are_quoted(cfg: dict[str, Any], message: str) -> None:
    assert err(cfg) == message


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, None])
def test_reuse_factor_must_be_a_positive_integer(bad: Any) -> None:
    assert err({"Model": {"ReuseFactor": bad}}) == f"Model.ReuseFactor must be a positive integer, got {bad!r}"
    assert err({"LayerName": {"d": {"ReuseFactor": bad}}}) == \
        f"LayerName.d.ReuseFactor must be a positive integer, got {bad!r}"


def test_strategy_and_bools() -> None:
    assert err({"Model": {"Strategy": "fast"}}) == "Model.Strategy must be one of Latency, Resource, got 'fast'"
    assert err({"LayerName": {"a": {"Strategy": 1}}}) == "LayerName.a.Strategy must be one of Latency, Resource, got 1"
    assert err({"Model": {"TraceOutput": "yes"}}) == "Model.TraceOutput must be true or false, got 'yes'"
    assert err({"LayerName": {"a": {"Trace": 1}}}) == "LayerName.a.Trace must be true or false, got 1"


@pytest.mark.parametrize("good", [2, 4, 1024, 65536])
def test_table_size_accepts_powers_of_two(good: int) -> None:
    assert parse_config({"LayerName": {"s": {"TableSize": good}}}).layer_name["s"].table_size == good


@pytest.mark.parametrize(("bad", "message"), [
    (1000, "must be a power-of-two integer (e.g. 1024), got 1000"),
    (0, "must be a power-of-two integer (e.g. 1024), got 0"),
    (-4, "must be a power-of-two integer (e.g. 1024), got -4"),
    (1024.0, "must be a power-of-two integer (e.g. 1024), got 1024.0"),
    ("1024", "must be a power-of-two integer (e.g. 1024), got '1024'"),
    (True, "must be a power-of-two integer (e.g. 1024), got True"),
    (1, "must be between 2 and 65536, got 1"),
    (1 << 17, "must be between 2 and 65536, got 131072"),
])
def test_table_size_must_be_a_power_of_two(bad: Any, message: str) -> None:
    assert err({"LayerName": {"s": {"TableSize": bad}}}) == f"LayerName.s.TableSize {message}"


@pytest.mark.parametrize("good", [8, 8.0, 0.25, 1, 256])
def test_table_range_accepts_powers_of_two(good: float) -> None:
    assert parse_config({"LayerType": {"Softmax": {"TableRange": good}}}).layer_type["Softmax"].table_range == good


@pytest.mark.parametrize("bad", [6, 0, -8, 0.3, float("inf"), float("nan"), "8", False])
def test_table_range_must_be_a_power_of_two(bad: Any) -> None:
    assert err({"LayerName": {"s": {"TableRange": bad}}}) == \
        f"LayerName.s.TableRange must be a positive power of two (e.g. 8), got {bad!r}"
