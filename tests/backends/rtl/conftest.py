"""Fixtures of the Verilog backend tests: Verilator, Yosys and nextpnr-ecp5 (tests/tooling.py fails without them),
a per-session build cache."""

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
    return _tool("yosys", "make tools")


@pytest.fixture(scope="session")
def nextpnr_exe() -> str:
    return _tool("nextpnr-ecp5", "pip install 'nnfpga[rtl]'")


def _tool(name: str, install: str) -> str:
    try:
        return tools.find(name)
    except ToolNotFoundError:
        return require(None, name, install)
