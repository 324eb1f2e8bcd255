"""Magnitude pruning while training, for Keras 3 (any backend): TensorFlow Model Optimization's API without TFMOT.

``prune_low_magnitude(model, ...)`` returns a copy of the model (same weights) in which every plain
``keras.layers.Dense`` is wrapped in :class:`PruneLowMagnitude`. The wrapper holds a 0/1 mask beside the kernel
and computes the Dense with ``kernel * mask``, so a pruned weight contributes nothing and gets no gradient: training
cannot regrow it. :class:`UpdatePruningStep`, a ``keras.callbacks.Callback`` for ``fit``, counts the optimizer
steps and recomputes the masks on the schedule (:class:`~nnfpga.compress.schedule.PolynomialDecay`); after each
batch it also writes the zeros into the kernel itself (the optimizer's momentum would otherwise move the stored
values, which the mask hides but a reader of the kernel would see). ``strip(model)`` gives back a plain model with
plain Dense layers and the zeros in their kernels, which nnfpga converts as usual; zero weights cost no multiplier
in either backend.

Only plain ``Dense`` layers are pruned (not subclasses, nor quantized or LoRA ones); the biases are kept, as in
TFMOT. Models are rebuilt with ``keras.models.clone_model``: Sequential and functional models, nested ones too.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from nnfpga.compress.schedule import PolynomialDecay, layer_sparsity, magnitude_mask, schedule_of
from nnfpga.errors import PruningError
from nnfpga.frontends.keras import import_keras

keras = import_keras()
ops = keras.ops

PREFIX = "prune_low_magnitude_"


def _np(x: Any) -> np.ndarray:
    """A tensor or variable as a NumPy array (a torch tensor by ``.numpy()``: NumPy 2 warns on ``np.array`` of it)."""
    value = x.value if isinstance(x, keras.Variable) else x
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return ops.convert_to_numpy(value)


def _check_dense(layer: Any) -> None:
    if getattr(layer, "quantization_mode", None) is not None or getattr(layer, "lora_enabled", False):
        raise PruningError(f"Dense layer {layer.name!r} is quantized or has LoRA enabled; prune_low_magnitude prunes "
                           "plain float Dense layers: prune before quantizing or enabling LoRA")


@keras.saving.register_keras_serializable(package="nnfpga")
class PruneLowMagnitude(keras.layers.Wrapper):
    """A Dense layer whose kernel is multiplied by a 0/1 mask in the forward pass (TFMOT's wrapper of the same
    name). The mask and the step count are non-trainable weights, saved with the model."""

    def __init__(self, layer: Any, pruning_schedule: PolynomialDecay | dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        if type(layer) is not keras.layers.Dense:
            raise PruningError(f"PruneLowMagnitude wraps a keras.layers.Dense, got {type(layer).__name__} "
                               f"{getattr(layer, 'name', '')!r}")
        _check_dense(layer)
        if isinstance(pruning_schedule, dict):
            pruning_schedule = PolynomialDecay(**pruning_schedule)
        if not isinstance(pruning_schedule, PolynomialDecay):
            raise PruningError(f"pruning_schedule must be a nnfpga.compress.PolynomialDecay, got "
                               f"{type(pruning_schedule).__name__}")
        kwargs.setdefault("name", PREFIX + layer.name)
        super().__init__(layer, **kwargs)
        self.pruning_schedule = pruning_schedule
        self.fitting = False  # set by UpdatePruningStep while fit runs

    def build(self, input_shape: Any = None) -> None:
        if not self.layer.built:
            self.layer.build(input_shape)
        kernel = self.layer.kernel
        self.mask = self.add_weight(name="pruning_mask", shape=tuple(kernel.shape), initializer="ones",
                                    dtype=kernel.dtype, trainable=False)
        self.pruning_step = self.add_weight(name="pruning_step", shape=(), initializer=keras.initializers.Constant(-1),
                                            dtype="int64", trainable=False)
        self.built = True

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if training and not self.fitting:
            raise PruningError(f"{self.name!r} is trained without the pruning callback: pass "
                               "callbacks=[nnfpga.compress.UpdatePruningStep()] to fit, which updates the masks")
        d = self.layer
        y = ops.matmul(inputs, ops.multiply(d.kernel, self.mask))
        if d.bias is not None:
            y = ops.add(y, d.bias)
        return d.activation(y) if d.activation is not None else y

    def compute_output_shape(self, input_shape: Any) -> Any:
        return self.layer.compute_output_shape(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pruning_schedule": self.pruning_schedule.to_config()}

    # -- pruning -------------------------------------------------------------------------------------------
    @property
    def step(self) -> int:
        return int(_np(self.pruning_step))

    def pruned_kernel(self) -> np.ndarray:
        """The kernel the forward pass uses: ``kernel * mask``."""
        return _np(self.layer.kernel) * _np(self.mask)

    def sparsity(self) -> float:
        return layer_sparsity(_np(self.mask))

    def advance(self) -> None:
        """One optimizer step more; recompute the mask when the schedule says so."""
        step = self.step + 1
        self.pruning_step.assign(step)
        sched = self.pruning_schedule
        if sched.should_prune(step):
            mask = magnitude_mask(_np(self.layer.kernel), sched.sparsity(step),
                                  _np(self.mask))
            self.mask.assign(mask)
            self.apply_mask()

    def apply_mask(self) -> None:
        """Write the zeros of the mask into the stored kernel."""
        self.layer.kernel.assign(ops.multiply(self.layer.kernel, self.mask))


def _walk(layers: list[Any]) -> list[Any]:
    """Every layer, nested models' layers included (depth first)."""
    out = []
    for layer in layers:
        out.append(layer)
        if isinstance(layer, keras.Model):
            out += _walk(layer.layers)
    return out


