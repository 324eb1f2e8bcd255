"""The resource and latency estimator (hw.estimate, nnfpga estimate) against the stored Yosys sweep
(benchmarks/data/estimator_yosys.json, refreshed by benchmarks/estimator_validation.py): 72 MLPs and 18 streaming
CNNs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from nnfpga.api import convert_graph
from nnfpga.backends.rtl import estimate as est
from nnfpga.backends.rtl.counts import Counts
from nnfpga.backends.rtl.lower import build_design, timing_settings
from nnfpga.backends.rtl.netlist_text import text_counts
from nnfpga.backends.rtl.stream_lower import credit_fifo_module
from nnfpga.backends.rtl.window import window_module
from nnfpga.errors import ConfigError, NnfpgaError

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
import estimator_validation as ev

DATA = ev.load()
ROWS = [r for r in DATA["designs"] if "yosys" in r]
MLP = [r for r in ROWS if ev.kind(r["spec"]) == "mlp"]
CNN = [r for r in ROWS if ev.kind(r["spec"]) == "cnn"]


def test_stored_sweep_is_the_issues_sweep() -> None:
    assert len(ROWS) >= 60 and DATA["target"] == "xc7" and len(MLP) == 72 and len(CNN) >= 12
    for rows, reuse in ((MLP, ev.REUSE), (CNN, ev.CNN_REUSE)):
        specs = [r["spec"] for r in rows]
        assert {s["bits"] for s in specs} == set(ev.BITS) and {s["reuse"] for s in specs} == set(reuse)
        assert {s["sparsity"] for s in specs} == set(ev.SPARSITY)
    assert all(r["tool"].startswith("yosys ") and r["kind"] == ev.kind(r["spec"]) for r in ROWS)
    assert {layer[0] for r in CNN for layer in r["spec"]["layers"]} == {"conv", "pool"}
    by_name = {s["name"]: s for s in ev.specs() + ev.cnn_specs()}  # the benchmark regenerates the same designs
    assert all(by_name[r["spec"]["name"]] == r["spec"] for r in ROWS)
    # the line buffers Yosys mapped: shift registers (SRL), LUT RAM and, for the deepest rows, block RAM
    assert all(r["yosys"]["srl"] > 0 and r["yosys"]["lutram"] > 0 for r in CNN)
    assert any(r["yosys"]["bram_18k"] for r in CNN)


def test_estimate_against_stored_yosys_results() -> None:
    """Rebuilt from each stored spec (no tool run): LUT + 55 x DSP within the issue's bounds, latency and II the
    synthesized design's."""
    estimates = []
    for row in ROWS:
        e = ev.build(row["spec"]).estimate()
        assert (e.latency_cycles, e.ii) == (row["latency_cycles"], row["ii"]), row["spec"]["name"]
        estimates.append({"lut": e.total.lut, "dsp": e.total.dsp, "bram": e.total.bram_18k, "lutram": e.total.lutram})
    errs = ev.errors(ROWS, estimates)
    for kind in ("mlp", "cnn", None):  # each kind and all together
        med, p90 = ev.summary([x for x, r in zip(errs, ROWS, strict=True) if kind in (None, ev.kind(r["spec"]))])
        assert med <= 0.10 and p90 <= 0.20, (kind, med, p90)
    for row, e in zip(ROWS, estimates, strict=True):
        y = row["yosys"]
        assert e["bram"] == y["bram_18k"], row["spec"]["name"]
        if ev.kind(row["spec"]) == "cnn":  # LUT RAM cells: exact but where pruning leaves a line buffer unread
            assert 0.75 * e["lutram"] <= y["lutram"] <= e["lutram"], row["spec"]["name"]


def test_stored_features_give_the_same_costs() -> None:
    """The benchmark's report reads the stored features: they cost what a fresh estimate costs."""
    for row in MLP[:8] + CNN[:6]:
        e = ev.build(row["spec"]).estimate()
        stored = est.cost_from_features(row["features"])
        assert stored["lut"] == pytest.approx(e.total.lut) and stored["dsp"] == e.total.dsp
        assert stored["ff"] == pytest.approx(e.total.ff)
        assert (stored["bram_18k"], stored["lutram"]) == (e.total.bram_18k, e.total.lutram)


