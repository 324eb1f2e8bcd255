"""Project directories: round trip, byte-determinism, never clobbering, atomic writes."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import nnfpga
from nnfpga.errors import ModelLoadError, OutputDirError
from nnfpga.model import HWModel
from nnfpga.project import is_project, write_atomic, write_file_atomic


def snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def config(tiny_mlp: Any) -> dict[str, Any]:
    x = np.random.default_rng(5).normal(size=(200, 6)) * 20
    cfg = nnfpga.config_from_keras_model(tiny_mlp, granularity="name", calibration_data=x)
    cfg["LayerName"]["fc1"]["Precision"]["accum"] = "ap_fixed<20,8,AP_RND,AP_SAT>"  # a non-default, sequential path
    cfg["LayerName"]["sm"]["TableSize"] = 512
    return cfg


def convert(model: Any, config: dict[str, Any], out: Path, **kw: Any) -> HWModel:
    return nnfpga.convert_from_keras_model(model, hls_config=config, output_dir=out, **kw)


def test_write_then_load_round_trips_bit_exactly(tiny_mlp: Any, config: dict[str, Any], tmp_path: Path,
                                                 X: np.ndarray) -> None:
    hw = convert(tiny_mlp, config, tmp_path / "prj", backend="vitis", io_type="io_stream", project_name="jets",
                 part="xc7z020", clock_period=3.3)
    assert hw.write() == tmp_path / "prj"
    assert {"config.yml", "nnfpga.json", "weights.npz"} <= {p.name for p in (tmp_path / "prj").iterdir()}
    back = nnfpga.load_project(tmp_path / "prj")
    x = np.concatenate([X, X * 30])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        np.testing.assert_array_equal(back.predict(x), hw.predict(x))
        a, b = hw.trace(x), back.trace(x)
    for name in a:
        np.testing.assert_array_equal(a[name].fixed, b[name].fixed)
        np.testing.assert_array_equal(a[name].float, b[name].float)
    assert back.summary() == hw.summary()
    assert back.settings == {"backend": "vitis", "io_type": "io_stream", "project_name": "jets", "part": "xc7z020",
                             "clock_period": 3.3}
    assert back.config == config
    assert back.output_dir == tmp_path / "prj"
    for node in hw.graph:
        other = back.graph[node.name]
        assert other.types == node.types and other.attrs == node.attrs and other.inputs == node.inputs
        for k, v in node.weights.items():
            np.testing.assert_array_equal(other.weights[k], v)
            assert other.weights[k].dtype == v.dtype
    assert back.graph.removed == hw.graph.removed == {"bn": "batch-norm 'bn' was folded into Dense 'fc2'"}


def test_project_contents(tiny_mlp: Any, config: dict[str, Any], tmp_path: Path) -> None:
    hw = convert(tiny_mlp, config, tmp_path / "prj")
    hw.write()
    meta = json.loads((tmp_path / "prj" / "nnfpga.json").read_text())
    assert (meta["format"], meta["version"]) == ("nnfpga-project", 1)
    assert [n["name"] for n in meta["graph"]["nodes"]] == ["x", "fc1", "fc1_relu", "fc2", "sm"]
    fc1 = meta["graph"]["nodes"][1]
    assert fc1["types"]["accum"] == "ap_fixed<20,8,AP_RND,AP_SAT>"
    assert fc1["source"] == "Dense 'fc1'"
    assert yaml.safe_load((tmp_path / "prj" / "config.yml").read_text()) == config
    with np.load(tmp_path / "prj" / "weights.npz") as z:
        assert sorted(z.files) == ["fc1/bias", "fc1/kernel", "fc2/bias", "fc2/kernel"]
        np.testing.assert_array_equal(z["fc2/kernel"], hw.graph["fc2"].weights["kernel"])


def test_writing_is_byte_deterministic(tiny_mlp: Any, config: dict[str, Any], tmp_path: Path) -> None:
    a = convert(tiny_mlp, config, tmp_path / "a")
    a.write()
    first = snapshot(tmp_path / "a")
    convert(tiny_mlp, config, tmp_path / "b").write()  # a fresh conversion, elsewhere
    assert snapshot(tmp_path / "b") == first
    a.write()  # rewriting a project replaces it
    assert snapshot(tmp_path / "a") == first
    nnfpga.load_project(tmp_path / "a").write()  # and so does a reloaded one
    assert snapshot(tmp_path / "a") == first


def test_project_directory_has_ordinary_permissions(tiny_mlp: Any, config: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    convert(tiny_mlp, config, tmp_path / "prj").write()
    assert (tmp_path / "prj").stat().st_mode == (tmp_path / "plain").stat().st_mode


def test_single_files_are_written_whole_with_ordinary_permissions(tmp_path: Path) -> None:
    """write_file_atomic (sweep tables, plots, configs, synthesis and HTML reports): the file appears whole with a
    plain new file's permissions; a failed write leaves the old file and no temporary one."""
    (tmp_path / "plain.txt").write_text("x")
    out = write_file_atomic(tmp_path / "sub" / "a.txt", lambda tmp: Path(tmp).write_text("new"))
    assert out.read_text() == "new" and out.stat().st_mode == (tmp_path / "plain.txt").stat().st_mode

    def fail(tmp: str) -> None:
        Path(tmp).write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_file_atomic(out, fail)
    assert out.read_text() == "new" and sorted(p.name for p in out.parent.iterdir()) == ["a.txt"]


