"""ONNX ``LSTM``, ``GRU`` and ``RNN`` -> ``lstm``, ``gru``, ``simple_rnn`` nodes (:mod:`nnfpga.ops.recurrent`), for
the ONNX frontend (:mod:`nnfpga.frontends.onnx`); the tensors around them are views (:mod:`.onnx_views`).

- Weights: ``W`` ``[dirs, G*H, F]``, ``R`` ``[dirs, G*H, H]`` transposed to the kernels; ``B`` ``[dirs, 2*G*H]`` is
  ``Wb | Rb``: ``Wb`` the node's ``bias`` (added to the input's product), ``Rb`` its ``recurrent_bias`` (the
  state's). Gate blocks reordered to Keras's: LSTM ``i, o, f, c`` -> ``i, f, c, o``; GRU ``z, r, h`` is Keras's.
  GRU ``linear_before_reset=1`` (torch's) is ``reset_after=True``; ``0`` is ``reset_after=False``, whose candidate
  adds ``Rbh`` to ``(r * h) Rh``, as the IR's does.
- ``direction``: ``forward``; ``reverse`` (``go_backwards``, its sequence flipped back to input order, as ONNX
  aligns it); ``bidirectional``: both, concatenated on the hidden axis (ONNX's ``Y`` is ``[T, 2, B, H]``: the
  directions' ``H`` values of a step are next to each other, so the usual ``Transpose -> Reshape [T, B, 2H]`` is a
  view). ``layout`` 0 (``X`` ``[T, B, F]``, torch's) and 1 (``[B, T, F]``).
- Outputs: ``Y`` (every step) and ``Y_h`` (the last step of each direction: the first of the input for a reverse
  one); a node returns only its last step where ``Y`` is unused.
Refused, all listed at once, each with what to change: activations other than the defaults, ``clip``,
``input_forget``, ``sequence_lens``, an ``initial_h`` / ``initial_c`` that is not a constant zero, peepholes
(``P``), the use of ``Y_c``, an input whose batch axis is not where ``layout`` reads it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnfpga.frontends import Rejected, onnx_node_name
from nnfpga.frontends.onnx_views import (
    VIEW_OPS,
    View,
    bind,
    concat_views,
    convert_view_op,
    materialize,
    reshaped,
    view_of,
    views,
)
from nnfpga.ir.graph import Node
from nnfpga.ops import OPS

RECURRENT_OPS = {"LSTM": "lstm", "GRU": "gru", "RNN": "simple_rnn"}
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
DEFAULT_ACTIVATIONS = {"LSTM": ["sigmoid", "tanh", "tanh"], "GRU": ["sigmoid", "tanh"], "RNN": ["tanh"]}
SELECTING = ("Transpose", "Gather", "Slice")  # on plain (batch-first) tensors too


def handles(r: Any, op: str, dyn: list[str]) -> bool:
    """Whether this module converts the node: a recurrent op, a layout op on a view, or an op reading a view."""
    return op in RECURRENT_OPS or (bool(dyn) and (op in SELECTING or any(t in views(r) for t in dyn)))


def convert(r: Any, node: Any, label: str, op: str, ins: list[str], a: dict[str, Any], dyn: list[str]) -> bool:
    """Convert (or refuse) ``node``; False when it is left to the ONNX frontend (its view inputs made plain)."""
    tainted = any(t in r.tainted for t in dyn)
    try:
        if op in RECURRENT_OPS:
            _recurrent(r, node, label, op, ins, a, dyn)
        elif op in VIEW_OPS and len(dyn) == 1 and ins[0] == dyn[0]:
            convert_view_op(r, node, op, ins, a, dyn[0])
        elif op == "Concat" and len(dyn) == len([t for t in ins if t]) and any(views(r)[t].batch for t in dyn
                                                                                if t in views(r)):
            concat_views(r, node, a, dyn)
        else:
            for t in dyn:
                materialize(r, t)
            return False
    except Rejected as exc:
        r._reject(node, label, None if tainted else f"{op}: {exc}", dyn)
        for out in node.output:
            views(r).pop(out, None)
        return True
    if tainted:
        r.tainted.update(t for t in node.output if t)
    return True


def graph_output(r: Any, tensor: str) -> None:
    """Make the model's output plain, or refuse it."""
    if tensor in r.act and tensor in views(r):
        try:
            materialize(r, tensor)
        except Rejected:
            r.unsupported.append((tensor, f"the model output {tensor!r} has its batch axis at position "
                                          f"{views(r)[tensor].batch} (time first): transpose it to batch first"))


