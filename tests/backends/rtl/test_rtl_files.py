"""Verilog backend: generated files (deterministic, documented ports, lint-clean), pipeline depths, refusals."""

from __future__ import annotations

import os
import re
import subprocess

import numpy as np
import pytest

import nnfpga
from backends.hls.conftest import all_activations_model, random_config
from nnfpga.backends.rtl import build_design, reuse, rtl_files, simulate
from nnfpga.errors import ConfigError, EmulationError, ToolError, ToolNotFoundError
from nnfpga.examples import DEFAULT_JET_MODEL

JET = str(DEFAULT_JET_MODEL)


def jet(changes: dict[tuple[str, str], object] | None = None) -> nnfpga.HWModel:
    """The jet MLP with config changes {(layer, "accum" | "result" | config key): value}."""
    cfg = nnfpga.config_from_keras_model(JET, granularity="name")
    for (layer, key), value in (changes or {}).items():
        target = cfg["LayerName"][layer]
        if key in ("accum", "result"):
            target["Precision"][key] = value
        else:
            target[key] = value
    return nnfpga.convert_from_keras_model(JET, hls_config=cfg, project_name="jet")


@pytest.fixture(scope="module")
def jet_files() -> dict[str, bytes]:
    return rtl_files(nnfpga.convert_from_keras_model(JET, project_name="jet"))


def test_files_and_determinism(jet_files):
    assert sorted(jet_files) == ["rtl/filelist.f", "rtl/jet.v", "rtl/jet_lib.v"]
    assert jet_files["rtl/filelist.f"] == b"jet_lib.v\njet.v\n"
    again = rtl_files(nnfpga.convert_from_keras_model(JET, project_name="jet"))  # a fresh conversion
    assert again == jet_files


def test_header_documents_ports_and_latency(jet_files):
    hw = nnfpga.convert_from_keras_model(JET, project_name="jet")
    d = build_design(hw.graph, "jet", prep=hw.interpreter.prep)
    assert d.latency == sum(d.stages.values()) + sum(d.inner.values()) <= 14  # registers placed for 5 ns
    assert d.stages["softmax"] == 1 and d.critical_path_ns <= 5.0  # the output register; the clock met (estimate)
    top = jet_files["rtl/jet.v"].decode()
    head = top[: top.index("module jet (")]
    for text in ("clk", "synchronous reset, active high", "in_valid", "in_data    input   [255:0] 16 input",
                 "in_data[16*i +: 16]", "ap_fixed<16,6>, value = m * 2^-10 (two's complement)",
                 "out_data[16*j +: 16]", "ap_ufixed<16,1>, value = m * 2^-15 (unsigned)", "II = 1",
                 f"latency {d.latency} clock cycle(s)",
                 f"Timing: clock period 5 ns (200.0 MHz): latency {d.latency} cycle(s) = {5 * d.latency} ns.",
                 "Estimated under the xcup delay model",
                 f"critical path {d.critical_path_ns:.2f} ns", f"Fmax {d.fmax_mhz:.1f} MHz",
                 f"fc1          dense        0 stage(s) + {d.inner['fc1']} inside the layer"):
        assert text in head, text
    ports = top[top.index("module jet ("): top.index(");")]
    for decl in ("input  wire         clk", "input  wire         rst", "input  wire         in_valid",
                 "input  wire [255:0] in_data", "output wire         out_valid", "output wire [79:0]  out_data"):
        assert decl in ports, decl
    # the layer named 'output' (a Verilog keyword) gets a valid identifier; zero weights generate nothing
    assert "output__" in top and "wire output " not in top
    # the valid pipeline, the output register, one block of registers inside each Dense's adder graph, one per
    # register stage of the softmax
    assert d.inner["softmax"] >= 1 and all(d.inner[n] >= 1 for n in ("fc1", "fc2", "fc3", "output"))
    assert top.count("always @(posedge clk)") == 1 + 1 + 4 + d.inner["softmax"]


