"""Applying a parsed config to a graph: precedence, string precisions, reuse factors, names and types."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import nnfpga
from graphs import chain
from nnfpga.config import apply_config, parse_config, valid_reuse_factors
from nnfpga.errors import ConfigError
from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Graph


def graph() -> Graph:
    """x(6) -> fc Dense(6x8) -> lr LeakyReLU -> s Sigmoid -> out Dense(8x4) -> sm Softmax, plus a removed 'bn'."""
    rng = np.random.default_rng(0)
    g = chain((6,),
              ("fc", "dense", {"shape": (8,),
                               "weights": {"kernel": rng.normal(size=(6, 8)), "bias": rng.normal(size=8)}}),
              ("lr", "leaky_relu", {"attrs": {"alpha": 0.1}}),
              ("s", "sigmoid", {}),
              ("out", "dense", {"shape": (4,), "weights": {"kernel": rng.normal(size=(8, 4)), "bias": np.zeros(4)}}),
              ("sm", "softmax", {}))
    g.removed["bn"] = "batch-norm 'bn' was folded into Dense 'out'"
    return g


def apply(cfg: dict[str, Any]) -> Graph:
    return apply_config(graph(), parse_config(cfg))


def apply_err(cfg: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        apply(cfg)
    return str(info.value)


def test_model_defaults_reach_every_node() -> None:
    g = apply({"Model": {"Precision": "ap_fixed<12,5>", "ReuseFactor": 2, "Strategy": "resource", "TraceOutput": True}})
    for node in g:
        assert (node.attrs["reuse_factor"], node.attrs["strategy"], node.attrs["trace"]) == (2, "Resource", True)
    assert g["x"].types["result"] == FixedType(12, 5)
    assert g["fc"].types["result"] == FixedType(12, 5)
    assert g["fc"].types["weight"].width == 12
    assert g["s"].types == {"table": FixedType(14, 1, signed=False), "result": FixedType(12, 1, signed=False)}


def test_apply_returns_a_typed_copy() -> None:
    g = graph()
    typed = apply_config(g, parse_config({}))
    assert all(not n.types for n in g) and all(n.types for n in typed)


def test_precedence_name_over_type_over_model() -> None:
    g = apply({"Model": {"Precision": "ap_fixed<16,6>"},
               "LayerType": {"Dense": {"Precision": {"result": "ap_fixed<10,4>"}, "ReuseFactor": 4},
                             "Activation": {"Precision": {"result": "ap_fixed<9,3>"}},
                             "Sigmoid": {"Precision": {"result": "ap_ufixed<8,1>"}}},
               "LayerName": {"out": {"Precision": {"result": "ap_fixed<11,5>"}, "ReuseFactor": 8}}})
    assert g["fc"].types["result"] == FixedType(10, 4) and g["fc"].attrs["reuse_factor"] == 4
    assert g["out"].types["result"] == FixedType(11, 5) and g["out"].attrs["reuse_factor"] == 8
    assert g["lr"].types["result"] == FixedType(9, 3)                       # Activation covers LeakyReLU
    assert g["s"].types["result"] == FixedType(8, 1, signed=False)          # the specific type wins
    assert g["sm"].types["result"] == FixedType(9, 3)                       # and Softmax
    assert g["x"].types["result"] == FixedType(16, 6)


def test_string_precision_sets_value_slots_and_keeps_accumulator_exact() -> None:
    g = apply({"LayerName": {"fc": {"Precision": "ap_fixed<8,3>"}, "lr": {"Precision": "ap_fixed<9,4>"},
                             "sm": {"Precision": "ap_ufixed<8,0>"}}})
    fc = g["fc"].types
    assert (fc["weight"], fc["bias"], fc["result"]) == (FixedType(8, 3),) * 3
    exact = apply({"LayerName": {"fc": {"Precision": {"weight": "ap_fixed<8,3>", "bias": "ap_fixed<8,3>",
                                                      "result": "ap_fixed<8,3>", "accum": "auto"}}}})
    assert fc["accum"] == exact["fc"].types["accum"]
    # exact: x in ap_fixed<16,6> (10 fractional bits) times weights with 5: 15 fractional bits
    assert fc["accum"].frac == 15 and fc["accum"].width > 16
    assert g["lr"].types == {"param": FixedType(9, 4), "result": FixedType(9, 4)}
    # softmax tables keep their defaults; only the result is set
    assert g["sm"].types["result"] == FixedType(8, 0, signed=False)
    assert g["sm"].types["exp_table"] == FixedType(18, 1, signed=False)


def test_auto_slots_follow_the_op_rule() -> None:
    g = apply({"LayerName": {"fc": {"Precision": {"weight": "auto", "result": "ap_fixed<10,5>"}}}})
    plain = apply({})
    assert g["fc"].types["weight"] == plain["fc"].types["weight"]
    assert g["fc"].types["result"] == FixedType(10, 5)
    # the next layers' rules see the new type
    assert g["lr"].types["result"] == FixedType(10, 5)


def test_precision_dict_with_a_slot_the_op_lacks() -> None:
    assert apply_err({"LayerName": {"fc": {"Precision": {"table": "ap_fixed<8,3>"}}}}) == (
        "LayerName.fc.Precision: Dense layer 'fc' has no 'table' precision; valid keys: weight, bias, accum, result")
    assert apply_err({"LayerType": {"Softmax": {"Precision": {"weight": "ap_fixed<8,3>"}}}}) == (
        "LayerType.Softmax.Precision: Softmax layer 'sm' has no 'weight' precision; valid keys: exp_table, "
        "inv_table, result")


def test_tables() -> None:
    g = apply({"LayerType": {"Activation": {"TableSize": 256, "TableRange": 4}},
               "LayerName": {"sm": {"TableSize": 2048, "TableRange": 16}}})
    assert (g["s"].attrs["table_size"], g["s"].attrs["table_range"]) == (256, 4.0)
    assert (g["sm"].attrs["table_size"], g["sm"].attrs["table_range"]) == (2048, 16.0)
    assert "table_size" not in g["lr"].attrs  # no table: a type-wide setting passes it by
    assert apply_err({"LayerName": {"fc": {"TableSize": 256}}}) == (
        "LayerName.fc: Dense layer 'fc' has no lookup table; TableSize/TableRange apply to Sigmoid, Tanh, ELU, "
        "Softmax, LSTM, GRU and SimpleRNN layers")


def test_trace_and_strategy_per_layer() -> None:
    g = apply({"LayerName": {"s": {"Trace": True, "Strategy": "Resource"}}})
    assert g["s"].attrs["trace"] is True and g["s"].attrs["strategy"] == "Resource"
    assert g["fc"].attrs["trace"] is False and g["fc"].attrs["strategy"] == "Latency"


# -- reuse factors ---------------------------------------------------------------------------------

def test_valid_reuse_factors() -> None:
    assert valid_reuse_factors(6, 8) == [1, 2, 3, 4, 6, 8, 12, 16, 24, 48]
    assert valid_reuse_factors(1, 1) == [1]
    assert valid_reuse_factors(7, 1) == [1, 7]


def test_invalid_reuse_factor_lists_valid_values() -> None:
    assert apply_err({"LayerName": {"fc": {"ReuseFactor": 5}}}) == (
        "ReuseFactor 5 (from LayerName.fc) is not valid for Dense layer 'fc' with 6 inputs x 8 outputs = 48 "
        "multiplications: it must divide 48. Valid values: 1, 2, 3, 4, 6, 8, 12, 16, 24, 48")
    assert apply_err({"Model": {"ReuseFactor": 3}, "LayerName": {"fc": {"ReuseFactor": 4}}}) == (
        "ReuseFactor 3 (from Model) is not valid for Dense layer 'out' with 8 inputs x 4 outputs = 32 "
        "multiplications: it must divide 32. Valid values: 1, 2, 4, 8, 16, 32")


def test_invalid_reuse_factor_names_where_it_came_from() -> None:
    msg = apply_err({"LayerType": {"Dense": {"ReuseFactor": 5}}})
    assert msg.startswith("ReuseFactor 5 (from LayerType.Dense) is not valid for Dense layer 'fc'")
    # a LayerName entry without a ReuseFactor does not take the blame for the Model's
    msg = apply_err({"Model": {"ReuseFactor": 5}, "LayerName": {"fc": {"Trace": True}}})
    assert msg.startswith("ReuseFactor 5 (from Model) is not valid for Dense layer 'fc'")


# -- names and types --------------------------------------------------------------------------------

def test_unknown_layer_name_suggests() -> None:
    assert apply_err({"LayerName": {"fc2": {}}}) == (
        "LayerName.fc2: no layer of that name (did you mean 'fc'?); layers: x, fc, lr, s, out, sm")
    assert apply_err({"LayerName": {"zzz": {}}}) == (
        "LayerName.zzz: no layer of that name; layers: x, fc, lr, s, out, sm")


def test_unknown_layer_type_suggests() -> None:
    msg = apply_err({"LayerType": {"Dens": {}}})
    assert msg.startswith("LayerType.Dens: unknown layer type (did you mean 'Dense'?); known types: Activation, "
                          "Add, Average, AveragePooling1D, AveragePooling2D, BatchNormalization, Concatenate, Conv1D, "
                          "Conv2D, Cropping1D, Cropping2D, Dense, DepthwiseConv1D, DepthwiseConv2D, Dropout, ELU, "
                          "Flatten, GRU, GlobalAveragePooling1D,")


def test_config_for_a_removed_layer_warns() -> None:
    with pytest.warns(UserWarning, match=r"^LayerName\.bn has no effect: batch-norm 'bn' was folded into Dense 'out'$"):
        g = apply({"LayerName": {"bn": {"Precision": "ap_fixed<8,3>"}}})
    assert "bn" not in g


def test_a_folded_batchnorm_types_the_dense_result(tiny_mlp: Any) -> None:
    """The batch-norm folds into fc2 (fc2's result is not pinned): its result type is fc2's; its weight and bias
    precisions cannot apply (the folded constants take fc2's types), which is said."""
    g = nnfpga.graph_from_keras_model(tiny_mlp)
    with pytest.warns(UserWarning, match=r"^the weight and bias precisions set for batch-norm 'bn' have no effect: "
                                         r"it was folded into Dense 'fc2', whose weight and bias types quantize the "
                                         r"folded constants \(set LayerName.fc2.Precision.result to keep"):
        typed = apply_config(g, parse_config({"LayerName": {"bn": {"Precision": "ap_fixed<8,3>"}}}))
    assert "bn" not in typed and typed["fc2"].types["result"] == FixedType(8, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        typed = apply_config(g, parse_config({"LayerName": {"bn": {"Precision": {"result": "ap_fixed<9,3>"}}}}))
        assert typed["fc2"].types["result"] == FixedType(9, 3) and typed["fc2"].attrs["folded_batchnorm"] == ["bn"]
        nnfpga.convert_from_keras_model(tiny_mlp, hls_config={"LayerName": {"fc2": {"ReuseFactor": 2}}})


def test_a_pinned_dense_result_keeps_its_batchnorm(tiny_mlp: Any) -> None:
    """hls4ml's meaning: with the Dense result pinned, the Dense output is cast, then the batch-norm applies."""
    g = nnfpga.graph_from_keras_model(tiny_mlp)
    for cfg in ({"LayerName": {"fc2": {"Precision": {"result": "ap_fixed<12,4>"}}}},
                {"LayerName": {"fc2": {"Precision": "ap_fixed<12,4>"}}}):
        typed = apply_config(g, parse_config(cfg))
        assert typed["bn"].inputs == ["fc2"] and typed["fc2"].types["result"] == FixedType(12, 4)
        assert "folded_batchnorm" not in typed["fc2"].attrs
    for cfg in ({"LayerType": {"Dense": {"Precision": {"result": "ap_fixed<12,4>"}}}},  # LayerType does not pin
                {"Model": {"Precision": "ap_fixed<12,4>"}}, {"LayerName": {"fc1": {"Precision": "ap_fixed<12,4>"}}}):
        assert "bn" not in apply_config(g, parse_config(cfg))


def _lstm_model() -> Any:
    from nnfpga.frontends.keras import import_keras

    keras = import_keras()
    return keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4, name="lstm"), keras.layers.Dense(2, name="fc")])


