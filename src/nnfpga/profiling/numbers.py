"""The numbers behind the profiling figures, computed without matplotlib.

A :class:`LayerProfile` is one row of a numerical profile: the values one fixed-point type must hold (a layer's
weights, biases, or the values its bit-exact run cast into its result type), their spread as ``log2 |x|``
quantiles, and how many of them the type cannot hold: above its range (``n_overflow``) or nonzero but below its
resolution (``n_below_lsb``: ``0 < |x| < LSB``). A :class:`LayerError` is one layer's fixed-point error against
the float reference of the same graph.
"""

from __future__ import annotations

import math
import sys
import warnings
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nnfpga.errors import ConfigError
from nnfpga.fixed import FixedType, from_float
from nnfpga.fixed.arith import MAX_FROM_FLOAT_WIDTH
from nnfpga.ops import OPS, RunStats

if TYPE_CHECKING:  # pragma: no cover
    from nnfpga.model import HWModel, LayerTrace, Trace

BATCH = 4096  # rows per call of the original model
QUANTILES = (0.0, 0.25, 0.5, 0.75, 1.0)  # what each box shows: whiskers at min and max, box at the quartiles


@dataclass(frozen=True)
class LayerProfile:
    """One row of a numerical profile.

    ``kind``: ``"weight"``, ``"bias"``, ``"param"`` (constants), ``"activation"`` (the values cast into the
    layer's result type, from the bit-exact run) or another slot whose emulation overflowed (``"accum"``,
    ``"exp_table"``...: counts only, no values). ``log2_quantiles``: ``log2 |x|`` of the nonzero values at
    :data:`QUANTILES` (``None`` when there are none)."""

    layer: str
    kind: str
    slot: str
    type: FixedType
    n: int
    n_zero: int
    n_overflow: int
    n_below_lsb: int
    log2_quantiles: tuple[float, ...] | None

    @property
    def label(self) -> str:
        """The row's name in the figure: the layer, and the kind unless it is the layer's activation."""
        return self.layer if self.kind == "activation" else f"{self.layer} {self.kind}"

    @property
    def max_value(self) -> float:
        """The largest value the type holds."""
        return self.type.max_value

    @property
    def lsb(self) -> float:
        """The type's resolution (one least significant bit)."""
        return self.type.lsb

    @property
    def overflow_share(self) -> float:
        return self.n_overflow / self.n if self.n else 0.0

    @property
    def below_lsb_share(self) -> float:
        return self.n_below_lsb / self.n if self.n else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(type=str(self.type), max_value=self.max_value, lsb=self.lsb,
                 log2_quantiles=None if self.log2_quantiles is None else list(self.log2_quantiles))
        return d


@dataclass(frozen=True)
class LayerError:
    """One layer's ``|fixed - float|`` (bit-exact output against the float reference of the same graph, or, for
    the framework row, against the original model's output) over ``n`` values; ``n_overflow`` as the emulator
    counted it for the layer (all its slots)."""

    layer: str
    op: str
    type: FixedType
    n: int
    max_abs: float
    mean_abs: float
    n_overflow: int

    @property
    def lsb(self) -> float:
        return self.type.lsb

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "type": str(self.type), "lsb": self.lsb}


def summarize(layer: str, kind: str, slot: str, t: FixedType, values: np.ndarray, n_overflow: int) -> LayerProfile:
    """A row for ``values`` held in type ``t``, with its overflow count."""
    v = np.abs(np.asarray(values, dtype=np.float64).ravel())
    nonzero = v[v > 0]
    q = tuple(float(x) for x in np.quantile(np.log2(nonzero), QUANTILES)) if nonzero.size else None
    return LayerProfile(layer, kind, slot, t, int(v.size), int(v.size - nonzero.size), int(n_overflow),
                        int(np.count_nonzero(nonzero < t.lsb)), q)


def weight_profiles(hw: HWModel) -> list[LayerProfile]:
    """Every constant a type slot holds (Dense kernel and bias, folded batch-norm scale and shift, activation
    parameters), as the model gave it (before quantization). A constant outside its type is clamped
    (:func:`nnfpga.ops.dense.quantize_const`): those are its ``n_overflow``."""
    rows = []
    for node in hw.graph:
        op = OPS[node.op]
        arrays: list[tuple[str, np.ndarray]] = []
        if hasattr(op, "constants_by_slot"):  # ops whose constants do not pair one to one with their slots
            arrays = op.constants_by_slot(node)
        elif op.weights and len(op.weights) == len(op.const_slots):
            arrays = [(s, node.weights[w]) for s, w in zip(op.const_slots, op.weights, strict=True)]
        elif "param" in op.const_slots and hasattr(op, "params"):
            arrays = [("param", np.asarray(op.params(node), dtype=np.float64))]
        for slot, w in arrays:
            t = node.types[slot]
            w = np.asarray(w, dtype=np.float64)
            rows.append(summarize(node.name, slot, slot, t, w, np.count_nonzero((w > t.max_value) | (w < t.min_value))))
    return rows


