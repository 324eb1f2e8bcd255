"""Replays every failing case ``scripts/fuzz.py`` saved in ``tests/fuzz/regressions/`` (``<case>.json``: the graph
and settings; ``<case>.npz``: weights and inputs): each must now give the emulator's bits."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fuzz.engines import REGRESSIONS, load_regression, replay
from tooling import gxx, require


def saved_cases() -> list[Path]:
    return sorted(REGRESSIONS.glob("*.json")) if REGRESSIONS.is_dir() else []


@pytest.mark.tools
def test_saved_regression_cases_pass(tmp_path: Path) -> None:
    failures = []
    for i, path in enumerate(saved_cases()):
        _, engine, _ = load_regression(path)
        gxx() if engine == "csim" else require(shutil.which("verilator"), "verilator", "make tools")
        found = replay(path, tmp_path / f"case{i}", tmp_path / "rtl-cache")
        if found is not None:
            failures.append(f"{path.name}: {found.message()}")
    assert not failures, "\n".join(failures)