def test_recurrent_reuse_factors_are_checked_against_each_product() -> None:
    """ReuseFactor folds the input product (3 features x 16 gate columns), RecurrentReuseFactor (hls4ml's key) the
    state product (4 units x 16); an invalid one is refused at conversion, quoting the valid values."""
    model = _lstm_model()

    def convert(lstm: dict[str, Any], **model_keys: Any) -> nnfpga.HWModel:
        cfg = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, **model_keys}, "LayerName": {"lstm": lstm}}
        return nnfpga.convert_from_keras_model(model, hls_config=cfg)

    hw = convert({"ReuseFactor": 12, "RecurrentReuseFactor": 32})
    assert (hw.graph["lstm"].attrs["reuse_factor"], hw.graph["lstm"].attrs["recurrent_reuse_factor"]) == (12, 32)
    assert "recurrent_reuse_factor" not in hw.graph["fc"].attrs
    with pytest.raises(ConfigError) as e:
        convert({"ReuseFactor": 5})
    assert str(e.value) == (
        "ReuseFactor 5 (from LayerName.lstm) is not valid for LSTM layer 'lstm' with 3 inputs x 16 outputs = 48 "
        "multiplications: it must divide 48. Valid values: 1, 2, 3, 4, 6, 8, 12, 16, 24, 48")
    with pytest.raises(ConfigError) as e:
        convert({}, RecurrentReuseFactor=6)  # at Model level it reaches the recurrent layers only
    assert str(e.value) == (
        "RecurrentReuseFactor 6 is not valid for LSTM layer 'lstm' with 4 state values x 16 gate outputs = 64 "
        "multiplications: it must divide 64. Valid values: 1, 2, 4, 8, 16, 32, 64")
    with pytest.raises(ConfigError, match=r"LayerName.lstm.RecurrentReuseFactor must be an integer >= 1 .*got 0"):
        convert({"RecurrentReuseFactor": 0})
    cfg = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1}, "LayerName": {"fc": {"RecurrentReuseFactor": 2}}}
    with pytest.raises(ConfigError, match=r"LayerName.fc.RecurrentReuseFactor: Dense layer 'fc' has no "
                                          r"RecurrentReuseFactor setting; it applies to LSTM, GRU, SimpleRNN layers"):
        nnfpga.convert_from_keras_model(model, hls_config=cfg)
