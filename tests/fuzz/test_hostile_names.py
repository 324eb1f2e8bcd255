"""Hostile layer, model and project names: quotes, semicolons, backslashes, newlines, unicode, C++/Verilog/Tcl
keywords, names that clash after sanitizing or differ only in case, leading digits, very long names. The generated
C++, Verilog, Tcl, config.yml and nnfpga.json get valid, unique identifiers; the projects compile (g++),
simulate (csim and Verilator) and are bit-exact with the emulator."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

import nnfpga
from fuzz.engines import emulate, input_mantissas
from fuzz.strategies import inputs_for
from nnfpga.backends.hls.cpp import CPP_KEYWORDS, RESERVED, comment_text, identifier, project_identifier
from nnfpga.backends.hls.csim import own_include_dir
from nnfpga.backends.hls.writer import derived_names, layer_names
from nnfpga.backends.rtl import sim
from nnfpga.backends.rtl.lower import build_design
from nnfpga.backends.rtl.verilog import VERILOG_KEYWORDS, comment_line
from nnfpga.backends.rtl.verilog import identifier as v_identifier
from nnfpga.config import apply_config, parse_config
from nnfpga.errors import ConfigError
from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Graph, Node
from nnfpga.model import HWModel
from nnfpga.passes import infer_types
from tooling import gxx, require

LONG = "very_long_layer_name_" * 20 + "end"
HOSTILE = [
    'quo"te', "it's", "semi;colon", "back\\slash", "trail\\", "new\nline", "cr\rlf", "tab\there", "ünïcødé", "日本語",
    "class", "module", "input", "proc", "wire", "int", "a-b", "a_b", "A_B", "1st", "2nd layer", LONG, LONG + "2", "",
    " ", "??/", "*/ /*", "synthesis translate_off", "// verilator lint_off", "$x", "x_out", "w_x", "x", "main",
    "nnfpga", "hls", "std", "N_INPUT", "x_in", "in_data", "clk", "valid_q", "defines", "a__b", "_Upper", "__init__",
    "{set}", "[exec rm -rf /]", "$::env(HOME)", "`define", "endmodule", "always_ff", "void", "return",
]
PROJECTS = ['my"prj', "class", "module", "proc", "nnfpga", "hls", "dense", "defines", "Parameters", "W_fc", "in",
            "x", "sin", "errno", "1abc", "ünï", LONG, "main", "std", "a b;c", "input_t", "Vtop", "[exec ls]"]


def hostile_graph(names: list[str], *, rtl: bool = False) -> Graph:
    """input -> dense -> activation -> ... with the given names (the activations cycle through every op the
    Verilog backend builds; with ``rtl=False`` also a softmax 'a' followed by a sigmoid 'a_exp', whose type
    names would clash: a_exp_table_t)."""
    rng = np.random.default_rng(0)
    f = FixedType.parse
    g = Graph(name="evil\ngraph */ ??/ \\")
    g.add(Node(names[0], "input", [], (4,), types={"result": f("ap_fixed<10,3,AP_RND,AP_SAT>")}))
    prev, n = names[0], 4
    acts = ["relu", "tanh", "leaky_relu", "sigmoid", "hard_sigmoid", "elu", "hard_tanh", "linear"]
    for k, name in enumerate(names[1:]):
        if k % 2 == 0:
            m = 3 + k % 4
            w = rng.normal(0, 1, (n, m))
            w[rng.random(w.shape) < 0.3] = 0.0
            w[:, 0] = w[:, 0] + 0.25  # every output has weights
            g.add(Node(name, "dense", [prev], (m,), weights={"kernel": w, "bias": rng.normal(0, 0.5, m)},
                       attrs={"reuse_factor": 1, "strategy": "Latency"}))
            n = m
        else:
            g.add(Node(name, acts[(k // 2) % len(acts)], [prev], (n,)))
        prev = name
    if not rtl:
        g.add(Node("a", "softmax", [prev], (n,), attrs={"table_size": 256}))
        g.add(Node("a_exp", "sigmoid", ["a"], (n,)))
        prev = "a_exp"
    g.outputs = [prev]
    infer_types(g, FixedType(14, 5))
    return g


def test_identifiers_are_valid_and_never_keywords() -> None:
    for name in HOSTILE + PROJECTS:
        for ident, keywords in ((identifier(name), CPP_KEYWORDS | RESERVED), (v_identifier(name), VERILOG_KEYWORDS)):
            assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*|[A-Za-z_][A-Za-z0-9_]*", ident), (name, ident)
            assert ident not in keywords and len(ident) <= 70, (name, ident)
        assert "__" not in identifier(name) and not identifier(name).startswith("_")  # reserved in C++
    assert identifier("ünï") == "u00fcnu00ef" and v_identifier("class") == "class_" and identifier("int") == "int_"
    assert identifier(LONG) != identifier(LONG + "2") and identifier(LONG) == identifier(LONG)  # cut with a hash
    for name in PROJECTS:
        prj = project_identifier(name)
        assert prj.upper() not in ("DEFINES", "PARAMETERS", "COMMON", "DENSE", "ACTIVATION")
        assert not prj.upper().startswith("W_")


def test_layer_names_are_unique_after_sanitizing() -> None:
    g = hostile_graph(HOSTILE)
    names = layer_names(HWModel(g, {}, project_name="class"))
    idents = [names[n].ident for n in g.nodes]
    assert len(set(idents)) == len(idents)
    seen: set[str] = set()
    for ident in idents:  # no name derived from one layer equals one derived from another (case-insensitively)
        assert not (derived_names(ident) & seen), ident
        seen |= derived_names(ident)
    assert names["a-b"].ident == "a_b" and names["a_b"].ident == "a_b_1" and names["A_B"].ident == "A_B_2"


def test_comments_cannot_escape_or_direct_tools() -> None:
    assert comment_text("a\\") == "a<U+005C>" and comment_text("x ??/") == "x ? ?/"
    assert comment_text("new\nline ü") == "new<U+000A>line <U+00FC>"
    assert comment_line("  synthesis translate_off").startswith("| ")
    assert comment_line("ok: dense 'synthesis'") == "ok: dense 'synthesis'"


def _tcl_run(prj_dir: Path, *args: str) -> str:
    """Run build_prj.tcl in tclsh with the Vitis commands stubbed out; returns what they were called with."""
    stubs = "".join(f"proc {c} {{args}} {{ puts \"{c} $args\" }}\n" for c in (
        "open_project", "set_top", "add_files", "open_solution", "set_part", "create_clock", "csim_design",
        "csynth_design", "cosim_design", "export_design"))
    script = prj_dir / "run_stubbed.tcl"
    script.write_text(stubs + "rename exit real_exit\nproc exit {args} {}\nsource build_prj.tcl\n")
    res = subprocess.run(["tclsh", script.name, *args], cwd=prj_dir, capture_output=True, text=True, timeout=60)
    return res.stdout + res.stderr


@pytest.mark.tools
@pytest.mark.slow
@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_hls_project_with_hostile_names_compiles_and_is_bit_exact(tmp_path: Path, io_type: str) -> None:
    gxx()
    g = hostile_graph(HOSTILE)
    cfg = {"Model": {"Precision": "ap_fixed<14,5>"},
           "LayerName": {name: {"Trace": True} for name in HOSTILE if name in g.nodes}}
    typed = apply_config(g, parse_config(cfg))
    out = tmp_path / "out dir 'with' \"quotes\"; ünï $(x)"
    hw = HWModel(typed, cfg, output_dir=out, io_type=io_type, project_name='class"; rm -rf /')
    hw.compile()
    x = inputs_for(typed, 1000, np.random.default_rng(1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        np.testing.assert_array_equal(hw.predict(x, engine="csim"), hw.predict(x))
    files = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file() and "build" not in p.parts}
    for rel, data in files.items():
        if rel.suffix in (".h", ".cpp", ".tcl", ".yml", ".json"):
            data.decode("ascii")  # plain ASCII: names are escaped or spelled out
    prj = project_identifier('class"; rm -rf /')
    assert prj == "class_rm_rf_" and (out / "firmware" / f"{prj}.cpp").is_file()
    # config.yml and nnfpga.json keep every name exactly
    assert yaml.safe_load((out / "config.yml").read_text()) == cfg
    back = nnfpga.load_project(out)
    assert list(back.graph.nodes) == list(typed.nodes) and back.graph.name == typed.name
    assert json.loads((out / "nnfpga.json").read_text())["project_name"] == 'class"; rm -rf /'
    # the generated testbench compiles with every warning as an error and passes
    exe = out / "tb"
    res = subprocess.run([gxx(), "-std=c++14", "-O1", "-Wall", "-Wextra", "-Werror", f"-I{own_include_dir()}",
                          f"-I{out / 'firmware'}", f"{prj}_test.cpp", f"firmware/{prj}.cpp", "-o", str(exe)],
                         cwd=out, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    res = subprocess.run([str(exe)], cwd=out, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "0 mismatching outputs" in res.stdout, res.stdout
    # Tcl: the script runs and names the sanitized top function; nothing in it is substituted from a name
    if shutil.which("tclsh"):
        calls = _tcl_run(out, "reset=1 csim=0 synth=1")  # one argument, as vitis_hls -f passes it
        assert "csim_design" not in calls and "csynth_design" in calls
        assert _tcl_run(out, "csim=1", "synth=0").count("_design") == 1  # several arguments
        assert "invalid option 'bogus=1': expected key=value with a key from" in _tcl_run(out, "bogus=1")
        assert f"set_top {prj}" in calls and f"add_files firmware/{prj}.cpp -cflags -std=c++14" in calls
        assert "set_part xcvu13p-flga2577-2-e" in calls


@pytest.mark.tools
@pytest.mark.slow
def test_hostile_project_names_compile(tmp_path: Path) -> None:
    gxx()
    g = hostile_graph(["x", "fc", "act"], rtl=True)
    x = inputs_for(g, 100, np.random.default_rng(2))
    for i, name in enumerate(PROJECTS):
        hw = HWModel(g, {}, output_dir=tmp_path / f"p{i}", project_name=name)
        hw.compile()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", nnfpga.OverflowWarning)
            np.testing.assert_array_equal(hw.predict(x, engine="csim"), hw.predict(x), err_msg=name)


def test_part_names_cannot_reach_tcl() -> None:
    g = hostile_graph(["x", "fc", "act"], rtl=True)
    for part in ('xc7"; exec rm -rf /; "', "[exec ls]", "$env(HOME)", "a\nb", "", "x{y}"):
        with pytest.raises(ConfigError, match=r"^part must be an FPGA part name like 'xcvu13p-flga2577-2-e'"):
            HWModel(g, {}, part=part)
    with pytest.raises(ConfigError, match=r"^project_name must be a non-empty string, got ''"):
        HWModel(g, {}, project_name="")


@pytest.mark.tools
@pytest.mark.slow
def test_verilog_with_hostile_names_lints_simulates_and_is_bit_exact(tmp_path: Path) -> None:
    verilator = require(shutil.which("verilator"), "verilator", "make tools")
    g = hostile_graph(HOSTILE[:24], rtl=True)
    hw = HWModel(g, {}, project_name="module", backend="verilog", output_dir=tmp_path / "prj")
    hw.write()
    rtl = tmp_path / "prj" / "rtl"
    for p in rtl.iterdir():
        text = p.read_text(encoding="ascii")
        for line in text.splitlines():
            body = line.split("//", 1)[1].strip().lower() if "//" in line else ""
            assert not body.startswith(("synthesis", "synopsys", "verilator", "pragma")), line
    files = (rtl / "filelist.f").read_text().split()
    res = subprocess.run([verilator, "--lint-only", "-Wall", "-Wno-DECLFILENAME", "-Wno-UNUSED", "--top-module",
                          "module_", *files], cwd=rtl, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    x = inputs_for(g, 1000, np.random.default_rng(3))
    design = build_design(g, "module", prep=hw.interpreter.prep, trace=True)
    assert design.name == "module_"
    y, _, _ = sim.simulate(design, input_mantissas(g, x), cache_dir=tmp_path / "cache")
    ref = emulate(g, x, keep=True)
    col = 0
    for name, count in design.trace or []:
        np.testing.assert_array_equal(y[:, col:col + count], ref[name], err_msg=repr(name))
        col += count
