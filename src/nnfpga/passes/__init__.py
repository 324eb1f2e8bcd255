"""Graph passes. Each pass takes a graph, rewrites it in place and returns whether it changed anything;
:func:`run_pipeline` owns iteration. ``PIPELINE`` is the whole optimization pipeline, in order;
``nnfpga.passes.dump_pipeline()`` prints it. Type inference runs after the config is applied."""

from __future__ import annotations

from collections.abc import Callable

from nnfpga.ir.graph import Graph
from nnfpga.passes.fold import fold_scale_shift
from nnfpga.passes.infer import infer_types
from nnfpga.passes.simplify import remove_dropout, remove_linear, remove_noop_reshape

Pass = Callable[[Graph], bool]

PIPELINE: list[tuple[str, Pass]] = [
    ("remove_dropout", remove_dropout),
    ("fuse_linear_activations", remove_linear),
    ("remove_noop_reshape", remove_noop_reshape),
    ("fold_batchnorm", fold_scale_shift),
]

MAX_ROUNDS = 20


def run_pipeline(graph: Graph, pipeline: list[tuple[str, Pass]] | None = None) -> list[str]:
    """Run each pass until none changes the graph; returns the names of the passes that changed it, in order."""
    applied: list[str] = []
    for _ in range(MAX_ROUNDS):
        changed = False
        for name, p in pipeline or PIPELINE:
            if p(graph):
                applied.append(name)
                changed = True
        if not changed:
            return applied
    raise RuntimeError(f"passes did not converge after {MAX_ROUNDS} rounds: {applied}")


def dump_pipeline() -> str:
    return "\n".join(f"{i + 1}. {name}: {(p.__doc__ or '').strip().splitlines()[0]}"
                     for i, (name, p) in enumerate(PIPELINE))


__all__ = ["PIPELINE", "dump_pipeline", "infer_types", "run_pipeline"]