def pruned_layers(model: Any) -> list[PruneLowMagnitude]:
    return [layer for layer in _walk([model]) if isinstance(layer, PruneLowMagnitude)]


class UpdatePruningStep(keras.callbacks.Callback):
    """Callback for ``fit`` of a model from :func:`prune_low_magnitude`: before each batch it advances every pruned
    layer's step and recomputes its mask on the schedule; after each batch it writes the zeros into the kernels."""

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._layers = pruned_layers(self.model)
        if not self._layers:
            raise PruningError(f"UpdatePruningStep: model {self.model.name!r} has no pruned layer; build the model to "
                               "train with nnfpga.compress.prune_low_magnitude(model, ...)")
        for layer in self._layers:
            layer.fitting = True

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        for layer in self._layers:
            layer.advance()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        for layer in self._layers:
            layer.apply_mask()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        for layer in self._layers:
            layer.fitting = False


def _clone(model: Any, fn: Any, what: str) -> Any:
    """``keras.models.clone_model`` with ``fn`` on every layer; the weights are copied by ``fn``'s pairs."""
    pairs: list[tuple[Any, Any]] = []

    def clone(layer: Any) -> Any:
        new = fn(layer)
        pairs.append((layer, new))
        return new

    try:
        out = keras.models.clone_model(model, clone_function=clone, recursive=True)
    except ValueError as exc:
        raise PruningError(f"{what}: cannot rebuild model {model.name!r} ({type(model).__name__}): {exc}. "
                           "Use a Sequential or functional model, or wrap its Dense layers yourself with "
                           "nnfpga.compress.prune_low_magnitude(keras.layers.Dense(...), ...)") from None
    return out, pairs


def _plain_copy(layer: Any) -> Any:
    return layer.__class__.from_config(layer.get_config())


