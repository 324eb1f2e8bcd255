"""HWModel: predict (bit-exact end to end), input checks, overflow reporting, trace and summaries."""

from __future__ import annotations

import warnings
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

import fxref
import nnfpga
from nnfpga.errors import ConfigError, EmulationError
from nnfpga.model import HWModel


@pytest.fixture(scope="module")
def hw(tiny_mlp: Any) -> HWModel:
    return nnfpga.convert_from_keras_model(tiny_mlp)


def mantissas(values: np.ndarray, t: Any) -> list[list[int]]:
    """Exact float values on the grid of ``t`` -> their mantissas."""
    out = [[Fraction(float(v)) / fxref.lsb(t) for v in row] for row in values]
    assert all(m.denominator == 1 for row in out for m in row)
    return [[int(m) for m in row] for row in out]


def test_predict_is_bit_exact_end_to_end(hw: HWModel, X: np.ndarray) -> None:
    """x -> (input) -> fc1 -> relu -> fc2 (batch-norm folded) -> softmax, every step by the slow reference."""
    g = hw.graph
    x = np.concatenate([X[:10] * 4, [[40.0, -40.0, 0.0, 1e-9, -1e-9, 31.999]]])
    tx = g["x"].types["result"]
    xm = [[fxref.from_float(v, tx) for v in row] for row in x]
    h1, _, _ = fxref.dense(g["fc1"].weights["kernel"], g["fc1"].weights["bias"], tx, g["fc1"].types, xm)
    t1, tr = g["fc1"].types["result"], g["fc1_relu"].types["result"]
    r1 = [[fxref.cast(max(fxref.value(m, t1), 0), tr) for m in row] for row in h1]
    h2, _, _ = fxref.dense(g["fc2"].weights["kernel"], g["fc2"].weights["bias"], tr, g["fc2"].types, r1)
    sm = g["sm"]
    want = [fxref.softmax(row, g["fc2"].types["result"], 1024, sm.attrs["table_range"], sm.types["exp_table"],
                          sm.types["inv_table"], sm.types["result"]) for row in h2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)  # 40 and -40 overflow the input type
        y = hw.predict(x)
    assert mantissas(y, sm.types["result"]) == want


def test_predict_float_is_the_graph_in_float(hw: HWModel, tiny_mlp: Any, X: np.ndarray) -> None:
    want = np.asarray(tiny_mlp.predict(X.astype(np.float32), verbose=0), dtype=np.float64)
    np.testing.assert_allclose(hw.predict_float(X), want, atol=1e-6)
    assert np.abs(hw.predict(X) - want).max() < 0.02


def test_input_checks(hw: HWModel) -> None:
    with pytest.raises(EmulationError) as info:
        hw.predict(np.zeros((5, 7)))
    assert str(info.value) == "input shape (5, 7) does not match the model: expected (batch, 6)"
    with pytest.raises(EmulationError) as info:
        hw.predict(np.zeros(6))
    assert str(info.value) == ("input shape (6,) does not match the model: expected (batch, 6); add a batch axis "
                               "(x[None])")
    with pytest.raises(EmulationError) as info:
        hw.predict([["a"] * 6])
    assert str(info.value) == ("input must be a numeric array of shape (batch, 6); could not convert string to float: "
                               "'a'")
    with pytest.raises(EmulationError, match=r"^input shape \(2, 3\) does not match"):
        hw.predict_float(np.zeros((2, 3)))
    with pytest.raises(EmulationError, match=r"^input shape \(2, 3\) does not match"):
        hw.trace(np.zeros((2, 3)))
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("method", ["predict", "predict_float", "trace"])
def test_non_finite_inputs(hw: HWModel, method: str) -> None:
    x = np.zeros((3, 6))
    x[1, 2] = np.nan
    x[2, 0] = -np.inf
    with pytest.raises(EmulationError) as info:
        getattr(hw, method)(x)
    assert str(info.value) == ("input has 2 non-finite value(s) (NaN or inf), first at index (1, 2); fixed-point "
                               "hardware has no NaN/inf: clean or clip the input first")


def test_empty_batch(hw: HWModel) -> None:
    assert hw.predict(np.zeros((0, 6))).shape == (0, 4)
    assert hw.predict_float(np.zeros((0, 6))).shape == (0, 4)


