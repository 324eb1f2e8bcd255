"""The baseline a per-layer search must beat: every searched type of the config the same width.

``integer_bits=None`` (*calibrated*): each type keeps the start config's integer bits (for a calibrated config,
the observed ranges) and only the width is searched. ``integer_bits=[...]`` (*plain*): every type is
``ap_fixed<W,I>``, W and I searched; such types may overflow on X (the score counts what that does), where a
calibrated one, like :func:`~nnfpga.tune.precision`'s steps, may overflow no more values than the start config.
The searched types are those :func:`nnfpga.tune.precision` searches (the ``weight``, ``bias`` and ``result``
types of the config's ``LayerName`` entries); ``auto`` types follow them.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from nnfpga.errors import OverflowWarning, TuneError
from nnfpga.fixed import FixedType
from nnfpga.model import format_table
from nnfpga.tune.evaluate import setup, unreachable, with_types
from nnfpga.tune.search import MARGIN


@dataclass(frozen=True)
class UniformRow:
    width: int
    integer: int | None  # None: calibrated (each type its own integer bits)
    cost: float
    accuracy: float | None
    agreement: float
    meets: bool
    config: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def name(self) -> str:
        return f"ap_fixed<{self.width},{'calibrated' if self.integer is None else self.integer}>"


@dataclass
class UniformResult:
    """Every uniform type tried (``rows``) and the cheapest one meeting the budget (``best``)."""

    budget: str
    rows: list[UniformRow] = field(default_factory=list)

    @property
    def best(self) -> UniformRow:
        return min((r for r in self.rows if r.meets), key=lambda r: (r.cost, -r.width))

    def table(self) -> str:
        head = [("type", "cost", "accuracy", "agreement", "meets budget")]
        return format_table(head + [(r.name, f"{r.cost:,.0f}", "-" if r.accuracy is None else f"{r.accuracy:.4%}",
                                     f"{r.agreement:.4%}", "yes" if r.meets else "no") for r in self.rows])


def uniform(model: Any, X: Any, y: Any = None, *, max_accuracy_drop: float = 0.001,
            min_agreement: float | None = None, margin: float = MARGIN, config: dict[str, Any] | None = None,
            start_precision: str = "ap_fixed<16,6>", widths: Iterable[int] = range(2, 17),
            integer_bits: Iterable[int] | None = None) -> tuple[dict[str, Any], UniformResult]:
    """The cheapest uniform precision that meets the budget on ``X`` (the arguments as for
    :func:`nnfpga.tune.precision`; ``widths`` and ``integer_bits`` as in the module docstring). Returns
    ``(config, result)``; a :class:`~nnfpga.errors.TuneError` when no uniform type meets the budget."""
    ev, budget = setup(model, X, y, max_accuracy_drop, min_agreement, margin, config, start_precision)
    base = ev.start.config
    result = UniformResult(budget.describe)
    ints: list[int | None] = [None] if integer_bits is None else list(integer_bits)  # iterated once per width
    grid = [(w, i) for w in widths for i in ints if i is None or i <= w]
    start_overflow = ev.score(ev.start.hw).overflow
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OverflowWarning)  # plain types may overflow on X: the score counts it
        for w, i in grid:
            types = {}
            for k in ev.knobs:
                t = ev.type_of(base, k)
                types[k] = t.with_(width=w) if i is None else FixedType(w, i, True, t.rounding, t.overflow)
            cand = ev.candidate(with_types(base, types))
            sc = ev.score(cand.hw)
            meets = ev.meets(sc, budget) and (i is not None or sc.overflow <= start_overflow)
            result.rows.append(UniformRow(w, i, cand.cost, sc.accuracy, sc.agreement, meets, cand.config))
    if not any(r.meets for r in result.rows):
        top = max((_value(r, budget.metric) for r in result.rows), default=0.0)
        raise TuneError(unreachable(budget, top, "the best uniform type tried"))
    return result.best.config, result


def _value(row: UniformRow, metric: str) -> float:
    return (row.accuracy or 0.0) if metric == "accuracy" else row.agreement