def test_refuses_to_replace_a_directory_that_is_not_a_project(tiny_mlp: Any, config: dict[str, Any],
                                                              tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    hw = convert(tiny_mlp, config, out)
    with pytest.raises(OutputDirError) as info:
        hw.write()
    assert str(info.value) == (f"output directory {str(out)!r} exists, is not empty and is not an nnfpga project; "
                               "choose another directory or pass force=True (--force) to replace it")
    assert snapshot(out) == {"thesis.tex": b"years of work"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    # a directory whose nnfpga.json is someone else's is not a project either
    (out / "nnfpga.json").write_text(json.dumps({"format": "other"}))
    assert not is_project(out)
    with pytest.raises(OutputDirError):
        hw.write()
    hw.write(force=True)
    assert is_project(out) and not (out / "thesis.tex").exists()


def test_empty_directory_and_missing_parents_are_fine(tiny_mlp: Any, config: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    convert(tiny_mlp, config, tmp_path / "empty").write()
    assert is_project(tmp_path / "empty")
    convert(tiny_mlp, config, tmp_path / "deep" / "er" / "prj").write()
    assert is_project(tmp_path / "deep" / "er" / "prj")


def test_refuses_a_file(tiny_mlp: Any, config: dict[str, Any], tmp_path: Path) -> None:
    f = tmp_path / "prj"
    f.write_text("x")
    with pytest.raises(OutputDirError, match=r"exists and is not a directory$"):
        convert(tiny_mlp, config, f).write(force=True)
    assert f.read_text() == "x"


def test_failure_mid_write_leaves_nothing(tiny_mlp: Any, config: dict[str, Any], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    hw = convert(tiny_mlp, config, tmp_path / "prj")
    real = Path.write_bytes
    calls = []

    def failing(self: Path, data: bytes) -> int:
        calls.append(self.name)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing)
    with pytest.raises(OSError, match="disk full"):
        hw.write()
    assert list(tmp_path.iterdir()) == []
    # over an existing project: the old one stays, untouched
    monkeypatch.setattr(Path, "write_bytes", real)
    hw.write()
    before = snapshot(tmp_path / "prj")
    calls.clear()
    monkeypatch.setattr(Path, "write_bytes", failing)
    with pytest.raises(OSError, match="disk full"):
        hw.write()
    assert [p.name for p in tmp_path.iterdir()] == ["prj"]
    assert snapshot(tmp_path / "prj") == before


def test_failure_while_swapping_in_restores_the_old_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "prj"
    write_atomic(target, {"nnfpga.json": json.dumps({"format": "nnfpga-project"}).encode(), "a.txt": b"old"})
    before = snapshot(target)
    real = Path.rename

    def failing(self: Path, dst: Any) -> Path:
        if ".tmp-" in self.name:
            raise OSError("rename failed")
        return real(self, dst)

    monkeypatch.setattr(Path, "rename", failing)
    with pytest.raises(OSError, match="rename failed"):
        write_atomic(target, {"nnfpga.json": b"{}", "a.txt": b"new"})
    assert [p.name for p in tmp_path.iterdir()] == ["prj"]
    assert snapshot(target) == before


def test_load_errors(tmp_path: Path, tiny_mlp: Any, config: dict[str, Any]) -> None:
    with pytest.raises(ModelLoadError) as info:
        nnfpga.load_project(tmp_path)
    assert str(info.value) == (f"{str(tmp_path)!r} is not an nnfpga project (no valid nnfpga.json); create one with "
                               "'nnfpga convert'")
    (tmp_path / "nnfpga.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="is not an nnfpga project"):
        nnfpga.load_project(tmp_path)
    prj = tmp_path / "prj"
    convert(tiny_mlp, config, prj).write()
    meta = json.loads((prj / "nnfpga.json").read_text())
    meta["version"] = 99
    (prj / "nnfpga.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError) as info:
        nnfpga.load_project(prj)
    assert str(info.value) == f"{str(prj)!r} was written by project format version 99; this nnfpga reads 1"
