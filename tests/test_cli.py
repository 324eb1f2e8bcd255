"""The nnfpga command line, run in-process through ``main(argv)`` and once as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import nnfpga
from nnfpga.cli import main
from nnfpga.examples import DEFAULT_JET_MODEL

MODEL = str(DEFAULT_JET_MODEL)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    x = np.random.default_rng(1).normal(size=(300, 16))
    path = tmp_path_factory.mktemp("cli") / "x.npy"
    np.save(path, x)
    return path


def test_config_writes_yaml_and_refuses_to_clobber(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "config.yml"
    assert main(["config", MODEL, "-o", str(out)]) == 0
    cfg = yaml.safe_load(out.read_text())
    assert cfg["Model"]["Precision"] == "ap_fixed<16,6>"
    assert cfg["LayerName"]["fc1"]["Precision"]["accum"] == "auto"
    assert main(["config", MODEL, "-o", str(out)]) == 2
    assert "exists; pass --force to overwrite it" in capsys.readouterr().err
    assert main(["config", MODEL, "-o", str(out), "--force", "--precision", "ap_fixed<8,3>"]) == 0
    assert yaml.safe_load(out.read_text())["Model"]["Precision"] == "ap_fixed<8,3>"


def test_convert_predict_roundtrip_is_bit_exact(tmp_path: Path, inputs: Path) -> None:
    cfg_path = tmp_path / "config.yml"
    main(["config", MODEL, "-o", str(cfg_path)])
    prj = tmp_path / "prj"
    assert main(["convert", MODEL, "-c", str(cfg_path), "-o", str(prj)]) == 0
    out = tmp_path / "y.npy"
    assert main(["predict", str(prj), "-i", str(inputs), "-o", str(out)]) == 0
    y_cli = np.load(out)
    cfg = yaml.safe_load(cfg_path.read_text())
    y_api = nnfpga.convert_from_keras_model(MODEL, hls_config=cfg).predict(np.load(inputs))
    assert np.array_equal(y_cli, y_api)


def test_errors_are_one_line_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("Model:\n  Precision: ap_fixd<16,6>\n")
    assert main(["convert", MODEL, "-c", str(bad), "-o", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "nnfpga convert: error: Model.Precision: invalid precision 'ap_fixd<16,6>'" in err
    assert not (tmp_path / "p").exists()
    assert main(["predict", str(tmp_path), "-i", "x.npy"]) == 2
    assert "is not an nnfpga project" in capsys.readouterr().err
    (tmp_path / "user.txt").write_text("mine")
    assert main(["convert", MODEL, "-o", str(tmp_path)]) == 2
    assert "is not empty and is not an nnfpga project" in capsys.readouterr().err
    assert (tmp_path / "user.txt").read_text() == "mine"


def test_calibrated_convert_has_no_overflow(tmp_path: Path, inputs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "big.npy"
    np.save(big, np.load(inputs) * 40)
    prj = tmp_path / "prj"
    assert main(["convert", MODEL, "--calibration", str(big), "-o", str(prj)]) == 0
    capsys.readouterr()
    assert main(["predict", str(prj), "-i", str(big), "-o", str(tmp_path / "y.npy")]) == 0
    table = capsys.readouterr().err
    counts = [int(line.split()[-2]) for line in table.splitlines()[2:]]
    assert counts and sum(counts) == 0


def test_entry_point_runs_as_a_program(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "nnfpga.cli", "passes"], capture_output=True, text=True, check=True)
    assert "fold_batchnorm" in res.stdout and res.stdout.splitlines()[1].startswith("1. fuse_bias_into_dense")


@pytest.mark.tools
@pytest.mark.slow
def test_predict_with_csim_engine_matches_emulator(tmp_path: Path, inputs: Path) -> None:
    prj = tmp_path / "prj"
    assert main(["convert", MODEL, "-o", str(prj)]) == 0
    assert main(["predict", str(prj), "-i", str(inputs), "-o", str(tmp_path / "emu.npy")]) == 0
    assert main(["predict", str(prj), "-i", str(inputs), "--engine", "csim", "-o", str(tmp_path / "csim.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "emu.npy"), np.load(tmp_path / "csim.npy"))


def test_build_without_vitis_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    prj = tmp_path / "prj"
    assert main(["convert", MODEL, "-o", str(prj)]) == 0
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["build", str(prj)]) == 2
    assert "nnfpga build: error: vitis_hls is not installed: install AMD Vitis HLS" in capsys.readouterr().err


def test_convert_reads_the_hls4ml_project_yaml_of_tutorial_part2(tmp_path: Path, keras: Any) -> None:
    """``nnfpga convert -c`` with the YAML ``hls4ml convert -c`` reads: Keras 2 files (KerasJson + KerasH5) of a
    784-128-128-128-10 MNIST MLP named as in the tutorial, with its Resource config."""
    from keras2_files import save_json_and_weights
    from nnfpga.examples import DEFAULT_MNIST_MODEL

    trained = keras.models.load_model(DEFAULT_MNIST_MODEL, compile=False)
    L = keras.layers
    model = keras.Sequential([keras.Input((784,), name="input1"), L.Dense(128, activation="relu", name="dense1"),
                              L.Dense(128, activation="relu", name="dense2"),
                              L.Dense(128, activation="relu", name="dense3"), L.Dense(10, name="dense4"),
                              L.Activation("softmax", name="softmax")])
    for mine, theirs in zip(model.layers, trained.layers, strict=True):
        mine.set_weights(theirs.get_weights())
    save_json_and_weights(model, tmp_path)
    (tmp_path / "config.yml").write_text(
        "KerasJson: model.json\nKerasH5: weights.h5\nOutputDir: prj\nProjectName: mnist\n"
        "Part: xcvu13p-flga2577-2-e\nClockPeriod: 5\nBackend: Vitis\nIOType: io_parallel\n"
        "HLSConfig:\n  Model:\n    Precision: ap_fixed<16,6>\n    ReuseFactor: 128\n    Strategy: Resource\n"
        "  LayerName:\n    dense1:\n      ReuseFactor: 112\n")
    cwd = Path.cwd()
    try:
        os.chdir(tmp_path)
        assert main(["convert", "-c", "config.yml"]) == 0
    finally:
        os.chdir(cwd)
    hw = nnfpga.load_project(tmp_path / "prj")
    assert hw.settings["project_name"] == "mnist" and hw.settings["backend"] == "vitis"
    assert [hw.graph[n].attrs["reuse_factor"] for n in ("dense1", "dense2", "dense4")] == [112, 128, 128]
    assert hw.graph["dense2"].attrs["strategy"] == "Resource"
    x = np.random.default_rng(0).uniform(size=(200, 784))
    want = np.asarray(trained.predict(x.astype(np.float32), verbose=0))
    assert np.mean(np.argmax(hw.predict(x), axis=1) == np.argmax(want, axis=1)) > 0.95
    assert main(["convert", "-c", str(tmp_path / "config.yml"), "--calibration", "x.npy"]) == 2
