"""A convolution and the nodes after it that alone read it, in one kernel pass (the interpreter's fusion).

After a convolution (or a Dense the interpreter runs as a 1x1 one) the compiled kernel's epilogue
(:mod:`nnfpga.ops.conv_jit`) casts each sum to the layer's result type while the sums are in cache; it can also
apply, in this order and each where it is the previous node's only reader:

* a batch-norm (``scale_shift``, per-channel constants): ``q * scale + shift`` cast to its result type, the float
  steps of :func:`nnfpga.ops.cast_jit._affine_cast_float` term for term, taken only where
  :func:`nnfpga.ops.cast_jit.affine_float_args` proves each an exact integer below ``2**52`` from the types (then
  they are ScaleShift's integers, whichever of its paths runs node by node);
* a ReLU (no ``max_value``) of its input's type: ``max(y, 0)``, a cast that changes nothing;
* a max pooling whose window is its stride, unpadded, its types holding the values on the same grid
  (:meth:`nnfpga.ops.conv.Conv.pool_window`).

Each node's overflow count is recorded as running it alone records it. Where a sum leaves the accumulator's range
(the kernel's cast of the result then starts from a wrapped or saturated accumulator), the kernel's output is the
sums: the casts and every fused node run apart, node by node, so the bits and counts are the same either way
(tests/ops/test_conv_pool_fused.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnfpga.fixed import Overflow
from nnfpga.ir.graph import Graph, Node
from nnfpga.ops import OPS, cast_jit, conv_jit
from nnfpga.ops.base import Plan, QArray, RunStats, cast
from nnfpga.ops.conv import ConvPlan


@dataclass(frozen=True)
class Fused:
    """The names of the nodes fused after a convolution (None: none of that kind)."""

    scale: str | None = None
    relu: str | None = None
    pool: str | None = None

    def names(self) -> list[str]:
        """The fused nodes in graph order; the last one's value is the pass's output."""
        return [n for n in (self.scale, self.relu, self.pool) if n]


def scale_args(node: Node, bn: Node, plan: Plan) -> tuple[np.ndarray, np.ndarray] | None:
    """The epilogue's constants for the batch-norm ``bn`` of ``node``'s result (its plan: ScaleShift's mantissas),
    or None where its float steps are not proven exact (:func:`nnfpga.ops.cast_jit.affine_float_args`)."""
    sm, bm = getattr(plan, "sm", None), getattr(plan, "bm", None)
    if bn.op != "scale_shift" or sm is None or bm is None or np.shape(sm) != (node.shape[-1],):
        return None
    return cast_jit.affine_float_args(node.types["result"], sm, bn.types["weight"], bm, bn.types["bias"],
                                      bn.types["result"])


def fusions(graph: Graph, prep: dict[str, Plan], convs: dict[str, Node]) -> dict[str, Fused]:
    """Per convolution of ``convs`` (name: the convolution node the kernel runs), the nodes after it the kernel's
    epilogue can do (see the module docstring), where there is at least one; none of them a graph output."""
    readers: dict[str, list[str]] = {}
    for n in graph:
        for i in n.inputs:
            readers.setdefault(i, []).append(n.name)

    def only_reader(name: str) -> Node | None:
        r = readers.get(name, [])
        if len(r) != 1 or name in graph.outputs or list(graph[r[0]].inputs) != [name]:
            return None
        return graph[r[0]]

    out = {}
    for name, node in convs.items():
        scale = relu = pool = None
        t, nxt = node.types["result"], only_reader(name)
        if nxt is not None and nxt.op == "scale_shift" and scale_args(node, nxt, prep[nxt.name]) is not None:
            scale, t, nxt = nxt.name, nxt.types["result"], only_reader(nxt.name)
        if (nxt is not None and nxt.op == "relu" and nxt.attrs.get("max_value") is None
                and nxt.types.get("result") == t):
            relu, nxt = nxt.name, only_reader(nxt.name)
        if nxt is not None and OPS["conv"].pool_window(node, nxt, t) is not None:
            pool = nxt.name
        if scale or relu or pool:
            out[name] = Fused(scale, relu, pool)
    return out


def run_fused(node: Node, x: QArray, prep: ConvPlan, stats: RunStats, fused: Fused, graph: Graph,
              plans: dict[str, Plan]) -> QArray | None:
    """The value of ``fused``'s last node after the convolution ``node`` (its plan ``prep``) on ``x``, each node's
    count recorded; None where the kernel's cast does not apply (the caller runs the nodes one by one)."""
    conv, d = OPS["conv"], prep.direct
    if d is None or not conv_jit.usable(0, 0):
        return None
    rc = conv._result_cast(node, d, stats)
    scale, relu = (graph[fused.scale] if fused.scale else None), fused.relu
    pool = graph[fused.pool] if fused.pool else None
    sb = None if scale is None else d.get(("scale", scale.name), lambda: scale_args(node, scale, plans[scale.name]))
    t = node.types["result"] if scale is None else scale.types["result"]
    window = None if pool is None else d.get(("pool", pool.name), lambda: conv.pool_window(node, pool, t))
    if rc is None or (pool is not None and window is None) or (scale is not None and sb is None):
        return None
    rc[8] = 1.0 if relu else 0.0
    if sb is not None:
        rc[9], rc[10:17] = 1.0, sb[1]
    out = conv._run_direct(node, x, d, node.types["accum"], stats, rc, window, None if sb is None else sb[0])
    if not isinstance(out, tuple):  # a sum left the accumulator's range: the casts apart, then each node's op
        y = cast(node, out, "result", stats)
        for name in fused.names():
            y = OPS[graph[name].op].run_fixed(graph[name], [y], plans[name], stats)
        return y
    stats.record(node.name, "result", out[1])
    n = int(out[1].total)
    if scale is not None:
        stats.record(scale.name, "result", out[2])
    if relu:  # the ReLU's cast: the same type
        stats.record(relu, "result", Overflow(0, n))
    if pool is None:
        return QArray(out[0], t)
    y = out[0].reshape(out[0].shape[0], *pool.shape)
    stats.record(pool.name, "accum", Overflow(0, int(y.size)))
    stats.record(pool.name, "result", Overflow(0, int(y.size)))
    return QArray(y, pool.types["result"])

