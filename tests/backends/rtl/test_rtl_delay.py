"""Timing-driven register placement (issue 16): values carry settling times under a target's delay model, a layer
registers where its logic would pass the clock period, and the design states its latency in ns, its estimated
critical path and Fmax. The arithmetic never changes: Verilator equals the emulator at every clock period."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest

import nnfpga
from backends.hls.conftest import all_activations_model, edge_inputs, random_config
from backends.rtl.helpers import in_out_types, mixed_mantissas
from nnfpga.backends.rtl import sim
from nnfpga.backends.rtl.delay import ECP5, XC7, XCUP, model_for
from nnfpga.backends.rtl.lower import build_design
from nnfpga.backends.rtl.verilog import Arith, Module, Val
from nnfpga.errors import ConfigError
from nnfpga.examples import DEFAULT_JET_MODEL
from nnfpga.fixed import to_float


def _jet() -> nnfpga.HWModel:
    return nnfpga.convert_from_keras_model(str(DEFAULT_JET_MODEL), project_name="jet", backend="verilog")


# -- the model on values --------------------------------------------------------------------------

def test_adders_ripple_and_overlap():
    ar = Arith(Module("m"), XC7)
    x = Val.of("x", 8, True)
    y = Val.of("y", 8, True)
    s1 = ar.add(x, y, "s1")
    assert s1.t == pytest.approx(XC7.adder) and s1.top == pytest.approx(XC7.adder + XC7.carry * s1.width)
    s2 = ar.add(s1, x, "s2")  # the carries overlap: one more adder step after the LSB, not after the top
    assert s2.t == pytest.approx(2 * XC7.adder)
    assert s2.top == pytest.approx(max(s2.t + XC7.carry * s2.width, s1.top + XC7.adder))
    hi = ar.floor_shift(s2, 4, "h")  # the upper bits of a ripple settle later than its LSB
    assert s2.t < hi.t < hi.top == pytest.approx(s2.top)
    serial = replace(XC7, overlap=False)
    e1 = Arith(Module("m"), serial)
    a1 = e1.add(x, y, "a")
    a2 = e1.add(a1, x, "b")  # a target without overlap: the next adder waits for the whole carry chain
    assert a2.t == pytest.approx(a1.top + serial.adder)
    assert ar.worst == pytest.approx(s2.top)


def test_comparison_mux_and_constants():
    ar = Arith(Module("m"), XC7)
    x = Val.of("x", 10, True)
    c = ar.clamp(ar.add(x, x, "d"), 0, 100, "c")  # relu (the sign bit) and a cap (a comparison), two muxes
    assert c.t == c.top > ar.add(x, x, "e").top + 2 * XC7.level - 1e-9
    k = Val.constant(5)
    assert XC7.ready(k) == 0 and ar.add(k, Val.constant(3), "k").const == 8


def test_mark_and_rollback_forget_logic_and_names():
    m = Module("m")
    ar = Arith(m, XC7)
    x = Val.of("x", 8, True)
    keep = ar.add(x, x, "a")
    items, worst = len(m.items), ar.worst
    mark = ar.mark()
    ar.add(ar.add(keep, keep, "b"), keep, "b")
    assert ar.slowest_since(mark) > worst and len(m.items) > items
    ar.rollback(mark)
    assert len(m.items) == items and ar.worst == worst
    assert ar.add(keep, keep, "b").base == "b"  # the name is free again


def test_model_for_part_and_target():
    assert model_for(part="xcvu13p-flga2577-2-e") is XCUP and model_for(part="xc7a100t") is XC7
    assert model_for(part="LFE5U-85F-6BG381C") is ECP5 and model_for("ecp5", "xc7a100t") is ECP5
    with pytest.raises(ConfigError, match="no delay model for target 'virtex2'"):
        model_for("virtex2")


# -- placement on a design ------------------------------------------------------------------------

def test_shorter_clock_more_cycles_and_every_step_fits():
    hw = _jet()
    prev = 0
    for period in (20.0, 10.0, 5.0, 3.0, 2.0):
        d = build_design(hw.graph, "jet", prep=hw.interpreter.prep, clock_period=period)
        assert d.latency >= prev and d.critical_path_ns <= period + 1e-9, (period, d.critical_where)
        assert d.latency_ns == pytest.approx(d.latency * period)
        prev = d.latency
    d = build_design(hw.graph, "jet", prep=hw.interpreter.prep, clock_period=1.0)
    # 1 ns: a table's bank select alone takes longer than the clock, and the design says where
    assert d.latency > prev and d.critical_path_ns > 1.0 and d.critical_where == "softmax (softmax)"
    assert "SLOWER than the clock" in d.modules[0].header


def test_targets_differ_and_fixed_modes_stay():
    hw = _jet()
    kw = {"prep": hw.interpreter.prep}
    up, x7 = (build_design(hw.graph, "jet", target=t, **kw) for t in ("xcup", "xc7"))
    assert up.latency < x7.latency <= 49 and up.model is XCUP and x7.model is XC7
    fixed = build_design(hw.graph, "jet", adders_per_stage=1, **kw)
    assert fixed.latency == 49 and fixed.stages["fc1"] == 1  # the old fixed mode: a register after every adder
    comb = build_design(hw.graph, "jet", adders_per_stage=None, **kw)
    assert comb.latency == 5 and comb.critical_path_ns > 5  # one register per layer: too slow, and it says so
    assert "SLOWER than the clock" in comb.modules[0].header


def test_clock_period_from_the_config_and_bad_values():
    hw = nnfpga.convert_from_keras_model(str(DEFAULT_JET_MODEL), project_name="jet", backend="verilog",
                                         clock_period=2.5)
    files = hw.backend.files(hw)
    top = files["rtl/jet.v"].decode()
    d = build_design(hw.graph, "jet", prep=hw.interpreter.prep, clock_period=2.5)
    assert f"Timing: clock period 2.5 ns (400.0 MHz): latency {d.latency} cycle(s)" in top
    assert d.latency > build_design(hw.graph, "jet", prep=hw.interpreter.prep).latency
    with pytest.raises(ConfigError, match=r"clock_period 0.2 ns leaves no time for logic on xcup"):
        build_design(hw.graph, "jet", prep=hw.interpreter.prep, clock_period=0.2)
    with pytest.raises(ConfigError, match=r"clock_period must be a positive number of ns, got -1"):
        build_design(hw.graph, "jet", prep=hw.interpreter.prep, clock_period=-1)
    cfg = nnfpga.config_from_keras_model(str(DEFAULT_JET_MODEL), granularity="name")
    cfg["Model"]["AddersPerStage"] = "Auto"
    auto = nnfpga.convert_from_keras_model(str(DEFAULT_JET_MODEL), hls_config=cfg, project_name="jet",
                                           backend="verilog")
    assert auto.backend.files(auto)["rtl/jet.v"] == _jet().backend.files(_jet())["rtl/jet.v"]


@pytest.mark.tools
@pytest.mark.parametrize("seed", [0, 1])
def test_random_clock_targets_are_bit_exact(verilator_exe, rtl_cache, seed):
    """Random precisions (every rounding and overflow mode), every activation, a random clock period and target:
    Verilator equals the emulator on every layer's output (a trace design), with the stated latency."""
    model = all_activations_model(seed + 7)
    rng = np.random.default_rng(300 + seed)
    cfg = random_config(nnfpga.config_from_keras_model(model, granularity="name"), rng)
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, project_name=f"clk{seed}", backend="verilog")
    period = float(rng.uniform(1.5, 8.0))
    target = ("xcup", "ecp5")[seed]
    design = build_design(hw.graph, f"clk{seed}", prep=hw.interpreter.prep, trace=True, clock_period=period,
                          target=target)
    tin, _ = in_out_types(hw.graph)
    m = mixed_mantissas(edge_inputs(10, 600, rng), tin, 600, rng)
    y, latency, _ = sim.simulate(design, m, cache_dir=rtl_cache, idle_seed=seed)
    assert latency == design.latency
    # a layer whose own logic passes the period (a batch-norm's multiply and cast) is named, not hidden
    assert design.critical_path_ns <= period + 1e-9 or "SLOWER than the clock" in design.modules[0].header
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        ref = hw.interpreter.run(to_float(m, tin), keep=True).values
    col = 0
    for name, count in design.trace:
        expect = np.ldexp(ref[name].reshape(len(m), -1), hw.graph[name].types["result"].frac).astype(np.int64)
        bad = np.argwhere(y[:, col:col + count] != expect)
        assert bad.size == 0, f"layer {name}: {len(bad)} of {expect.size} values differ"
        col += count
    assert col == design.n_out
