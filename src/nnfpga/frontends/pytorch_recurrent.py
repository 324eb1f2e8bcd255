"""PyTorch's ``nn.LSTM``, ``nn.GRU`` and ``nn.RNN`` -> ``lstm``, ``gru``, ``simple_rnn`` nodes, and the tensor
plumbing around them (:mod:`nnfpga.ops.recurrent`).

- Each layer of ``num_layers`` and each direction is one node reading the previous layer's sequence (every node
  returns its sequence); a reverse direction processes the steps last to first and its sequence is flipped back
  (``go_backwards`` and ``flip_output``), the two directions concatenated on the feature axis, as torch does.
- Weights: ``weight_ih`` / ``weight_hh`` transposed to the kernels; ``bias_ih`` is the node's ``bias`` (added to the
  input's product) and ``bias_hh`` its ``recurrent_bias`` (added to the state's: the GRU's ``n`` gate multiplies it
  by ``r``, torch's and Keras's ``reset_after`` convention). Gate blocks reordered to Keras's: LSTM ``i, f, g, o`` is
  already ``i, f, c, o``; GRU ``r, z, n`` becomes ``z, r, h``.
- The module returns a tuple: ``y, _ = self.lstm(x)`` (``operator.getitem`` 0) is the sequence; using the final
  state (item 1: ``h_n`` or ``(h_n, c_n)``) is refused with what to write instead. ``y[:, t, :]`` / ``y[:, t]``
  (batch first) and ``y[t]`` (time first) select one step (a ``crop`` and a ``reshape``).
- ``batch_first=False``: the module reads (steps, batch, features), so the model transposes its batch-first input
  (``x.transpose(0, 1)``, ``x.permute(1, 0, 2)``); such a transpose is a view here (the IR's tensors are per
  sample), and a time-first value may only go to a recurrent module, a step selection or a transpose back.
Refused, each named with what to change: an initial state (``self.lstm(x, h0)``), ``proj_size``,
``nonlinearity="relu"``, a time-first tensor anywhere else, any other use of the returned tuple.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from nnfpga.ir.graph import Node
from nnfpga.ops import OPS

RECURRENT_MODULES = {"LSTM": "lstm", "GRU": "gru", "RNN": "simple_rnn"}
TIME_FIRST, TUPLE, SEQUENCE = "time_first", "tuple", "sequence"  # what a traced value is, when it matters


def recurrent_call(b: Any, n: Any, inputs: list[Any]) -> bool:
    """Map fx node ``n`` if it is recurrent plumbing (a recurrent module, an index into its tuple or sequence, a
    batch/time transpose) or reads a value that is no tensor; ``b`` is the PyTorch frontend's builder. Returns
    whether ``n`` was handled (mapped or refused)."""
    marks: dict[str, str] = b.__dict__.setdefault("recurrent_marks", {})
    src_fx = inputs[0]
    label = n.target if n.op == "call_module" else n.name
    module = b.modules.get(n.target) if n.op == "call_module" else None
    kind = type(module).__name__ if module is not None else str(getattr(n.target, "__name__", n.target))
    src_mark = marks.get(src_fx.name)

    def reject(why: str) -> bool:
        b.unsupported.append((label, why))
        b.out[n.name] = b.out[src_fx.name]
        return True

    if module is not None and kind in RECURRENT_MODULES and type(module).__module__.startswith("torch.nn"):
        return _module(b, n, module, kind, inputs, marks, reject)
    if n.op == "call_function" and n.target is operator.getitem and src_mark is not None:
        return _getitem(b, n, src_fx, src_mark, marks, reject)
    if _swaps_batch_and_time(b, n, src_fx):
        b.out[n.name] = b.out[src_fx.name]
        marks[n.name] = SEQUENCE if src_mark == TIME_FIRST else TIME_FIRST
        return True
    if src_mark == TUPLE or tensor_of(b.values.get(src_fx.name)) is None:
        return reject(f"{kind} on the tuple a recurrent module returns: index it first (y, _ = self.lstm(x))")
    if any(marks.get(i.name) == TIME_FIRST for i in inputs):
        return reject(f"{kind} on a time-first tensor (steps, batch, ...): transpose it back to batch first "
                      "(y.transpose(0, 1)) or select a step (y[-1]) first")
    return False


def check_output(b: Any, name: str) -> None:
    """Refuse a model output that is time first (the IR's outputs are batch first)."""
    if b.__dict__.get("recurrent_marks", {}).get(name) == TIME_FIRST:
        b.unsupported.append((name, "a time-first model output (steps, batch, ...): transpose it to batch first"))


def tensor_of(value: Any) -> Any:
    from nnfpga.frontends import tensor_of as plain

    return plain(value)


def _swaps_batch_and_time(b: Any, n: Any, src_fx: Any) -> bool:
    """``x.transpose(0, 1)``, ``torch.transpose(x, 0, 1)`` or ``x.permute(1, 0, 2)`` on a 3-d tensor."""
    torch = b.torch
    value = tensor_of(b.values.get(src_fx.name))
    if value is None or value.dim() != 3:
        return False
    args = list(n.args[1:])
    if (n.op == "call_method" and n.target in ("transpose", "swapaxes")) or \
            (n.op == "call_function" and n.target in (torch.transpose, torch.swapaxes)):
        return sorted(int(a) % 3 for a in args[:2] if isinstance(a, int)) == [0, 1]
    if (n.op == "call_method" and n.target == "permute") or (n.op == "call_function" and n.target is torch.permute):
        dims = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
        return [int(d) % 3 for d in dims] == [1, 0, 2]
    return False


def _getitem(b: Any, n: Any, src_fx: Any, mark: str, marks: dict[str, str], reject: Any) -> bool:
    index = n.args[1]
    if mark == TUPLE:
        if not _used(n):
            return True  # the unused half of ``y, _ = ...`` or ``y, (h, c) = ...``
        if index != 0:
            return reject(f"the final state (item {index!r} of what {src_fx.name!r} returns: h_n, or (h_n, c_n)): "
                          "nnfpga's recurrent layers output the sequence y; use its last step, y[:, -1, :]")
        b.out[n.name] = b.out[src_fx.name]
        marks[n.name] = marks.get(f"{src_fx.name}.y", SEQUENCE)
        return True
    idx = index if isinstance(index, tuple) else (index,)
    full = slice(None)
    if mark == TIME_FIRST:
        ok = isinstance(idx[0], int) and all(i == full for i in idx[1:])
    else:
        ok = len(idx) >= 2 and idx[0] == full and isinstance(idx[1], int) and all(i == full for i in idx[2:])
        idx = idx[1:]
    if not ok:
        return reject(f"indexing {src_fx.name!r} with {index!r}: nnfpga selects one step of a sequence, "
                      "y[:, t, :] (batch first) or y[t] (time first)")
    src = b.out[src_fx.name]
    steps, feats = b.g[src].shape
    t = idx[0] % steps
    name, source = b.g.unique_name(_ident(n.name)), f"operator.getitem {n.name!r}"
    crop = Node(name, "crop", [src], (1, feats), {"crops": [[t, steps - 1 - t]]}, source=source)
    b.g.add(crop)
    b.out[n.name] = b.g.add(Node(b.g.unique_name(f"{name}_step"), "reshape", [crop.name], (feats,),
                                 source=source)).name
    return True


def _used(n: Any) -> bool:
    """Whether anything but unused indexing reads fx node ``n``."""
    return any(u.op != "call_function" or u.target is not operator.getitem or _used(u) for u in n.users)


def _module(b: Any, n: Any, m: Any, kind: str, inputs: list[Any], marks: dict[str, str], reject: Any) -> bool:
    src_fx = inputs[0]
    problems = []
    if len(n.args) > 1 or any(v is not None for v in n.kwargs.values()):
        problems.append(f"nn.{kind} called with an initial state: nnfpga starts every sequence from a zero state; "
                        f"call it with the input only (zeros are torch's default)")
    if getattr(m, "proj_size", 0):
        problems.append(f"nn.LSTM with proj_size={m.proj_size}: set proj_size=0")
    if kind == "RNN" and m.nonlinearity != "tanh":
        problems.append(f"nn.RNN with nonlinearity={m.nonlinearity!r}: supported 'tanh'")
    time_first = marks.get(src_fx.name) == TIME_FIRST
    if time_first == bool(m.batch_first):
        problems.append(f"nn.{kind}(batch_first={m.batch_first}) reading a "
                        f"{'time' if time_first else 'batch'}-first tensor: nnfpga's inputs are batch first; "
                        + ("use batch_first=True on it" if not time_first else "set batch_first=False") +
                        " or transpose the input (x.transpose(0, 1)) before it")
    if problems:
        for why in problems:
            b.unsupported.append((n.target, why))
        b.out[n.name] = b.out[src_fx.name]
        marks[n.name] = TUPLE
        return True
    src = b.out[src_fx.name]
    for layer in range(m.num_layers):
        outs = [_direction(b, n, m, kind, layer, reverse, src) for reverse in range(1 + bool(m.bidirectional))]
        src = outs[0]
        if len(outs) == 2:
            steps, u = b.g[outs[0]].shape
            name = b.g.unique_name(f"{_ident(n.target)}_l{layer}")
            src = b.g.add(Node(name, "concatenate", outs, (steps, 2 * u), {"axis": 1},
                               source=f"{kind} {n.target!r}")).name
    b.out[n.name] = src
    marks[n.name] = TUPLE
    if not m.batch_first:
        marks[f"{n.name}.y"] = TIME_FIRST
    return True


def _direction(b: Any, n: Any, m: Any, kind: str, layer: int, reverse: int, src: str) -> str:
    sfx = f"_l{layer}" + ("_reverse" if reverse else "")
    w = {k: getattr(m, f"{k}{sfx}").detach().double().numpy() for k in ("weight_ih", "weight_hh")}
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[kind]
    u = m.hidden_size
    for k in ("bias_ih", "bias_hh"):
        w[k] = getattr(m, f"{k}{sfx}").detach().double().numpy() if m.bias else np.zeros(gates * u)
    if kind == "GRU":  # torch r, z, n -> z, r, h
        order = np.concatenate([np.arange(u, 2 * u), np.arange(u), np.arange(2 * u, 3 * u)])
        w = {k: v[order] for k, v in w.items()}
    attrs: dict[str, Any] = {"units": u, "return_sequences": True, "go_backwards": bool(reverse),
                             "flip_output": bool(reverse), "activation": "tanh"}
    if kind != "RNN":
        attrs["recurrent_activation"] = "sigmoid"
    if kind == "GRU":
        attrs["reset_after"] = True
    multi = m.num_layers > 1 or m.bidirectional
    name = b.g.unique_name(_ident(n.target) + (sfx if multi else ""))
    node = Node(name, RECURRENT_MODULES[kind], [src], (), attrs,
                {"kernel": w["weight_ih"].T.copy(), "recurrent_kernel": w["weight_hh"].T.copy(), "bias": w["bias_ih"],
                 "recurrent_bias": w["bias_hh"]}, source=f"{kind} {n.target!r}")
    node.shape = tuple(OPS[node.op].infer_shape(node, [tuple(b.g[src].shape)]))
    return b.g.add(node).name


def _ident(name: str) -> str:
    """The PyTorch frontend's node names (``frontends.pytorch.identifier``'s rule)."""
    from nnfpga.frontends import identifier

    return identifier(name, "layer", "layer_")
