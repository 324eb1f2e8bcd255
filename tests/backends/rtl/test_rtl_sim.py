"""Verilog backend: the generated RTL, simulated in Verilator, equals the emulator bit for bit; latency and II."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import nnfpga
from backends.hls.conftest import all_activations_model, edge_inputs, random_config
from backends.rtl.helpers import emulate_mantissas, in_out_types, mixed_mantissas
from graphs import chain
from nnfpga.backends.rtl import reuse, sim
from nnfpga.backends.rtl.accumulate import chain_columns
from nnfpga.backends.rtl.cast import Library
from nnfpga.backends.rtl.lower import Design, build_design, prepare_all
from nnfpga.backends.rtl.verilog import Arith, Module, Val
from nnfpga.examples import DEFAULT_JET_MODEL, load_example, prune_dense
from nnfpga.fixed import FixedType, requantize, to_float
from nnfpga.fixed.types import OVERFLOW_MODES, ROUNDING_MODES
from nnfpga.passes import infer_types

pytestmark = [pytest.mark.tools, pytest.mark.slow]

N = 10_000


def assert_bit_exact(hw: nnfpga.HWModel, m: np.ndarray, cache, **kwargs) -> tuple[int, int]:
    options = {k: kwargs.pop(k) for k in ("pipeline_stages", "adders_per_stage", "multipliers") if k in kwargs}
    design = build_design(hw.graph, hw.settings["project_name"], prep=hw.interpreter.prep, **options)
    y_rtl, latency, ii = sim.simulate(design, m, cache_dir=cache, **kwargs)
    y_emu = emulate_mantissas(hw, m)
    bad = np.argwhere(y_rtl != y_emu)
    assert bad.size == 0, (f"{len(bad)} of {y_emu.size} outputs differ; first at {tuple(bad[0])}: "
                           f"rtl {y_rtl[tuple(bad[0])]} emulator {y_emu[tuple(bad[0])]}")
    assert len(np.unique(y_emu)) > 10  # the outputs are not all saturated to a few values
    assert latency == design.latency and ii == design.ii
    return latency, ii


def test_jet_mlp_default_config(verilator_exe, rtl_cache):
    hw = nnfpga.convert_from_keras_model(str(DEFAULT_JET_MODEL), project_name="jet")
    tin, _ = in_out_types(hw.graph)
    rng = np.random.default_rng(1)
    m = mixed_mantissas(edge_inputs(16, N, rng), tin, N, rng)
    latency, _ = assert_bit_exact(hw, m, rtl_cache)  # registers placed for the default 5 ns clock
    d = build_design(hw.graph, "jet", prep=hw.interpreter.prep)
    assert latency == sum(d.stages.values()) + sum(d.inner.values()) <= 14  # hls4ml's 14 cycles at 5 ns
    assert all(d.inner[n] >= 1 for n in ("fc1", "fc2", "fc3", "output")) and d.critical_path_ns <= 5
    fixed = build_design(hw.graph, "jet", prep=hw.interpreter.prep, adders_per_stage=1).inner
    assert fixed["softmax"] == 3 + 5  # fixed mode: after each of its 3 maximum levels and the products, 2 per ROM
    # the build is cached per source hash: a second run does not rebuild
    y, _, _ = sim.simulate(hw, m[:100], cache_dir=rtl_cache)
    assert sim.build.cached and (y == emulate_mantissas(hw, m[:100])).all()


def test_jet_mlp_operator_multipliers_unpipelined(verilator_exe, rtl_cache):
    hw = nnfpga.convert_from_keras_model(str(DEFAULT_JET_MODEL), project_name="jet")
    tin, _ = in_out_types(hw.graph)
    rng = np.random.default_rng(3)
    m = mixed_mantissas(edge_inputs(16, N, rng), tin, N, rng)
    latency, _ = assert_bit_exact(hw, m, rtl_cache, multipliers="operator", adders_per_stage=None)
    assert latency == 5  # fc1, fc2, fc3, output, softmax: one register each


def test_jet_mlp_8bit_calibrated(verilator_exe, rtl_cache):
    model, x_test, _ = load_example()
    cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision="ap_fixed<8,3>",
                                         calibration_data=x_test[:5000])
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, project_name="jet8")
    tin, _ = in_out_types(hw.graph)
    rng = np.random.default_rng(2)
    m = mixed_mantissas(np.concatenate([x_test[5000:], edge_inputs(16, 1000, rng)]), tin, N, rng)
    assert_bit_exact(hw, m, rtl_cache)


@pytest.mark.parametrize("bits", [8, 16])
def test_jet_mlp_reuse_factor_4(verilator_exe, rtl_cache, bits):
    """ReuseFactor 4: a quarter of the multipliers, each used 4 times; a new input every 4 cycles. 8-bit
    calibrated, 16-bit the default config."""
    model, x_test, _ = load_example()
    cfg = nnfpga.config_from_keras_model(model, granularity="name", default_reuse_factor=4,
                                         **({"default_precision": "ap_fixed<8,3>", "calibration_data": x_test[:5000]}
                                            if bits == 8 else {}))
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, project_name="jet8rf4")
    tin, _ = in_out_types(hw.graph)
    rng = np.random.default_rng(4)
    m = mixed_mantissas(np.concatenate([x_test[5000:], edge_inputs(16, 1000, rng)]), tin, N, rng)
    latency, ii = assert_bit_exact(hw, m, rtl_cache, idle_seed=5)
    design = build_design(hw.graph, "jet8rf4", prep=hw.interpreter.prep)
    # each reused Dense: R + 1 cycles, plus a register before it where its input comes from logic (timing-driven)
    assert ii == 4 and all(design.inner[n] in (5, 6) for n in ("fc1", "fc2", "fc3", "output"))
    assert latency == sum(design.stages.values()) + sum(design.inner.values())
    fixed = build_design(hw.graph, "jet8rf4", prep=hw.interpreter.prep, adders_per_stage=1)
    assert fixed.latency == 5 + 4 * 5 + 8  # the fixed mode, as before


def test_jet_mlp_pruned_reuse_factor_4(verilator_exe, rtl_cache):
    """75 % of the weights pruned, ReuseFactor 4: the nonzero weights packed 4 to a multiplier, each packed
    multiplier with an input multiplexer of its own (8-bit, calibrated)."""
    model, x_test, _ = load_example()
    prune_dense(model, 0.75)
    cfg = nnfpga.config_from_keras_model(model, granularity="name", default_reuse_factor=4,
                                         default_precision="ap_fixed<8,3>", calibration_data=x_test[:5000])
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, project_name="jet8p75")
    plans = [reuse.plan(np.asarray(hw.interpreter.prep[n].wm).tolist(), 4) for n in ("fc1", "fc2", "fc3")]
    packed = [s for p in plans for out in p for s in out if reuse._slot_of(s, 4) is None]
    assert len(packed) > 100
    tin, _ = in_out_types(hw.graph)
    rng = np.random.default_rng(6)
    m = mixed_mantissas(np.concatenate([x_test[5000:], edge_inputs(16, 1000, rng)]), tin, N, rng)
    latency, ii = assert_bit_exact(hw, m, rtl_cache, idle_seed=7)  # stated = measured, bit for bit
    assert ii == 4 and latency <= 5 + 4 * 6 + 8  # each reused Dense R + 1, plus a register before it at most


def test_random_model_mixed_reuse_factors(verilator_exe, rtl_cache):
    """Different ReuseFactors per layer (the largest sets the II), pruned weights, every activation."""
    model = all_activations_model(2)
    cfg = nnfpga.config_from_keras_model(model, granularity="name")
    factors = {"d1": 5, "d2": 3, "d3": 2, "d5": 8, "d8": 7}  # d1 has 10 inputs, d2 12, d3 10, d5 8, d8 7
    for name, rf in factors.items():
        cfg["LayerName"][name]["ReuseFactor"] = rf
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, project_name="mixedrf")
    tin, _ = in_out_types(hw.graph)
    rng = np.random.default_rng(9)
    m = mixed_mantissas(edge_inputs(10, N, rng), tin, N, rng)
    _, ii = assert_bit_exact(hw, m, rtl_cache)
    assert ii == 8


@pytest.mark.parametrize("seed", [0, 1])
def test_random_precisions_all_activations(verilator_exe, rtl_cache, seed):
    """Mixed per-layer precisions (every rounding and overflow mode), every activation, random pipeline depths
    (0 to 2 registers per layer, the input included), idle cycles between inputs; every layer's output is
    compared (a trace design), not only the last."""
    model = all_activations_model(seed)
    rng = np.random.default_rng(100 + seed)
    cfg = random_config(nnfpga.config_from_keras_model(model, granularity="name"), rng)
    for entry in cfg["LayerName"].values():
        if "accum" in entry["Precision"]:
            entry["Precision"]["accum"] = "auto"
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, project_name=f"mixed{seed}")
    stages = {n.name: int(rng.integers(0, 3)) for n in hw.graph}
    tin, _ = in_out_types(hw.graph)
    m = mixed_mantissas(edge_inputs(10, N, rng), tin, N, rng)
    # seed 0: shared subexpressions, a register after every adder; seed 1: plain CSD, 3 adders per stage
    design = build_design(hw.graph, f"mixed{seed}", prep=hw.interpreter.prep, pipeline_stages=stages, trace=True,
                          adders_per_stage=1 + 2 * seed, multipliers=("shared", "csd")[seed])
    y, latency, ii = sim.simulate(design, m, cache_dir=rtl_cache, idle_seed=seed + 1)
    assert (latency, ii) == (design.latency, 1)
    assert latency == sum(stages.values()) + sum(design.inner.values())  # a chain: every register is on the path
    assert sum(design.inner.values()) >= 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        ref = hw.interpreter.run(to_float(m, tin), keep=True).values
    col, diverse = 0, 0
    for name, count in design.trace:
        t = hw.graph[name].types["result"]
        expect = np.ldexp(ref[name].reshape(N, -1), t.frac).astype(np.int64)
        got = y[:, col:col + count]
        bad = np.argwhere(got != expect)
        assert bad.size == 0, (f"layer {name}: {len(bad)} of {expect.size} values differ; first at "
                               f"{tuple(bad[0])}: rtl {got[tuple(bad[0])]} emulator {expect[tuple(bad[0])]}")
        diverse += len(np.unique(expect)) > 10
        col += count
    assert col == design.n_out and diverse >= len(design.trace) - 3


def test_hand_built_graph_wrapping_and_wide_accumulators(verilator_exe, rtl_cache):
    """A narrow WRAP accumulator with more fractional bits than the products, a wide saturating one (never
    overflows: the emulator's sequential path), ScaleShift, a cast to unsigned, a softmax over rows of a
    reshaped tensor, an input register."""
    rng = np.random.default_rng(7)
    f = FixedType.parse
    g = chain(
        (6,),
        ("fc_wrap", "dense", {"shape": (5,), "weights": {"kernel": rng.normal(0, 1, (6, 5)),
                                                        "bias": rng.normal(0, 1, 5)},
                              "types": {"weight": f("ap_fixed<8,2>"), "bias": f("ap_fixed<12,2>"),
                                        "accum": f("ap_fixed<16,3>"),
                                        "result": f("ap_fixed<9,3,AP_RND_CONV,AP_SAT_SYM>")},
                              "attrs": {"pipeline_stages": 2}}),
        ("bn", "scale_shift", {"weights": {"scale": rng.normal(1, 0.5, 5), "shift": rng.normal(0, 1, 5)},
                               "types": {"result": f("ap_fixed<10,4,AP_RND_INF,AP_SAT>")}}),
        ("fc_sat", "dense", {"shape": (6,), "weights": {"kernel": rng.normal(0, 1, (5, 6)),
                                                       "bias": rng.normal(0, 1, 6)},
                             "types": {"accum": f("ap_fixed<40,16,AP_RND,AP_SAT>")}}),
        ("to_u", "linear", {"types": {"result": f("ap_ufixed<7,3,AP_RND_ZERO,AP_WRAP>")}}),
        ("rows", "reshape", {"shape": (2, 3)}),
        ("sm", "softmax", {"attrs": {"table_size": 256}}),
        ("flat", "flatten", {"shape": (6,)}),
        input_type=f("ap_fixed<10,4>"),
    )
    g["x"].attrs["pipeline_stages"] = 1
    infer_types(g, FixedType(12, 5))
    prep = prepare_all(g)
    assert prep["fc_wrap"].fast and prep["fc_wrap"].shift > 0 and not prep["fc_sat"].fast
    hw = nnfpga.HWModel(g, {}, project_name="hand")
    tin, _ = in_out_types(g)
    m = mixed_mantissas(rng.normal(0, 4, (N, 6)), tin, N, rng)
    latency, _ = assert_bit_exact(hw, m, rtl_cache, adders_per_stage=1)
    inner = build_design(g, "hand", prep=prep, adders_per_stage=1).inner
    assert inner["sm"] == 2 + 5  # rows of 3: two maximum levels
    assert latency == 1 + 2 + 1 + 1 + 1 + inner["fc_wrap"] + inner["fc_sat"] + 7  # x, fc_wrap (2), bn, fc_sat, sm
    latency, _ = assert_bit_exact(hw, m, rtl_cache, multipliers="operator", adders_per_stage=None)
    assert latency == 1 + 2 + 1 + 1 + 1


def test_casts_every_rounding_and_overflow_mode(verilator_exe, rtl_cache):
    """The generated cast logic equals requantize for every (rounding, overflow) pair on every 12-bit signed and
    11-bit unsigned source value, for shifts left, none, right, and beyond the source width."""
    rng = np.random.default_rng(3)
    top, lib = Module("casts"), Library("casts")
    ar = Arith(top)
    for port in ("clk", "rst", "in_valid"):
        top.port("input", port, 1)
    top.port("input", "in_data", 24)
    sources = {True: Val.of("in_data", 12, True, lsb=0, full=False), False: Val.of("in_data", 11, False, lsb=12,
                                                                                     full=False)}
    dsts = [(7, 3, True), (5, 1, False), (1, 0, True), (1, 1, False), (14, 4, True), (2, -3, True)]
    cases, outs = [], []
    for rounding in ROUNDING_MODES:
        for overflow in OVERFLOW_MODES:
            for k in (-2, 0, 1, 3, 11, 12, 14):
                w, i, signed = dsts[int(rng.integers(len(dsts)))]
                src_signed = bool(rng.integers(2))
                dst = FixedType(w, i, signed, rounding, overflow)
                cases.append((src_signed, k, dst))
                outs.append(lib.cast(ar, sources[src_signed], k, dst, f"c{len(cases)}"))
    top.port("output", "out_valid", 1)
    top.port("output", "out_data", 32 * len(outs))
    top.assign("out_valid", "in_valid")
    top.assign("out_data", ar.pack("bus", outs, 32))
    design = Design("casts", [top, *lib.modules.values()], FixedType(12, 12), FixedType(32, 32), 2, len(outs))
    v = np.arange(4096)
    m = np.stack([v - 2048, v % 2048], axis=1)
    y, latency, ii = sim.simulate(design, m, cache_dir=rtl_cache)
    assert (latency, ii) == (0, 1)
    for c, (src_signed, k, dst) in enumerate(cases):
        x = m[:, 0] if src_signed else m[:, 1]
        ref, _ = requantize(x.astype(np.float64), dst.frac + k, 12, dst)
        bad = np.flatnonzero(y[:, c] != ref)
        assert bad.size == 0, (f"cast {c}: {'signed' if src_signed else 'unsigned'} source, k={k} -> {dst}: "
                               f"x={x[bad[0]]} rtl {y[bad[0], c]} requantize {ref[bad[0]]}")


def test_predict_engine_function(verilator_exe, rtl_cache):
    """``predict`` (what hw.predict(x, engine="rtl") calls) returns the emulator's float outputs."""
    hw = nnfpga.convert_from_keras_model(str(DEFAULT_JET_MODEL), project_name="jet")
    x = edge_inputs(16, 300, np.random.default_rng(5))
    y = sim.predict(hw, x, cache_dir=rtl_cache)
    assert y.shape == (300, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        np.testing.assert_array_equal(y, hw.predict(x))


@pytest.mark.parametrize("accum, chained", [("ap_fixed<24,12>", 0), ("ap_fixed<24,12,AP_RND,AP_SAT>", 0),
                                           ("ap_fixed<16,5,AP_RND,AP_SAT>", 40)])
def test_jet_mlp_narrow_accumulators(verilator_exe, rtl_cache, accum, chained):
    """hls4ml's usual hand-set accumulator on every Dense: each product truncated (TRN) or rounded (RND) to 12
    fractional bits before it is summed; wrapping (an adder tree modulo 2**24) or saturating. ``<24,12>``
    provably never saturates on this model (so the saturating one is a sum too); ``<16,5>`` may, and the outputs
    that may are chains in input order."""
    model, x_test, _ = load_example()
    cfg = nnfpga.config_from_keras_model(model, granularity="name")
    dense = [name for name, entry in cfg["LayerName"].items() if "accum" in entry["Precision"]]
    for name in dense:
        cfg["LayerName"][name]["Precision"]["accum"] = accum
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, project_name="jetacc")
    prep = hw.interpreter.prep
    assert len(dense) == 4 and all(prep[n].shift < 0 for n in dense)
    chains = {n: sum(chain_columns(prep[n], hw.graph[hw.graph[n].inputs[0]].types["result"],
                                   hw.graph[n].types["accum"])) for n in dense}
    assert sum(chains.values()) >= chained and (chained or not sum(chains.values()))
    tin, _ = in_out_types(hw.graph)
    rng = np.random.default_rng(11)
    m = mixed_mantissas(np.concatenate([x_test[5000:], edge_inputs(16, 1000, rng)]), tin, N, rng)
    latency, _ = assert_bit_exact(hw, m, rtl_cache, idle_seed=12)
    d = build_design(hw.graph, "jetacc", prep=prep)
    assert latency == sum(d.stages.values()) + sum(d.inner.values())
    if chains["fc2"]:  # fixed mode, a register after every chain step: as long as the longest chain
        inner = build_design(hw.graph, "jetacc", prep=prep, adders_per_stage=1).inner
        assert inner["fc2"] >= max(int(np.count_nonzero(col)) for col in np.asarray(prep["fc2"].wm).T)


@pytest.mark.parametrize("seed", [0, 1])
def test_random_model_narrow_rounding_and_saturating_accumulators(verilator_exe, rtl_cache, seed):
    """Mixed per-layer precisions and every activation, each Dense with a narrow accumulator (TRN/RND-type
    rounding of every product, WRAP or saturating): every layer's output compared (a trace design)."""
    model = all_activations_model(seed + 4)
    rng = np.random.default_rng(200 + seed)
    cfg = random_config(nnfpga.config_from_keras_model(model, granularity="name"), rng)
    modes = [("TRN", "WRAP"), ("RND", "SAT"), ("TRN", "SAT"), ("RND_CONV", "SAT_SYM"), ("RND", "WRAP"),
             ("TRN_ZERO", "SAT_ZERO"), ("RND_INF", "SAT")]
    dense = [name for name, entry in cfg["LayerName"].items() if "accum" in entry["Precision"]]
    for k, name in enumerate(dense):
        q, o = modes[(k + seed) % len(modes)]
        w = int(rng.integers(10, 17))
        cfg["LayerName"][name]["Precision"]["accum"] = f"ap_fixed<{w},{int(rng.integers(3, 6))},AP_{q},AP_{o}>"
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, project_name=f"narrow{seed}")
    prep = hw.interpreter.prep
    assert sum(prep[n].shift < 0 for n in dense) >= len(dense) // 2
    assert sum(any(chain_columns(prep[n], hw.graph[hw.graph[n].inputs[0]].types["result"],
                                 hw.graph[n].types["accum"])) for n in dense) >= 3
    tin, _ = in_out_types(hw.graph)
    m = mixed_mantissas(edge_inputs(10, N, rng), tin, N, rng)
    design = build_design(hw.graph, f"narrow{seed}", prep=prep, trace=True, adders_per_stage=(1, None)[seed],
                          multipliers=("shared", "operator")[seed])
    y, latency, ii = sim.simulate(design, m, cache_dir=rtl_cache, idle_seed=seed + 3)
    assert (latency, ii) == (design.latency, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        ref = hw.interpreter.run(to_float(m, tin), keep=True).values
    col = 0
    for name, count in design.trace:
        t = hw.graph[name].types["result"]
        expect = np.ldexp(ref[name].reshape(N, -1), t.frac).astype(np.int64)
        bad = np.argwhere(y[:, col:col + count] != expect)
        assert bad.size == 0, (f"layer {name}: {len(bad)} of {expect.size} values differ; first at "
                               f"{tuple(bad[0])}: rtl {y[:, col:col + count][tuple(bad[0])]} emulator "
                               f"{expect[tuple(bad[0])]}")
        col += count
    assert col == design.n_out
