"""Keras 3's recurrent layers -> ``lstm``, ``gru``, ``simple_rnn`` nodes (:mod:`nnfpga.ops.recurrent`).

- ``LSTM``, ``GRU`` (``reset_after`` either way: a ``(2, 3u)`` bias is the input and the recurrent bias),
  ``SimpleRNN``: ``return_sequences`` either way, ``go_backwards``; activations tanh, sigmoid, hard_sigmoid, hard_tanh;
- ``Bidirectional``: the forward and the backward layer as two nodes (the backward one's sequence flipped back to
  input order, as Keras does), merged by ``concatenate`` (``merge_mode="concat"``), ``add`` ("sum"), ``average``
  ("ave") or ``multiply`` ("mul");
- ``TimeDistributed(Dense)``: the same Dense at every step, as a 1-wide ``conv`` over the steps (plus its activation).
Refused, all listed at once, each with what to change: ``return_state``, ``stateful``, ``unroll``, a non-zero
initial state (``initial_state=``: the layer then reads several tensors), masking, other activations, and the
merge mode ``None`` (two outputs).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnfpga.ir.graph import Graph, Node
from nnfpga.ops import OPS

# Keras 3's own activation names that a cell computes exactly as Keras does (hard_sigmoid: relu6(x + 3) / 6;
# hard_tanh: clip(x, -1, 1)); the other gates of recurrent_arith.GATE_ACTIVATIONS are QKeras's and Keras 2's
KERAS_GATES = ("tanh", "sigmoid", "hard_sigmoid", "hard_tanh")

RECURRENT_OPS = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "simple_rnn"}
RECURRENT_LAYERS = (*RECURRENT_OPS, "Bidirectional", "TimeDistributed")
MERGE_MODES = {"concat": "concatenate", "sum": "add", "ave": "average", "mul": "multiply"}
# options that change what the layer computes or returns, and how to get a layer nnfpga reads
REFUSED_OPTIONS = {
    "return_state": "return_state=True (the final states as extra outputs): nnfpga's layers output the sequence or "
                    "the last step only; set return_state=False and use return_sequences",
    "stateful": "stateful=True (the state carried over between batches): firmware starts every sequence from a "
                "zero state; set stateful=False",
    "unroll": "unroll=True: set unroll=False (the same math; nnfpga chooses how to build the time loop)",
}


def several_inputs_reasons(layer: Any, kind: str, n: int) -> list[str]:
    """Why a recurrent layer reading ``n`` tensors (an initial state, a mask) is refused, and its other problems."""
    why = [f"{kind} with {n} inputs (an initial_state or a mask): nnfpga starts every sequence from a zero state and "
           "runs every step; drop initial_state= and the mask (Masking, mask_zero) from the call"]
    cfg = layer.get_config() if kind in RECURRENT_OPS else {}
    return why + [f"{kind}: {w}" for w in _option_problems(kind, cfg)]


def _option_problems(kind: str, cfg: dict[str, Any]) -> list[str]:
    problems = [why for key, why in REFUSED_OPTIONS.items() if cfg.get(key)]
    acts = {"activation": cfg.get("activation")}
    if kind != "SimpleRNN":
        acts["recurrent_activation"] = cfg.get("recurrent_activation")
    return problems + [f"{which}={a!r} (supported in a recurrent cell: {', '.join(KERAS_GATES)})"
                       for which, a in acts.items() if a not in KERAS_GATES]


def convert_recurrent(g: Graph, layer: Any, kind: str, src: str, unsupported: list[tuple[str, str]]) -> str | None:
    """A layer of :data:`RECURRENT_LAYERS` reading node ``src``: the node carrying its output, or None after adding
    every reason it is refused to ``unsupported``."""
    if kind == "Masking":
        unsupported.append((layer.name, "Masking: nnfpga runs every step of every sequence; remove the Masking layer "
                                        "(and train without it, or pad with values the model tolerates)"))
        return None
    if kind == "TimeDistributed":
        return _time_distributed(g, layer, src, unsupported)
    if kind == "Bidirectional":
        return _bidirectional(g, layer, src, unsupported)
    node = _cell_node(g, layer, kind, layer.name, src, unsupported)
    return None if node is None else g.add(node).name


def _cell_node(g: Graph, layer: Any, kind: str, name: str, src: str,
               unsupported: list[tuple[str, str]]) -> Node | None:
    cfg = layer.get_config()
    problems = _option_problems(kind, cfg)
    shape = tuple(g[src].shape)
    if len(shape) != 2:
        problems.append(f"input of per-sample shape {shape}; a recurrent layer reads (steps, features)")
    if problems:
        unsupported.extend((layer.name, f"{kind}: {why}") for why in problems)
        return None
    ws = {w.path.split("/")[-1]: np.asarray(w.numpy() if hasattr(w, "numpy") else w, dtype=np.float64)
          for w in layer.weights}
    u = int(cfg["units"])
    n = ws["kernel"].shape[1]
    bias = ws.get("bias", np.zeros(n))
    recurrent_bias = np.zeros(n)
    if bias.ndim == 2:  # GRU reset_after: (input bias, recurrent bias)
        bias, recurrent_bias = bias[0], bias[1]
    attrs = {"units": u, "return_sequences": bool(cfg.get("return_sequences")),
             "go_backwards": bool(cfg.get("go_backwards")), "activation": cfg["activation"]}
    if kind != "SimpleRNN":
        attrs["recurrent_activation"] = cfg["recurrent_activation"]
    if kind == "GRU":
        attrs["reset_after"] = bool(cfg.get("reset_after", True))
    node = Node(name, RECURRENT_OPS[kind], [src], (), attrs,
                {"kernel": ws["kernel"], "recurrent_kernel": ws["recurrent_kernel"], "bias": bias,
                 "recurrent_bias": recurrent_bias}, source=f"{kind} {layer.name!r}")
    node.shape = tuple(OPS[node.op].infer_shape(node, [shape]))
    return node


def _bidirectional(g: Graph, layer: Any, src: str, unsupported: list[tuple[str, str]]) -> str | None:
    mode = layer.get_config().get("merge_mode")
    fwd, bwd = layer.forward_layer, layer.backward_layer
    n = len(unsupported)
    if mode not in MERGE_MODES:
        unsupported.append((layer.name, f"Bidirectional with merge_mode={mode!r}: supported "
                                        f"{', '.join(map(repr, MERGE_MODES))}"))
    kinds = [type(x).__name__ for x in (fwd, bwd)]
    for k in kinds:
        if k not in RECURRENT_OPS:
            unsupported.append((layer.name, f"Bidirectional({k})"))
    if len(unsupported) > n:
        return None
    nodes = [_cell_node(g, x, k, g.unique_name(f"{layer.name}_{d}"), src, unsupported)
             for x, k, d in zip((fwd, bwd), kinds, ("forward", "backward"), strict=True)]
    if any(x is None for x in nodes):
        return None
    f_node, b_node = nodes
    if b_node.attrs["return_sequences"]:
        b_node.attrs["flip_output"] = True  # Keras flips the backward sequence back to input order
    g.add(f_node)
    g.add(b_node)
    op = MERGE_MODES[mode]
    shape = f_node.shape
    if op == "concatenate":
        shape = (*shape[:-1], shape[-1] + b_node.shape[-1])
    attrs = {"axis": len(shape) - 1} if op == "concatenate" else {}
    merged = Node(layer.name, op, [f_node.name, b_node.name], shape, attrs, source=f"Bidirectional {layer.name!r}")
    return g.add(merged).name


def _time_distributed(g: Graph, layer: Any, src: str, unsupported: list[tuple[str, str]]) -> str | None:
    from nnfpga.frontends.keras_common import activation_name, add_keras_layer

    inner = layer.layer
    if type(inner).__name__ != "Dense" or len(g[src].shape) != 2:
        unsupported.append((layer.name, f"TimeDistributed({type(inner).__name__}) on per-sample shape "
                                        f"{tuple(g[src].shape)}: nnfpga reads TimeDistributed(Dense) on (steps, "
                                        "features)"))
        return None
    ws = {w.path.split("/")[-1]: np.asarray(w.numpy() if hasattr(w, "numpy") else w, dtype=np.float64)
          for w in inner.weights}
    kernel = ws["kernel"]
    conv_ws = {"kernel": kernel[None], "bias": ws.get("bias", np.zeros(kernel.shape[1]))}
    cfg = {"kernel_size": 1, "strides": 1, "padding": "valid", "dilation_rate": 1}
    return add_keras_layer(g, "Conv1D", layer.name, src, cfg, activation_name(inner.activation), conv_ws,
                           unsupported)
