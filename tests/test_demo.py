"""``make demo`` (``nnfpga demo``): the bundled jet MLP through the emulator to firmware, checked by real tools."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path

import pytest

import nnfpga
from nnfpga.backends.rtl.lower import build_design
from nnfpga.backends.rtl.synth import load_report
from nnfpga.cli import main
from nnfpga.demo import DemoResult, run_demo
from nnfpga.demo_firmware import RTL_PROJECT, RTL_REUSE
from nnfpga.errors import OutputDirError
from tooling import gxx, require

N_JETS = 20_000  # the bundled example's test jets


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoResult, str]:
    """The whole demo, run once (a Verilator build cache of its own: the design is really built):
    (output directory, result, what it printed)."""
    gxx()
    for tool in ("verilator", "yosys"):
        require(shutil.which(tool), tool, "make tools")
    out = tmp_path_factory.mktemp("demo") / "demo_out"
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(printed):
        mp.setenv("NNFPGA_CACHE_DIR", str(tmp_path_factory.mktemp("rtl-cache")))
        result = run_demo(out, progress=False)
    return out, result, printed.getvalue()


@pytest.mark.tools
@pytest.mark.slow
def test_demo_firmware_is_bit_exact_and_synthesized(demo: tuple[Path, DemoResult, str]) -> None:
    out, result, printed = demo
    assert result.checks == [("C simulation (g++)", 0, N_JETS), ("Verilator simulation", 0, N_JETS)]
    assert result.bit_exact and result.missing == []
    assert f"C simulation (g++) vs emulator: 0 of {N_JETS:,} jets differ (bit-exact" in printed
    assert f"Verilator simulation vs emulator: 0 of {N_JETS:,} jets differ (bit-exact" in printed
    hls, rtl = out / "jet_hls", out / "jet_rtl"
    assert result.projects == [hls, rtl]
    for f in ("firmware/myproject.cpp", "firmware/weights/fc1.h", "build_prj.tcl", "build/libmyproject.so"):
        assert (hls / f).is_file(), f
    for f in (f"rtl/{RTL_PROJECT}.v", f"rtl/{RTL_PROJECT}_lib.v", "reports/xc7.json"):
        assert (rtl / f).is_file(), f
    # every file written is listed, under its directory
    for prj in (hls, rtl):
        files = [p for p in prj.rglob("*") if p.is_file()]
        assert f"{prj}/  ({len(files)} files)" in printed
        assert all(re.search(rf"\b{re.escape(p.name)}\b", printed) for p in files)


@pytest.mark.tools
@pytest.mark.slow
def test_demo_resource_table_matches_the_saved_report(demo: tuple[Path, DemoResult, str]) -> None:
    out, result, printed = demo
    r = load_report(out / "jet_rtl", "xc7")
    assert r == result.report and r.tool.startswith("yosys ")
    hv = nnfpga.load_project(out / "jet_rtl")
    design = build_design(hv.graph, RTL_PROJECT, prep=hv.interpreter.prep)
    assert r.latency_cycles == design.latency > RTL_REUSE and r.ii == design.ii == RTL_REUSE
    assert r.lut > 1000 and r.ff > 1000 and 0 < r.dsp < 4256 // 4 and r.bram_18k is not None
    lines = printed.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.startswith("LUT "))
    assert lines[header].split("  ")[0] == "LUT" and set(lines[header + 1]) <= {"-", " "}
    expected = [r.lut, r.ff, r.dsp, r.bram_18k, r.latency_cycles, r.latency_cycles * 5, r.ii]  # a 5 ns clock
    assert lines[header + 2].split() == [f"{v:,}" for v in expected]


@pytest.mark.slow
def test_demo_without_tools_still_emulates_and_says_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for var in ("CXX", "VERILATOR", "NNFPGA_YOSYS"):  # the variables nnfpga.tools reads a tool's path from
        monkeypatch.setenv(var, str(tmp_path / "not-installed"))
    out = tmp_path / "demo_out"
    assert main(["demo", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"2. Bit-exact emulation of {N_JETS:,} jets" in printed and "5. Precision sweep" in printed
    for tool in ("g++", "verilator", "yosys"):
        assert re.search(rf"skipped: {re.escape(tool)} is not installed: run 'make tools'", printed), tool
    assert "Skipped, tools missing (`make setup` installs them" in printed and "none ran (tools missing)" in printed
    assert f"written, not compiled: {out}/jet_hls/firmware/myproject.cpp" in printed
    assert (out / "jet_hls" / "firmware" / "myproject.cpp").is_file() and not (out / "jet_hls" / "build").exists()
    assert (out / "jet_rtl" / "rtl" / f"{RTL_PROJECT}.v").is_file() and not (out / "jet_rtl" / "reports").exists()


def test_demo_never_replaces_a_directory_of_the_user(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "demo_out" / "jet_rtl"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(OutputDirError, match=r"jet_rtl' exists and is not an nnfpga project: the demo replaces only"):
        run_demo(tmp_path / "demo_out")
    assert main(["demo", "-o", str(tmp_path / "demo_out")]) == 2
    assert "nnfpga demo: error:" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "mine" and sorted(p.name for p in mine.parent.iterdir()) == ["jet_rtl"]
