"""External tools the tests run for real, found in one place.

``make test`` installs every one of them (scripts/install-tools.sh, the venv's extras), so a missing tool is a
setup bug: the test fails and says what to install. A developer without the tools deselects their tests
(``pytest -m "not tools"``) rather than have them pass unrun.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")


def require(found: T | None, what: str, install: str) -> T:
    """Return ``found``; if it is None, fail: the project's setup installs every tool."""
    if found is not None:
        return found
    pytest.fail(f"{what} is not installed ({install}); every tool test runs, so the project's setup (make test) "
                f"must install it (without the tools, deselect their tests: pytest -m \"not tools\")")


def gxx() -> str:
    return require(shutil.which(os.environ.get("CXX", "g++")), "g++", "make tools")


def xilinx_ap_types() -> Path | None:
    """Xilinx's ap_types headers from the hls4ml wheel (a test-only dependency), if installed."""
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "templates" / "vivado" / "ap_types"
    return path if (path / "ap_fixed.h").is_file() else None


def require_xilinx_ap_types() -> Path:
    return require(xilinx_ap_types(), "hls4ml (it carries Xilinx's ap_types headers)", "make setup: extra [test]")


def chromium() -> str:
    """Debian's headless-capable Chromium (the HTML report's browser test)."""
    found = next(filter(None, (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome"))), None)
    return require(found, "chromium", "make tools: scripts/install-tools.sh installs Debian's chromium")
