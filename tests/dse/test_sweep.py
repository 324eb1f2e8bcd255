"""Sweeps: every point converted and emulated, failed points recorded, the cache resumed, and on a Dask
LocalCluster of 2 worker processes, one of them killed mid-sweep, the same rows as a serial run."""

from __future__ import annotations

import os
import re
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnfpga
from nnfpga.dse import load_space, sweep
from nnfpga.errors import ClusterError, ConfigError
from nnfpga.examples import prune_dense

SPACE = {"Precision": ["ap_fixed<8,3>", "ap_fixed<6,2>"], "ReuseFactor": [1, 3], "Sparsity": [0, 0.5]}


@pytest.fixture(scope="module")
def mlp(keras: Any) -> Any:
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu", name="fc1"),
                             keras.layers.Dense(4, name="out")], name="mlp")


@pytest.fixture(scope="module")
def data(mlp: Any) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(0).normal(size=(2000, 8))
    return x, np.argmax(mlp.predict(x, verbose=0), axis=-1)


def _same(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_serial_sweep_rows_equal_a_conversion_by_hand(keras: Any, mlp: Any, data: Any) -> None:
    x, y = data
    r = sweep(mlp, SPACE, x, y, scheduler="serial", progress=False)
    assert [row["key"] for row in r.rows] == [p.key for p in load_space(SPACE).points()] and r.computed == 8
    bad = [row for row in r.rows if row["ReuseFactor"] == 3]
    assert len(bad) == 4 and all("ConfigError: ReuseFactor 3" in row["error"] and row["accuracy"] is None
                                 for row in bad)  # refused at conversion, recorded, the sweep went on
    good = next(row for row in r.rows if row["Precision"] == "ap_fixed<6,2>" and row["ReuseFactor"] == 1
                and row["Sparsity"] == 0.5)
    model = keras.models.clone_model(mlp)
    model.set_weights(mlp.get_weights())
    prune_dense(model, 0.5)
    cfg = {"Model": {"Precision": "ap_fixed<6,2>", "ReuseFactor": 1}}
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog")
    with pytest.warns(nnfpga.OverflowWarning):  # 6-bit types wrap on these inputs: the row counted it too
        pred = np.argmax(hw.predict(x, progress=False), axis=-1)
    assert good["error"] == "" and good["accuracy"] == float(np.mean(pred == y)) and good["overflow_warnings"] == 1
    assert good["agreement"] == float(np.mean(pred == np.argmax(hw.predict_float(x), axis=-1)))
    est = hw.estimate()  # the sweep's estimate columns are hw.estimate()'s
    assert good["cost_estimate"] == round(est.cost, 1) > 0 and good["est_dsp"] == est.total.dsp
    assert good["est_ii"] == est.ii == 1 and good["est_latency_cycles"] == est.latency_cycles > 0
    dense = next(row for row in r.rows if row["Precision"] == "ap_fixed<6,2>" and row["ReuseFactor"] == 1
                 and row["Sparsity"] == 0)
    assert good["cost_estimate"] < dense["cost_estimate"]  # pruning removed adders


def test_cache_resumes_and_results_are_written(mlp: Any, data: Any, tmp_path: Path) -> None:
    x, y = data
    first = sweep(mlp, SPACE, x, y, scheduler="serial", cache_dir=tmp_path / "cache", progress=False)
    files = sorted((tmp_path / "cache").glob("*.json"))
    assert first.computed == 8 and len(files) == 8
    files[0].unlink()  # as if interrupted before that point
    again = sweep(mlp, SPACE, x, y, scheduler="serial", cache_dir=tmp_path / "cache", progress=False)
    assert again.computed == 1 and _same(again.rows) == _same(first.rows)
    other = sweep(mlp, SPACE, x[:100], y[:100], scheduler="serial", cache_dir=tmp_path / "cache", progress=False)
    assert other.computed == 8  # other data: other designs' rows
    csv, pq = first.to_csv(tmp_path / "r.csv"), first.to_parquet(tmp_path / "r.parquet")
    import pandas as pd

    assert len(pd.read_csv(csv)) == len(pd.read_parquet(pq)) == 8


def test_bad_input(mlp: Any, data: Any) -> None:
    x, y = data
    with pytest.raises(ConfigError, match="names layer 'fc9' that the model lacks"):
        sweep(mlp, {"LayerName": {"fc9": {"ReuseFactor": [1]}}}, x, y, scheduler="serial")
    with pytest.raises(ConfigError, match="x has 2000 samples but y has 10"):
        sweep(mlp, SPACE, x, y[:10], scheduler="serial")
    with pytest.raises(ConfigError, match="expected a Keras 3 model, got str"):
        sweep("model.keras", SPACE, x, y, scheduler="serial")
    with pytest.raises(ConfigError, match="the space is empty"):
        sweep(mlp, {}, x, y, scheduler="serial")
    with pytest.raises(ConfigError, match="the base config must hold plain values"):
        sweep(mlp, SPACE, x, y, scheduler="serial",
              config={"Model": {"Precision": nnfpga.FixedType.parse("ap_fixed<8,3>")}})


@pytest.mark.slow
def test_unreachable_scheduler_is_a_clear_error_within_seconds(mlp: Any, data: Any) -> None:
    x, y = data
    t0 = time.monotonic()
    with pytest.raises(ClusterError, match=re.escape("no Dask scheduler answered at 'tcp://127.0.0.1:9' within 2 s")):
        sweep(mlp, SPACE, x, y, scheduler="tcp://127.0.0.1:9", connect_timeout_s=2, progress=False)
    assert time.monotonic() - t0 < 20


@pytest.mark.slow
def test_a_worker_killed_mid_sweep_changes_nothing(mlp: Any, tmp_path: Path) -> None:
    """LocalCluster of 2 worker processes; when the first points are cached one worker is killed (SIGKILL): its
    points run again elsewhere, every point is kept exactly once, and the rows equal a serial run's."""
    from distributed import Client, LocalCluster

    space = {"Precision": ["ap_fixed<8,3>", "ap_fixed<7,3>", "ap_fixed<6,2>", "ap_fixed<5,2>"],
             "ReuseFactor": [1, 2], "Sparsity": [0, 0.25, 0.5, 0.75]}
    x = np.random.default_rng(1).normal(size=(50_000, 8))
    y = np.argmax(mlp.predict(x, verbose=0), axis=-1)
    serial = sweep(mlp, space, x, y, scheduler="serial", progress=False)
    cache = tmp_path / "cache"
    killed: dict[str, Any] = {}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        pids = client.run(os.getpid)

        def kill_one() -> None:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and len(list(cache.glob("*.json"))) < 3:
                time.sleep(0.05)
            killed["done_before"] = len(list(cache.glob("*.json")))
            killed["pid"] = next(iter(pids.values()))
            os.kill(killed["pid"], signal.SIGKILL)

        killer = threading.Thread(target=kill_one, daemon=True)
        killer.start()
        r = sweep(mlp, space, x, y, scheduler=client, cache_dir=cache, progress=False)
        killer.join(timeout=10)
    assert "pid" in killed and 3 <= killed["done_before"] < len(serial.rows)  # killed mid-sweep
    assert r.computed == len(serial.rows) == 32 and len(list(cache.glob("*.json"))) == 32
    assert [row["key"] for row in r.rows] == [row["key"] for row in serial.rows]  # each point once
    assert _same(r.rows) == _same(serial.rows)


def test_command_line_sweep(mlp: Any, data: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pandas as pd

    from nnfpga.cli import main

    x, y = data
    mlp.save(tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    (tmp_path / "space.yml").write_text("ReuseFactor: [1, 2]\nLayerName:\n  fc1: {Sparsity: [0, 0.5]}\n")
    argv = ["sweep", str(tmp_path / "m.keras"), "--space", str(tmp_path / "space.yml"), "-i", str(tmp_path / "x.npy"),
            "--labels", str(tmp_path / "y.npy"), "--scheduler", "serial", "--cache", str(tmp_path / "cache"),
            "-o", str(tmp_path / "r.csv")]
    assert main(argv) == 0
    assert "4 points (4 computed, 0 from" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "r.csv")
    assert len(table) == 4 and set(table["fc1.Sparsity"]) == {0, 0.5} and table["accuracy"].min() > 0.3
    assert main(argv) == 2 and "exists; pass --force" in capsys.readouterr().err  # never clobbered
    assert main([*argv, "--force", "--plot", str(tmp_path / "f.svg"), "--configs", str(tmp_path / "cfg")]) == 0
    out = capsys.readouterr().out
    assert "(0 computed, 4 from" in out and "front: " in out  # the cache
    assert (tmp_path / "f.svg").read_text().startswith("<?xml") and list((tmp_path / "cfg").glob("*.yml"))
    (tmp_path / "bad.yml").write_text("ReuseFactr: [1]\n")
    bad = [*argv[:3], str(tmp_path / "bad.yml"), *argv[4:-1], str(tmp_path / "bad.csv")]
    assert main(bad) == 2 and "unknown key 'ReuseFactr' (did you mean 'ReuseFactor'?)" in capsys.readouterr().err
    assert not (tmp_path / "bad.csv").exists()


def test_pareto_front_plot_and_configs(mlp: Any, data: Any, tmp_path: Path) -> None:
    import yaml

    from nnfpga.dse.results import pareto

    x, y = data
    r = sweep(mlp, {"Precision": ["ap_fixed<10,4>", "ap_fixed<8,3>", "ap_fixed<6,2>", "ap_fixed<4,2>"],
                    "Sparsity": [0, 0.5, 0.75]}, x, y, scheduler="serial", progress=False)
    front = r.pareto()
    ok = [row for row in r.rows if not row["error"]]
    assert 1 <= len(front) < len(ok)
    for f in front:  # nothing beats a front point on both
        assert not any(o["accuracy"] >= f["accuracy"] and o["cost_estimate"] <= f["cost_estimate"]
                       and (o["accuracy"], o["cost_estimate"]) != (f["accuracy"], f["cost_estimate"]) for o in ok)
    for o in ok:  # and every other point is beaten by one on the front
        assert o in front or any(f["accuracy"] >= o["accuracy"] and f["cost_estimate"] <= o["cost_estimate"]
                                 for f in front)
    assert [f["cost_estimate"] for f in front] == sorted(f["cost_estimate"] for f in front)
    assert pareto([{"accuracy": 0.5, "cost_estimate": 2, "error": ""}, {"accuracy": 0.5, "cost_estimate": 1,
                                                                         "error": ""}]) == [
        {"accuracy": 0.5, "cost_estimate": 1, "error": ""}]
    png = r.plot_pareto(tmp_path / "front.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    files = r.write_configs(tmp_path / "configs")
    assert len(files) == len(front)
    text = files[-1].read_text()
    cfg = yaml.safe_load(text)
    point = next(p for p in r.points if p.key == files[-1].stem)
    assert cfg == point.config() and text.startswith(f"# nnfpga sweep point {point.key}")
    nnfpga.config.schema.parse_config(cfg)  # ready to use
    with pytest.raises(ConfigError, match="no column 'lut'"):
        r.pareto(cost="lut")


@pytest.mark.slow
@pytest.mark.tools
def test_synthesis_of_the_front_points(keras: Any, mlp: Any, data: Any, tmp_path: Path) -> None:
    """A first sweep estimates; a second synthesizes only its Pareto front with Yosys (xc7): real cell counts
    and the design's latency, each row beside its estimate."""
    from nnfpga.backends.rtl.lower import build_design, timing_settings
    from tooling import require

    require(shutil.which("yosys"), "yosys", "make tools")
    x, y = data
    space = {"Precision": ["ap_fixed<8,3>", "ap_fixed<4,2>"], "Sparsity": [0, 0.75]}
    first = sweep(mlp, space, x, y, scheduler="serial", progress=False)
    front = {r["key"] for r in first.pareto()}
    chosen = [p for p in first.points if p.key in front]
    r = sweep(mlp, space, x, y, scheduler="serial", progress=False, synth="xc7", points=chosen,
              cache_dir=tmp_path / "cache")
    assert [row["key"] for row in r.rows] == [p.key for p in chosen]
    for row, p in zip(r.rows, chosen, strict=True):
        assert row["error"] == "" and row["synth_lut"] > 0 and row["synth_cost"] >= row["synth_lut"]
        model = keras.models.clone_model(mlp)
        model.set_weights(mlp.get_weights())
        prune_dense(model, p.sparsity()[0])
        hw = nnfpga.convert_from_keras_model(model, hls_config=p.config(), backend="verilog")
        assert row["synth_latency_cycles"] == build_design(hw.graph, prep=hw.interpreter.prep,
                                                           **timing_settings(hw.settings)).latency
    with pytest.raises(ConfigError, match="synth must be one of xc7, xcup, ecp5"):
        sweep(mlp, space, x, y, scheduler="serial", synth="vivado")


def test_a_point_without_estimate_is_left_empty_and_warned(mlp: Any, data: Any) -> None:
    """An HLS point the Verilog backend cannot lower (a saturating accumulator at ReuseFactor 2) has no estimate
    (no other cost's scale in the column): its row keeps its accuracy, says why, and stays off the front."""
    x, y = data
    cfg = {"Model": {"Precision": "ap_fixed<8,3>"},
           "LayerName": {"fc1": {"Precision": {"accum": "ap_fixed<9,3,AP_RND,AP_SAT>"}}}}
    with pytest.warns(UserWarning, match=r"1 of 2 points have no resource estimate .*ReuseFactor=2: no estimate: "
                                         r"Dense layer 'fc1'"):
        r = sweep(mlp, {"ReuseFactor": [1, 2]}, x, y, config=cfg, backend="vitis", scheduler="serial", progress=False)
    ok, none = r.rows
    assert ok["cost_estimate"] > 0 and ok["est_note"] is None and ok["error"] == ""
    assert none["cost_estimate"] is None and none["est_lut"] is None and none["accuracy"] is not None
    assert none["est_note"].startswith("no estimate: Dense layer 'fc1'") and none["error"] == ""
    assert r.pareto() == [ok]
