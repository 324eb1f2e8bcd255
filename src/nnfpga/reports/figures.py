"""Figures of the HTML report as PNG bytes: our own trace-error plot, figures passed in, and the profiling hook.

Matplotlib (extra ``[plot]``) draws them with the Agg renderer through :class:`matplotlib.figure.Figure` (no
pyplot state). Without matplotlib the report has no figures and says why.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import sys
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from nnfpga.errors import ConfigError, NnfpgaError
from nnfpga.reports.graph_svg import display_name

if TYPE_CHECKING:
    from nnfpga.model import HWModel, Trace

PROFILING = "nnfpga.profiling"  # numerical(model, hw, X) -> Profile, whose .figures are embedded


def have_matplotlib() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def png(fig: Any, dpi: int = 100) -> bytes:
    """A matplotlib figure as PNG bytes (no timestamp or software tag: the same figure gives the same bytes)."""
    if not callable(getattr(fig, "savefig", None)):
        raise ConfigError(f"figures must be matplotlib figures, got {type(fig).__name__} {fig!r:.80}")
    buf = io.BytesIO()
    with warnings.catch_warnings():  # a CJK layer name has no glyph in matplotlib's default font: drawn as a box
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def title_of(fig: Any, default: str) -> str:
    suptitle = fig.get_suptitle() if callable(getattr(fig, "get_suptitle", None)) else ""
    if suptitle:
        return str(suptitle)
    axes = fig.get_axes() if callable(getattr(fig, "get_axes", None)) else []
    titles = [a.get_title() for a in axes if a.get_title()]
    return titles[0] if titles else (fig.get_label() if callable(getattr(fig, "get_label", None)) else "") or default


def _label(name: str, n: int = 32) -> str:
    """A layer name as a matplotlib tick label: visible escapes, cut, ``$`` literal (not mathtext)."""
    text = display_name(name)
    text = text if len(text) <= n else text[: n - 1] + "…"
    return text.replace("$", r"\$")  # outside math mode matplotlib shows \$ as $ and keeps other backslashes


def trace_error_figure(trace: Trace) -> Any:
    """Per-layer max |fixed - float| (log scale), with the LSB of each layer's result type marked."""
    from matplotlib.figure import Figure

    layers = list(trace.values())
    errors = [t.max_abs_error for t in layers]
    lsbs = [t.type.lsb for t in layers]
    fig = Figure(figsize=(7.5, 1.4 + 0.3 * len(layers)), layout="constrained")
    ax = fig.add_subplot()
    ys = range(len(layers))
    floor = min([e for e in errors + lsbs if e > 0], default=1.0) / 4  # where the bars start (log axis: not 0)
    ax.barh(ys, [max(e, floor) - floor / 2 for e in errors], left=floor / 2, label="max |fixed - float|",
            color=["#c0392b" if t.overflow else "#2e86c1" for t in layers])
    ax.scatter(lsbs, ys, marker="|", s=300, color="black", zorder=3, label="LSB of the result type")
    for y, e in zip(ys, errors, strict=True):
        if e == 0:
            ax.text(floor, y, " exact", va="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_yticks(list(ys), [_label(t.name) for t in layers], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("max |fixed - float| (red: the layer overflowed)")
    ax.set_title("Trace: per-layer error of the fixed-point emulation")
    fig.legend(loc="outside lower center", ncols=2, fontsize=8)
    ax.grid(axis="x", which="major", alpha=0.3)
    return fig


def _named(found: Any, default: str) -> list[tuple[str, Any]]:
    """(title, figure) pairs from one figure, a list of them or a dict title -> figure."""
    if found is None:
        return []
    if isinstance(found, dict):
        return [(str(k), f) for k, f in found.items()]
    figs = list(found) if isinstance(found, (list, tuple)) else [found]
    return [(title_of(f, f"{default} {k + 1}") if callable(getattr(f, "savefig", None)) else "", f)
            for k, f in enumerate(figs)]


def _close(figs: Iterable[Any]) -> None:
    """Close figures that the profiling hook made with pyplot (they would pile up in pyplot's registry)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        for fig in figs:
            if getattr(fig, "number", None) in pyplot.get_fignums():
                pyplot.close(fig)


def report_figures(hw: HWModel, x: Any, trace: Trace | None, figures: Iterable[Any] | None,
                   model: Any) -> tuple[list[tuple[str, bytes]], list[str]]:
    """(title, PNG) of every figure of the report, and notes on what is missing and why.

    ``figures``: matplotlib figures to embed (a list, a dict of them, or one); ``None`` asks
    ``nnfpga.profiling.numerical(model, hw, X)`` when that module exists and ``X`` is given; ``[]``: none.
    Our own trace-error plot comes first whenever there is a trace."""
    notes: list[str] = []
    out: list[tuple[str, bytes]] = []
    if not have_matplotlib():
        if trace is not None or figures:
            notes.append("no figures: matplotlib is not installed (pip install 'nnfpga[plot]')")
            warnings.warn("the HTML report has no figures: matplotlib is not installed (pip install 'nnfpga[plot]')",
                          stacklevel=5)
        return out, notes
    if trace is not None and trace:
        out.append(("Per-layer trace error", png(trace_error_figure(trace))))
    if figures is None and x is not None and importlib.util.find_spec(PROFILING) is not None:
        profiling = importlib.import_module(PROFILING)
        try:
            found = profiling.numerical(model, hw, x)
            made = _named({f"Profiling: {k}": f for k, f in found.figures.items()}, "Profiling")
        except NnfpgaError as exc:  # e.g. a profile that needs the framework model: the report goes on without it
            notes.append(f"no profiling plots: {exc}")
            warnings.warn(f"the HTML report has no profiling plots: {exc}", stacklevel=5)
            made = []
        try:
            out += [(title, png(f)) for title, f in made]
        finally:
            _close(f for _, f in made)
    elif figures is not None:
        out += [(title, png(f)) for title, f in _named(figures, "Figure")]
    return out, notes
