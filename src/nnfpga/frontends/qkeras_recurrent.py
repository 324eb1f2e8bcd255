"""QKeras's QLSTM, QGRU and QSimpleRNN (and Keras 2's LSTM, GRU, SimpleRNN) in a saved file -> ``lstm``, ``gru``,
``simple_rnn`` nodes (:mod:`nnfpga.ops.recurrent`) with pinned types, for :mod:`nnfpga.frontends.qkeras`.

- ``kernel_quantizer``, ``recurrent_quantizer``, ``bias_quantizer``: the weights quantized with QKeras's formula
  (:func:`~nnfpga.frontends.qkeras.quantize_weights`), pinned to the narrowest type holding them in the ``weight``,
  ``recurrent_weight`` and ``bias`` slots (as QDense's); a GRU's two bias rows (``reset_after``) share the slot.
- ``state_quantizer`` ``quantized_bits(...)``: the ``state`` slot, that quantizer's exact type
  (``ap_fixed<bits, integer+1, AP_RND_CONV, AP_SAT>``). QKeras quantizes the previous ``h`` (and ``c``) as the
  cell reads them; nnfpga stores them in that type, which the next step reads the same way. QKeras's layer output
  is the unquantized ``h``; nnfpga's is ``(result) h`` (by default the state's type).
- Activations, as QKeras computes them (``qkeras/qrecurrent.py`` passes each through ``get_quantizer``: a string
  names a function or class of ``qkeras/quantizers.py`` first, a Keras activation otherwise; a class is built
  with its defaults; a quantizer object is saved as its config dict, a function as its name):

  - ``tanh``, ``sigmoid``: Keras's, nnfpga's gate tables (as for Keras 3's layers).
  - ``hard_sigmoid``: QKeras's own ``clip(0.5 x + 0.5, 0, 1)``, unquantized (QLSTM's and QGRU's default
    recurrent activation) -> gate ``hard_sigmoid_qkeras``, an exact clip cast to the ``table`` type; in a plain
    Keras 2 LSTM/GRU/SimpleRNN it is Keras 2's ``clip(0.2 x + 0.5, 0, 1)`` -> ``hard_sigmoid_keras2``.
  - ``hard_tanh`` (QKeras's ``2 hard_sigmoid(x) - 1 = clip(x, -1, 1)``) -> gate ``hard_tanh``, exact clip.
  - ``quantized_tanh(bits=8, use_stochastic_rounding, symmetric, use_real_tanh)`` (every layer's default
    activation): ``2 hard_sigmoid(x) - 1`` (``tanh`` with ``use_real_tanh``) rounded half to even to
    ``bits - 1`` fractional bits and clipped to ``[-1 (+ 2**(1-bits) if symmetric), 1 - 2**(1-bits)]``, i.e. that
    curve cast to ``ap_fixed<bits, 1, AP_RND_CONV, AP_SAT>`` (``AP_SAT_SYM``) -> gate ``hard_tanh`` (``tanh``).
  - ``quantized_sigmoid(bits=8, symmetric, use_real_sigmoid, use_stochastic_rounding)``: ``hard_sigmoid``
    (``sigmoid``) cast to ``ap_ufixed<bits, 0, AP_RND_CONV, AP_SAT>`` -> ``hard_sigmoid_qkeras`` (``sigmoid``).

  A layer's gates share the ``table`` type (their output type). Where every gate rounds to one type (a
  QSimpleRNN's one gate; both gates the same quantizer) that type is pinned, so the gates are QKeras's exactly
  (up to the tables' sampling for the ``use_real_*`` curves). Otherwise (QLSTM, QGRU defaults: quantized_tanh
  next to the float hard_sigmoid) the table type is the config's and a warning says so: a quantized_tanh(bits)
  gate is then within one LSB (``2**(1-bits)``) of QKeras's, plus half the table type's LSB; measured on the
  default QLSTM/QGRU (tests/frontends/test_qkeras_recurrent_defaults.py, 6 steps): at most 0.0195, mean 0.002.
  Refused, naming the layer, the activation and what to use: stochastic rounding, ``quantized_sigmoid`` with
  ``symmetric`` (never 0), ``quantized_tanh(bits < 2)``, linear gates and any other activation (``binary_tanh``,
  ``smooth_sigmoid``, ``quantized_relu``, ...). hls4ml keeps string activations as they are (so QKeras's
  ``hard_sigmoid`` becomes its Keras-2-style one) and asserts on quantized_tanh / quantized_sigmoid without
  ``use_real_*`` ("Hard activation not supported"), so it refuses a default QLSTM.
- ``go_backwards``, ``return_sequences`` either way; ``return_state``, ``stateful``, ``unroll`` refused (all listed
  at once, with what to change).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from nnfpga.fixed import FixedType
from nnfpga.frontends import Rejected
from nnfpga.frontends.keras_common import exact_weight_type
from nnfpga.frontends.keras_recurrent import REFUSED_OPTIONS
from nnfpga.frontends.qkeras_common import activation_type, curve_quantizer, parse_quantizer, quantize_weights
from nnfpga.ir.graph import Graph, Node
from nnfpga.ops import OPS

QRECURRENT_LAYERS = {"QLSTM": "lstm", "QGRU": "gru", "QSimpleRNN": "simple_rnn", "LSTM": "lstm", "GRU": "gru",
                     "SimpleRNN": "simple_rnn"}
SLOTS = {"kernel": ("kernel_quantizer", "weight"), "recurrent_kernel": ("recurrent_quantizer", "recurrent_weight"),
         "bias": ("bias_quantizer", "bias")}


def add_qkeras_recurrent(g: Graph, kind: str, cfg: dict[str, Any], ws: dict[str, np.ndarray], src: str) -> str:
    """The node of recurrent layer ``kind`` (config ``cfg``, saved weights ``ws``) reading ``src``; raises
    :class:`Rejected` with every reason it is refused."""
    name, op = cfg["name"], QRECURRENT_LAYERS[kind]
    problems = [why for key, why in REFUSED_OPTIONS.items() if cfg.get(key)]
    acts = {"activation": cfg.get("activation", "tanh")}
    if op != "simple_rnn":
        acts["recurrent_activation"] = cfg.get("recurrent_activation", "sigmoid")
    chosen: dict[str, str] = {}
    rounded: dict[str, FixedType | None] = {}
    for key, spec in acts.items():
        try:
            chosen[key], rounded[key] = _gate(spec, plain=not kind.startswith("Q"))
        except Rejected as exc:
            problems.append(f"{key}={_show(spec)}: {exc}")
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
    table = _table_type(name, rounded)
    if table is not None:
        qtypes["table"] = str(table)
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


def _gate(spec: Any, plain: bool) -> tuple[str, FixedType | None]:
    """The gate (:data:`~nnfpga.ops.recurrent_arith.GATE_ACTIVATIONS` key) a saved activation is, and the exact
    type QKeras rounds its output to (None: float); raises :class:`Rejected` saying what to use instead."""
    q = parse_quantizer(spec)
    if q is None:
        raise Rejected("a linear gate: nnfpga's gates are tanh, sigmoid, hard_sigmoid; use one of them")
    name, p = q
    if name in ("tanh", "sigmoid") and not p:
        return name, None
    if name == "hard_sigmoid" and not p:  # QKeras resolves the name to its own (slope 0.5), Keras 2 to 0.2
        return ("hard_sigmoid_keras2" if plain else "hard_sigmoid_qkeras"), None
    if name == "hard_tanh" and not p and not plain:
        return "hard_tanh", None
    if name in ("quantized_tanh", "quantized_sigmoid"):
        return curve_quantizer(name, p)
    allowed = "tanh, sigmoid, hard_sigmoid" + ("" if plain else ", hard_tanh, quantized_tanh, quantized_sigmoid")
    instead = "quantized_tanh()" if "tanh" in name else "quantized_sigmoid()"
    raise Rejected(f"{name!r} is not a gate nnfpga has ({allowed}); use {instead} or one of those")


def _table_type(name: str, rounded: dict[str, FixedType | None]) -> FixedType | None:
    """The ``table`` type pinned when every gate rounds its output to one type (QKeras's exactly); otherwise
    None (the config's table type), with a warning where a quantized gate's rounding is not reproduced."""
    types = set(rounded.values())
    if len(types) == 1 and None not in types:
        return types.pop()
    if types != {None}:
        quantized = ", ".join(f"{k} rounds to {t}" for k, t in rounded.items() if t is not None)
        warnings.warn(f"layer {name!r}: {quantized} and its gates share one table type: the gates are computed in "
                      "the layer's table precision instead (within one LSB of that quantizer's output; see "
                      "nnfpga.frontends.qkeras_recurrent)", stacklevel=4)
    return None


def _show(spec: Any) -> str:
    if isinstance(spec, dict):
        return repr(spec.get("class_name"))
    return repr(spec)