def test_zero_weights_generate_no_logic():
    hw = nnfpga.convert_from_keras_model(JET, project_name="jet")
    fc1 = hw.graph["fc1"]
    w = fc1.weights["kernel"].copy()
    w[:, 3] = 0.0
    w[5, :] = 0.0
    fc1.weights["kernel"] = w
    hw = nnfpga.HWModel(hw.graph, {}, project_name="jet")
    # adder graphs: input 5 (in_data[95:80]) is read by nothing, output 3 is its bias
    top = build_design(hw.graph, "jet", prep=hw.interpreter.prep).modules[0].render()
    assert "in_data[95:80]" not in top and "in_data[111:96]" in top
    assert re.search(r"wire \[\d+:0\] fc1_acc3 = ", top) is None  # a constant: no accumulator wire
    # operator multipliers: one per weight other than 0, +-1
    top = build_design(hw.graph, "jet", prep=hw.interpreter.prep, multipliers="operator").modules[0].render()
    assert "fc1_m0_3 " not in top and "fc1_m5_0 " not in top and "fc1_m0_0 " in top
    wm = hw.interpreter.prep["fc1"].wm
    products = re.findall(r"wire \[\d+:0\] fc1_m(\d+)_(\d+) =", top)  # one per weight other than 0, +-1
    assert len(products) == np.count_nonzero(np.abs(wm) > 1) <= 15 * 63
    assert all(abs(wm[int(i), int(j)]) > 1 for i, j in products)


def test_reuse_plan_packs_pruned_weights():
    """ReuseFactor R: full slots keep their shared input multiplexer; an output's scattered nonzero weights
    are packed R to a multiplier when that saves multipliers; a dense layer is exactly its slots."""
    assert reuse.plan([[1, 2]] * 8, 4) == [[(0, 1, 2, 3), (4, 5, 6, 7)]] * 2
    w = [[0] * 3 for _ in range(8)]
    for i in (0, 1, 2, 3):  # output 0: slot 0 full
        w[i][0] = 1
    for i in (1, 6):  # output 1: two part-filled slots -> one packed multiplier
        w[i][1] = -3
    w[5][2] = 7  # output 2: one weight: stays in its slot (packing saves nothing)
    assert reuse.plan(w, 4) == [[(0, 1, 2, 3)], [(1, 6, None, None)], [(None, 5, None, None)]]
    top = build_design(_graph_with_kernel(np.array(w, dtype=float)), "rf", adders_per_stage=None).modules[0].render()
    assert top.count("_pk") and "// inputs 1, 6, -, -" in top  # one multiplexer of its own


def _graph_with_kernel(kernel: np.ndarray):
    import keras

    n_in, n_out = kernel.shape
    model = keras.Sequential([keras.Input((n_in,)), keras.layers.Dense(n_out, name="fc")])
    model.layers[0].set_weights([kernel, np.zeros(n_out)])
    cfg = nnfpga.config_from_keras_model(model, granularity="name", default_reuse_factor=4)
    return nnfpga.convert_from_keras_model(model, hls_config=cfg).graph


def test_pipeline_stages_attribute_and_override():
    hw = jet()
    kw = {"prep": hw.interpreter.prep, "adders_per_stage": None}  # no registers inside the layers
    assert build_design(hw.graph, "jet", **kw).latency == 5
    d = build_design(hw.graph, "jet", pipeline_stages={"input_layer": 1, "fc1": 3, "fc1_relu": 1, "softmax": 0},
                     **kw)
    assert d.latency == 1 + 3 + 1 + 1 + 1 + 1 + 0
    hw.graph["fc2"].attrs["pipeline_stages"] = 0
    assert build_design(hw.graph, "jet", **kw).latency == 4
    with pytest.raises(ConfigError, match=r"pipeline_stages of dense 'fc3'.* must be an integer >= 0, got -1"):
        build_design(hw.graph, "jet", prep=hw.interpreter.prep, pipeline_stages={"fc3": -1})


def test_adders_per_stage_sets_the_depth_between_registers():
    hw = jet()
    inner = {k: build_design(hw.graph, "jet", prep=hw.interpreter.prep, adders_per_stage=k).inner["fc2"]
             for k in (1, 2, 4)}
    assert inner[1] > inner[2] > inner[4] >= 1
    hw.graph["fc2"].attrs["adders_per_stage"] = None
    assert build_design(hw.graph, "jet", prep=hw.interpreter.prep).inner["fc2"] == 0
    hw.graph["fc2"].attrs["adders_per_stage"] = 0
    with pytest.raises(ConfigError, match=r"adders_per_stage of dense 'fc2'.* must be an integer >= 1, None .*auto"):
        build_design(hw.graph, "jet", prep=hw.interpreter.prep)
    hw.graph["fc2"].attrs.update(adders_per_stage=2, multipliers="dsp")
    with pytest.raises(ConfigError, match=r"multipliers of dense 'fc2'.* must be one of auto, shared, csd, operator, "
                                          r"got 'dsp'"):
        build_design(hw.graph, "jet", prep=hw.interpreter.prep)


