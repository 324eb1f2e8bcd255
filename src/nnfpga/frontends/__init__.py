"""Frontends: each turns a framework's model into the same untyped :class:`~nnfpga.ir.graph.Graph`.

Framework libraries are imported lazily, inside the functions that need them (all optional extras).
"""

from typing import Any


class Rejected(Exception):
    """A layer or quantizer a frontend cannot map exactly (internal: each frontend collects these into one
    :class:`~nnfpga.errors.UnsupportedLayerError` listing every layer; it never escapes)."""


# Frameworks compute in float32, whose 24-bit significand holds every integer up to 2**24 exactly: sums of
# fixed-point values are exact there while their signed width is at most 25 bits (the frameworks' quantized
# inference may round wider ones, where nnfpga's sums stay exact).
FLOAT32_EXACT_BITS = 25


def tensor_of(value: Any) -> Any:
    """The plain tensor of a value a PyTorch trace recorded (a Brevitas QuantTensor carries it in ``.value``),
    else None."""
    import torch

    if isinstance(value, torch.Tensor):
        return value
    inner = getattr(value, "value", None)
    return inner if isinstance(inner, torch.Tensor) else None


def identifier(name: str, default: str = "model", prefix: str = "m_") -> str:
    """A framework's layer or model name as an IR name: letters, digits and ``_`` (others become ``_``),
    ``default`` when empty, ``prefix`` before a leading digit."""
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name) or default
    return out if not out[0].isdigit() else f"{prefix}{out}"


def onnx_node_name(node: object) -> str:
    """An ONNX node's name as an IR name (shared by the ONNX readers): '/fc1/Gemm' -> 'fc1', 'node_linear' ->
    'linear', the op type when the node has no name."""
    op_type, name = str(getattr(node, "op_type", "")), str(getattr(node, "name", ""))
    parts = [p for p in name.split("/") if p]
    if len(parts) > 1 and parts[-1].split("_")[0] == op_type:
        parts = parts[:-1]
    raw = "_".join(parts).removeprefix("node_").strip("_")
    return identifier(raw or op_type.lower(), "model", "n_")
