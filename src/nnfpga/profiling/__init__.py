"""Numerical profiling, as in hls4ml's tutorial part 2: which values each fixed-point type must hold, and what the
fixed-point model loses against the float one, per layer. Needs matplotlib (``pip install 'nnfpga[plot]'``).

>>> prof = numerical(model, hw, X)       # doctest: +SKIP
>>> prof.figures["activations"]           # doctest: +SKIP
>>> print(prof.table())                   # doctest: +SKIP
>>> compare(model, hw, X).figure          # doctest: +SKIP

Activations come from one bit-exact trace (:meth:`nnfpga.HWModel.trace`; nothing is converted again): for each
layer, the values its run cast into its result type, so the overflow each figure shows is the overflow the
emulator counted (:meth:`~nnfpga.HWModel.overflow_table`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from nnfpga.errors import ConfigError, Hls4mlKeyWarning
from nnfpga.model import HWModel, format_table
from nnfpga.ops import RunStats
from nnfpga.profiling.figures import error_figure, profile_figure, require_matplotlib
from nnfpga.profiling.numbers import (
    QUANTILES,
    LayerError,
    LayerProfile,
    activation_profiles,
    check_model,
    framework_error,
    layer_errors,
    weight_profiles,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from nnfpga.model import Trace

__all__ = ["QUANTILES", "Comparison", "LayerError", "LayerProfile", "Profile", "compare", "numerical",
           "write_profile"]


@dataclass
class Profile:
    """:func:`numerical`'s result: ``figures`` (``"weights"``, and ``"activations"`` when inputs were given) and
    the rows they show, ``weights`` and ``activations`` (:class:`LayerProfile`, top to bottom)."""

    figures: dict[str, Figure]
    weights: list[LayerProfile]
    activations: list[LayerProfile] = field(default_factory=list)

    @property
    def rows(self) -> list[LayerProfile]:
        return [*self.weights, *self.activations]

    def overflowing(self) -> list[LayerProfile]:
        return [r for r in self.rows if r.n_overflow]

    def table(self) -> str:
        rows = [("layer", "kind", "type", "max", "lsb", "values", "overflow", "below lsb", "median |x|")]
        for r in self.rows:
            med = "" if r.log2_quantiles is None else f"{2.0 ** r.log2_quantiles[2]:.3g}"
            rows.append((r.layer, r.kind, str(r.type), f"{r.max_value:.6g}", f"{r.lsb:.3g}", str(r.n),
                         f"{r.n_overflow} ({r.overflow_share:.2%})", f"{r.n_below_lsb} ({r.below_lsb_share:.2%})",
                         med))
        return format_table(rows)


@dataclass
class Comparison:
    """:func:`compare`'s result: the figure and its rows (:class:`LayerError`, graph order; the last one
    against the original model's output when a model was given)."""

    figure: Figure
    layers: list[LayerError]

    def table(self) -> str:
        rows = [("layer", "op", "type", "lsb", "max |fixed - float|", "mean |fixed - float|", "overflow")]
        rows += [(r.layer, r.op, str(r.type), f"{r.lsb:.3g}", f"{r.max_abs:.3g}", f"{r.mean_abs:.3g}",
                  str(r.n_overflow)) for r in self.layers]
        return format_table(rows)


def numerical(model: Any = None, hw: HWModel | None = None, X: Any = None, *, hls_model: HWModel | None = None,
              plot: str = "boxplot") -> Profile:
    """Per layer, the distribution of ``|x|`` (log2) of the weights, biases and (with inputs ``X``) activations
    beside the range of the type that holds them, with the values that overflow it or fall below its LSB.

    ``model`` (the Keras model or PyTorch module that ``hw`` was converted from; optional, as in hls4ml): when
    given, a warning says if ``hw``'s float reference does not reproduce it on ``X``. Inputs of the wrong shape
    raise :class:`~nnfpga.errors.EmulationError`, as ``hw.predict`` does. ``hls_model=`` and ``plot=`` are
    hls4ml's spellings (its scripts run unchanged); the plots are boxes whatever ``plot`` asks for."""
    hw = _check_hw(_hls4ml_spelling(hw, hls_model, plot))
    require_matplotlib()
    return _numerical(model, hw, X, None if X is None else HWModel.trace(hw, X))


