"""Golden files: generated output compared byte for byte with a committed copy.

``NNFPGA_UPDATE_GOLDEN=1`` rewrites the committed copies from what the code generates now (review the diff with
``git diff`` before committing it). Without it, every difference fails with a short unified diff per file.
"""

from __future__ import annotations

import difflib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

UPDATE = os.environ.get("NNFPGA_UPDATE_GOLDEN") == "1"
DIFF_LINES = 40  # lines of unified diff shown per differing file
TESTS = Path(__file__).parent


def read_tree(root: Path, keep: Callable[[str], bool] = lambda rel: True) -> dict[str, bytes]:
    """Every file under ``root`` whose relative POSIX path passes ``keep``, as bytes, by relative path."""
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and keep(p.relative_to(root).as_posix())}


def short_diff(want: bytes, got: bytes, name: str) -> str:
    """The first :data:`DIFF_LINES` lines of a unified diff from ``want`` (golden) to ``got`` (generated)."""
    a = want.decode("utf-8", "replace").splitlines(keepends=True)
    b = got.decode("utf-8", "replace").splitlines(keepends=True)
    lines = list(difflib.unified_diff(a, b, f"golden/{name}", f"generated/{name}", n=2))
    if not lines:  # same text, different bytes (line endings, encoding)
        return f"{name}: same lines, different bytes ({len(want)} vs {len(got)} bytes)\n"
    more = f"... ({len(lines) - DIFF_LINES} more diff lines)\n" if len(lines) > DIFF_LINES else ""
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines[:DIFF_LINES]) + more


def _regen_hint(golden: Path) -> str:
    where = golden.relative_to(TESTS.parent).as_posix() if golden.is_relative_to(TESTS.parent) else str(golden)
    return (f"If the change is intended, regenerate {where} with NNFPGA_UPDATE_GOLDEN=1 (same pytest command) and "
            f"review `git diff` before committing.")


def check_tree(got: dict[str, bytes], golden: Path) -> None:
    """``got`` (relative path -> bytes) equals the files under ``golden``, byte for byte; rewrites ``golden``
    first when ``NNFPGA_UPDATE_GOLDEN=1``."""
    if UPDATE:
        shutil.rmtree(golden, ignore_errors=True)
        for rel, data in got.items():
            (golden / rel).parent.mkdir(parents=True, exist_ok=True)
            (golden / rel).write_bytes(data)
    want = read_tree(golden)
    problems = [f"missing from the generated files: {rel}" for rel in sorted(want.keys() - got.keys())]
    problems += [f"generated but not in the golden files: {rel}" for rel in sorted(got.keys() - want.keys())]
    problems += [short_diff(want[rel], got[rel], rel) for rel in sorted(want.keys() & got.keys())
                 if want[rel] != got[rel]]
    if problems:
        pytest.fail(f"{len(problems)} difference(s) from {golden}:\n" + "\n".join(problems) + "\n"
                    + _regen_hint(golden), pytrace=False)


def check_text(got: str, golden: Path) -> None:
    """``got`` equals the text file ``golden`` (one golden file; rewritten when ``NNFPGA_UPDATE_GOLDEN=1``)."""
    data = got.encode()
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(data)
    if not golden.is_file():
        pytest.fail(f"no golden file {golden}. {_regen_hint(golden)}", pytrace=False)
    want = golden.read_bytes()
    if want != data:
        pytest.fail(f"{golden.name} differs from its golden file:\n{short_diff(want, data, golden.name)}"
                    + _regen_hint(golden), pytrace=False)
