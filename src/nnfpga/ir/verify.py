"""The graph verifier: what every pass, frontend and backend may rely on, checked in one place.

- names: every input a node reads is defined before it (topological order); the outputs exist; one input node;
- arity: each op's number of inputs (its record's ``min_inputs``/``max_inputs``);
- shapes: each node's per-sample shape is what its op's ``infer_shape`` gives for its inputs (which also checks
  constants against the one broadcast rule of :mod:`nnfpga.ir.layout`);
- types (``typed=True``): every type slot of the op holds a type.
Every problem is listed at once in one :class:`~nnfpga.errors.GraphError`.
"""

from __future__ import annotations

from nnfpga.errors import GraphError, NnfpgaError
from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Graph


def problems(graph: Graph, *, typed: bool = False) -> list[str]:
    """Every way ``graph`` breaks the IR's rules (empty: none)."""
    from nnfpga.ops import OPS

    out: list[str] = []
    seen: set[str] = set()
    if not graph.inputs:
        out.append("the graph has no input node")
    for node in graph:
        op = OPS.get(node.op)
        if op is None:
            out.append(f"{node.describe()}: unknown op {node.op!r}")
            seen.add(node.name)
            continue
        late = [i for i in node.inputs if i not in seen]
        seen.add(node.name)
        if late:
            out.append(f"{node.describe()} reads {late}, not defined before it")
            continue
        absent = [w for w in op.weights if w not in node.weights]
        if absent:
            out.append(f"{node.describe()}: no {' or '.join(absent)} constant")
            continue
        n, lo, hi = len(node.inputs), op.min_inputs, op.max_inputs
        if n < lo or (hi is not None and n > hi):
            out.append(f"{node.describe()} has {n} input(s); {op.name} takes "
                       + (str(lo) if hi == lo else f"at least {lo}" if hi is None else f"{lo} to {hi}"))
            continue
        try:
            shape = op.infer_shape(node, [tuple(graph[i].shape) for i in node.inputs])
            if tuple(shape) != tuple(node.shape):
                out.append(f"{node.describe()}: shape {tuple(node.shape)}, but its inputs give {tuple(shape)}")
        except NnfpgaError as exc:
            out.append(str(exc))
        if typed:
            missing = [s for s in op.slots if not isinstance(node.types.get(s), FixedType)]
            if missing:
                out.append(f"{node.describe()}: type slot(s) {missing} have no type")
    out += [f"output {o!r} is not a node" for o in graph.outputs if o not in graph]
    if not graph.outputs:
        out.append("the graph has no output")
    return out


def verify(graph: Graph, *, typed: bool = False, after: str = "") -> None:
    """Raise GraphError listing every problem of ``graph`` (``after``: what produced it, for the message)."""
    found = problems(graph, typed=typed)
    if found:
        where = f" after {after}" if after else ""
        raise GraphError(f"invalid graph {graph.name!r}{where}: " + "; ".join(found))
