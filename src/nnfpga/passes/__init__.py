"""Graph passes and the pass manager.

A pass takes a graph, rewrites it in place and returns whether it changed anything; :func:`run_pipeline` owns
iteration (every pass, in order, until none changes the graph) and verifies the graph after each change
(:func:`nnfpga.ir.verify.verify`), naming the pass that broke it. Two pipelines:

- ``UNTYPED`` (``PIPELINE``): right after a frontend, on the float graph (fusions of what the frontend marked,
  removals, folds, layout clean-up);
- ``TYPED``: after the config is applied (:func:`typed_pipeline`): batch-norm folded into the Dense before it
  unless the user pinned that Dense's result type (and the reshapes around it cleaned up), then type inference
  by each op's own rule.

``nnfpga passes`` (:func:`dump_pipeline`) prints both.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection

from nnfpga.errors import NnfpgaError, PassError
from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Graph
from nnfpga.ir.verify import verify
from nnfpga.passes.fold import fold_scale_shift
from nnfpga.passes.fuse import fuse_bias_into_dense, merge_quantizers
from nnfpga.passes.infer import infer_types
from nnfpga.passes.simplify import (
    cancel_transposes,
    merge_reshapes,
    remove_dead,
    remove_dropout,
    remove_linear,
    remove_noop_reshape,
    transposes_as_reshapes,
)

Pass = Callable[[Graph], bool]

PIPELINE: list[tuple[str, Pass]] = [
    ("fuse_bias_into_dense", fuse_bias_into_dense),  # these two first: they decide on the frontend's graph
    ("merge_quantizers", merge_quantizers),
    ("remove_dropout", remove_dropout),
    ("fuse_linear_activations", remove_linear),
    ("cancel_transposes", cancel_transposes),
    ("transposes_as_reshapes", transposes_as_reshapes),
    ("merge_reshapes", merge_reshapes),
    ("remove_noop_reshape", remove_noop_reshape),
    ("remove_dead", remove_dead),
]
UNTYPED = PIPELINE


def typed_pipeline(default: FixedType, keep_results: Collection[str] = ()) -> list[tuple[str, Pass]]:
    """The passes after the config is applied (``default``: the model-wide precision; ``keep_results``: the
    Dense layers whose result type LayerName pins, which keep their batch-norm)."""
    return [("fold_batchnorm", functools.partial(fold_scale_shift, keep=frozenset(keep_results))),
            ("merge_reshapes", merge_reshapes),  # the reshapes a fold leaves back to back (channels-first BN)
            ("remove_noop_reshape", remove_noop_reshape),
            ("remove_dead", remove_dead),
            ("infer_types", functools.partial(infer_types, default=default))]


MAX_ROUNDS = 20


def run_pipeline(graph: Graph, pipeline: list[tuple[str, Pass]] | None = None, *, typed: bool = False) -> list[str]:
    """Run each pass until none changes the graph, verifying the graph after every change; returns the names of
    the passes that changed it, in order. A pass that crashes or leaves an invalid graph raises PassError naming
    it; errors about the model itself (NnfpgaError) pass through."""
    applied: list[str] = []
    verify(graph, after="its frontend" if not typed else "the config")  # what the pipeline starts from
    for _ in range(MAX_ROUNDS):
        changed = False
        for name, p in pipeline or PIPELINE:
            try:
                did = p(graph)
            except NnfpgaError:
                raise
            except Exception as exc:
                raise PassError(f"pass {name!r} failed on graph {graph.name!r}: {type(exc).__name__}: {exc}") from exc
            if did:
                applied.append(name)
                changed = True
                try:  # types are complete only once inference ran: checked at the end
                    verify(graph, after=f"pass {name!r}")
                except NnfpgaError as exc:
                    raise PassError(str(exc)) from None
        if not changed:
            if typed:
                verify(graph, typed=True, after="the typed passes")
            return applied
    raise PassError(f"passes did not converge after {MAX_ROUNDS} rounds: {applied}")


def _doc(p: Pass) -> str:
    fn = p.func if isinstance(p, functools.partial) else p
    return (fn.__doc__ or "").strip().splitlines()[0]


def dump_pipeline() -> str:
    """Both pipelines, numbered, one line per pass with its docstring's first line."""
    lines = ["untyped (after a frontend):"]
    lines += [f"{i + 1}. {name}: {_doc(p)}" for i, (name, p) in enumerate(UNTYPED)]
    lines.append("typed (after the config is applied):")
    lines += [f"{i + 1}. {name}: {_doc(p)}" for i, (name, p) in enumerate(typed_pipeline(FixedType(16, 6)))]
    return "\n".join(lines)


__all__ = ["PIPELINE", "UNTYPED", "dump_pipeline", "infer_types", "run_pipeline", "typed_pipeline", "verify"]