def _used(r: Any, tensor: str) -> bool:
    if not tensor:
        return False
    consumed = r.__dict__.get("consumed")
    if consumed is None:
        consumed = {t for n in r.gp.node for t in n.input} | {o.name for o in r.gp.output}
        r.consumed = consumed
    return tensor in consumed


def _recurrent(r: Any, node: Any, label: str, op: str, ins: list[str], a: dict[str, Any], dyn: list[str]) -> None:
    ins = ins + [""] * (8 - len(ins))
    outs = list(node.output) + [""] * (3 - len(node.output))
    problems = _problems(r, op, ins, outs, a)
    direction = a.get("direction", "forward")
    layout = int(a.get("layout", 0))
    if not ins[0] or ins[0] not in r.act:
        raise Rejected(f"its input X {ins[0]!r} is not computed from the model input")
    x = view_of(r, ins[0])
    if len(x.dims) != 2 or x.batch != (1 if layout == 0 else 0):
        reads = "(steps, batch, features)" if layout == 0 else "(batch, steps, features)"
        raise Rejected(f"layout={layout} reads X as {reads} but X {ins[0]!r} has {len(x.dims) + 1} axes, the "
                       f"batch axis at position {x.batch}: "
                       + ("transpose the batch-first input to time first before it (x.transpose(0, 1)) or export "
                          "with layout=1" if layout == 0 else "export with layout=0 or pass a batch-first input"))
    if direction not in ("forward", "reverse", "bidirectional"):
        raise Rejected(f"direction={direction!r}: expected forward, reverse or bidirectional")
    for why in problems:
        r.unsupported.append((label, f"{op}: {why}"))
    src = reshaped(r, ins[0], x.dims)
    dirs = 2 if direction == "bidirectional" else 1
    h = int(a["hidden_size"])
    steps, feats = x.dims
    g = GATES[op]
    w = np.asarray(r._const(ins[1], "W"), dtype=np.float64)
    rk = np.asarray(r._const(ins[2], "R"), dtype=np.float64)
    b = np.asarray(r._const(ins[3], "B"), dtype=np.float64) if ins[3] else np.zeros((dirs, 2 * g * h))
    for what, arr, want in (("W", w, (dirs, g * h, feats)), ("R", rk, (dirs, g * h, h)), ("B", b, (dirs, 2 * g * h))):
        if arr.shape != want:
            raise Rejected(f"{what} of shape {arr.shape}: expected {want} (directions, {g} gates x hidden_size, ...)")
    want_y, want_h = _used(r, outs[0]), _used(r, outs[1]) or _used(r, outs[2])
    base, source = onnx_node_name(node), f"{op} {node.name!r}" if node.name else op
    nodes = []
    for d in range(dirs):
        reverse = direction == "reverse" or d == 1
        name = r.g.unique_name(base + (("_reverse" if reverse else "_forward") if dirs == 2 else ""))
        nodes.append(_cell(r, op, name, src, source, a, w[d], rk[d], b[d], h, reverse, want_y))
    if want_y:
        y = nodes[0] if dirs == 1 else r.g.add(Node(r.g.unique_name(base), "concatenate", nodes, (steps, dirs * h),
                                                    {"axis": 1}, source=source)).name
        bind(r, outs[0], y, View((steps, dirs, h), 2 if layout == 0 else 0))
    if want_h:
        lasts = [_last(r, n, steps, h, source) if want_y else n for n in nodes]
        y_h = lasts[0] if dirs == 1 else r.g.add(Node(r.g.unique_name(f"{base}_h"), "concatenate", lasts,
                                                      (dirs * h,), {"axis": 0}, source=source)).name
        for out in outs[1:]:  # Y_c (refused) as Y_h, so that what reads it is checked too
            if _used(r, out):
                bind(r, out, y_h, View((dirs, h), 1 if layout == 0 else 0))
    if problems:
        r.tainted.update(t for t in outs if t)