def test_chunked_runs_equal_one_run(tiny_mlp: Any, X: np.ndarray) -> None:
    hw = nnfpga.convert_from_keras_model(tiny_mlp)
    x = np.concatenate([X, X * 40])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        whole, trace = hw.predict(x), hw.trace(x)
        stats = {k: (o.count, o.total) for k, o in hw.last_stats.overflow.items()}
        hw.interpreter.chunk = 7
        chunked, chunked_trace = hw.predict(x, progress=False), hw.trace(x)
    np.testing.assert_array_equal(whole, chunked)
    assert {k: (o.count, o.total) for k, o in hw.last_stats.overflow.items()} == stats
    for name, lt in trace.items():
        np.testing.assert_array_equal(lt.fixed, chunked_trace[name].fixed)
        # the float reference is BLAS float64: the batch size may pick another kernel (last-bit differences)
        np.testing.assert_allclose(lt.float, chunked_trace[name].float, rtol=1e-12, atol=1e-12)
        assert lt.overflow == chunked_trace[name].overflow


def test_overflow_warning_counts(hw: HWModel, X: np.ndarray) -> None:
    x = X * 50
    lo, hi = -32.0, 32.0 - 2.0**-10  # ap_fixed<16,6>, truncating
    expected = int(np.sum((np.floor(x * 1024) / 1024 < lo) | (np.floor(x * 1024) / 1024 > hi)))
    assert expected > 0
    with pytest.warns(nnfpga.OverflowWarning) as rec:
        hw.predict(x)
    msg = str(rec[0].message)
    assert msg.startswith(f"fixed-point overflow: x.result: {expected} of {x.size} values (ap_fixed<16,6>, WRAP); ")
    assert msg.endswith("Widen those types (more integer bits) or pass calibration data to "
                        "config_from_<framework>_model")
    assert hw.last_stats.overflow[("x", "result")].count == expected
    table = hw.overflow_table().splitlines()
    assert table[0].split() == ["layer", "slot", "type", "overflowed", "of"]
    assert table[2].split() == ["x", "result", "ap_fixed<16,6>", str(expected), str(x.size)]


