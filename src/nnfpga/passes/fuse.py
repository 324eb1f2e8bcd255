"""Fuse what a frontend maps one to one into the node that computes it: a bias add into its Dense, a quantizer
into its producer's pinned result type.

A frontend marks the nodes these passes may fuse (so that a user's own ScaleShift or cast is never touched):

- ``attrs[BIAS_ADD]`` on a ``scale_shift`` of scale 1 (an ONNX ``MatMul`` followed by ``Add``/``Sub`` of a
  constant): ``{}`` for a float constant, ``{"type": "ap_fixed<...>"}`` for one a QONNX quantizer pinned;
- ``attrs[QUANTIZER]`` on a quantizer: ``CAST`` on a ``linear`` node whose ``qtypes["result"]`` is the cast, or
  ``SIGN`` on the first node of a bipolar activation (only its input's sign matters).

Each pass decides every marked node once and drops the marker, so a node it does not fuse stays what the
frontend emitted (a plain ScaleShift, a pinned linear cast). Both run first in the untyped pipeline, on the graph
as the frontend built it: a producer's readers are then exactly the model's.
"""

from __future__ import annotations

from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Graph, Node

BIAS_ADD = "bias_add"  # marker on a scale_shift that adds a constant to its input
QUANTIZER = "quantizer"  # marker on a quantizer's node: CAST or SIGN
CAST = "cast"  # a linear node casting to its qtypes["result"]
SIGN = "sign"  # the first node of a bipolar activation: it reads only its input's sign
SIGN_TYPE = "ap_fixed<2,2,AP_TRN,AP_SAT>"  # floor and saturation keep the sign of any value
MERGE_QUANT = ("input", "dense", "scale_shift", "relu", "leaky_relu")  # ops computing exactly, then casting


def _pinned(node: Node) -> dict[str, str]:
    qtypes: dict[str, str] = node.attrs.get("qtypes", {})
    return qtypes


def _sole_reader(graph: Graph, producer: Node, reader: Node) -> bool:
    """Whether ``reader`` is the only reader of ``producer`` (a graph output counts as a reader)."""
    return producer.name not in graph.outputs and [u.name for u in graph.users(producer.name)] == [reader.name]


def fuse_bias_into_dense(graph: Graph) -> bool:
    """Fold a constant bias add (ONNX MatMul + Add) into the Dense before it when the Dense feeds only it.

    The Dense must have no pinned bias or result type; a quantized constant's type becomes the bias type.
    An add that is not folded stays a ScaleShift of scale 1."""
    changed = False
    for node in graph:
        if BIAS_ADD not in node.attrs:
            continue
        spec: dict[str, str] = node.attrs.pop(BIAS_ADD)
        changed = True
        dense = graph[node.inputs[0]]
        if dense.op != "dense" or not _sole_reader(graph, dense, node) or _pinned(dense).keys() & {"bias", "result"}:
            continue
        dense.weights["bias"] = dense.weights["bias"] + node.weights["shift"]
        if "type" in spec:
            dense.attrs.setdefault("qtypes", {})["bias"] = spec["type"]
        graph.bypass(node.name, f"bias add {node.name!r} was folded into Dense {dense.name!r}")
    return changed


def merge_quantizers(graph: Graph) -> bool:
    """Merge an activation quantizer into its producer's result type when it is the producer's only reader.

    Producers that compute exactly and then cast (input, dense, scale_shift, relu, leaky_relu) with no pinned
    result take the quantizer's type; a ReLU's Dense/ScaleShift input, read by the ReLU alone, is pinned to that
    type too (plus a sign bit), since round(relu(x)) == relu(round(x)). Before a bipolar activation the producer
    is pinned to a type that keeps the sign. A quantizer that is not merged stays a pinned linear cast."""
    changed = False
    for node in graph:
        kind = node.attrs.pop(QUANTIZER, None)
        if kind is None:
            continue
        changed = True
        prod = graph[node.inputs[0]]
        if prod.op not in MERGE_QUANT or not _sole_reader(graph, prod, node) or "result" in _pinned(prod):
            continue
        if kind == SIGN:
            # only the sign matters: truncation with saturation keeps it, and rounding to a config type might not
            prod.attrs.setdefault("qtypes", {})["result"] = SIGN_TYPE
            continue
        t = FixedType.parse(_pinned(node)["result"])
        prod.attrs.setdefault("qtypes", {})["result"] = _pinned(node)["result"]  # compute exactly, then this cast
        before = graph[prod.inputs[0]] if prod.op == "relu" and "max_value" not in prod.attrs else None
        if (before is not None and before.op in ("dense", "scale_shift") and _sole_reader(graph, before, prod)
                and "result" not in _pinned(before)):
            # round(relu(x)) == relu(round(x)): the cast moves before the ReLU (one more bit for the sign when
            # unsigned), so that the ReLU's input is not rounded to a config type first
            pre = t if t.signed else t.with_(width=t.width + 1, integer=t.integer + 1, signed=True)
            before.attrs.setdefault("qtypes", {})["result"] = str(pre)
        graph.bypass(node.name, f"quantizer {node.name!r} was merged into the result type of {prod.op} {prod.name!r}")
    return changed
