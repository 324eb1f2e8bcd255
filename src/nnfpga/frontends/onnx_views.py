"""Tensors whose batch axis is not first, for the ONNX frontend (:mod:`nnfpga.frontends.onnx`), and the layout ops
on them: what the recurrent ops (:mod:`nnfpga.frontends.onnx_recurrent`) read and write.

ONNX's LSTM, GRU and RNN read ``X`` as (steps, batch, features) (``layout=0``, what torch.onnx.export writes) and
output ``Y`` as (steps, directions, batch, hidden) and ``Y_h`` as (directions, batch, hidden). The IR's tensors are
per sample, so such a tensor is a :class:`View`: an IR node holding the per-sample values row-major over the
non-batch axes ``dims`` (in order), and ``batch``, the batch axis's position among the ONNX tensor's axes. A plain
tensor is a view with ``batch=0``. Moving the batch axis (``Transpose``), ``Squeeze``/``Unsqueeze`` of other axes,
a ``Reshape`` that keeps the axes before the batch axis together, ``Shape`` and ``Identity`` only change the view;
``Gather`` and ``Slice`` of one step (or a range) on another axis are ``crop`` nodes; a ``Transpose`` of the
non-batch axes of a batch-first tensor is a ``transpose`` node; a ``Concat`` of such tensors on another axis (torch's
``h_n``: the layers' ``Y_h``) a ``concatenate``. Any other op on a tensor whose batch axis is not
first is refused, naming the op and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nnfpga.frontends import Rejected, onnx_node_name
from nnfpga.ir.graph import Node

VIEW_OPS = ("Transpose", "Gather", "Slice", "Squeeze", "Unsqueeze", "Reshape", "Shape", "Identity", "Dropout")
BATCH = 1_000_003  # the batch dimension's stand-in value in constant-folded shape arithmetic (onnx.py's too)
BATCH_AXIS = "batch"


@dataclass(frozen=True)
class View:
    """The ONNX tensor: the per-sample values row-major over ``dims`` with the batch axis at position ``batch``."""

    dims: tuple[int, ...]
    batch: int

    def full(self, batch_size: int) -> list[int]:
        out = list(self.dims)
        out.insert(self.batch, batch_size)
        return out


def views(r: Any) -> dict[str, View]:
    """The reader's views (tensor -> :class:`View`; a tensor not in it is plain, its IR node's shape its dims)."""
    return r.__dict__.setdefault("views", {})


def view_of(r: Any, tensor: str) -> View:
    return views(r).get(tensor) or View(tuple(r.g[r.act[tensor]].shape), 0)


def bind(r: Any, tensor: str, ir_name: str, view: View) -> None:
    """Bind ONNX ``tensor`` to IR node ``ir_name`` seen as ``view``."""
    r.act[tensor] = ir_name
    if view.batch == 0 and view.dims == tuple(r.g[ir_name].shape):
        views(r).pop(tensor, None)
    else:
        views(r)[tensor] = view


def materialize(r: Any, tensor: str) -> str:
    """The IR node of ``tensor``, reshaped to its dims if needed (its batch axis must be first)."""
    v = view_of(r, tensor)
    if v.batch != 0:
        raise Rejected(f"its input {tensor!r} has the batch axis at position {v.batch} (a time-first tensor, as a "
                       "recurrent op's Y): transpose the batch axis to the front, or select a step (Gather) first")
    r.act[tensor] = reshaped(r, tensor, v.dims)
    views(r).pop(tensor, None)
    return r.act[tensor]


def reshaped(r: Any, tensor: str, dims: tuple[int, ...]) -> str:
    src = r.act[tensor]
    if tuple(r.g[src].shape) == dims:
        return src
    name = r.g.unique_name(f"{src}_as_{'x'.join(map(str, dims))}")
    return r.g.add(Node(name, "reshape", [src], dims, source=f"view of {tensor!r}")).name


def convert_view_op(r: Any, node: Any, op: str, ins: list[str], a: dict[str, Any], src: str) -> None:
    """One of :data:`VIEW_OPS` on activation ``src`` (batch first or not); raises :class:`Rejected`."""

    v = view_of(r, src)
    nd = len(v.dims) + 1
    out = node.output[0]
    if op in ("Identity", "Dropout"):
        return bind(r, out, r.act[src], v)
    if op == "Shape":
        full = np.array(v.full(BATCH), dtype=np.int64)
        r.consts[out] = full[a.get("start", 0):a.get("end", len(full))]
        return None
    if op == "Transpose":
        return _transpose(r, node, src, v, [int(p) % nd for p in a.get("perm", range(nd)[::-1])])
    if op in ("Squeeze", "Unsqueeze"):
        given = a.get("axes") if "axes" in a else (r._const(ins[1], "the axes").tolist()
                                                    if len(ins) > 1 and ins[1] else None)
        return _squeeze(r, out, src, v, op, given)
    if op == "Reshape":
        target = [int(d) for d in np.asarray(r._const(ins[1], "the target shape")).ravel()]
        return _reshape(r, out, src, v, target, bool(a.get("allowzero", 0)))
    if op == "Gather":
        idx = np.asarray(r._const(ins[1], "the indices"))
        axis = int(a.get("axis", 0)) % nd
        if idx.size != 1 or idx.ndim > 1:
            raise Rejected(f"indices of shape {idx.shape}: nnfpga gathers one index (a step of a sequence)")
        i = int(idx.ravel()[0])
        return _select(r, node, out, src, v, axis, i, keep=idx.ndim == 1)
    if op == "Slice":
        return _slice(r, node, out, src, v, ins, a)
    raise Rejected(f"no conversion for {op} on activations")


def concat_views(r: Any, node: Any, a: dict[str, Any], dyn: list[str]) -> None:
    """``Concat`` of tensors with the batch axis at the same position, on another axis (torch's ``h_n``: the layers'
    ``Y_h`` on the directions axis)."""
    vs = [view_of(r, t) for t in dyn]
    first = vs[0]
    nd = len(first.dims) + 1
    axis = int(a.get("axis", 0)) % nd
    if any(v.batch != first.batch or len(v.dims) != len(first.dims) for v in vs):
        raise Rejected("inputs with the batch axis at different positions: transpose them alike first")
    if axis == first.batch:
        raise Rejected(f"Concat over axis {axis}, the batch axis")
    k = axis - (axis > first.batch)
    if any(v.dims[:k] != first.dims[:k] or v.dims[k + 1:] != first.dims[k + 1:] for v in vs):
        raise Rejected(f"inputs of shapes {[v.full(-1) for v in vs]} differ on axes other than {axis}")
    before, after = int(np.prod(first.dims[:k])), int(np.prod(first.dims[k + 1:]))
    parts = [reshaped(r, t, (before, v.dims[k], after) if before > 1 else (v.dims[k], after))
             for t, v in zip(dyn, vs, strict=True)]
    n = sum(v.dims[k] for v in vs)
    shape = (before, n, after) if before > 1 else (n, after)
    name = r.g.unique_name(onnx_node_name(node))
    out = r.g.add(Node(name, "concatenate", parts, shape, {"axis": 1 if before > 1 else 0}, source=_source(node)))
    bind(r, node.output[0], out.name, View((*first.dims[:k], n, *first.dims[k + 1:]), first.batch))


def _transpose(r: Any, node: Any, src: str, v: View, perm: list[int]) -> None:
    if sorted(perm) != list(range(len(v.dims) + 1)):
        raise Rejected(f"perm {perm} is not a permutation of the {len(v.dims) + 1} axes")
    labels: list[Any] = list(range(len(v.dims)))
    labels.insert(v.batch, BATCH_AXIS)
    new = [labels[p] for p in perm]
    batch = new.index(BATCH_AXIS)
    order = [x for x in new if x != BATCH_AXIS]
    dims = tuple(v.dims[i] for i in order)
    if order == sorted(order):
        return bind(r, node.output[0], r.act[src], View(dims, batch))
    if batch != 0:
        raise Rejected(f"perm {perm} reorders the axes other than the batch axis of a tensor whose batch axis is not "
                       "first: nnfpga moves the batch axis or reorders the others of a batch-first tensor")
    x = reshaped(r, src, v.dims)
    name = r.g.unique_name(onnx_node_name(node))
    t = r.g.add(Node(name, "transpose", [x], dims, {"perm": order}, source=_source(node))).name
    return bind(r, node.output[0], t, View(dims, 0))


def _squeeze(r: Any, out: str, src: str, v: View, op: str, given: list[int] | None) -> None:
    full: list[Any] = list(v.dims)
    full.insert(v.batch, BATCH_AXIS)
    if op == "Squeeze":
        axes = {int(x) % len(full) for x in given} if given is not None else \
            {i for i, d in enumerate(full) if d == 1}
        if any(full[i] != 1 for i in axes):
            raise Rejected(f"Squeeze of axes {given}: expected axes of size 1 other than the batch axis")
        full = [d for i, d in enumerate(full) if i not in axes]
    else:
        if given is None:
            raise Rejected("Unsqueeze without axes")
        ndim = len(full) + len(given)
        rest = iter(full)
        axes = {int(x) % ndim for x in given}
        full = [1 if i in axes else next(rest) for i in range(ndim)]
    batch = full.index(BATCH_AXIS)
    bind(r, out, r.act[src], View(tuple(d for d in full if d != BATCH_AXIS), batch))


def _reshape(r: Any, out: str, src: str, v: View, target: list[int], allowzero: bool) -> None:

    full = v.full(BATCH)
    t = [full[i] if d == 0 and not allowzero else d for i, d in enumerate(target)]
    if t.count(-1) > 1:
        raise Rejected(f"target shape {target} with several -1")
    if -1 in t:
        known = int(np.prod([d for d in t if d != -1]))
        t = [int(np.prod(full)) // max(known, 1) if d == -1 else d for d in t]
    before = int(np.prod(full[:v.batch]))
    batch = next((i for i, d in enumerate(t) if d == BATCH and int(np.prod(t[:i])) == before), None)
    if batch is None and r.static_batch is not None:
        batch = next((i for i, d in enumerate(t) if d == r.static_batch and int(np.prod(t[:i])) == before), None)
    if batch is None or int(np.prod(t)) != int(np.prod(full)):
        raise Rejected(f"cannot reshape a ({', '.join(map(str, full))}) tensor (batch axis {v.batch}, batch stands "
                       f"for {BATCH}) to {target}: expected the batch axis kept, the axes before it kept together")
    bind(r, out, r.act[src], View(tuple(d for i, d in enumerate(t) if i != batch), batch))


def _slice(r: Any, node: Any, out: str, src: str, v: View, ins: list[str], a: dict[str, Any]) -> None:
    if "starts" in a:  # opset < 10
        starts, ends, axes, steps = a["starts"], a["ends"], a.get("axes"), None
    else:
        starts, ends = (np.asarray(r._const(t, "starts and ends")).ravel() for t in ins[1:3])
        axes = np.asarray(r._const(ins[3], "the axes")).ravel() if len(ins) > 3 and ins[3] else None
        steps = np.asarray(r._const(ins[4], "the steps")).ravel() if len(ins) > 4 and ins[4] else None

    nd = len(v.dims) + 1
    axes = list(range(len(starts))) if axes is None else [int(x) % nd for x in axes]
    if steps is not None and any(int(s) != 1 for s in steps):
        raise Rejected(f"steps {list(map(int, steps))}: nnfpga slices with step 1")
    current, cur_src = v, src
    for axis, s, e in sorted(zip(axes, (int(x) for x in starts), (int(x) for x in ends), strict=True), reverse=True):
        if axis == current.batch:
            if s != 0 or e < min(BATCH, r.static_batch or BATCH):
                raise Rejected(f"Slice [{s}:{e}] of the batch axis: expected the whole batch")
            continue
        k = axis - (axis > current.batch)
        n = current.dims[k]
        lo, hi = (max(0, min(n, x + n if x < 0 else x)) for x in (s, e))
        if hi <= lo:
            raise Rejected(f"Slice [{s}:{e}] of an axis of {n} leaves nothing")
        tmp = f"{out}/slice{axis}"
        _crop(r, node, tmp, cur_src, current, k, lo, hi, keep=True)
        current, cur_src = view_of(r, tmp), tmp
    bind(r, out, r.act[cur_src], current)


def _select(r: Any, node: Any, out: str, src: str, v: View, axis: int, lo: int, keep: bool) -> None:
    if axis == v.batch:
        raise Rejected("Gather over the batch axis: nnfpga selects along the other axes (a step: y[:, t])")
    k = axis - (axis > v.batch)
    n = v.dims[k]
    lo = lo + n if lo < 0 else lo
    if not 0 <= lo < n:
        raise Rejected(f"index {lo} of an axis of {n}")
    _crop(r, node, out, src, v, k, lo, lo + 1, keep)


def _crop(r: Any, node: Any, out: str, src: str, v: View, k: int, lo: int, hi: int, keep: bool) -> None:
    """Bind ``out`` to ``src``'s non-batch axis ``k`` cropped to ``[lo, hi)`` (dropped if not ``keep``)."""
    n = v.dims[k]
    dims = (*v.dims[:k], hi - lo, *v.dims[k + 1:]) if keep else (*v.dims[:k], *v.dims[k + 1:])
    batch = v.batch - (not keep and k < v.batch)
    if (lo, hi) == (0, n):
        return bind(r, out, r.act[src], View(dims, batch))
    before, after = int(np.prod(v.dims[:k])), int(np.prod(v.dims[k + 1:]))
    shape3 = (before, n, after) if before > 1 else (n, after)
    crops = [[0, 0], [lo, n - hi]] if before > 1 else [[lo, n - hi]]
    x = reshaped(r, src, shape3)
    name = r.g.unique_name(onnx_node_name(node))
    cropped = (*shape3[:-2], hi - lo, after)
    c = r.g.add(Node(name, "crop", [x], cropped, {"crops": crops}, source=_source(node))).name
    return bind(r, out, c, View(dims, batch))


def _source(node: Any) -> str:
    return f"{node.op_type} {node.name!r}" if node.name else node.op_type
