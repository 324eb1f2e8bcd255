"""Keras 3 recurrent layers (LSTM, GRU, SimpleRNN, Bidirectional, TimeDistributed(Dense)): float twins against
Keras's own outputs, wide-precision and default-config emulation against the float model (a task trained here:
``tests/recurrent_data.py``), the config slots, the refusals (all listed at once) and the backends' refusals."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnfpga
from nnfpga.errors import UnsupportedLayerError
from recurrent_data import bump_sequences, keras_twin, train_torch_lstm

SHAPE = (6, 4)
# name -> layer factory taking keras.layers
CASES: dict[str, Any] = {
    "lstm": lambda L: L.LSTM(5),
    "lstm_sequences_backwards": lambda L: L.LSTM(4, return_sequences=True, go_backwards=True),
    "lstm_hard_sigmoid": lambda L: L.LSTM(3, recurrent_activation="hard_sigmoid"),
    "gru_reset_after": lambda L: L.GRU(4),
    "gru_reset_before_sequences": lambda L: L.GRU(4, reset_after=False, return_sequences=True),
    "simple_rnn_sequences": lambda L: L.SimpleRNN(3, return_sequences=True),
    "simple_rnn_backwards_sigmoid": lambda L: L.SimpleRNN(3, activation="sigmoid", go_backwards=True),
    "bidirectional_concat": lambda L: L.Bidirectional(L.LSTM(3, return_sequences=True)),
    "bidirectional_sum": lambda L: L.Bidirectional(L.GRU(3), merge_mode="sum"),
    "time_distributed_dense": lambda L: L.TimeDistributed(L.Dense(3, activation="relu")),
}
LATER = {"gru_hard_tanh": lambda L: L.GRU(3, activation="hard_tanh")}  # seeds after CASES' (theirs unchanged)
ORDER = sorted(CASES) + list(LATER)
WIDE = {"Model": {"Precision": "ap_fixed<30,10>"},
        "LayerType": {t: {"TableSize": 65536, "Precision": {"table": "ap_fixed<30,2>", "state": "ap_fixed<30,10>"}}
                      for t in ("LSTM", "GRU", "SimpleRNN")}}


def one_layer(keras: Any, name: str) -> tuple[Any, np.ndarray]:
    keras.utils.set_random_seed(ORDER.index(name))
    inp = keras.Input(SHAPE, name="x")
    layer = {**CASES, **LATER}[name](keras.layers)
    model = keras.Model(inp, layer(inp), name=name)
    rng = np.random.default_rng(0)
    for w in layer.weights:  # Keras starts biases at zero: make them matter
        if w.path.endswith("bias"):
            w.assign(rng.normal(0, 0.5, w.shape))
    return model, np.random.default_rng(1).normal(size=(40, *SHAPE))


@pytest.mark.parametrize("name", ORDER)
def test_float_twin_and_wide_emulation_follow_keras(keras: Any, name: str) -> None:
    model, x = one_layer(keras, name)
    want = np.asarray(model.predict(x.astype(np.float32), verbose=0), dtype=np.float64)
    hw = nnfpga.convert_from_keras_model(model)
    np.testing.assert_allclose(hw.predict_float(x), want, rtol=1e-5, atol=1e-5)
    wide = nnfpga.convert_from_keras_model(model, hls_config=WIDE)
    assert np.abs(wide.predict(x) - want).max() < 5e-4  # bit-exact fixed point, within the tables' resolution
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        assert np.abs(hw.predict(x) - want).max() < 0.05  # the default ap_fixed<16,6> config


def test_graph_of_a_bidirectional_layer(keras: Any) -> None:
    model, _ = one_layer(keras, "bidirectional_concat")
    g = nnfpga.graph_from_keras_model(model)
    name = model.layers[-1].name
    assert [(n.op, n.name) for n in g][1:] == [("lstm", f"{name}_forward"), ("lstm", f"{name}_backward"),
                                               ("concatenate", name)]
    fwd, bwd = g[f"{name}_forward"], g[f"{name}_backward"]
    assert not fwd.attrs["go_backwards"] and bwd.attrs["go_backwards"] and bwd.attrs["flip_output"]
    assert tuple(g[name].shape) == (SHAPE[0], 6)


def test_config_slots_and_table_size_reach_the_node(keras: Any) -> None:
    model, x = one_layer(keras, "lstm")
    name = model.layers[-1].name
    cfg = {"Model": {"Precision": "ap_fixed<16,6>"},
           "LayerName": {name: {"Precision": {"weight": "ap_fixed<8,2>", "recurrent_weight": "ap_fixed<9,2>",
                                              "bias": "ap_fixed<8,3>", "accum": "ap_fixed<20,8>",
                                              "state": "ap_fixed<12,4>", "table": "ap_fixed<10,2>",
                                              "result": "ap_fixed<10,3>"}, "TableSize": 256, "TableRange": 4}}}
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg)
    node = hw.graph[name]
    assert {k: str(v) for k, v in node.types.items()} == {k: v for k, v in cfg["LayerName"][name]["Precision"].items()}
    assert node.attrs["table_size"] == 256 and node.attrs["table_range"] == 4
    assert hw.predict(x).shape == (40, 5)
    default = nnfpga.config_from_keras_model(model, granularity="name")
    assert set(default["LayerName"][name]["Precision"]) == {"weight", "recurrent_weight", "bias", "accum", "state",
                                                             "table", "result"}
    assert default["LayerName"][name]["TableSize"] == 1024  # the gates' tables are sized like the activations'
    from nnfpga.profiling.numbers import weight_profiles

    rows = [(r.layer, r.slot, r.n) for r in weight_profiles(hw)]  # the profiling plots: constants by their slot
    assert rows == [(name, "weight", 4 * 20), (name, "recurrent_weight", 5 * 20), (name, "bias", 2 * 20)]


def test_default_config_agrees_with_a_trained_lstm(keras: Any) -> None:
    """LSTM(8) -> Dense(3, softmax) trained on the bump task (with torch: Keras's torch backend trains it ~50x slower;
    ``tests/recurrent_data.py``), in Keras; the default config's argmax agrees with Keras's float model."""
    model = keras_twin(keras, train_torch_lstm())
    xt, yt = bump_sequences(600, seed=1)
    want = np.asarray(model.predict(xt.astype(np.float32), verbose=0))
    assert (want.argmax(1) == yt).mean() > 0.85  # it learned the task
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        got = nnfpga.convert_from_keras_model(model).predict(xt)
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.99


def test_refusals_are_listed_at_once(keras: Any) -> None:
    L = keras.layers
    inp = keras.Input(SHAPE, name="x")
    seq = L.LSTM(4, return_sequences=True, unroll=True, name="unrolled")(inp)
    seq = L.GRU(4, return_sequences=True, return_state=True, recurrent_activation="relu", name="with_state")(seq)[0]
    h0 = L.Dense(4, name="h0")(L.Flatten(name="flat")(inp))
    seq = L.SimpleRNN(4, return_sequences=True, unroll=True, name="initial")(seq, initial_state=[h0])
    out = L.SimpleRNN(2, activation="relu", name="relu_rnn")(seq)
    with pytest.raises(UnsupportedLayerError) as info:
        nnfpga.convert_from_keras_model(keras.Model(inp, out))
    want = [("unrolled", "set unroll=False"), ("with_state", "set return_state=False"),
            ("with_state", "recurrent_activation='relu'"), ("initial", "drop initial_state="),
            ("initial", "set unroll=False"), ("relu_rnn", "activation='relu'")]
    got = info.value.layers
    assert len(got) == len(want) and all(n == name and what in why for (n, why), (name, what) in zip(got, want,
                                                                                                     strict=True)), got
    masked = L.Masking(name="mask")(inp)
    with pytest.raises(UnsupportedLayerError) as info:
        nnfpga.convert_from_keras_model(keras.Model(inp, L.LSTM(3, name="after_mask")(masked)))
    assert [n for n, _ in info.value.layers] == ["mask", "after_mask"]
    assert "remove the Masking layer" in str(info.value) and "drop initial_state= and the mask" in str(info.value)
    stateful_in = keras.Input(batch_shape=(1, *SHAPE))
    stateful = keras.Model(stateful_in, L.LSTM(3, stateful=True, name="carried")(stateful_in))
    with pytest.raises(UnsupportedLayerError, match=r"'carried'.*set stateful=False"):
        nnfpga.convert_from_keras_model(stateful)


def test_both_backends_write_recurrent_layers(keras: Any, tmp_path: Path) -> None:
    """The Verilog backend (a sequential datapath, a step every K cycles: II = steps x K) and the HLS backend write
    them; bit-exactness: tests/backends/rtl/test_rtl_recurrent.py, tests/backends/hls/test_csim_recurrent.py."""
    model, x = one_layer(keras, "gru_reset_after")
    rtl = nnfpga.convert_from_keras_model(model, backend="verilog", output_dir=tmp_path / "rtl", project_name="rnn")
    ii = re.search(r"\(II = (\d+)", (rtl.write() / "rtl" / "rnn.v").read_text())
    assert ii and int(ii.group(1)) % SHAPE[0] == 0  # steps x cycles per step
    hw = nnfpga.convert_from_keras_model(model, output_dir=tmp_path / "prj")
    assert hw.predict(x).shape == (40, 4)  # the emulator runs it
    assert (hw.write() / "firmware" / "nnfpga" / "nnfpga_recurrent.h").is_file()


def test_stacked_layers_and_a_classifier_head(keras: Any) -> None:
    """GRU(return_sequences) into a second GRU, then Dense + softmax (the issue's stacked case), float twin and
    default-config emulation."""
    L = keras.layers
    keras.utils.set_random_seed(5)
    inp = keras.Input(SHAPE, name="x")
    h = L.GRU(6, return_sequences=True, name="gru1")(inp)
    h = L.GRU(4, reset_after=False, name="gru2")(h)
    model = keras.Model(inp, L.Dense(5, activation="softmax", name="out")(h))
    x = np.random.default_rng(3).normal(size=(50, *SHAPE))
    want = np.asarray(model.predict(x.astype(np.float32), verbose=0), dtype=np.float64)
    hw = nnfpga.convert_from_keras_model(model)
    assert [n.op for n in hw.graph] == ["input", "gru", "gru", "dense", "softmax"]
    np.testing.assert_allclose(hw.predict_float(x), want, rtol=1e-5, atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        assert np.abs(hw.predict(x) - want).max() < 0.02


def test_a_saved_keras_file_converts_like_the_model(keras: Any, tmp_path: Path) -> None:
    model, x = one_layer(keras, "bidirectional_sum")
    path = tmp_path / "bi.keras"
    model.save(path)
    np.testing.assert_array_equal(nnfpga.convert_from_keras_model(str(path)).predict_float(x),
                                  nnfpga.convert_from_keras_model(model).predict_float(x))
