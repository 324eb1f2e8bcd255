"""The Verilog project of the bundled jet MLP, byte for byte: a refactor of the RTL backend shows its diff here.

The model and config are the HLS golden's (``tests/backends/hls/test_writer.py``: the bundled 16-bit jet MLP,
default ``granularity="name"`` config), so both backends are pinned on the same typed graph. Its top module is
about 1.7 MB, small enough to commit as it is (no smaller config needed). Regenerate with
``NNFPGA_UPDATE_GOLDEN=1`` after an intended change, and review ``git diff``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

import nnfpga
from golden_files import check_tree, read_tree
from nnfpga.examples import DEFAULT_JET_MODEL

GOLDEN = Path(__file__).parent / "golden" / "jet"


def npz_manifest(path: Path) -> bytes:
    """A zip archive's timestamps change from run to run: its arrays, each as name, dtype, shape and SHA-256."""
    with np.load(path) as z:
        lines = [f"{k} {z[k].dtype} {list(z[k].shape)} {hashlib.sha256(z[k].tobytes()).hexdigest()}\n"
                 for k in sorted(z.files)]
    return "".join(lines).encode()


@pytest.mark.slow  # about 15 s: the 16-bit jet MLP's adder graphs
def test_golden_jet_verilog_project(tmp_path: Path) -> None:
    """Every generated file byte for byte; ``weights.npz`` by the manifest of its arrays (``weights.npz.txt``)."""
    cfg = nnfpga.config_from_keras_model(str(DEFAULT_JET_MODEL), granularity="name")
    hw = nnfpga.convert_from_keras_model(str(DEFAULT_JET_MODEL), hls_config=cfg, output_dir=tmp_path / "prj",
                                         backend="verilog")
    prj = hw.write()
    got = read_tree(prj, lambda rel: rel != "weights.npz")
    got["weights.npz.txt"] = npz_manifest(prj / "weights.npz")
    check_tree(got, GOLDEN)
