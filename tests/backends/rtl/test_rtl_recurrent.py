"""Verilog backend, recurrent layers (SimpleRNN, LSTM, GRU both reset_after conventions, Bidirectional): the
generated Verilog run in Verilator equals the emulator bit for bit (0 mismatches) on real and extreme inputs, with
default precisions and explicit narrow ones (rounding and saturating state, wrapping accumulator); the sequential
datapath takes a sequence every T*K cycles (II, measured), K cycles per step (AddersPerStage: registers inside the
step by default, K = 1 with null, as the explicit cases set it)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import nnfpga
from backends.rtl.helpers import emulate_mantissas, in_out_types, mixed_mantissas
from nnfpga import tools
from nnfpga.backends.rtl.lower import build_design, prepare_all
from nnfpga.backends.rtl.sim import simulate
from nnfpga.errors import BackendSupportError, ToolNotFoundError
from nnfpga.frontends.keras import import_keras
from recurrent_data import EXPLICIT, bidirectional_lstm, gru_stack, lstm, seeded_model, simple_rnn
from tooling import require

pytestmark = [pytest.mark.tools]


# name -> (sequence shape, layers)
CASES: dict[str, tuple[tuple[int, int], Any]] = {
    "simple_rnn_backwards": ((6, 3), simple_rnn(5, 3)),
    "lstm_small": ((5, 3), lstm(4)),
    "gru_stack_reset_after": ((5, 3), gru_stack(5, 4, True)),
    "gru_stack_reset_before": ((5, 3), gru_stack(5, 4, False)),
    "bidirectional_lstm": ((5, 3), bidirectional_lstm(4, 3)),
    "lstm_dense_softmax": ((20, 6), lstm(20)),
}
# lstm_dense_softmax, the full case (LSTM(20) on 20 x 6): its Verilator build takes about 30 s of CPU (42 s
# with the imports and the lowering: /usr/bin/time; 94 s wall on the 2-core machine at load 7), so it stays here.
RECURRENT = ("lstm", "gru", "simple_rnn")


def rnn_model(name: str) -> Any:
    return seeded_model(CASES, name)


def convert(model: Any, precision: str, io_type: str = "io_parallel") -> nnfpga.HWModel:
    cfg = nnfpga.config_from_keras_model(model, granularity="name")
    probe = nnfpga.convert_from_keras_model(model, hls_config=cfg)
    if precision == "explicit":  # and one cycle per step (no registers inside the step)
        for node in probe.graph:
            if node.op in RECURRENT:
                cfg["LayerName"].setdefault(node.name, {}).update(Precision=dict(EXPLICIT), AddersPerStage=None)
    return nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog", io_type=io_type)


def check(hw: nnfpga.HWModel, n: int, seed: int, cache: Any) -> tuple[int, int]:
    """Verilator = emulator on ``n`` sequences (real ones, some 8x too large, and extremes); returns the measured
    (latency, II)."""
    g = hw.graph
    steps, feats = g[g.inputs[0]].shape
    tin, _ = in_out_types(g)
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1.5, size=(n, steps * feats))
    x[: n // 20] *= 8
    m = mixed_mantissas(x, tin, n, rng)
    y, latency, ii = simulate(hw, m, cache_dir=cache)
    want = emulate_mantissas(hw, m)
    bad = np.flatnonzero(np.any(y != want, axis=1))
    assert len(bad) == 0, f"{len(bad)} of {n} sequences differ; first {bad[0]}: rtl {y[bad[0]]} emulator {want[bad[0]]}"
    return latency, ii


@pytest.mark.parametrize("precision", ["default", "explicit"])
@pytest.mark.parametrize("name", [c for c in CASES if c != "lstm_dense_softmax"])
def test_recurrent_rtl_equals_emulator(rtl_cache, verilator_exe, name, precision):
    hw = convert(rnn_model(name), precision)
    design = build_design(hw.graph, prep=prepare_all(hw.graph))
    steps = CASES[name][0][0]
    latency, ii = check(hw, 500, 1, rtl_cache)
    per_step = {(design.inner[n.name] - 1) // steps for n in hw.graph if n.op in RECURRENT}
    assert per_step == {1} if precision == "explicit" else min(per_step) > 1  # AddersPerStage None, or 1
    assert ii == design.ii == steps * max(per_step)
    assert latency == design.latency
    assert f"II = {ii}" in design.modules[0].header


# ReuseFactor / RecurrentReuseFactor per layer: R not dividing the product's inputs (lstm: 2 of 3 features, 8 of 4
# units), and the GRU reset before's r * h product, which starts mid-step after the reset gate (gru2: 3 of 4 units)
REUSE = {"lstm_small": {"lstm": (2, 8)}, "gru_stack_reset_before": {"gru1": (3, 5), "gru2": (4, 3)}}


@pytest.mark.parametrize("name", list(REUSE))
def test_recurrent_reuse_rtl_equals_emulator(rtl_cache, verilator_exe, name):
    """Folded cell products (each multiplier used R times): Verilator = emulator, the step lengthened by R + 1
    cycles for the slowest product, stated = measured."""
    model = rnn_model(name)
    cfg = nnfpga.config_from_keras_model(model, granularity="name")
    for layer, (rf, rrf) in REUSE[name].items():
        cfg["LayerName"].setdefault(layer, {}).update(ReuseFactor=rf, RecurrentReuseFactor=rrf)
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog")
    design = build_design(hw.graph, prep=prepare_all(hw.graph))
    plain = build_design(convert(model, "default").graph, prep=prepare_all(hw.graph))
    steps = CASES[name][0][0]
    for layer, (rf, rrf) in REUSE[name].items():  # a step: the folded products' R + 1 cycles, then the gates
        assert design.inner[layer] - 1 >= steps * (max(rf, rrf) + 2)
    latency, ii = check(hw, 500, 5, rtl_cache)
    assert (latency, ii) == (design.latency, design.ii)
    assert ii == max((design.inner[n.name] - 1) for n in hw.graph if n.op in RECURRENT)
    # the folded products' multipliers (the plain design's products are adder graphs): at least one per R nonzero
    # weights, at most one per output and slot of R inputs
    folded = design.modules[0].render().count(" * ") - plain.modules[0].render().count(" * ")
    prep, fewest, most = prepare_all(hw.graph), 0, 0
    for layer, (rf, rrf) in REUSE[name].items():
        plans = prep[layer]
        for plan, r in ((plans.x, rf), (plans.h, rrf), (plans.hc, rrf)):
            if plan is not None:
                wm = np.asarray(plan.wm)
                fewest += -(-np.count_nonzero(wm) // r)
                most += wm.shape[1] * -(-wm.shape[0] // r)
    assert 0 < fewest <= folded <= most


def test_predict_engine_rtl(verilator_exe):
    """``hw.predict(x, engine="rtl")`` feeds float sequences at the design's II and gives the emulator's values."""
    hw = convert(rnn_model("simple_rnn_backwards"), "default")
    x = np.random.default_rng(3).normal(0, 1.5, size=(300, *CASES["simple_rnn_backwards"][0]))
    assert np.array_equal(hw.predict(x, engine="rtl"), hw.predict(x))


def test_lstm_2000_sequences(rtl_cache, verilator_exe):
    """The issue's case: LSTM(20) over 20 steps x 6 features, then Dense 5 + softmax, explicit precisions."""
    hw = convert(rnn_model("lstm_dense_softmax"), "explicit")
    latency, ii = check(hw, 2000, 2, rtl_cache)
    assert ii == 20
    lstm = build_design(hw.graph, prep=prepare_all(hw.graph)).inner["lstm"]
    assert lstm == 21 and latency > lstm  # 20 steps and the latch, then the Dense and softmax