def _problems(r: Any, op: str, ins: list[str], outs: list[str], a: dict[str, Any]) -> list[str]:
    dirs = 2 if a.get("direction", "forward") == "bidirectional" else 1
    out = []
    acts = a.get("activations")
    acts = None if acts is None else [x.decode() if isinstance(x, bytes) else str(x) for x in acts]
    if acts is not None and [x.lower() for x in acts] != DEFAULT_ACTIVATIONS[op] * dirs:
        out.append(f"activations={acts}: nnfpga's cell uses ONNX's defaults "
                   f"{[x.capitalize() for x in DEFAULT_ACTIVATIONS[op]]}; export the model with those")
    if a.get("clip") is not None:
        out.append(f"clip={a['clip']} (the cell's gate inputs clipped): remove the clip")
    if a.get("input_forget", 0):
        out.append("input_forget=1 (coupled input and forget gates): use input_forget=0")
    if ins[4]:
        out.append("a sequence_lens input (sequences of several lengths): nnfpga runs every step of every "
                   "sequence; drop sequence_lens (pad the sequences instead)")
    for i, what in ((5, "initial_h"), (6, "initial_c")):
        if ins[i] and (i == 5 or op == "LSTM"):
            value = r.consts.get(ins[i])
            if ins[i] in r.dead:
                continue
            if value is None or np.any(value):
                out.append(f"an {what} input that is not a constant zero: nnfpga starts every sequence from a zero "
                           f"state; drop {what} (zeros are the default)")
    if op == "LSTM" and ins[7]:
        out.append("peepholes (input P): export the LSTM without peepholes")
    if op == "LSTM" and _used(r, outs[2]):
        out.append("its final cell state Y_c is used: nnfpga's LSTM outputs Y (and Y_h); use those")
    return out


def _cell(r: Any, op: str, name: str, src: str, source: str, a: dict[str, Any], w: np.ndarray, rk: np.ndarray,
          b: np.ndarray, h: int, reverse: bool, sequences: bool) -> str:
    g = GATES[op]
    wb, rb = b[:g * h], b[g * h:]
    if op == "LSTM":  # ONNX i, o, f, c -> Keras i, f, c, o
        order = np.concatenate([np.arange(0, h), np.arange(2 * h, 4 * h), np.arange(h, 2 * h)])
        w, rk, wb, rb = w[order], rk[order], wb[order], rb[order]
    attrs: dict[str, Any] = {"units": h, "return_sequences": sequences, "go_backwards": reverse,
                             "flip_output": reverse and sequences, "activation": "tanh"}
    if op != "RNN":
        attrs["recurrent_activation"] = "sigmoid"
    if op == "GRU":
        attrs["reset_after"] = bool(a.get("linear_before_reset", 0))
    node = Node(name, RECURRENT_OPS[op], [src], (), attrs,
                {"kernel": w.T.copy(), "recurrent_kernel": rk.T.copy(), "bias": wb.copy(), "recurrent_bias": rb.copy()},
                source=source)
    node.shape = tuple(OPS[node.op].infer_shape(node, [tuple(r.g[src].shape)]))
    return r.g.add(node).name


def _last(r: Any, name: str, steps: int, h: int, source: str) -> str:
    """The last processed step of a sequence-returning node (the first of the input for a reverse one)."""
    t = 0 if r.g[name].attrs["go_backwards"] else steps - 1
    crop = r.g.add(Node(r.g.unique_name(f"{name}_last"), "crop", [name], (1, h), {"crops": [[t, steps - 1 - t]]},
                        source=source)).name
    return r.g.add(Node(r.g.unique_name(f"{name}_h"), "reshape", [crop], (h,), source=source)).name
