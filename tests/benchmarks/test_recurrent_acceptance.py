"""benchmarks/recurrent_acceptance.py (issue 15's 2,000-sequence acceptance): its entry on the tiny case with
--n 20, really built and simulated (g++ twice, Verilator once), so the script cannot rot; and that a one-LSB
difference and an engine that cannot run fail it, each saying so in its cell."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import recurrent_acceptance as ra

pytestmark = [pytest.mark.tools]


def _row(out: str, name: str) -> list[str]:
    lines = [line for line in out.splitlines() if line.startswith(f"{name}  ")]
    assert len(lines) == 1, out
    return [c.strip() for c in lines[0].split("  ") if c.strip()]


def test_tiny_case_passes(capsys) -> None:
    assert ra.main(["--n", "20", "--case", "tiny", "--precision", "explicit"]) == 0
    out = capsys.readouterr().out
    row = _row(out, "tiny")
    assert row[:6] == ["tiny", "explicit", "20", "0", "0", "0"], out
    assert len(row[6].split(" / ")) == 3 and len(row[7].split(" / ")) == 4  # build and run seconds of each engine
    assert "result: 0 mismatches" in out


def test_one_lsb_and_a_missing_tool_fail(capsys, monkeypatch) -> None:
    """The emulator's first output moved by one LSB of the output type: both C simulations count 1 mismatching
    sequence; Verilator unavailable: its cell says why; the exit status is 1."""
    from nnfpga.backends.rtl import sim
    from nnfpga.errors import ToolNotFoundError

    emulate = ra.rc.emulate

    def off_by_one_lsb(hw: Any, x: np.ndarray) -> np.ndarray:
        y = emulate(hw, x).copy()
        g = hw.graph
        y.reshape(len(y), -1)[0, 0] += 2.0 ** -g[g.outputs[0]].types["result"].frac
        return y

    def no_verilator(*args: Any, **kwargs: Any) -> Any:
        raise ToolNotFoundError("verilator not found (test)")

    monkeypatch.setattr(ra.rc, "emulate", off_by_one_lsb)
    monkeypatch.setattr(sim, "build", no_verilator)
    assert ra.main(["--n", "20", "--case", "tiny", "--precision", "default"]) == 1
    out = capsys.readouterr().out
    row = _row(out, "tiny")
    assert row[3].startswith("1 (first #0") and row[4].startswith("1 (first #0"), out
    assert row[5] == "not run: ToolNotFoundError: verilator not found (test)", out
    assert "FAILED" in out


def test_range_sequences_reach_the_input_types_limits() -> None:
    """The inputs cover the input type: its min and max, a step beyond each, and values far outside."""
    import nnfpga

    hw = ra.rc.rtl_model(ra.rc.seeded_model(ra.CASES, "tiny"), "default")
    t = hw.graph[hw.graph.inputs[0]].types["result"]
    step = 2.0 ** -t.frac
    lo, hi = t.min_mantissa * step, t.max_mantissa * step
    x = ra.rc.range_sequences(hw, 200, 1)
    assert x.shape == (200, 4, 2)
    assert {lo, hi, lo - step, hi + step} <= set(np.unique(x))
    assert np.mean((x < lo) | (x > hi)) > 0.02
    assert isinstance(hw, nnfpga.HWModel)
