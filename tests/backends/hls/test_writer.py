"""HLS project writer: golden files, determinism, width limits, testbench, Tcl, and build() without Vitis."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

import nnfpga
from golden_files import check_tree, read_tree
from nnfpga.backends.hls.csim import ap_types_include
from nnfpga.errors import ConfigError, ToolNotFoundError
from nnfpga.examples import DEFAULT_JET_MODEL

GOLDEN = Path(__file__).parent / "golden" / "jet"


def jet_hw(out: Path, **kw) -> nnfpga.HWModel:
    cfg = nnfpga.config_from_keras_model(str(DEFAULT_JET_MODEL), granularity="name")
    return nnfpga.convert_from_keras_model(str(DEFAULT_JET_MODEL), hls_config=cfg, output_dir=out, **kw)


def generated(rel: str) -> bool:
    """The generated text files, without the copied layer library (package files) and binaries."""
    return not rel.startswith(("firmware/nnfpga/", "build/")) and not rel.endswith(".npz")


def test_golden_jet_project(tmp_path: Path) -> None:
    """The jet project's generated files, byte for byte: a refactor shows its diff here.
    Regenerate with NNFPGA_UPDATE_GOLDEN=1 after an intended change, and review the diff."""
    check_tree(read_tree(jet_hw(tmp_path / "prj").write(), generated), GOLDEN)


def test_regeneration_is_byte_identical(tmp_path: Path) -> None:
    a, b = jet_hw(tmp_path / "a", io_type="io_stream").write(), jet_hw(tmp_path / "b", io_type="io_stream").write()
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_project_layout_and_tcl(tmp_path: Path) -> None:
    prj = jet_hw(tmp_path / "prj", project_name="jet_tagger", part="xcu250-figd2104-2L-e", clock_period=3.2).write()
    for rel in ("firmware/jet_tagger.cpp", "firmware/jet_tagger.h", "firmware/defines.h", "firmware/parameters.h",
                "firmware/weights/fc1.h", "firmware/nnfpga/nnfpga_dense.h", "jet_tagger_test.cpp",
                "tb_data/tb_input_features.dat", "tb_data/tb_output_predictions.dat", "build_prj.tcl",
                "config.yml", "nnfpga.json"):
        assert (prj / rel).is_file(), rel
    tcl = (prj / "build_prj.tcl").read_text()
    assert 'set part "xcu250-figd2104-2L-e"' in tcl and "set clock_period 3.2" in tcl
    assert "set_top ${project_name}" in tcl and 'set project_name "jet_tagger"' in tcl
    for switch in ("csim", "synth", "cosim", "export", "vsynth"):
        assert f"if {{$opt({switch})}}" in tcl


def test_pruned_weights_are_zero_constants_that_generate_no_multiply(tmp_path: Path) -> None:
    prj = jet_hw(tmp_path / "prj").write()
    dense = (prj / "firmware" / "nnfpga" / "nnfpga_dense.h").read_text()
    assert "if (raw == 0) continue;" in dense


def test_too_wide_types_are_refused_at_conversion_with_the_layer_named(tmp_path: Path) -> None:
    cfg = nnfpga.config_from_keras_model(str(DEFAULT_JET_MODEL), granularity="name")
    cfg["LayerName"]["fc2"]["Precision"]["accum"] = "ap_fixed<80,40>"
    with pytest.raises(ConfigError, match=r"types too wide for the HLS backend: fc2\.accum = ap_fixed<80,40> "
                                          r"\(80 bits > 64\)"):
        nnfpga.convert_from_keras_model(str(DEFAULT_JET_MODEL), hls_config=cfg, output_dir=tmp_path / "prj")
    assert not (tmp_path / "prj").exists()
    # the Verilog backend builds it (its adders are as wide as their sums)
    nnfpga.convert_from_keras_model(str(DEFAULT_JET_MODEL), hls_config=cfg, backend="verilog")


@pytest.mark.tools
@pytest.mark.slow
def test_generated_testbench_passes_with_gxx(tmp_path: Path) -> None:
    """What Vitis' csim_design runs: the testbench reads tb_data, compares with the emulator's outputs."""
    x = np.random.default_rng(3).normal(size=(40, 16))
    prj = jet_hw(tmp_path / "prj", project_name="jet").write(tb_inputs=x)
    exe = tmp_path / "tb"
    cmd = ["g++", "-std=c++14", "-O1", "-Wall", "-Wextra", "-Werror", f"-I{ap_types_include()}", "-Ifirmware",
           "jet_test.cpp", "firmware/jet.cpp", "-o", str(exe)]
    subprocess.run(cmd, cwd=prj, check=True, capture_output=True, text=True)
    res = subprocess.run([str(exe)], cwd=prj, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip() == "40 samples, 0 mismatching outputs"


def test_build_without_vitis_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no vitis_hls anywhere
    monkeypatch.delenv("NNFPGA_VITIS_HLS", raising=False)
    hw = jet_hw(tmp_path / "prj")
    with pytest.raises(ToolNotFoundError, match=r"^vitis_hls is not installed: install AMD Vitis HLS and source its "
                                                r"settings64.sh so that vitis_hls is on PATH"):
        hw.build()
