"""The profiling figures, drawn with matplotlib's object API on the Agg canvas (no pyplot, no window, no change to
the user's matplotlib backend).

Every artist that carries a number has a ``gid`` (``band:<label>``, ``box:<label>``, ``note:<label>``; ``max``,
``mean``, ``lsb``), so that the figure's content can be read back and checked.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from nnfpga.errors import MissingDependencyError
from nnfpga.profiling.numbers import LayerError, LayerProfile

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

OVERFLOW_COLOR = "#d62728"
BELOW_COLOR = "#ff7f0e"
BOX_COLOR = "#1f77b4"
BAND_COLOR = "0.8"


def require_matplotlib() -> Any:
    """The ``Figure`` class, attached to the Agg canvas; :class:`MissingDependencyError` without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError(f"profiling plots need matplotlib ({exc}): pip install 'nnfpga[plot]'") from None

    def new(**kw: Any) -> Figure:
        fig = Figure(**kw)
        FigureCanvasAgg(fig)
        return fig

    return new


def profile_figure(rows: list[LayerProfile], title: str) -> Figure:
    """One horizontal row per :class:`LayerProfile`, top to bottom: the type's range as a gray band from
    ``log2(LSB)`` to ``log2(max)``, the box of ``log2 |x|`` (whiskers at min and max, box at the quartiles),
    and on the right how many values overflow (red) or fall below the LSB (orange)."""
    from matplotlib.patches import Rectangle

    fig = require_matplotlib()(figsize=(11, 1.4 + 0.42 * max(len(rows), 1)), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title)
    if not rows:
        ax.text(0.5, 0.5, "nothing to show", ha="center", va="center", transform=ax.transAxes)
        return fig
    lo, hi = math.inf, -math.inf
    for i, r in enumerate(rows):
        y = len(rows) - 1 - i
        b0, b1 = math.log2(r.lsb), math.log2(r.max_value) if r.max_value > 0 else math.log2(r.lsb)
        ax.add_patch(Rectangle((b0, y - 0.4), b1 - b0, 0.8, facecolor=BAND_COLOR, edgecolor="0.55", zorder=1,
                               gid=f"band:{r.label}"))
        lo, hi = min(lo, b0), max(hi, b1)
        color = OVERFLOW_COLOR if r.n_overflow else BELOW_COLOR if r.n_below_lsb else BOX_COLOR
        if r.log2_quantiles is not None:
            q = r.log2_quantiles
            art = ax.bxp([{"whislo": q[0], "q1": q[1], "med": q[2], "q3": q[3], "whishi": q[4], "fliers": []}],
                         positions=[y], widths=0.5, orientation="horizontal", patch_artist=True, showfliers=False,
                         manage_ticks=False, zorder=2)
            art["boxes"][0].set(facecolor=color, alpha=0.75, gid=f"box:{r.label}")
            art["medians"][0].set(color="black", gid=f"median:{r.label}")
            lo, hi = min(lo, q[0]), max(hi, q[4])
        ax.text(1.01, y, _note(r), transform=ax.get_yaxis_transform(), va="center", fontsize=8,
                color=OVERFLOW_COLOR if r.n_overflow else "black", gid=f"note:{r.label}")
    ax.set_yticks(range(len(rows)), [f"{r.label}  {r.type}" for r in reversed(rows)], fontsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlim(math.floor(lo) - 1, math.ceil(hi) + 1)
    ax.set_xlabel("log2 |x| of the nonzero values;  gray band: the type, from its LSB to its largest value")
    ax.grid(axis="x", alpha=0.3)
    return fig


def _note(r: LayerProfile) -> str:
    parts = [f"overflow {r.n_overflow}/{r.n} ({r.overflow_share:.2%})"]
    if r.log2_quantiles is not None or r.n_below_lsb:
        parts.append(f"below LSB {r.n_below_lsb} ({r.below_lsb_share:.2%})")
    return "  ".join(parts)


def error_figure(rows: list[LayerError], title: str) -> Figure:
    """Per layer (x axis, in graph order): max and mean ``|fixed - float|`` on a log axis, beside the LSB of the
    layer's type (errors near one LSB are rounding; far above it, overflow or accumulated error). Layers that
    overflowed have red labels; exact layers say so (a log axis has no zero)."""
    fig = require_matplotlib()(figsize=(max(6.0, 0.8 * len(rows) + 2), 4.8), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title)
    x = np.arange(len(rows))
    mx = np.array([r.max_abs if r.max_abs > 0 else np.nan for r in rows])
    mean = np.array([r.mean_abs if r.mean_abs > 0 else np.nan for r in rows])
    ax.plot(x, mx, "v", color=OVERFLOW_COLOR, label="max |fixed - float|", gid="max")
    ax.plot(x, mean, "o", color=BOX_COLOR, label="mean |fixed - float|", gid="mean")
    ax.plot(x, [r.lsb for r in rows], "_", color="black", markersize=18, label="LSB of the layer's type", gid="lsb")
    ax.set_yscale("log", base=2)
    if rows and rows[-1].op == "model":  # the framework point: against another reference
        ax.axvline(len(rows) - 1.5, color="0.6", linestyle="--", linewidth=1)
    for i, r in enumerate(rows):
        if r.max_abs == 0:
            ax.text(i, 0.02, "exact", transform=ax.get_xaxis_transform(), ha="center", fontsize=8,
                    gid=f"exact:{r.layer}")
    ax.set_xticks(x, [r.layer for r in rows], rotation=45, ha="right", fontsize=8)
    for label, r in zip(ax.get_xticklabels(), rows, strict=True):
        if r.n_overflow:
            label.set_color(OVERFLOW_COLOR)
    ax.set_ylabel("|fixed - float|")
    ax.legend(fontsize=8, loc="best")
    ax.grid(axis="y", alpha=0.3)
    return fig
