"""The tutorial as notebooks (``notebooks/``): each runs top to bottom in a fresh kernel (nbclient), in a
temporary directory, and the key numbers it computes (its last cell's ``summary`` dict) are asserted here.
The committed notebooks carry no outputs."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tooling import require

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
MARK = "NNFPGA_SUMMARY="


def run_notebook(name: str, tmp_path: Path, timeout: int = 600) -> dict[str, Any]:
    """Execute ``notebooks/name`` with ``notebooks/`` mirrored in ``tmp_path`` (what it writes stays there; the
    test data it reads through ``../tests`` is linked) and return its ``summary``."""
    require(importlib.util.find_spec("nbclient"), "nbclient", "make setup: extra [test]")
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code"), \
        f"{name} is committed with outputs: clear them (jupyter nbconvert --clear-output)"
    work = tmp_path / "notebooks"
    work.mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "frontends").symlink_to(ROOT / "tests" / "frontends")
    nb.cells.append(nbformat.v4.new_code_cell(f"import json; print({MARK!r} + json.dumps(summary))"))
    env_before = os.environ.get("KERAS_BACKEND")
    os.environ["KERAS_BACKEND"] = "torch"
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(work)}})
        client.execute()
    finally:
        if env_before is None:
            os.environ.pop("KERAS_BACKEND", None)
    out = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("output_type") == "stream")
    summary = json.loads(out.split(MARK, 1)[1])
    print(f"{name}: {summary}")  # the figures for the record (pytest -s)
    return summary


@pytest.mark.slow
def test_part4_quantization_aware_training(tmp_path: Path) -> None:
    s = run_notebook("part4_quantization_aware_training.ipynb", tmp_path)
    assert s["hgq_mismatches"] == 0 and s["qkeras_mismatches"] == 0  # bit for bit, both libraries
    assert s["qkeras_outputs"] == 120_000
    assert s["hgq_accuracy"] > 0.6 and s["nnfpga_accuracy"] == pytest.approx(s["hgq_accuracy"])
    assert s["warned"] == 1  # an explicit precision replacing a trained quantizer's type is said


@pytest.mark.slow
def test_part2_precision_and_reuse(tmp_path: Path) -> None:
    s = run_notebook("part2_precision_and_reuse.ipynb", tmp_path)
    assert s["keras_accuracy"] > 0.9 and abs(s["accuracy_16"] - s["keras_accuracy"]) <= 0.01
    assert s["overflowing_8"] and s["overflowing_8"] == s["overflow_table_8"]  # plots and table agree
    assert s["accuracy_8_calibrated"] > s["accuracy_8"] and s["overflow_8_calibrated"] == 0
    assert s["multipliers"] == {"fc1": 784 * 128 // 112, "fc2": 128, "fc3": 128, "output": 10}
    assert s["refused"]
    assert s["tuned_cost"] < 0.8 * s["start_cost"] and s["tuned_precisions"]  # the search narrowed types
    assert s["accuracy_tuned"] >= s["accuracy_16"] - 0.015  # budget 0.5 points on the 4,000 search digits


@pytest.mark.slow
@pytest.mark.tools
def test_part1_jet_tagger_to_firmware(tmp_path: Path) -> None:
    import shutil

    from tooling import gxx

    gxx()
    for tool in ("verilator", "yosys"):
        require(shutil.which(tool), tool, "make tools")
    s = run_notebook("part1_jet_tagger_to_firmware.ipynb", tmp_path)
    assert s["keras_accuracy"] > 0.65 and abs(s["fixed_accuracy"] - s["keras_accuracy"]) < 0.01
    assert s["csim_mismatches"] == 0 and s["rtl_mismatches"] == 0  # bit for bit, both backends
    assert abs(s["accuracy_8"] - s["keras_accuracy"]) < 0.03
    assert s["lut"] > 1000 and s["latency_cycles"] > 0 and s["dsp"] is not None
    assert (tmp_path / "notebooks" / "nb1_out" / "report.html").stat().st_size == s["html_bytes"]


@pytest.mark.slow
@pytest.mark.tools
def test_part3_pruning(tmp_path: Path) -> None:
    import shutil

    require(shutil.which("yosys"), "yosys", "make tools")
    s = run_notebook("part3_pruning.ipynb", tmp_path)
    assert s["dense_accuracy"] > 0.65 and s["pruned_accuracy"] >= s["dense_accuracy"] - 0.005  # within 0.5 %
    assert all(v == pytest.approx(0.75, abs=0.005) for v in s["sparsity"].values()) and len(s["sparsity"]) == 4
    assert s["multipliers"]["pruned"] <= 0.26 * 4256 < s["multipliers"]["dense"]
    assert s["adders"]["pruned"] < 0.5 * s["adders"]["dense"]
    assert s["synth"]["pruned"]["cost"] < 0.5 * s["synth"]["dense"]["cost"]
    assert s["torch_accuracy"] > 0.65 and s["torch_multipliers"] <= 0.26 * 4256