def test_unsupported_accumulators_are_refused_naming_the_layer():
    with pytest.raises(ConfigError) as exc:
        rtl_files(jet({("fc1", "accum"): "ap_fixed<30,6,AP_TRN,AP_SAT>", ("fc1", "ReuseFactor"): 4}))
    assert str(exc.value) == (
        "Dense layer 'fc1': accumulator ap_fixed<30,6,AP_TRN,AP_SAT> may saturate a partial sum (overflow SAT), "
        "which needs the products summed one by one in input order; the Verilog backend builds that only at "
        "ReuseFactor 1 (the reused multipliers deliver the products out of order). Use ReuseFactor 1, a WRAP "
        "accumulator, or accum: auto")
    with pytest.raises(ConfigError) as exc:
        rtl_files(jet({("fc3", "ReuseFactor"): 64}))
    assert str(exc.value) == ("Dense layer 'fc3': ReuseFactor 64 does not divide its 32 inputs, which the Verilog "
                              "backend needs (each multiplier takes one input per cycle); valid: 1, 2, 4, 8, 16, 32")
    # narrower but wrapping, wider than exact but saturating (never overflows), rounding every product,
    # saturating chains (ReuseFactor 1), and rounding products with ReuseFactor 4 (wrapping): all built
    rtl_files(jet({("fc1", "accum"): "ap_fixed<30,6>", ("fc2", "accum"): "ap_fixed<48,20,AP_RND,AP_SAT>"}))
    rtl_files(jet({("fc1", "accum"): "ap_fixed<30,6,AP_TRN,AP_SAT>", ("fc2", "accum"): "ap_fixed<24,8>",
                   ("fc3", "accum"): "ap_fixed<20,8,AP_RND,AP_WRAP>", ("fc3", "ReuseFactor"): 4}))


@pytest.mark.tools
def test_verilator_lint_is_clean(verilator_exe, tmp_path, jet_files):
    """``verilator --lint-only -Wall`` finds nothing but style warnings (unused bits of wide intermediate
    values, several modules per file) on the jet MLP and on a model with every activation."""
    model = all_activations_model(3)
    cfg = random_config(nnfpga.config_from_keras_model(model, granularity="name"), np.random.default_rng(3))
    for entry in cfg["LayerName"].values():
        if "accum" in entry["Precision"]:
            entry["Precision"]["accum"] = "auto"
    mixed = rtl_files(nnfpga.convert_from_keras_model(model, hls_config=cfg, project_name="mixed"))
    for top, files in (("jet", jet_files), ("mixed", mixed)):
        d = tmp_path / top
        d.mkdir()
        for name, data in files.items():
            (d / name.split("/")[-1]).write_bytes(data)
        res = subprocess.run([verilator_exe, "--lint-only", "-Wall", "-Wno-DECLFILENAME", "-Wno-UNUSED",
                              "--top-module", top, f"{top}_lib.v", f"{top}.v"], cwd=d, capture_output=True,
                             text=True, timeout=300)
        assert res.returncode == 0 and not res.stderr.strip(), res.stderr[-3000:]


def test_tool_errors(tmp_path, monkeypatch):
    hw = nnfpga.convert_from_keras_model(JET, project_name="jet")
    m = np.zeros((3, 16), dtype=np.int64)
    with pytest.raises(EmulationError, match=r"input mantissas must lie in -32768..32767"):
        simulate(hw, m + 40000, cache_dir=tmp_path)
    monkeypatch.setenv("VERILATOR", str(tmp_path / "no-such-verilator"))
    with pytest.raises(ToolNotFoundError, match="verilator is not installed"):
        simulate(hw, m, cache_dir=tmp_path)
    fake = tmp_path / "verilator"
    fake.write_text("#!/bin/sh\nfor i in 1 2 3 4 5; do echo \"line $i\"; done\necho '%Error: broken' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("VERILATOR", str(fake))
    with pytest.raises(ToolError) as exc:
        simulate(hw, m, cache_dir=tmp_path / "cache")
    msg = str(exc.value)
    assert msg.startswith("verilator failed (exit 1); its last lines:") and "line 5" in msg and "%Error: broken" in msg
    assert f"command: cd {tmp_path / 'cache'}" in msg and "--top-module jet" in msg and "jet.v" in msg
    assert os.path.isdir(msg.split("command: cd ")[1].split(" && ")[0])  # the failed build is kept for inspection
