"""benchmarks/latency_acceptance.py (issue 16's latency acceptance): its entry on the 6-bit 75 %-pruned jet MLP with
--n 50, really built and simulated in Verilator, so the script cannot rot; and that a one-LSB difference, a missed
latency bound and a missing Verilator each fail it, saying so."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import latency_acceptance as la

pytestmark = [pytest.mark.tools]

LABEL = la.CASES["6p75"].label


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("latacc-rtl"))  # one Verilator build for the module's runs


def _row(out: str) -> list[str]:
    lines = [line for line in out.splitlines() if line.startswith(LABEL)]
    assert len(lines) == 1, out
    return re.split(r"\s{2,}", lines[0].strip())


def test_pruned_6bit_passes(capsys, cache) -> None:
    assert la.main(["--n", "50", "--case", "6p75", "--cache-dir", cache]) == 0
    out = capsys.readouterr().out
    row = _row(out)
    assert row[:2] == [LABEL, "xcup"], out
    cycles, ns = int(row[2]), float(row[3])
    assert 1 <= cycles <= 12 and ns == 5 * cycles, out  # hls4ml's part 4: 12 cycles at 5 ns
    assert float(row[4].split()[0]) <= 5 and row[7] == "<= 60 ns", out  # estimated critical path within the clock
    assert row[8:10] == ["50", "0"] and int(row[10]) > 5, out  # 0 mismatches, outputs not all saturated
    assert row[11] == f"{cycles} / 1", out  # measured latency and II = stated
    assert "result: targets met, 0 mismatches" in out


def test_one_lsb_off_fails(capsys, monkeypatch, cache) -> None:
    """The emulator's first output of the first input moved by one LSB: 1 mismatch, exit status 1."""
    emulate = la.emulate

    def off_by_one_lsb(hw: Any, m: np.ndarray) -> np.ndarray:
        y = emulate(hw, m).copy()
        y[0, 0] += 1
        return y

    monkeypatch.setattr(la, "emulate", off_by_one_lsb)
    assert la.main(["--n", "50", "--case", "6p75", "--cache-dir", cache]) == 1
    out = capsys.readouterr().out
    row = _row(out)
    assert row[9].startswith("1 (first: input #0 output 0: Verilator "), out
    assert "MISSED" not in out and "FAILED" in out


def test_missed_latency_bound_fails(capsys, cache) -> None:
    assert la.main(["--n", "8", "--case", "6p75", "--max-cycles", "1", "--cache-dir", cache]) == 1
    out = capsys.readouterr().out
    row = _row(out)
    assert row[7] == "<= 5 ns MISSED" and row[9] == "0", out
    assert "FAILED" in out


def test_missing_verilator_fails(capsys, monkeypatch) -> None:
    from nnfpga.backends.rtl import sim
    from nnfpga.errors import ToolNotFoundError

    def no_verilator() -> str:
        raise ToolNotFoundError("verilator is not installed (test)")

    monkeypatch.setattr(sim, "verilator", no_verilator)
    assert la.main(["--n", "8", "--case", "6p75"]) == 1
    out = capsys.readouterr().out
    assert "not run: Verilator missing" in _row(out)[9]
    assert "FAILED: Verilator is missing, nothing was simulated: verilator is not installed (test)" in out


def test_inputs_reach_the_types_limits() -> None:
    """The drawn mantissas cover the input type: min, max, 0, +-1 LSB, quantized real rows and uniform ones."""
    from nnfpga.fixed import FixedType, from_float

    t = FixedType(6, 2, True)
    rng = np.random.default_rng(0)
    x_real = rng.normal(0, 1, size=(300, 16))
    m = la.input_mantissas(x_real, t, 1000, rng)
    assert m.shape == (1000, 16) and m.dtype == np.int64
    assert m.min() == t.min_mantissa and m.max() == t.max_mantissa
    assert {t.min_mantissa, t.max_mantissa, 0, 1, -1} <= set(np.unique(m))
    assert (m[:300] == from_float(x_real, t)[0]).all() and len(np.unique(m[500:], axis=0)) > 400
    assert la.input_mantissas(x_real, t, 5, rng).shape == (5, 16)  # tiny n: still n rows