def test_recurrent_stream_refused():
    """The streaming top (image models) does not take a recurrent layer: a typed error naming it."""
    keras = import_keras()
    L = keras.layers
    model = keras.Sequential([keras.Input((6, 6, 2)), L.Conv2D(2, 3, name="conv"), L.Reshape((16, 2)),
                              L.SimpleRNN(3, name="rnn")])
    with pytest.raises(BackendSupportError, match=r"simple_rnn 'rnn'.*not lowered by the streaming Verilog top"):
        nnfpga.convert_from_keras_model(model, backend="verilog")


@pytest.mark.parametrize("precision", ["default", "explicit"])
def test_recurrent_synthesizes(precision):
    """Yosys keeps the datapath (one driver per register: Verilator accepts what Yosys resolves to a constant) and
    reports the design's latency and II, a step of K > 1 cycles (default) and of one cycle (explicit)."""
    try:
        tools.find("yosys")
    except ToolNotFoundError:
        require(None, "yosys", "make tools")
    hw = convert(rnn_model("simple_rnn_backwards"), precision)
    design = build_design(hw.graph, prep=prepare_all(hw.graph))
    r = hw.synthesize(progress=False, save=False)
    assert (r.latency_cycles, r.ii) == (design.latency, design.ii)
    assert r.lut > 500 and r.ff > 300  # the step's logic and the latched sequence, state and outputs