def test_latency_and_ii_are_the_designs() -> None:
    for spec in ev.specs()[:12]:
        hw = ev.build(spec)
        design = build_design(hw.graph, hw.settings["project_name"], prep=hw.interpreter.prep,
                              **timing_settings(hw.settings))
        e = hw.estimate()
        assert (e.latency_cycles, e.ii) == (design.latency, design.ii) and e.ii == spec["reuse"]
        layers = {r.name: r for r in e.layers}
        for name, stages in design.stages.items():
            if name in layers:
                assert layers[name].latency_cycles == stages + design.inner.get(name, 0)
        assert e.total.lut == pytest.approx(sum(r.lut for r in e.layers)) and e.total.dsp == sum(
            r.dsp for r in e.layers)


def test_counts_follow_the_design() -> None:
    """More pruning, fewer adder bits; ReuseFactor > 1 makes multipliers (DSPs at 8 bits), 1 none."""
    base = {"name": "t", "inputs": 16, "units": [16, 8], "bits": 8, "seed": 5}
    dense = ev.build({**base, "reuse": 1, "sparsity": 0.0}).estimate()
    pruned = ev.build({**base, "reuse": 1, "sparsity": 0.75}).estimate()
    reused = ev.build({**base, "reuse": 2, "sparsity": 0.0}).estimate()
    assert pruned.counts["fc0"].add_bits < dense.counts["fc0"].add_bits and pruned.total.lut < dense.total.lut
    assert dense.total.dsp == 0 and not dense.counts["fc0"].muls
    muls = len(reused.counts["fc0"].muls) + len(reused.counts["fc1"].muls)  # one per weight pair (some constant)
    assert reused.total.dsp == muls and 0.9 * (16 * 16 + 16 * 8) // 2 <= muls <= (16 * 16 + 16 * 8) // 2
    assert reused.ii == 2 and reused.total.ff > dense.total.ff > 0


def test_counts_round_trip() -> None:
    e = ev.build(ev.specs()[5]).estimate()
    cnn = ev.build(ev.cnn_specs()[3]).estimate()
    assert any(c.mems and c.skid_bits for c in cnn.counts.values())
    for c in [*e.counts.values(), *cnn.counts.values()]:
        back = Counts.from_dict(json.loads(json.dumps(c.to_dict())))
        assert back.to_dict() == c.to_dict() and sorted(back.muls) == sorted(c.muls)


def test_table_and_dict(tmp_path: Path) -> None:
    e = ev.build(ev.specs()[1]).estimate()
    text = e.table()
    assert "fc0" in text and "relu0" in text and "total" in text and f"latency {e.latency_cycles}" in text
    d = e.to_dict()
    assert d["total"]["lut"] == e.total.lut and [r["name"] for r in d["layers"]] == [r.name for r in e.layers]
    assert json.loads(json.dumps(d)) == d


def test_bad_target_and_hls_project() -> None:
    hw = ev.build(ev.specs()[0])
    with pytest.raises(ConfigError, match="unknown estimate target 'virtex2'") as err:
        hw.estimate("virtex2")
    assert isinstance(err.value, NnfpgaError)
    with pytest.raises(ConfigError, match="unknown estimate target"):
        est.cost_from_features({"layers": {}}, "ice40")
    with pytest.raises(ConfigError, match="unknown estimate target 'ecp5'"):
        convert_graph(hw.graph, {"Model": {"Precision": "ap_fixed<4,2>"}}, backend="vitis").estimate("ecp5")


def test_hls_project_estimate_is_labelled() -> None:
    """An HLS project's estimate is the Verilog design's of the same graph, and says so."""
    hw = ev.build(ev.specs()[1])
    cfg = {"Model": {"Precision": "ap_fixed<6,3>", "ReuseFactor": 1}}
    hls = convert_graph(hw.graph, cfg, backend="vitis").estimate()
    ver = convert_graph(hw.graph, cfg, backend="verilog").estimate()
    assert hls.style == est.HLS_STYLE != ver.style == est.VERILOG_STYLE and "HLS-style" in hls.table()
    assert hls.to_dict()["total"] == ver.to_dict()["total"] and (hls.latency_cycles, hls.ii) == (
        ver.latency_cycles, ver.ii)


