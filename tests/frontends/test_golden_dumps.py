"""Graph-dump goldens: one small deterministic model per frontend family, read into the IR, compared as text.

Each golden file (``tests/frontends/golden/<name>.txt``) holds three :meth:`Graph.dump` listings of the model:
what the frontend reads (untyped, before the passes), the untyped graph after the optimization passes (what
``graph_from_*_model`` returns), and the typed graph after the default config (``convert_from_*_model``), each
with the nodes the passes removed and why. A dump prints names, ops, inputs, shapes, weight shapes, attributes
and types, never weight values. Regenerate with ``NNFPGA_UPDATE_GOLDEN=1`` after an intended change, and
review ``git diff``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import nnfpga
from frontend_models import custom_net, export_onnx, hgq_mlp, qat_mlp, qonnx_mlp, require_hgq, view_net
from golden_files import check_text
from nnfpga.frontends.keras import graph_from_keras
from nnfpga.frontends.onnx import graph_from_onnx
from nnfpga.frontends.pytorch import graph_from_pytorch
from nnfpga.ir.graph import Graph
from tooling import require

GOLDEN = Path(__file__).parent / "golden"
DATA = Path(__file__).parent / "data"


def render(raw: Graph, untyped: Graph, typed: Graph) -> str:
    parts = []
    for title, g in (("frontend (untyped, before the passes)", raw), ("after the passes (untyped)", untyped),
                     ("typed (default config)", typed)):
        removed = [f"  removed {name}: {why}" for name, why in g.removed.items()]
        parts.append("\n".join([f"# {title}", g.dump(), *removed]))
    return "\n\n".join(parts) + "\n"


def keras_dumps(model: Any, tmp: Path) -> str:
    return render(graph_from_keras(model), nnfpga.graph_from_keras_model(model),
                  nnfpga.convert_from_keras_model(model, output_dir=tmp / "prj").graph)


def torch_dumps(model: Any, shape: tuple[int, ...], tmp: Path) -> str:
    return render(graph_from_pytorch(model, shape), nnfpga.graph_from_pytorch_model(model, shape),
                  nnfpga.convert_from_pytorch_model(model, shape, output_dir=tmp / "prj").graph)


def onnx_dumps(model: Any, tmp: Path) -> str:
    return render(graph_from_onnx(model), nnfpga.graph_from_onnx_model(model),
                  nnfpga.convert_from_onnx_model(model, output_dir=tmp / "prj").graph)


def need(module: str, what: str) -> Any:
    require(importlib.util.find_spec(module), what, "make setup (the frontends' extras)")
    return importlib.import_module(module)


def keras3(tmp: Path, tiny_mlp: Any) -> str:
    """The shared tiny Keras MLP (tests/conftest.py): Dense, ReLU, a batch-norm folded by the passes, softmax."""
    return keras_dumps(tiny_mlp, tmp)


def pytorch(tmp: Path, tiny_mlp: Any) -> str:
    """A torch.fx trace with functional calls, a view, dropout and an unfoldable batch-norm."""
    return torch_dumps(custom_net().eval(), (2, 3), tmp)


def onnx(tmp: Path, tiny_mlp: Any) -> str:
    """A TorchScript ONNX export with a view, batch-norm, reshape and flatten."""
    need("onnx", "onnx")
    return onnx_dumps(str(export_onnx(view_net(), tmp / "view.onnx", torch.zeros(4, 3, 4), dynamo=False)), tmp)


def qkeras(tmp: Path, tiny_mlp: Any) -> str:
    """The committed QKeras digits file (read without TensorFlow or QKeras)."""
    return keras_dumps(str(DATA / "qkeras_digits.h5"), tmp)


def hgq2(tmp: Path, tiny_mlp: Any) -> str:
    """The HGQ2 MLP of the HGQ tests, untrained."""
    require_hgq()
    return keras_dumps(hgq_mlp(), tmp)


def brevitas(tmp: Path, tiny_mlp: Any) -> str:
    """The Brevitas QAT MLP of the PyTorch tests, untrained (torch seed 0)."""
    torch.manual_seed(0)
    return torch_dumps(qat_mlp().eval(), (64,), tmp)


def qonnx(tmp: Path, tiny_mlp: Any) -> str:
    """The QONNX MLP built node by node in the ONNX tests."""
    return onnx_dumps(qonnx_mlp(need("onnx", "onnx")), tmp)


FRONTENDS: dict[str, Callable[[Path, Any], str]] = {
    "keras3": keras3, "pytorch": pytorch, "onnx": onnx, "qkeras": qkeras, "hgq2": hgq2, "brevitas": brevitas,
    "qonnx": qonnx,
}


@pytest.mark.parametrize("name", list(FRONTENDS))
def test_graph_dump_golden(name: str, tmp_path: Path, tiny_mlp: Any) -> None:
    check_text(FRONTENDS[name](tmp_path, tiny_mlp), GOLDEN / f"{name}.txt")