def _hls4ml_spelling(hw: HWModel | None, hls_model: HWModel | None, plot: str) -> HWModel | None:
    """hls4ml names the converted model ``hls_model`` and picks a plot style; nnfpga draws one kind of plot."""
    if hls_model is not None:
        if hw is not None:
            raise ConfigError("give the converted model once: hw= (nnfpga) or hls_model= (hls4ml's name), not both")
        hw = hls_model
    if plot not in ("boxplot", "norm_diff"):
        warnings.warn(f"plot={plot!r}: nnfpga draws box plots (numerical) and per-layer errors (compare) only",
                      Hls4mlKeyWarning, stacklevel=3)
    return hw


def _numerical(model: Any, hw: HWModel, X: Any, trace: Trace | None) -> Profile:
    """The profile of ``trace``, which ``hw.trace(X)`` just returned (``hw.last_stats`` is its run's)."""
    weights = weight_profiles(hw)
    figures = {"weights": profile_figure(weights, "Weights and biases: |w| against their types")}
    if trace is None:
        return Profile(figures, weights)
    acts = activation_profiles(hw, trace, hw.last_stats or RunStats())
    if model is not None:
        check_model(model, _inputs(hw, X), hw.predict_float(X))
    figures["activations"] = profile_figure(acts, "Activations: the values cast into each layer's result type")
    return Profile(figures, weights, acts)


def compare(model: Any = None, hw: HWModel | None = None, X: Any = None, *, hls_model: HWModel | None = None,
            plot: str = "norm_diff") -> Comparison:
    """Per layer, the error of the bit-exact output against the float reference of the same graph (max and mean
    ``|fixed - float|``, log axis) beside the LSB of the layer's type. With ``model`` (Keras or PyTorch), one more
    point: the bit-exact output against the model's own output on ``X``. ``hls_model=`` and ``plot=``: hls4ml's
    spellings."""
    hw = _check_hw(_hls4ml_spelling(hw, hls_model, plot))
    require_matplotlib()
    if X is None:
        raise ConfigError("compare needs inputs X: the errors are measured on them")
    return _comparison(model, hw, X, HWModel.trace(hw, X))


def _comparison(model: Any, hw: HWModel, X: Any, trace: Trace) -> Comparison:
    rows = layer_errors(trace)
    if model is not None:
        out = hw.graph.outputs[0]
        n_ov = sum(o.count for (n, _), o in hw.last_stats.overflow.items() if n == out) if hw.last_stats else 0
        y = trace[out].fixed if out in trace else hw.predict(X)
        rows.append(framework_error(model, _inputs(hw, X), y, hw.graph[out].types["result"], n_ov))
    return Comparison(error_figure(rows, "Fixed-point error per layer"), rows)


def write_profile(hw: HWModel, X: Any, output_dir: Any, *, model: Any = None, force: bool = False) -> list[Any]:
    """Write ``weights.png``, ``activations.png``, ``errors.png`` and ``profile.json`` (their numbers) into
    ``output_dir`` atomically; returns the PNG paths. See :func:`nnfpga.profiling.report.write_profile`."""
    from nnfpga.profiling.report import write_profile as write

    return write(hw, X, output_dir, model=model, force=force)


def _check_hw(hw: Any) -> HWModel:
    if not isinstance(hw, HWModel):
        raise ConfigError(f"hw must be an nnfpga HWModel (from convert_from_<framework>_model or load_project), got "
                          f"{type(hw).__name__}")
    return hw


def _inputs(hw: HWModel, X: Any) -> np.ndarray:
    return hw.interpreter.check_input(X)
