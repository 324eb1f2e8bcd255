"""Fanout-limited designs (issue 16, ECP5): where a target's delay model limits fanout (``DelayModel.max_fanout``)
and the design is large enough to spread over the device (``spread_weights`` nonzero weights in its adder graphs),
timing-driven Dense layers read each input through ``(* keep *)`` register copies feeding at most that many adders,
build per-output trees (``Multipliers: auto`` = ``csd`` there), and table reads take their address from copies, one
per slice of the table's bits. The arithmetic never changes: Verilator equals the emulator."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

import nnfpga
from backends.rtl.helpers import emulate_mantissas, in_out_types, mixed_mantissas
from nnfpga.backends.rtl import cmvm, sim
from nnfpga.backends.rtl.adder_graph import Pipeline, Timed
from nnfpga.backends.rtl.context import Ctx
from nnfpga.backends.rtl.delay import ECP5, XC7, XCUP
from nnfpga.backends.rtl.lower import build_design, graph_weights
from nnfpga.backends.rtl.tables import _slices
from nnfpga.backends.rtl.verilog import Arith, Module, Val


def _dense(keras, n_in: int = 32, n_out: int = 32, softmax: bool = False, seed: int = 3) -> nnfpga.HWModel:
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((n_in,)), keras.layers.Dense(n_out, activation="relu", name="fc")]
    if softmax:
        layers += [keras.layers.Dense(5, name="out"), keras.layers.Softmax(name="sm")]
    model = keras.Sequential(layers, name="fan")
    cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision="ap_fixed<8,3>")
    return nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog", project_name="fan")


def _verilog(hw: nnfpga.HWModel, target: str, period: float = 10.0, multipliers: str = "auto") -> str:
    d = build_design(hw.graph, "fan", prep=hw.interpreter.prep, clock_period=period, target=target,
                     multipliers=multipliers)
    return "\n".join(m.render() for m in d.modules)


def test_only_large_designs_on_fanout_limited_targets_copy_and_stop_sharing(keras):
    """ECP5 limits fanout and does not share subexpressions by default in a design of 512 nonzero weights or more;
    the Xilinx models do neither, a small design is built as before, and an explicit ``Multipliers`` is obeyed."""
    assert ECP5.fanout_for(512) == 4 and ECP5.fanout_for(511) is None
    assert XC7.fanout_for(10**6) is None and XCUP.fanout_for(10**6) is None
    small = _dense(keras, 16, 8)
    assert "(* keep *)" not in _verilog(small, "ecp5") and _verilog(small, "ecp5") == _verilog(small, "ecp5",
                                                                                               multipliers="shared")
    hw = _dense(keras)
    assert 512 <= graph_weights(hw.graph, hw.interpreter.prep) <= 32 * 32  # weights quantized to 0 cost nothing
    ecp5 = _verilog(hw, "ecp5")
    assert "(* keep *) always @(posedge clk)" in ecp5
    assert ecp5 == _verilog(hw, "ecp5", multipliers="csd") != _verilog(hw, "ecp5", multipliers="shared")
    xc7 = _verilog(hw, "xc7")
    assert "(* keep *)" not in xc7 and xc7 == _verilog(hw, "xc7", multipliers="shared")
    assert "(* keep *)" not in _verilog(hw, "ecp5", multipliers="shared").split("fc_")[0]  # no copy of a port


@pytest.mark.parametrize("share", [False, True])
def test_each_input_copy_feeds_at_most_max_fanout_adders(share):
    """Every input is read through ``ceil(readers / 4)`` copies, one cycle later, each read by at most 4 adders
    (an adder of a shifted operand names it twice: its high part and its passed-through low bits)."""
    rng = np.random.default_rng(5)
    w = rng.integers(-100, 100, size=(6, 9)).tolist()
    plan = cmvm.plan(w, share=share)
    m = Module("m")
    ar = Arith(m, ECP5)
    pipe = Pipeline(ar, "p", None, budget=ECP5.budget(10.0), fanout=ECP5.max_fanout)
    xs = [Timed(Val.of(f"x{i}", 8, True)) for i in range(6)]
    outs = pipe.matvec(plan, xs)
    pipe.finish()
    readers = [0] * 6
    for src in [x for s in plan.subs for x in (s.a, s.b)] + [t.src for terms in plan.outputs for t in terms]:
        if src < 6:
            readers[src] += 1
    text = m.render()
    for i, r in enumerate(readers):
        copies = re.findall(rf"(\w+) <= x{i};", text)
        assert len(copies) == -(-r // ECP5.max_fanout), (i, r, copies)
        for reg in copies:
            reads = [line for line in text.splitlines() if re.search(rf"\b{reg}\b", line) and "<=" not in line
                     and not line.strip().startswith("reg ")]
            assert reads and len(reads) <= 2 * ECP5.max_fanout, (reg, reads)
    assert text.count("(* keep *) always") == 6 and all(o is None or o.cycle >= 1 for o in outs)


def test_table_slices_bound_the_address_fanout():
    c = Ctx(Arith(Module("m"), ECP5), None, "t", fanout=4)  # type: ignore[arg-type]
    assert _slices(c, 256, 10) == [(0, 4), (4, 4), (8, 2)]  # 16 LUT4s a bit: 4 bits = 64 loads a copy
    assert _slices(c, 1024, 10) == [(lsb, 1) for lsb in range(10)]
    assert _slices(c, 16, 10) == [(0, 10)]
    assert _slices(Ctx(Arith(Module("m"), ECP5), None, "t"), 1024, 10) == [(0, 10)]  # type: ignore[arg-type]


@pytest.mark.tools
@pytest.mark.parametrize("period", [10.0, 6.7])
def test_ecp5_fanout_designs_are_bit_exact(keras, verilator_exe, rtl_cache, period):
    """A Dense + softmax model on ECP5 at 10 ns (whole tables, sliced) and 6.7 ns (banked tables, per-output
    partial products): Verilator equals the emulator, with the stated latency."""
    hw = _dense(keras, softmax=True)
    design = build_design(hw.graph, "fan", prep=hw.interpreter.prep, clock_period=period, target="ecp5")
    text = "\n".join(design.sources().values())
    assert "_w0" in text and "(* keep *)" in text  # table slices, copies
    tin, _ = in_out_types(hw.graph)
    rng = np.random.default_rng(11)
    m = mixed_mantissas(rng.normal(0, 1, size=(300, 32)), tin, 800, rng)
    y, latency, ii = sim.simulate(design, m, cache_dir=rtl_cache, idle_seed=1)
    assert (latency, ii) == (design.latency, 1)
    np.testing.assert_array_equal(y, emulate_mantissas(hw, m))


@pytest.mark.tools
def test_yosys_keeps_the_copies(keras, yosys_exe, tmp_path: Path):
    """Yosys's opt_merge folds registers of equal inputs into one; the ``(* keep *)`` blocks stop it: synthesized
    for ECP5, the design has as many flip-flops as its registers have bits (without the attribute, fewer)."""
    hw = _dense(keras)
    design = build_design(hw.graph, "fan", prep=hw.interpreter.prep, clock_period=10.0, target="ecp5")
    text = "\n".join(design.sources().values())
    bits = sum(int(hi) + 1 for hi in re.findall(r"^\s*reg \[(\d+):0\]", text, re.M))
    bits += len(re.findall(r"^\s*reg \w", text, re.M))

    def ffs(src: str, name: str) -> int:
        (tmp_path / name).write_text(src)
        out = subprocess.run([yosys_exe, "-q", "-p", f"read_verilog {name}; synth_ecp5 -top fan; tee -o st.txt stat"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300, check=True)
        assert out.returncode == 0
        return int(re.search(r"TRELLIS_FF\s+(\d+)", (tmp_path / "st.txt").read_text()).group(1))

    kept, merged = ffs(text, "kept.v"), ffs(text.replace("(* keep *) ", ""), "merged.v")
    assert merged < kept <= bits, (merged, kept, bits)
    copies = sum(int(hi) + 1 for hi in re.findall(r"reg \[(\d+):0\] fc_c\d+", text))
    assert kept - merged >= copies // 2, (kept, merged, copies)
