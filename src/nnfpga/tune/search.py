"""Automatic per-layer precision: a greedy search of widths and integer bits, checked by the bit-exact emulator.

The search starts from a config with ``LayerName`` precisions (by default ``config_from_<framework>_model(...,
granularity="name", calibration_data=X)``: 16-bit types whose result integer bits follow the observed ranges).
Its *knobs* are the concrete ``weight``, ``bias`` and ``result`` types of that config (not ``auto`` slots, not
table layers, not types pinned by quantization-aware training). Each step tries

- every knob one bit narrower, keeping its integer bits (one fractional bit less);
- every knob one bit narrower, with one integer bit less (only kept when it overflows no more values on X);
- all knobs at once one fractional bit narrower (the uniform move: the first steps walk the calibrated uniform
  types ``16, 15, ...`` bits down as long as they meet the budget);

and, of the candidates that meet the budget on X, keeps (``strategy``)

- ``"efficiency"`` (default): the one that saves the most estimated cost (:mod:`nnfpga.tune.cost`) per argmax
  decision it changes (``saving / (agreement lost + 1/n)``): the bits go where they buy the most. Every candidate
  is emulated, except those whose saving could not win even if they changed nothing;
- ``"saving"``: the one that saves the most cost. Candidates are emulated in order of saving until the first that
  passes: 4 to 5 times fewer emulations, and costlier configs. Measured on the jet MLP (100,000 search jets,
  margin 1): estimated cost 69,719 vs 77,378 (budget 0.1 accuracy points), 50,015 vs 51,395 (0.5 points),
  69,734 vs 72,434 (97 % agreement); 645 vs 133 emulations, 46 s vs 12 s here.

The search stops when no narrower candidate passes. Ties go to the first in the order of the moves above (then
config order): the search is deterministic.

A search that tries hundreds of candidates on one data set finds some that pass by luck: the budget is met with
``margin`` standard errors of the measured value to spare (:meth:`nnfpga.tune.inputs.Budget.meets`). Measured on
the jet MLP (3,000 search jets, budget 0.5 accuracy points, 20,000 test jets): margin 0 ended 0.68 points down on
the test set, margin 1 (the default) 0.075 ("saving": 0.675 and 0.225).
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from nnfpga.errors import OverflowWarning, TuneError
from nnfpga.fixed import FixedType
from nnfpga.model import format_table
from nnfpga.tune.evaluate import Candidate, Evaluator, Knob, setup, unreachable, with_types
from nnfpga.tune.inputs import Budget, Score

MARGIN = 1.0  # standard errors of the measured accuracy (or agreement) kept in reserve: see precision()
STRATEGIES = ("efficiency", "saving")


@dataclass(frozen=True)
class Step:
    """One accepted change of the search (step 0: the start config) and where it left the model on X."""

    step: int
    change: str
    cost: float
    accuracy: float | None  # against y (None without labels)
    agreement: float  # argmax equal to the float model's
    evaluations: int  # emulations run so far


@dataclass
class PrecisionResult:
    """What :func:`precision` found: the config, the chosen type of every knob, and the history of the search."""

    config: dict[str, Any]
    precisions: dict[str, dict[str, str]]
    budget: str
    metric: str  # "accuracy" or "agreement"
    limit: float  # max_accuracy_drop or min_agreement
    float_accuracy: float | None
    history: list[Step] = field(default_factory=list)

    @property
    def cost(self) -> float:
        """The chosen config's estimated cost (LUTs, see :mod:`nnfpga.tune.cost`)."""
        return self.history[-1].cost

    @property
    def start_cost(self) -> float:
        return self.history[0].cost

    @property
    def saved(self) -> float:
        """Estimated cost saved against the start config."""
        return self.start_cost - self.cost

    @property
    def accuracy(self) -> float | None:
        return self.history[-1].accuracy

    @property
    def agreement(self) -> float:
        return self.history[-1].agreement

    def curve(self) -> dict[str, np.ndarray]:
        """The history as arrays (``step``, ``cost``, ``accuracy`` (NaN without labels), ``agreement``), to plot."""
        return {"step": np.array([s.step for s in self.history]),
                "cost": np.array([s.cost for s in self.history]),
                "accuracy": np.array([np.nan if s.accuracy is None else s.accuracy for s in self.history]),
                "agreement": np.array([s.agreement for s in self.history])}

    def table(self) -> str:
        """The history, one row per accepted step."""
        rows = [("step", "change", "cost", "accuracy", "agreement")]
        rows += [(str(s.step), s.change, f"{s.cost:,.0f}", "-" if s.accuracy is None else f"{s.accuracy:.4%}",
                  f"{s.agreement:.4%}") for s in self.history]
        return format_table(rows)

    def __str__(self) -> str:
        saved = self.saved / self.start_cost if self.start_cost else 0.0
        lines = [f"precision search ({self.budget}): cost {self.start_cost:,.0f} -> {self.cost:,.0f} estimated "
                 f"LUTs ({saved:.1%} saved) in {len(self.history) - 1} steps"]
        lines += [f"  {layer}: " + ", ".join(f"{s}={t}" for s, t in slots.items())
                  for layer, slots in self.precisions.items()]
        return "\n".join(lines)