def test_no_warning_without_overflow(hw: HWModel, X: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", nnfpga.OverflowWarning)
        hw.predict(X)
    assert all(o.count == 0 for o in hw.last_stats.overflow.values())


def test_trace_has_every_layer(hw: HWModel, X: np.ndarray) -> None:
    x = X[:20]
    tr = hw.trace(x)
    assert list(tr) == ["x", "fc1", "fc1_relu", "fc2", "sm"] == list(hw.graph.nodes)
    np.testing.assert_array_equal(tr["sm"].fixed, hw.predict(x))
    np.testing.assert_array_equal(tr["sm"].float, hw.predict_float(x))
    np.testing.assert_array_equal(tr["x"].float, x)
    tx = hw.graph["x"].types["result"]
    assert mantissas(tr["x"].fixed, tx) == [[fxref.from_float(v, tx) for v in row] for row in x]
    for name, lt in tr.items():
        node = hw.graph[name]
        assert (lt.name, lt.op, lt.type) == (name, node.op, node.types["result"])
        assert lt.fixed.shape == lt.float.shape == (20, *node.shape)
        assert lt.max_abs_error == pytest.approx(float(np.abs(lt.fixed - lt.float).max()))
        assert lt.overflow == 0
    assert tr["x"].max_abs_error <= 2.0**-10  # truncation to the input LSB
    # relu of the fixed fc1 output, exactly
    np.testing.assert_array_equal(tr["fc1_relu"].fixed, np.maximum(tr["fc1"].fixed, 0))
    lines = tr.table().splitlines()
    assert lines[0].split() == ["layer", "op", "type", "max", "|fixed", "-", "float|", "overflow"]
    assert [ln.split()[0] for ln in lines[2:]] == list(tr)


def test_trace_counts_overflow_per_layer(hw: HWModel, X: np.ndarray) -> None:
    with pytest.warns(nnfpga.OverflowWarning):
        tr = hw.trace(X * 50)
    assert tr["x"].overflow == hw.last_stats.overflow[("x", "result")].count > 0
    assert tr["fc1"].overflow == sum(hw.last_stats.overflow[("fc1", s)].count for s in ("accum", "result"))


def test_summary(hw: HWModel) -> None:
    lines = hw.summary().splitlines()
    assert lines[0].split() == ["layer", "op", "shape", "precisions", "reuse"]
    rows = {ln.split()[0]: ln for ln in lines[2:]}
    assert list(rows) == ["x", "fc1", "fc1_relu", "fc2", "sm"]
    g = hw.graph
    assert rows["fc1"].split()[:3] == ["fc1", "dense", "8"] and rows["fc1"].rstrip().endswith("  1")
    assert (f"weight={g['fc1'].types['weight']}, bias={g['fc1'].types['bias']}, accum={g['fc1'].types['accum']}, "
            "result=ap_fixed<16,6>") in rows["fc1"]
    assert "result=ap_ufixed<15,5>" in rows["fc1_relu"]
    assert "exp_table=ap_ufixed<18,1>, inv_table=ap_ufixed<18,1>, result=ap_ufixed<16,1>" in rows["sm"]


def test_invalid_settings(tiny_mlp: Any) -> None:
    with pytest.raises(ConfigError, match=r"^unknown backend 'quartus'; expected one of vitis, verilog$"):
        nnfpga.convert_from_keras_model(tiny_mlp, backend="quartus")
    with pytest.raises(ConfigError, match=r"^unknown io_type 'io_serial'; expected one of io_parallel, io_stream$"):
        nnfpga.convert_from_keras_model(tiny_mlp, io_type="io_serial")
    for bad in (0, -5.0, "5"):
        with pytest.raises(ConfigError, match=r"^clock_period must be a positive number of ns, got "):
            nnfpga.convert_from_keras_model(tiny_mlp, clock_period=bad)
    for bad in (None, "", 3):
        with pytest.raises(ConfigError, match=r"^output_dir must be a directory path .*, got "):
            nnfpga.convert_from_keras_model(tiny_mlp, output_dir=bad)
    hw = nnfpga.convert_from_keras_model(tiny_mlp, backend="Verilog", clock_period=4)
    assert hw.settings["backend"] == "verilog" and hw.settings["clock_period"] == 4.0
    with pytest.raises(ConfigError, match=r"^unknown engine 'fpga'; available here: emulator, csim, rtl$"):
        hw.predict(np.zeros((1, 6)), engine="fpga")
    with pytest.raises(ConfigError, match=r"^compile\(\) builds the HLS C simulation; this project's backend is "
                                          r"'verilog': convert with backend='vitis'$"):
        hw.predict(np.zeros((1, 6)), engine="csim")


def test_inputs_rounded_like_ap_fixed(tiny_mlp: Any) -> None:
    """The input cast uses the configured rounding and overflow modes."""
    cfg = {"LayerName": {"x": {"Precision": {"result": "ap_fixed<8,3,AP_RND_CONV,AP_SAT>"}}}}
    hw = nnfpga.convert_from_keras_model(tiny_mlp, hls_config=cfg)
    v = np.array([3 / 64, 5 / 64, -3 / 64, 100.0, -100.0, 1 / 3])  # ties at half an LSB (1/32)
    with pytest.warns(nnfpga.OverflowWarning, match=r"x\.result: 2 of 6 values \(ap_fixed<8,3,AP_RND_CONV,AP_SAT>"):
        tr = hw.trace(v[None, :])
    t = hw.graph["x"].types["result"]
    assert [Fraction(float(f)) for f in tr["x"].fixed[0]] == [fxref.value(fxref.from_float(a, t), t) for a in v]
    # ties to even, saturation, and rounding to nearest
    assert [float(f) for f in tr["x"].fixed[0]] == [0.0625, 0.0625, -0.0625, 3.96875, -4.0, 0.34375]


@pytest.mark.parametrize(("progress", "shown"), [(None, False), (True, True), (False, False)])
def test_emulator_bar_is_quiet_off_a_terminal_unless_asked(hw: HWModel, X: np.ndarray, monkeypatch: Any,
                                                           progress: bool | None, shown: bool) -> None:
    """stderr not a terminal (a log file, CI): the default (None) shows no bar, progress=True does."""
    import io
    import sys

    from nnfpga.emulate import interpreter

    shows: list[bool] = []

    def spy(*args: Any, **kwargs: Any) -> Any:  # the real tqdm; whether its bar is on is kept (close turns it off)
        bar = spy.__wrapped__(*args, **kwargs)  # type: ignore[attr-defined]
        shows.append(not bar.disable)
        return bar

    spy.__wrapped__ = interpreter.tqdm  # type: ignore[attr-defined]
    monkeypatch.setattr(interpreter, "tqdm", spy)
    monkeypatch.setattr(hw.interpreter, "chunk", max(1, len(X) // 3))  # several chunks
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    hw.predict(X, progress=progress)
    assert shows == [shown]


def test_an_unknown_emulation_mode_is_a_config_error(hw: HWModel, X: np.ndarray) -> None:
    with pytest.raises(nnfpga.ConfigError, match=r"mode must be 'fixed' or 'float', got 'exact'"):
        hw.interpreter.run(X[:2], mode="exact")