def prune_low_magnitude(to_prune: Any, target_sparsity: float = 0.75, *, end_step: int, begin_step: int = 0,
                        frequency: int = 100, initial_sparsity: float = 0.0, power: float = 3.0,
                        pruning_schedule: PolynomialDecay | None = None) -> Any:
    """A copy of the Keras model ``to_prune`` (same weights) whose plain Dense layers are pruned while training,
    each to ``target_sparsity`` of its kernel, on TFMOT's polynomial-decay schedule (``power`` 3, masks recomputed
    every ``frequency`` optimizer steps from ``begin_step`` to ``end_step``); or, given a Dense layer, the layer
    wrapped. Train the result with ``fit(..., callbacks=[UpdatePruningStep()])``, then :func:`strip` it.

    ``pruning_schedule`` (a :class:`PolynomialDecay`) replaces the schedule arguments, as in TFMOT. Raises
    :class:`~nnfpga.errors.PruningError` for invalid settings or a model without a plain Dense layer."""
    sched = schedule_of(target_sparsity, begin_step, end_step, frequency, initial_sparsity, power, pruning_schedule)
    if isinstance(to_prune, keras.layers.Layer) and not isinstance(to_prune, keras.Model):
        return PruneLowMagnitude(to_prune, sched)
    if not isinstance(to_prune, keras.Model):
        raise PruningError(f"prune_low_magnitude expects a keras.Model or a keras.layers.Dense, got "
                           f"{type(to_prune).__name__}")
    layers = _walk(to_prune.layers)
    if any(isinstance(layer, PruneLowMagnitude) for layer in layers):
        raise PruningError(f"model {to_prune.name!r} is already pruned (it has PruneLowMagnitude layers); "
                           "strip it first or train it as it is")
    dense = [layer for layer in layers if type(layer) is keras.layers.Dense]
    if not dense:
        kinds = sorted({type(layer).__name__ for layer in layers})
        raise PruningError(f"model {to_prune.name!r} has no Dense layer to prune (layers: {', '.join(kinds) or 'none'}"
                           "); prune_low_magnitude prunes the kernels of plain keras.layers.Dense layers")
    for layer in dense:
        _check_dense(layer)

    def wrap(layer: Any) -> Any:
        return PruneLowMagnitude(_plain_copy(layer), sched) if type(layer) is keras.layers.Dense else _plain_copy(layer)

    out, pairs = _clone(to_prune, wrap, "prune_low_magnitude")
    for old, new in pairs:
        (new.layer if isinstance(new, PruneLowMagnitude) else new).set_weights(old.get_weights())
    return out


def strip(model: Any) -> Any:
    """TFMOT's ``strip_pruning``: a plain Keras model (plain Dense layers, their kernels ``kernel * mask``, so the
    pruned weights are zeros) with the predictions of the pruned one; ``model`` is not changed. Warns when a layer
    has not reached its target sparsity (training stopped before ``end_step``)."""
    if isinstance(model, PruneLowMagnitude):
        _warn_short([model])
        dense = _plain_copy(model.layer)
        dense.build(model.layer.kernel.shape[:1])
        dense.set_weights([model.pruned_kernel(), *[_np(w) for w in model.layer.weights[1:]]])
        return dense
    if not isinstance(model, keras.Model):
        raise PruningError(f"strip expects a keras.Model from prune_low_magnitude, got {type(model).__name__}")
    _warn_short(pruned_layers(model))

    def unwrap(layer: Any) -> Any:
        return _plain_copy(layer.layer if isinstance(layer, PruneLowMagnitude) else layer)

    out, pairs = _clone(model, unwrap, "strip")
    for old, new in pairs:
        if isinstance(old, PruneLowMagnitude):
            new.set_weights([old.pruned_kernel(), *[_np(w) for w in old.layer.weights[1:]]])
        else:
            new.set_weights(old.get_weights())
    return out


strip_pruning = strip  # TFMOT's name


def _warn_short(layers: list[PruneLowMagnitude]) -> None:
    short = [(w, w.sparsity()) for w in layers if w.built and w.sparsity() < w.pruning_schedule.final_sparsity - 1e-9]
    if short:
        lines = ", ".join(f"{w.layer.name} {s:.1%} (step {w.step})" for w, s in short)
        warnings.warn(f"pruning has not reached its target sparsity in: {lines}; the schedule reaches "
                      f"{short[0][0].pruning_schedule.final_sparsity:.0%} at end_step "
                      f"{short[0][0].pruning_schedule.end_step}: train that many steps", stacklevel=3)


def sparsity(model: Any) -> dict[str, float]:
    """Dense layer name -> fraction of its kernel that is zero (the kernel the forward pass uses)."""
    out = {}
    for layer in _walk([model]):
        if isinstance(layer, PruneLowMagnitude):
            out[layer.layer.name] = layer_sparsity(layer.pruned_kernel())
        elif type(layer) is keras.layers.Dense:
            out[layer.name] = layer_sparsity(_np(layer.kernel))
    return out
