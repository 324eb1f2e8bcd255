"""What the precision search is given: the model (as a converter from config to HWModel), the data and the budget,
each checked with an error that says what to change."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnfpga.errors import TuneError
from nnfpga.ir.graph import Graph
from nnfpga.model import HWModel

Converter = Callable[[dict[str, Any]], HWModel]


@dataclass(frozen=True)
class Score:
    accuracy: float | None  # against the labels (None without)
    agreement: float  # argmax equal to the float model's
    overflow: int  # values that overflowed a type
    flips: float | None  # samples classified right by one of fixed and float and wrong by the other (None: no labels)


@dataclass(frozen=True)
class Budget:
    """What a candidate must reach on the search data: ``metric`` "accuracy" (against the labels, at most
    ``limit`` below the float model's ``float_accuracy``) or "agreement" (argmax equal to the float model's, at
    least ``limit``), with ``margin`` standard errors of the measured value kept in reserve."""

    metric: str
    limit: float
    margin: float
    float_accuracy: float | None

    @property
    def describe(self) -> str:
        what = (f"accuracy >= {self.float_accuracy:.4%} (float) - {self.limit:.4%}" if self.metric == "accuracy"
                else f"agreement >= {self.limit:.4%}")
        return what + (f", {self.margin:g} standard errors of margin" if self.margin else "")

    def value(self, score: Score) -> float:
        v = score.accuracy if self.metric == "accuracy" else score.agreement
        assert v is not None  # make_budget refuses an accuracy budget without labels
        return v

    def meets(self, score: Score, n: int) -> bool:
        """Whether ``score`` (measured on ``n`` samples) meets the budget, margin included. The standard error
        of an accuracy drop is ``sqrt(flips) / n`` (``flips``: samples that one of fixed and float classifies
        right and the other wrong, McNemar's pairs); of an agreement ``p``, ``sqrt(p (1 - p) / n)``."""
        if self.metric == "accuracy":
            assert score.accuracy is not None and score.flips is not None and self.float_accuracy is not None
            drop = self.float_accuracy - score.accuracy
            return drop + self.margin * math.sqrt(score.flips) / n <= self.limit + 1e-12
        p = score.agreement
        return p - self.margin * math.sqrt(p * (1 - p) / n) >= self.limit - 1e-12


def resolve_model(model: Any, x: np.ndarray, config: dict[str, Any] | None,
                  start_precision: str) -> tuple[Converter, dict[str, Any]]:
    """A converter (config dict -> HWModel) and the start config for ``model``: a Keras model or file, an ONNX
    model or file, an untyped graph from ``nnfpga.graph_from_*_model``, or a function ``config -> HWModel``
    (then ``config`` is required)."""
    from nnfpga.api import _convert, graph_from_keras_model, graph_from_onnx_model
    from nnfpga.config import default_config

    graph: Graph | None = None
    if isinstance(model, Graph):
        graph = model
    elif isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        graph = graph_from_onnx_model(path) if path.lower().endswith(".onnx") else graph_from_keras_model(path)
    elif type(model).__module__.split(".")[0] == "keras":
        graph = graph_from_keras_model(model)
    elif type(model).__module__.split(".")[0] == "onnx":
        graph = graph_from_onnx_model(model)
    elif type(model).__module__.split(".")[0] == "torch":
        raise TuneError("a PyTorch model needs its input shape: pass nnfpga.graph_from_pytorch_model(model, "
                        "input_shape) instead of the model")
    elif callable(model):
        if config is None:
            raise TuneError("a converter function needs config=, the start config (granularity 'name', e.g. "
                            "nnfpga.config_from_pytorch_model(model, shape, granularity='name', "
                            "calibration_data=X))")

        def call(cfg: dict[str, Any]) -> HWModel:
            hw = model(cfg)
            if not isinstance(hw, HWModel):
                raise TuneError(f"the converter function must return an nnfpga HWModel (from "
                                f"nnfpga.convert_from_*_model), got {type(hw).__name__}")
            return hw

        return call, config
    else:
        raise TuneError(f"cannot search precisions for a {type(model).__name__}: pass a Keras or ONNX model (or "
                        "file), a graph from nnfpga.graph_from_*_model, or a function config -> HWModel")
    shape = tuple(graph[graph.inputs[0]].shape)
    if x.shape[1:] != shape:
        raise TuneError(f"X has shape {x.shape}; the model takes (batch, {', '.join(map(str, shape))})")
    start = config if config is not None else default_config(graph, "name", start_precision, 1, x)
    return (lambda cfg: _convert(graph, cfg, "nnfpga_prj")), start


def check_x(x: Any) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TuneError(f"X must be a numeric array (samples first): {exc}") from None
    if arr.ndim < 2 or arr.shape[0] == 0:
        raise TuneError(f"X must hold at least one sample, samples along the first axis (batch, features...), "
                        f"got shape {arr.shape}")
    return arr


def check_labels(y: Any, n: int, classes: int) -> np.ndarray:
    """Integer class labels of shape ``(n,)`` (or one-hot / scores ``(n, classes)``, reduced with argmax)."""
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape == (n, classes):
        return arr.argmax(axis=1)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise TuneError(f"y must be class labels of shape ({n},) or one-hot ({n}, {classes}) for X's {n} samples, "
                        f"got shape {arr.shape}")
    if arr.dtype.kind not in "iub":
        if arr.dtype.kind != "f" or not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise TuneError(f"y must hold integer class labels, got dtype {arr.dtype}")
    labels = arr.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise TuneError(f"y has labels {int(labels.min())}..{int(labels.max())}; the model has {classes} classes "
                        f"(0..{classes - 1})")
    return labels


def make_budget(max_accuracy_drop: Any, min_agreement: Any, margin: Any, has_labels: bool,
                float_accuracy: float | None) -> Budget:
    """The budget from the arguments; ``min_agreement``, when given, replaces the accuracy budget."""
    if not _real(margin) or margin < 0:
        raise TuneError(f"margin must be a number of standard errors >= 0 (0: the budget exactly on X), "
                        f"got {margin!r}")
    if min_agreement is not None:
        if not _real(min_agreement) or not 0 < min_agreement <= 1:
            raise TuneError(f"min_agreement must be a fraction in (0, 1] (0.99 = 99 % of the argmax decisions "
                            f"equal the float model's), got {min_agreement!r}")
        return Budget("agreement", float(min_agreement), float(margin), float_accuracy)
    if not _real(max_accuracy_drop) or not 0 <= max_accuracy_drop < 1:
        raise TuneError(f"max_accuracy_drop must be a fraction in [0, 1) (0.001 = the accuracy may drop by 0.1 "
                        f"percentage points below the float model's), got {max_accuracy_drop!r}")
    if not has_labels or float_accuracy is None:
        raise TuneError("the accuracy budget needs labels: pass y, or budget the agreement with the float model "
                        "instead (min_agreement=0.99)")
    return Budget("accuracy", float(max_accuracy_drop), float(margin), float_accuracy)


def _real(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)
