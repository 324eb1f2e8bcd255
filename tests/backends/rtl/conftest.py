"""Fixtures of the Verilog backend tests: Verilator and Yosys (tests/tooling.py fails without them), a per-session
build cache."""

from __future__ import annotations

import shutil

import pytest

from nnfpga import tools
from nnfpga.errors import ToolNotFoundError
from tooling import require


@pytest.fixture(scope="session")
def verilator_exe() -> str:
    return require(shutil.which("verilator"), "verilator", "make tools")


@pytest.fixture(scope="session")
def rtl_cache(tmp_path_factory: pytest.TempPathFactory):
    """A build cache of this session only: every design is really built once per test run."""
    return tmp_path_factory.mktemp("rtl-cache")


@pytest.fixture(scope="session")
def yosys_exe() -> str:
    try:
        return tools.find("yosys")
    except ToolNotFoundError:
        return require(None, "yosys", "make tools")
