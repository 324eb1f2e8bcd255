"""benchmarks/sweep_jet.py (issue 17's sweep figure) on 12 points and 500 jets, on its 2-process LocalCluster and
serially, so that the script cannot rot: it prints identical rows and its timing lines, and exits 0."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import sweep_jet


@pytest.mark.slow
def test_small_jet_sweep_runs_distributed_and_serially(capsys: pytest.CaptureFixture[str]) -> None:
    assert sweep_jet.main(["--points", "12", "--n", "500"]) == 0
    out = capsys.readouterr().out
    assert "rows identical: True" in out
    assert "jet MLP, 12 points of 260" in out and "LocalCluster, 2 worker processes" in out
    assert "serial, this process" in out and "cheapest within 1 point:" in out
