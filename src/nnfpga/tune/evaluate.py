"""The precision searches' common ground: the model as a converter, its searchable types (*knobs*), and each
candidate config's estimated cost and score on the search data (bit-exact emulation)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnfpga.errors import TuneError
from nnfpga.fixed import FixedType
from nnfpga.model import HWModel
from nnfpga.ops import OPS
from nnfpga.tune.cost import estimate_cost
from nnfpga.tune.inputs import Budget, Converter, Score, check_labels, check_x, make_budget, resolve_model

KNOB_SLOTS = ("weight", "bias", "result")
Knob = tuple[str, str]  # (layer name in LayerName, precision slot)


@dataclass
class Candidate:
    config: dict[str, Any]
    hw: HWModel
    cost: float


class Evaluator:
    """Converts candidate configs (with their estimated cost) and scores them on ``x``."""

    def __init__(self, convert: Converter, start: dict[str, Any], x: np.ndarray, y: Any) -> None:
        self.convert = convert
        self.x = x
        self.evaluations = 0
        self.start = self.candidate(copy.deepcopy(start))
        hw = self.start.hw
        hw.interpreter.check_input(x)
        ref = hw.predict_float(x)
        if ref.ndim != 2 or ref.shape[1] < 2:
            raise TuneError(f"the search compares class decisions (argmax): the model's output must be "
                            f"(batch, classes) with 2 or more classes, got {ref.shape}")
        self.ref_class = ref.argmax(axis=1)
        self.labels = None if y is None else check_labels(y, len(x), ref.shape[1])
        self.ref_right = None if self.labels is None else self.ref_class == self.labels
        self.float_accuracy = None if self.ref_right is None else float(np.mean(self.ref_right))
        self.knobs = knobs(start, hw)
        if not self.knobs:
            raise TuneError("the config has no LayerName weight/bias/result precisions to search: start from a "
                            "config made with granularity='name'")

    def candidate(self, cfg: dict[str, Any]) -> Candidate:
        hw = self.convert(cfg)
        return Candidate(cfg, hw, estimate_cost(hw))

    def score(self, hw: HWModel) -> Score:
        self.evaluations += 1
        res = hw.interpreter.run(self.x, progress=False)
        pred = res.outputs[0].argmax(axis=1)
        overflow = sum(o.count for o in res.stats.overflow.values())
        agreement = float(np.mean(pred == self.ref_class))
        if self.labels is None:
            return Score(None, agreement, overflow, None)
        right = pred == self.labels
        return Score(float(np.mean(right)), agreement, overflow, float(np.sum(right != self.ref_right)))

    def meets(self, score: Score, budget: Budget) -> bool:
        return budget.meets(score, len(self.x))

    def type_of(self, cfg: dict[str, Any], knob: Knob) -> FixedType:
        return FixedType.parse(cfg["LayerName"][knob[0]]["Precision"][knob[1]])

    def precisions(self, cfg: dict[str, Any]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for layer, slot in self.knobs:
            out.setdefault(layer, {})[slot] = str(self.type_of(cfg, (layer, slot)))
        return out


def setup(model: Any, X: Any, y: Any, max_accuracy_drop: Any, min_agreement: Any, margin: Any,
          config: dict[str, Any] | None, start_precision: str) -> tuple[Evaluator, Budget]:
    """Check the arguments of a search and prepare its evaluator and budget."""
    x = check_x(X)
    make_budget(max_accuracy_drop, min_agreement, margin, y is not None, 0.0)  # its own checks, before any work
    convert, start = resolve_model(model, x, config, start_precision)
    ev = Evaluator(convert, start, x, y)
    return ev, make_budget(max_accuracy_drop, min_agreement, margin, y is not None, ev.float_accuracy)


def with_types(cfg: dict[str, Any], types: dict[Knob, FixedType]) -> dict[str, Any]:
    """A copy of ``cfg`` with the given knobs set."""
    out = copy.deepcopy(cfg)
    for (layer, slot), t in types.items():
        out["LayerName"][layer]["Precision"][slot] = str(t)
    return out


def knobs(cfg: dict[str, Any], hw: HWModel) -> list[Knob]:
    """The searchable slots of ``cfg``: concrete fixed-point weight/bias/result types in LayerName dicts, except
    on table layers and where quantization-aware training pinned the type."""
    out = []
    for layer, entry in (cfg.get("LayerName") or {}).items():
        prec = entry.get("Precision") if isinstance(entry, dict) else None
        if not isinstance(prec, dict):
            continue
        node = hw.graph[layer] if layer in hw.graph else None  # absent: a batch-norm folded into its Dense
        if node is not None and OPS[node.op].category == "table":
            continue
        pinned = node.attrs.get("qtypes", {}) if node is not None else {}
        for slot in KNOB_SLOTS:
            text = prec.get(slot)
            if not isinstance(text, str) or text == "auto" or slot in pinned:
                continue
            if FixedType.parse(text).kind == "fixed":
                out.append((layer, slot))
    return out


def unreachable(budget: Budget, found: float, what: str) -> str:
    """The message of a budget that ``what`` cannot meet (its best value was ``found``)."""
    ref = f" (float model {budget.float_accuracy:.4%})" if budget.metric == "accuracy" else " with the float model"
    fix = ("raise max_accuracy_drop" if budget.metric == "accuracy" else
           f"lower min_agreement below {found:.4f}")
    if budget.margin:
        fix += " or lower margin"
    return (f"no config meets the budget ({budget.describe}): {what} reaches {budget.metric} {found:.4%}{ref} on X. "
            f"{fix.capitalize()}, or start wider (start_precision='ap_fixed<24,8>', or your own config=)")
