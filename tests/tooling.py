"""External tools the tests run for real, found in one place.

``make test`` installs every one of them (scripts/install-tools.sh, the venv's extras), so under CI a missing
tool is a setup bug: the test fails and says so. Outside CI a missing tool skips the test with what to install.
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
    """Return ``found``; if it is None, fail under CI (setup should have installed it), else skip."""
    if found is not None:
        return found
    message = f"{what} is not installed ({install})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI runs every tool test, so the project's setup must install it")
    pytest.skip(message)


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