def activation_profiles(hw: HWModel, trace: Trace, stats: RunStats) -> list[LayerProfile]:
    """Per traced layer: the values its bit-exact run cast into its result type (``LayerTrace.precast``; a layer
    that casts nothing shows its output), ``n_overflow`` recounted from those values with the type's own rounding
    and overflow (ap_fixed's conversion), which is what the emulator counted. Then a row for every other slot that
    overflowed in ``stats`` (the same run): an accumulator, a table."""
    rows = []
    for t in trace.values():
        rows.append(summarize(t.name, "activation", "result", t.type, _values(t), _overflow_count(t)))
        for (name, slot), ov in stats.overflow.items():
            if name == t.name and slot != "result" and ov.count:
                rows.append(LayerProfile(name, slot, slot, hw.graph[name].types[slot], ov.total, 0, ov.count, 0, None))
    return rows


def _values(t: LayerTrace) -> np.ndarray:
    return t.fixed if t.precast is None else t.precast


def _overflow_count(t: LayerTrace) -> int:
    if t.precast is None:
        return 0
    if t.type.width > MAX_FROM_FLOAT_WIDTH:  # beyond from_float: its range, before rounding
        return int(np.count_nonzero((t.precast > t.type.max_value) | (t.precast < t.type.min_value)))
    return from_float(t.precast, t.type)[1].count


def layer_errors(trace: Trace) -> list[LayerError]:
    return [error_row(t.name, t.op, t.type, t.fixed, t.float, t.overflow) for t in trace.values()]


def error_row(layer: str, op: str, t: FixedType, fixed: np.ndarray, ref: np.ndarray, n_overflow: int) -> LayerError:
    d = np.abs(np.asarray(fixed, dtype=np.float64) - np.asarray(ref, dtype=np.float64)).ravel()
    return LayerError(layer, op, t, int(d.size), float(d.max()) if d.size else 0.0,
                      float(d.mean()) if d.size else 0.0, int(n_overflow))


# -- the original model ------------------------------------------------------------------------------------
def framework_outputs(model: Any, x: np.ndarray) -> tuple[str, np.ndarray]:
    """(framework name, outputs) of a Keras model or PyTorch module on the channels-last inputs ``x``."""
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(model, keras.Model):  # first: on the torch backend it is a Module too
        # model(x) by batches: model.predict's 32-row steps take seconds for a few thousand rows
        return "Keras", np.concatenate([keras.ops.convert_to_numpy(model(x[i:i + BATCH].astype(np.float32),
                                                                         training=False))
                                        for i in range(0, max(len(x), 1), BATCH)])
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        was = model.training
        model.eval()
        try:
            dtype = next(model.parameters(), torch.zeros(())).dtype
            xt = torch.as_tensor(np.moveaxis(x, -1, 1) if x.ndim > 2 else x, dtype=dtype)
            with torch.no_grad():
                y = model(xt).detach().cpu().numpy()
        finally:
            model.train(was)
        return "PyTorch", np.moveaxis(y, 1, -1) if y.ndim > 2 else y
    raise ConfigError(f"model must be a Keras model, a PyTorch nn.Module or None, got {type(model).__name__}")


def framework_error(model: Any, x: np.ndarray, fixed_out: np.ndarray, out_type: FixedType,
                    n_overflow: int) -> LayerError:
    """The bit-exact output's error against the original model's own output."""
    name, y = framework_outputs(model, x)
    if y.shape != fixed_out.shape:
        raise ConfigError(f"the model's output shape {y.shape} differs from the converted model's "
                          f"{fixed_out.shape}: was hw converted from this model?")
    return error_row(f"{name} output", "model", out_type, fixed_out, y, n_overflow)


def check_model(model: Any, x: np.ndarray, float_out: np.ndarray) -> None:
    """Warn when the graph's float reference does not reproduce ``model`` on ``x``: the profile describes the
    converted graph, and it would then describe another network (or a quantization-aware one's float shadow)."""
    name, y = framework_outputs(model, x)
    if y.shape != float_out.shape:
        raise ConfigError(f"the model's output shape {y.shape} differs from the converted model's "
                          f"{float_out.shape}: was hw converted from this model?")
    diff = float(np.max(np.abs(y - float_out))) if y.size else 0.0
    scale = float(np.max(np.abs(y))) if y.size else 0.0
    if not math.isclose(diff, 0.0, abs_tol=1e-4 * (1.0 + scale)):
        warnings.warn(f"the converted graph's float reference differs from the {name} model by up to {diff:.3g} "
                      "on these inputs: the profile shows the converted graph", UserWarning, stacklevel=3)
