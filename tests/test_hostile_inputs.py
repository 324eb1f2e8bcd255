"""Hostile files and inputs: each gets a specific error (or a documented, tested behaviour), never a crash deep
inside, never a hang.

Already pinned elsewhere (not repeated here): truncated/corrupt .keras and .h5 files (tests/frontends/test_keras.py),
config dicts of wrong types (tests/config/test_schema.py), non-finite inputs to the emulator (tests/test_model.py),
atomic writes, never clobbering a foreign directory, byte-identical regeneration (tests/test_project.py,
tests/backends/hls/test_writer.py), a failing Verilator (tests/backends/rtl/test_rtl_files.py).
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnfpga
from graphs import chain, dense_graph
from nnfpga.backends.hls.csim import compile_library
from nnfpga.backends.rtl import sim
from nnfpga.cli import main as cli
from nnfpga.errors import (
    ConfigError,
    EmulationError,
    ModelLoadError,
    OutputDirError,
    ShapeError,
    ToolError,
    WeightError,
)
from nnfpga.fixed import FixedType
from nnfpga.model import HWModel
from nnfpga.passes import infer_types
from tooling import gxx


def small_hw(tmp_path: Path, **kw: Any) -> HWModel:
    rng = np.random.default_rng(0)
    g = dense_graph(rng.normal(size=(3, 2)), rng.normal(size=2))
    infer_types(g, FixedType(12, 4))
    return HWModel(g, {}, output_dir=tmp_path / "prj", **kw)


# -- config files of wrong types, through the YAML route ------------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    ("- a\n- b\n", "the config must be a mapping with sections Model, LayerType, LayerName, got list"),
    ("Model: [1, 2]\n", "Model must be a mapping, got list [1, 2]"),
    ("LayerName:\n  fc: {Precision: 5}\n", "LayerName.fc.Precision: a precision must be a string like "
                                           "'ap_fixed<16,6>', got int 5"),
    ("LayerName:\n  fc: {ReuseFactor: x}\n", "LayerName.fc.ReuseFactor must be a positive integer, got 'x'"),
    ("Model:\n  ReuseFactor: .inf\n", "Model.ReuseFactor must be a positive integer, got inf"),
])
def test_yaml_configs_of_wrong_types(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                                     message: str) -> None:
    hw = small_hw(tmp_path)
    hw.write()
    cfg = tmp_path / "config.yml"
    cfg.write_text(text)
    model = tmp_path / "m.keras"
    nnfpga_model = _tiny_keras(model)
    assert nnfpga_model.is_file()
    assert cli(["convert", str(model), "-c", str(cfg), "-o", str(tmp_path / "out")]) != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # a failed conversion writes nothing


def test_yaml_that_does_not_parse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "config.yml"
    cfg.write_text("Model: {Precision: [unclosed\n")
    model = _tiny_keras(tmp_path / "m.keras")
    assert cli(["convert", str(model), "-c", str(cfg), "-o", str(tmp_path / "out")]) != 0
    err = capsys.readouterr().err
    assert f"config {str(cfg)!r} is not valid YAML:" in err and "Traceback" not in err


def _tiny_keras(path: Path) -> Path:
    if not path.exists():
        from nnfpga.frontends.keras import import_keras

        keras = import_keras()
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((3,), name="x"), keras.layers.Dense(2, name="fc")])
        m.save(path)
    return path


# -- huge dimensions --------------------------------------------------------------------------------------

def test_huge_dense_in_a_model_file_is_a_load_error_not_an_allocation(tmp_path: Path) -> None:
    """A .keras file whose config declares a 10^6 x 10^6 Dense (4 TB of weights): a ModelLoadError naming the
    file, quickly, without allocating."""
    small = _tiny_keras(tmp_path / "small.keras")
    huge = tmp_path / "huge.keras"
    with zipfile.ZipFile(small) as zin, zipfile.ZipFile(huge, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == "config.json":
                cfg = json.loads(data)
                for layer in cfg["config"]["layers"]:
                    if layer["class_name"] == "InputLayer":
                        layer["config"]["batch_shape"] = [None, 10**6]
                    if layer["class_name"] == "Dense":
                        layer["config"]["units"] = 10**6
                        if "build_config" in layer:
                            layer["build_config"]["input_shape"] = [None, 10**6]
                data = json.dumps(cfg).encode()
            zout.writestr(item, data)
    with pytest.raises(ModelLoadError) as info:
        nnfpga.graph_from_keras_model(huge)
    assert str(info.value).startswith(f"cannot read {str(huge)!r} as a Keras model: ")


def test_declared_shapes_that_disagree_with_the_weights() -> None:
    """A graph that declares a huge Dense output over small weights is refused before anything runs."""
    g = dense_graph(np.ones((3, 2)), np.zeros(2))
    g["fc"].shape = (10**6,)
    infer_types(g, FixedType(12, 4))
    with pytest.raises(ShapeError) as info:
        HWModel(g, {})
    assert str(info.value) == ("dense 'fc': kernel of shape (3, 2) does not match the layer: 3 inputs (from 'x', "
                               "shape (3,)) x 1000000 outputs (shape (1000000,))")


# -- NaN / inf weights ------------------------------------------------------------------------------------

def test_non_finite_weights_are_refused_naming_the_layer() -> None:
    k = np.ones((3, 2))
    k[1, 1] = np.nan
    types = {"weight": FixedType(8, 2), "bias": FixedType(8, 2), "accum": FixedType(20, 8), "result": FixedType(8, 3)}
    g = dense_graph(k, np.array([0.0, np.inf]), input_type=FixedType(8, 3), types=types)  # typed: nothing inferred
    with pytest.raises(WeightError) as info:
        HWModel(g, {})
    assert str(info.value) == (
        "the model has NaN or infinite weights, which fixed-point hardware cannot hold: dense 'fc': 1 non-finite "
        "kernel value(s), first nan at index (1, 1); dense 'fc': 1 non-finite bias value(s), first inf at index (1,)"
        ". Check the training (or clip/replace them) before converting")
    assert isinstance(info.value, ValueError)


def test_non_finite_weights_through_convert() -> None:
    k = np.ones((3, 2))
    k[0, 0] = np.nan
    with pytest.raises(WeightError, match="dense 'fc': 1 non-finite kernel value"):
        nnfpga.api._convert(dense_graph(k, np.zeros(2)), None, "prj")


# -- non-finite inputs, every engine -------------------------------------------------------------------------

NON_FINITE = ("input has 1 non-finite value(s) (NaN or inf), first at index (1, 2); fixed-point hardware has no "
              "NaN/inf: clean or clip the input first")


@pytest.mark.tools
def test_non_finite_inputs_to_csim_and_rtl(tmp_path: Path) -> None:
    gxx()
    hw = small_hw(tmp_path)
    x = np.zeros((3, 3))
    x[1, 2] = -np.inf
    with pytest.raises(EmulationError) as info:
        hw.predict(x, engine="csim")
    assert str(info.value) == NON_FINITE
    with pytest.raises(EmulationError) as info:
        sim.predict(hw, x)  # hw.predict(x, engine="rtl"): checked before anything is built
    assert str(info.value) == NON_FINITE


# -- output directories --------------------------------------------------------------------------------------

def test_a_conversion_that_fails_while_writing_leaves_no_directory(tmp_path: Path) -> None:
    f = FixedType.parse
    g = chain((3,), ("fc", "dense", {"shape": (2,), "weights": {"kernel": np.ones((3, 2)), "bias": np.zeros(2)},
                                     "types": {"accum": f("ap_fixed<70,30>")}}))
    infer_types(g, FixedType(12, 4))
    out = tmp_path / "prj"
    with pytest.raises(ConfigError, match=r"^types too wide for the HLS backend: fc.accum = ap_fixed<70,30>"):
        HWModel(g, {}, output_dir=out).write()
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_a_foreign_directory_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = _tiny_keras(tmp_path / "m.keras")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert cli(["convert", str(model), "-o", str(out)]) != 0
    assert "is not an nnfpga project" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "keep me"
    assert cli(["convert", str(model), "-o", str(out), "--force"]) == 0
    assert not (out / "notes.txt").exists() and (out / "nnfpga.json").is_file()


@pytest.mark.tools
def test_regenerating_a_compiled_project_is_byte_identical(tmp_path: Path) -> None:
    gxx()
    hw = small_hw(tmp_path, io_type="io_stream")
    hw.compile()
    first = {p: p.read_bytes() for p in (tmp_path / "prj").rglob("*") if p.is_file() and "build" not in p.parts}
    small_hw(tmp_path, io_type="io_stream").write()
    second = {p: p.read_bytes() for p in (tmp_path / "prj").rglob("*") if p.is_file()}
    assert first == second
    with pytest.raises(OutputDirError, match="is not an nnfpga project"):
        HWModel(hw.graph, {}, output_dir=tmp_path / "prj" / "firmware").write()  # a project's subdirectory is not


# -- external tools --------------------------------------------------------------------------------------------

def _fake_tool(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def test_gxx_failure_is_a_tool_error_with_its_output_and_the_command(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    hw = small_hw(tmp_path / "a b", project_name="my prj")
    hw.write()
    fake = _fake_tool(tmp_path / "g++", 'for i in $(seq 1 32); do echo "error line $i" >&2; done\nexit 4')
    monkeypatch.setenv("CXX", str(fake))
    with pytest.raises(ToolError) as info:
        hw.compile()
    msg = str(info.value)
    assert msg.startswith("g++ failed (exit 4); its last lines:\nerror line 3\n") and "error line 2\n" not in msg
    assert "error line 32\ncommand: cd " in msg  # the last 30 lines, then how to repeat it
    assert f"'{tmp_path / 'a b' / 'prj' / 'firmware' / 'my_prj.cpp'}'" in msg  # quoted: paste it into a shell
    assert not list((tmp_path / "a b" / "prj" / "build").glob(".*tmp"))


def test_gxx_on_broken_code_is_a_tool_error(tmp_path: Path) -> None:
    gxx()
    hw = small_hw(tmp_path)
    hw.write()
    cpp = tmp_path / "prj" / "firmware" / "myproject.cpp"
    cpp.write_text(cpp.read_text() + "\nthis is not C++;\n")
    with pytest.raises(ToolError) as info:
        compile_library(tmp_path / "prj", "myproject")
    msg = str(info.value)
    assert msg.startswith("g++ failed (exit 1); its last lines:") and "this is not C++" in msg and "error" in msg
    assert "command: " in msg and re.search(r"-o \S*/build/\.libmyproject\.so\.tmp-[0-9a-f]+$", msg.rstrip())
    assert list((tmp_path / "prj" / "build").iterdir()) == []  # neither the library nor a half-written temporary


def test_gxx_time_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hw = small_hw(tmp_path)
    hw.write()
    monkeypatch.setenv("CXX", str(_fake_tool(tmp_path / "slow-g++", "exec sleep 30")))
    monkeypatch.setattr("nnfpga.backends.hls.csim.COMPILE_TIMEOUT_S", 1)
    with pytest.raises(ToolError, match=r"^g\+\+ did not finish within 1 s \(killed\); its last lines:\n\n"
                                        r"command: cd .* && .*slow-g\+\+ "):
        compile_library(tmp_path / "prj", "myproject")


def test_verilator_time_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hw = small_hw(tmp_path)
    monkeypatch.setenv("VERILATOR", str(_fake_tool(tmp_path / "verilator",
                                                   'case "$1" in --version) echo "Verilator 0";; *) exec sleep 30;; '
                                                   "esac")))
    with pytest.raises(ToolError, match=r"^verilator did not finish within 1 s \(killed\); its last lines:\n\n"
                                        r"command: cd .* && .*verilator "):
        sim.simulate(hw, np.zeros((2, 3), dtype=np.int64), cache_dir=tmp_path / "cache", build_timeout_s=1)
    assert os.environ["VERILATOR"].endswith("verilator")
