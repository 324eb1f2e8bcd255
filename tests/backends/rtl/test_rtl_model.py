"""The Verilog backend through the public API: backend="verilog" projects and predict(engine="rtl")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nnfpga
from nnfpga.examples import DEFAULT_JET_MODEL


def test_verilog_project_files(tmp_path: Path) -> None:
    hw = nnfpga.convert_from_keras_model(str(DEFAULT_JET_MODEL), output_dir=tmp_path / "prj", backend="verilog",
                                         project_name="jet")
    prj = hw.write()
    top = (prj / "rtl" / "jet.v").read_text()
    assert "module jet" in top and "in_valid" in top and "out_valid" in top
    assert (prj / "rtl" / "filelist.f").is_file() and not (prj / "firmware").exists()


@pytest.mark.tools
@pytest.mark.slow
def test_predict_with_rtl_engine_equals_emulator(tmp_path: Path, verilator_exe: str) -> None:
    hw = nnfpga.convert_from_keras_model(str(DEFAULT_JET_MODEL), output_dir=tmp_path / "prj", backend="verilog")
    x = np.random.default_rng(5).normal(size=(2000, 16))
    assert np.array_equal(hw.predict(x, engine="rtl"), hw.predict(x))
