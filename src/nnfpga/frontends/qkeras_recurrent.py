"""QKeras's QLSTM, QGRU and QSimpleRNN (and Keras 2's LSTM, GRU, SimpleRNN) in a saved file -> ``lstm``, ``gru``,
``simple_rnn`` nodes (:mod:`nnfpga.ops.recurrent`) with pinned types, for :mod:`nnfpga.frontends.qkeras`.

- ``kernel_quantizer``, ``recurrent_quantizer``, ``bias_quantizer``: the weights quantized with QKeras's formula
  (:func:`~nnfpga.frontends.qkeras.quantize_weights`), pinned to the narrowest type holding them in the ``weight``,
  ``recurrent_weight`` and ``bias`` slots (as QDense's); a GRU's two bias rows (``reset_after``) share the slot.
- ``state_quantizer`` ``quantized_bits(...)``: the ``state`` slot, that quantizer's exact type
  (``ap_fixed<bits, integer+1, AP_RND_CONV, AP_SAT>``). QKeras quantizes the previous ``h`` (and ``c``) as the
  cell reads them; nnfpga stores them in that type, which the next step reads the same way. QKeras's layer output
  is the unquantized ``h``; nnfpga's is ``(result) h`` (by default the state's type).
- Activations: ``tanh`` and ``sigmoid`` are nnfpga's gate tables, as for Keras 3's layers. Refused, naming the
  layer and the activation: ``hard_sigmoid`` (Keras 2's slope is 0.2 and QKeras's own 0.5, not the 1/6 of nnfpga's
  gate), ``quantized_tanh`` / ``quantized_sigmoid`` (QKeras's piecewise or rounded curves are not the gate tables:
  train with ``tanh`` / ``sigmoid`` and set the ``table`` precision), and any other.
- ``go_backwards``, ``return_sequences`` either way; ``return_state``, ``stateful``, ``unroll`` refused (all listed
  at once, with what to change).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnfpga.frontends import Rejected
from nnfpga.frontends.keras_common import exact_weight_type
from nnfpga.frontends.keras_recurrent import REFUSED_OPTIONS
from nnfpga.ir.graph import Graph, Node
from nnfpga.ops import OPS

QRECURRENT_LAYERS = {"QLSTM": "lstm", "QGRU": "gru", "QSimpleRNN": "simple_rnn", "LSTM": "lstm", "GRU": "gru",
                     "SimpleRNN": "simple_rnn"}
GATE_TABLES = ("tanh", "sigmoid")
SLOTS = {"kernel": ("kernel_quantizer", "weight"), "recurrent_kernel": ("recurrent_quantizer", "recurrent_weight"),
         "bias": ("bias_quantizer", "bias")}


def add_qkeras_recurrent(g: Graph, kind: str, cfg: dict[str, Any], ws: dict[str, np.ndarray], src: str) -> str:
    """The node of recurrent layer ``kind`` (config ``cfg``, saved weights ``ws``) reading ``src``; raises
    :class:`Rejected` with every reason it is refused."""
    from nnfpga.frontends.qkeras import activation_type, parse_quantizer, quantize_weights

    name, op = cfg["name"], QRECURRENT_LAYERS[kind]
    problems = [why for key, why in REFUSED_OPTIONS.items() if cfg.get(key)]
    acts = {"activation": cfg.get("activation", "tanh")}
    if op != "simple_rnn":
        acts["recurrent_activation"] = cfg.get("recurrent_activation", "sigmoid")
    chosen: dict[str, str] = {}
    for key, spec in acts.items():
        try:
            why = _activation_problem(parse_quantizer(spec))
        except Rejected as exc:
            why = str(exc)
        if why:
            problems.append(f"{key}={_show(spec)}: {why}")
        else:
            chosen[key] = parse_quantizer(spec)[0]  # type: ignore[index]
    shape = tuple(g[src].shape)
    if len(shape) != 2:
        problems.append(f"input of per-sample shape {shape}; a recurrent layer reads (steps, features)")
    if "kernel" not in ws or "recurrent_kernel" not in ws:
        problems.append("the saved file has no kernel / recurrent_kernel for this layer")
    qtypes: dict[str, str] = {}
    values: dict[str, np.ndarray] = {}
    for w, (qkey, slot) in SLOTS.items():
        if w not in ws:
            continue
        values[w] = np.asarray(ws[w], dtype=np.float64)
        try:
            q = parse_quantizer(cfg.get(qkey))
            if q is not None:
                values[w] = quantize_weights(*q, values[w])
                qtypes[slot] = str(exact_weight_type(values[w]))
        except Rejected as exc:
            problems.append(f"{qkey}={_show(cfg.get(qkey))}: {exc}")
    try:
        sq = parse_quantizer(cfg.get("state_quantizer"))
        if sq is not None:
            if sq[0] != "quantized_bits":
                raise Rejected("expected quantized_bits (the state's fixed-point type)")
            qtypes["state"] = str(activation_type(*sq))
    except Rejected as exc:
        problems.append(f"state_quantizer={_show(cfg.get('state_quantizer'))}: {exc}")
    if problems:
        raise Rejected("; ".join(problems))
    kernel, rk = values["kernel"], values["recurrent_kernel"]
    n = kernel.shape[1]
    bias = values.get("bias", np.zeros(n))
    recurrent_bias = np.zeros(n)
    if bias.ndim == 2:  # GRU reset_after: (input bias, recurrent bias)
        bias, recurrent_bias = bias[0], bias[1]
    attrs: dict[str, Any] = {"units": int(cfg["units"]), "return_sequences": bool(cfg.get("return_sequences")),
                             "go_backwards": bool(cfg.get("go_backwards")), "activation": chosen["activation"]}
    if op != "simple_rnn":
        attrs["recurrent_activation"] = chosen["recurrent_activation"]
    if op == "gru":
        attrs["reset_after"] = bool(cfg.get("reset_after", kind == "GRU"))
    if qtypes:
        attrs["qtypes"] = qtypes
    node = Node(name, op, [src], (), attrs, {"kernel": kernel, "recurrent_kernel": rk, "bias": bias,
                                             "recurrent_bias": recurrent_bias}, source=f"{kind} {name!r}")
    node.shape = tuple(OPS[op].infer_shape(node, [shape]))
    return g.add(node).name


def _activation_problem(q: tuple[str, dict[str, Any]] | None) -> str | None:
    if q is None:
        return "a linear gate: nnfpga's gates are tanh and sigmoid tables; use tanh or sigmoid"
    name, params = q
    if name in GATE_TABLES and not params:
        return None
    if name == "hard_sigmoid":
        return ("Keras 2's hard_sigmoid (slope 0.2) and QKeras's (slope 0.5) are not the gate's hard_sigmoid (Keras "
                "3's, slope 1/6); train with sigmoid")
    if name in ("quantized_tanh", "quantized_sigmoid"):
        return (f"{name} is not the gates' {name.removeprefix('quantized_')} table (QKeras rounds its own curve); "
                f"train with {name.removeprefix('quantized_')} and set the layer's table precision in the config")
    return "not a gate activation nnfpga has; use tanh or sigmoid"


def _show(spec: Any) -> str:
    if isinstance(spec, dict):
        return repr(spec.get("class_name"))
    return repr(spec)
