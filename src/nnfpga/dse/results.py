"""What a sweep's rows are for: the Pareto front (the points no other point beats on both accuracy and cost), its
plot, and the chosen points written as ready-to-use config files.

A point is on the front when no other converted point has an accuracy at least as high and a cost at most as high,
one of the two strictly. ``cost`` is a row column (``cost_estimate`` by default, ``lut`` etc. where the sweep
synthesized); ``score`` is ``accuracy`` (or ``agreement`` when the sweep had no labels).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from nnfpga.dse.space import Point
from nnfpga.errors import ConfigError
from nnfpga.project import write_file_atomic


def _usable(rows: Sequence[dict[str, Any]], score: str, cost: str) -> list[dict[str, Any]]:
    ok = [r for r in rows if not r.get("error") and r.get(score) is not None and r.get(cost) is not None]
    if rows and score not in rows[0]:
        raise ConfigError(f"the sweep's rows have no column {score!r}; columns: {', '.join(rows[0])}")
    if rows and cost not in rows[0]:
        raise ConfigError(f"the sweep's rows have no column {cost!r}; columns: {', '.join(rows[0])}")
    return ok


def pareto(rows: Sequence[dict[str, Any]], score: str = "accuracy", cost: str = "cost_estimate"
           ) -> list[dict[str, Any]]:
    """The rows on the front (see the module docstring), cheapest first."""
    ok = sorted(_usable(rows, score, cost), key=lambda r: (r[cost], -r[score]))
    front: list[dict[str, Any]] = []
    for r in ok:  # cheapest first: a row is on the front when it beats every cheaper one's score
        if not front or r[score] > front[-1][score]:
            if front and r[cost] == front[-1][cost]:
                front.pop()
            front.append(r)
    return front


def plot_pareto(rows: Sequence[dict[str, Any]], path: str | os.PathLike[str], score: str = "accuracy",
                cost: str = "cost_estimate") -> Path:
    """Every converted point of a sweep's ``rows`` (grey) and the front (line, labelled) of ``score`` against
    ``cost``, as an image (``.png``, ``.svg`` or ``.pdf`` by the suffix), written atomically."""
    from nnfpga.profiling.figures import require_matplotlib

    ok = _usable(rows, score, cost)
    front = pareto(rows, score, cost)
    fig = require_matplotlib()(figsize=(7, 4.5))
    ax = fig.add_subplot()
    ax.scatter([r[cost] for r in ok], [r[score] for r in ok], s=14, color="0.6", label="points", gid="points")
    ax.plot([r[cost] for r in front], [r[score] for r in front], "o-", color="#1f77b4", label="Pareto front",
            gid="front")
    for r in front:
        ax.annotate(r["point"], (r[cost], r[score]), fontsize=6, xytext=(4, -8), textcoords="offset points")
    ax.set_xlabel(cost.replace("_", " "))
    ax.set_ylabel(score)
    ax.set_title(f"{len(ok)} points, {len(front)} on the front")
    ax.legend(loc="lower right")
    fig.tight_layout()
    out = Path(path)
    return write_file_atomic(out, lambda tmp: fig.savefig(tmp, format=out.suffix.lstrip(".") or "png"))


def write_configs(points: Sequence[Point], rows: Sequence[dict[str, Any]], directory: str | os.PathLike[str],
                  base: dict[str, Any] | None = None) -> list[Path]:
    """Each of a sweep's ``rows`` (e.g. its Pareto front), whose point is among ``points``, as
    ``<directory>/<point key>.yml``: ``base`` with the point's keys set, ready for
    ``convert_from_keras_model(hls_config=...)`` or ``nnfpga convert -c``; a point's Sparsity and ClockPeriod are
    comments at its top (they act on the model and the converter, not the config)."""
    by_key = {p.key: p for p in points}
    out_dir = Path(directory)
    written = []
    for r in rows:
        point = by_key[r["key"]]
        cfg = point.config(base)
        whole, layers = point.sparsity()
        head = [f"# nnfpga sweep point {point.key}: {point.label}"]
        if whole or layers:
            head.append(f"# prune first: Sparsity {whole:g}" + "".join(f", {k} {v:g}" for k, v in layers.items())
                        + " (nnfpga.examples.prune_dense(model, fraction, layers=...))")
        if point.clock_period() is not None:
            head.append(f"# convert with clock_period={point.clock_period():g}")
        for k in ("accuracy", "agreement", "cost_estimate"):
            if r.get(k) is not None:
                head.append(f"# {k}: {r[k]}")
        text = "\n".join(head) + "\n" + yaml.safe_dump(cfg, sort_keys=False)
        written.append(write_file_atomic(out_dir / f"{point.key}.yml",
                                         lambda tmp, text=text: Path(tmp).write_text(text)))
    return written


__all__ = ["pareto", "plot_pareto", "write_configs"]