def test_cli_on_a_written_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nnfpga.cli import main

    spec = ev.specs()[7]
    hw = ev.build(spec, tmp_path / "prj")
    hw.write()
    assert main(["estimate", str(tmp_path / "prj"), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    want = hw.estimate().to_dict()
    got.pop("seconds"), want.pop("seconds")
    assert got == json.loads(json.dumps(want))
    assert main(["estimate", str(tmp_path / "prj")]) == 0
    assert "total" in capsys.readouterr().out
    assert main(["estimate", str(tmp_path / "prj"), "--target", "nope"]) != 0
    assert "unknown estimate target 'nope'" in capsys.readouterr().err


@pytest.mark.tools
@pytest.mark.slow
def test_one_design_against_yosys(yosys_exe: Any) -> None:
    """One small design synthesized now: the estimate within 25 % of Yosys on LUT + 55 x DSP, same DSPs."""
    hw = ev.build({"name": "y", "inputs": 16, "units": [8], "bits": 8, "reuse": 2, "sparsity": 0.5, "seed": 9})
    r = hw.synthesize("xc7", save=False, progress=False)
    e = hw.estimate()
    assert e.total.dsp == r.dsp and (e.latency_cycles, e.ii) == (r.latency_cycles, r.ii)
    assert abs(e.cost - ev.cost(r.lut, r.dsp)) <= 0.25 * ev.cost(r.lut, r.dsp)


def test_stream_elements_are_counted() -> None:
    """A window generator's storage as Yosys maps it: rows under 512 bits shift registers (SRLs), longer ones a
    RAM (here 20 pixels x 36 bits: LUT RAM), the window registers; its output register's two sources; a FIFO's
    memory read asynchronously (LUT RAM)."""
    from nnfpga.ops.spatial import Window

    win = Window(size=(3, 3), strides=(1, 1), dilation=(1, 1), pads=((1, 1), (1, 1)))
    small = text_counts(window_module("w", (6, 8), 2, win, 8))  # rows of 8 x 16 bits
    assert small.srl_cells == 2 * 16 and not small.mems and small.skid_bits == 9 * 16
    assert small.stream_reg_bits >= 9 * 16 + 2 * 9 * 16  # the window, the output and skid registers (+ counters)
    wide = text_counts(window_module("w", (6, 20), 3, win, 12))  # rows of 20 x 36 bits
    assert wide.mems == [(36, 20, 1)] * 2 and wide.srl_cells == 0
    assert text_counts(window_module("w", (6, 8), 2, win, 8), used=0.5).skid_bits == 9 * 8
    fifo = text_counts(credit_fifo_module("f", 8, 30))
    assert fifo.mems == [(30, 8, 0)] and fifo.count_bits > 0 and not fifo.skid_bits
    c = Counts(mems=[(36, 20, 1), (30, 8, 0), (15, 160, 1), (8, 160, 1), (21, 80, 1)])
    # 6 + 5 RAM32M; 160 x 15: 15 cells or more, a RAMB18E1; 160 x 8: 9 RAM64M; 80 x 21: 12 RAM32M
    assert est.memory_cost(c) == (6 + 5 + 9 + 12, 1, 8 + 21)


def test_cnn_estimate() -> None:
    """A streaming CNN's estimate: per layer, its window generator and output FIFO in the conv's row, the line
    buffers in LUT RAM; latency and II the stream's (cycles per image)."""
    spec = ev.cnn_specs()[3]
    hw = ev.build(spec)
    e = hw.estimate()
    layers = {r.name: r for r in e.layers}
    assert e.counts["conv0"].skid_bits > 0 and e.counts["conv0"].mems and layers["conv0"].lutram > 0
    assert e.total.lutram == sum(r.lutram for r in e.layers) and e.total.bram_18k == 0
    assert e.ii is not None and e.ii > 100 and "LUTRAM" in e.table()
    assert json.loads(json.dumps(e.to_dict()))["total"]["lutram"] == e.total.lutram
