"""The QKeras recurrent layers with QKeras's default activations (tests/frontends/test_qkeras_recurrent_defaults.py)
in firmware: the C simulation of the generated HLS project and the Verilator simulation of the generated Verilog
give the emulator's bits, on real, saturating and extreme sequences. The gates exercised: hard_tanh (an exact clip
with the lower bound -1) in each position the cell has (act on the sum, act(c)), QKeras's hard_sigmoid (slope 0.5),
and the table type pinned to quantized_tanh(8)'s (QSimpleRNN) or to quantized_sigmoid(6)'s unsigned type (a QGRU
whose gates are all quantized_sigmoid(6): ``1 - z`` on it), and tables next to a clip (use_real_tanh)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_qkeras_recurrent_defaults import FEATS, STEPS, save_default

import nnfpga
from backends.hls.test_csim import assert_bit_exact
from tooling import require

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "QLSTM": ("QLSTM", {}), "QGRU": ("QGRU", {}), "QSimpleRNN": ("QSimpleRNN", {}),
    "QGRU_sigmoid6": ("QGRU", {"activation": "quantized_sigmoid(6)", "recurrent_activation": "quantized_sigmoid(6)"}),
    "QLSTM_real_tanh": ("QLSTM", {"activation": "quantized_tanh(6,use_real_tanh=True)",
                                  "recurrent_activation": "quantized_sigmoid(6)"}),
}


def sequences(n: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(0, 1.5, size=(n, STEPS, FEATS))
    x[: n // 10] *= 8  # beyond the input type and the gates' linear ranges
    return x


def load(path: Path, **kw: Any) -> nnfpga.HWModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no input quantizer; the shared table type
        return nnfpga.convert_from_keras_model(str(path), **kw)


@pytest.mark.parametrize("case", sorted(CASES))
def test_csim_equals_emulator(keras: Any, tmp_path: Path, case: str) -> None:
    kind, extra = CASES[case]
    hw = load(save_default(keras, kind, tmp_path / "q.h5", **extra), output_dir=tmp_path / "prj")
    assert_bit_exact(hw, sequences(400, 1), None)
    header = (tmp_path / "prj" / "firmware" / "parameters.h").read_text()
    assert ("static const int lo = -1;" in header) == (not extra)  # the hard_tanh gate's clip


@pytest.mark.parametrize("case", sorted(CASES))
def test_verilator_equals_emulator(keras: Any, tmp_path: Path, case: str) -> None:
    require(shutil.which("verilator"), "verilator", "make tools")
    kind, extra = CASES[case]
    hw = load(save_default(keras, kind, tmp_path / "q.h5", **extra), backend="verilog")
    x = sequences(400, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)  # saturating inputs on purpose
        want = hw.predict(x)
    got = hw.predict(x, engine="rtl")
    bad = np.argwhere(got != want)
    assert bad.size == 0, f"{len(bad)} of {want.size} differ; first {tuple(bad[0])}: rtl {got[tuple(bad[0])]} " \
                          f"emulator {want[tuple(bad[0])]}"