def precision(model: Any, X: Any, y: Any = None, *, max_accuracy_drop: float = 0.001,
              min_agreement: float | None = None, margin: float = MARGIN, strategy: str = "efficiency",
              config: dict[str, Any] | None = None, start_precision: str = "ap_fixed<16,6>", min_width: int = 2,
              integer_moves: bool = True, progress: bool | None = None) -> tuple[dict[str, Any], PrecisionResult]:
    """Search per-layer widths and integer bits: the cheapest config (estimated cost) that meets the budget on
    ``X``. Returns ``(config, result)``: an hls4ml-style config dict (``LayerName`` granularity) and a
    :class:`PrecisionResult` (chosen precisions, cost saved, the history of every step).

    ``model``: a Keras model or file, an ONNX model or file, an untyped graph (``nnfpga.graph_from_*_model``), or
    a function ``config -> HWModel`` (then ``config`` is required). Budget: the accuracy against labels ``y`` may
    fall at most ``max_accuracy_drop`` (a fraction, 0.001 = 0.1 percentage points) below the float model's on
    ``X``; or, with ``min_agreement``, the argmax of at least that fraction of ``X`` equals the float model's
    (``y`` is then optional). ``margin``: how many standard errors of the measured accuracy (or agreement) each
    candidate must meet the budget by (0: exactly on X; see the module docstring). ``strategy``: which passing
    candidate a step keeps, ``"efficiency"`` or ``"saving"`` (the module docstring). ``config``: the start config
    (default: calibrated on ``X``, ``granularity="name"``, ``start_precision``). No type goes below ``min_width``
    bits; ``integer_moves=False`` keeps every integer bit count. Raises :class:`~nnfpga.errors.TuneError` for
    bad arguments and for a budget the start config misses. Check the result on a separate test set: the search
    fits ``X``."""
    if isinstance(min_width, bool) or not isinstance(min_width, int) or min_width < 1:
        raise TuneError(f"min_width must be a positive number of bits, got {min_width!r}")
    if strategy not in STRATEGIES:
        raise TuneError(f"strategy must be one of {', '.join(map(repr, STRATEGIES))}, got {strategy!r}")
    ev, budget = setup(model, X, y, max_accuracy_drop, min_agreement, margin, config, start_precision)
    return _Greedy(ev, budget, strategy, min_width, integer_moves).run(progress)


class _Greedy:
    def __init__(self, ev: Evaluator, budget: Budget, strategy: str, min_width: int, integer_moves: bool) -> None:
        self.ev = ev
        self.budget = budget
        self.strategy = strategy
        self.min_width = min_width
        self.integer_moves = integer_moves

    def run(self, progress: bool | None) -> tuple[dict[str, Any], PrecisionResult]:
        ev, budget = self.ev, self.budget
        first = ev.score(ev.start.hw)
        if not ev.meets(first, budget):
            raise TuneError(unreachable(budget, budget.value(first), "the start config"))
        result = PrecisionResult({}, {}, budget.describe, budget.metric, budget.limit, ev.float_accuracy,
                                 [Step(0, "start", ev.start.cost, first.accuracy, first.agreement, ev.evaluations)])
        cur, cur_score = ev.start, first
        quiet = progress is False or (progress is None and not sys.stderr.isatty())
        with tqdm(desc="precision search", unit="step", disable=quiet) as bar, warnings.catch_warnings():
            warnings.simplefilter("ignore", OverflowWarning)  # counted: a candidate that overflows more is refused
            while (found := self._step(cur, cur_score, first.overflow)) is not None:
                change, cur, cur_score = found
                result.history.append(Step(len(result.history), change, cur.cost, cur_score.accuracy,
                                           cur_score.agreement, ev.evaluations))
                bar.update()
                bar.set_postfix(cost=f"{cur.cost:,.0f}", **{budget.metric: f"{budget.value(cur_score):.4f}"})
        result.config = cur.config
        result.precisions = ev.precisions(cur.config)
        return cur.config, result

    def _step(self, cur: Candidate, cur_score: Score, max_overflow: int) -> tuple[str, Candidate, Score] | None:
        """The next config: of the candidates that meet the budget (and overflow no more than the start), the one
        saving the most cost ("saving"), or the most cost per argmax decision changed ("efficiency")."""
        n = len(self.ev.x)
        best: tuple[float, str, Candidate, Score] | None = None
        for saving, change, cand in self._candidates(cur):
            if best is not None and saving * n <= best[0]:
                break  # even a change that moved no decision could not beat the best ratio (candidates: by saving)
            sc = self.ev.score(cand.hw)
            if sc.overflow > max_overflow or not self.ev.meets(sc, self.budget):
                continue
            if self.strategy == "saving":
                return change, cand, sc
            ratio = saving / (max(cur_score.agreement - sc.agreement, 0.0) + 1 / n)
            if best is None or ratio > best[0]:
                best = ratio, change, cand, sc
        return None if best is None else best[1:]

    def _candidates(self, cur: Candidate) -> list[tuple[float, str, Candidate]]:
        """Every one-bit-narrower config that saves cost, most saving first (then in the order of the moves)."""
        ev = self.ev
        old = {k: ev.type_of(cur.config, k) for k in ev.knobs}
        narrower = {k: t.with_(width=t.width - 1) for k, t in old.items() if t.width > self.min_width}
        moves: list[tuple[str, dict[Knob, FixedType]]] = []
        if len(narrower) > 1:
            moves.append((f"all {len(narrower)} types -1 fractional bit", narrower))
        moves += [(f"{k[0]}.{k[1]} {old[k]} -> {t}", {k: t}) for k, t in narrower.items()]
        if self.integer_moves:
            lower = {k: t.with_(integer=t.integer - 1) for k, t in narrower.items()}
            moves += [(f"{k[0]}.{k[1]} {old[k]} -> {t}", {k: t}) for k, t in lower.items()]
        ranked = []
        for order, (change, types) in enumerate(moves):
            cand = ev.candidate(with_types(cur.config, types))
            if cand.cost < cur.cost:
                ranked.append((cur.cost - cand.cost, -order, change, cand))
        ranked.sort(key=lambda c: (c[0], c[1]), reverse=True)
        return [(saving, change, cand) for saving, _, change, cand in ranked]
