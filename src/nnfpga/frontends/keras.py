"""Keras 3 frontend: a Keras model (object or .keras/.h5 file) -> an untyped float :class:`Graph`.

Runs on any Keras 3 backend; nnfpga selects the torch backend when none is chosen, so TensorFlow is not
needed; a whole-model ``.h5`` of Keras 2 goes to :mod:`nnfpga.frontends.keras2`. Every unsupported layer is
collected and reported in one :class:`UnsupportedLayerError`.
A saved QKeras file goes to :mod:`nnfpga.frontends.qkeras` (no TensorFlow needed); HGQ2 layers to
:mod:`nnfpga.frontends.hgq`. The helpers at the end are shared by those quantization-aware frontends.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from nnfpga.errors import ModelLoadError, PruningError, ShapeError, UnsupportedLayerError
from nnfpga.frontends import identifier
from nnfpga.frontends.keras_common import (
    ACTIVATIONS,
    LAYERS,
    MERGE_LAYERS,
    activation_name,
    add_keras_layer,
    check_model_file,
)
from nnfpga.frontends.keras_recurrent import RECURRENT_LAYERS, convert_recurrent, several_inputs_reasons
from nnfpga.frontends.merge import add_merge
from nnfpga.ir.graph import Graph, Node


def import_keras() -> Any:
    """Import Keras 3, defaulting its backend to torch (TensorFlow is optional)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelLoadError(f"Keras 3 is not installed ({exc}); install nnfpga[keras]") from None
    return keras


# What a saved HGQ v1 model's config holds (v1 is the package ``HGQ``; HGQ2, which nnfpga reads, is ``hgq``)
HGQ1_MARKS = ('"FixedPointQuantizer"', '"module": "HGQ', '"class_name": "HQuantize"', '"class_name": "HDense"')


def load_keras_model(path: str | os.PathLike[str]) -> Any:
    """Load a ``.keras`` or ``.h5`` model file without compiling it; clear errors for missing/corrupt files."""
    p = check_model_file(path)
    keras = import_keras()
    if '"hgq' in _saved_config_text(p):
        from nnfpga.frontends.hgq import import_hgq

        import_hgq()  # registers HGQ2's layers with Keras' deserializer
    try:
        return keras.saving.load_model(p, compile=False)
    except Exception as exc:  # keras raises many types for bad files
        if any(mark in _saved_config_text(p) for mark in HGQ1_MARKS) or "FixedPointQuantizer" in str(exc):
            raise ModelLoadError(
                f"{str(p)!r} is an HGQ v1 model (package HGQ: HDense, HQuantize, or a proxy model's "
                "FixedPointQuantizer), which nnfpga does not read: it reads HGQ2 models (package hgq, Keras 3). "
                "Retrain or rebuild the model with HGQ2") from None
        raise ModelLoadError(f"cannot read {str(p)!r} as a Keras model: {type(exc).__name__}: {exc}") from None


def graph_from_keras(model: Any) -> Graph:
    """Translate a Keras model into an untyped float graph (one node per layer; Dense activations split off)."""
    if isinstance(model, (str, os.PathLike)):
        if _saved_qkeras(check_model_file(model)):
            from nnfpga.frontends.qkeras import graph_from_qkeras

            return graph_from_qkeras(model)
        from nnfpga.frontends.keras2 import graph_from_keras2_h5, is_keras2_h5

        if is_keras2_h5(model):  # written by TF 2.x Keras: read without TensorFlow
            return graph_from_keras2_h5(model)
        model = load_keras_model(model)
    keras = import_keras()
    if not isinstance(model, keras.Model):
        raise ModelLoadError(f"expected a keras.Model, got {type(model).__name__}")
    wrapped = [layer.name for layer in model.layers if type(layer).__name__ == "PruneLowMagnitude"]
    if wrapped:
        raise PruningError(f"model {model.name!r} is still wrapped for pruning ({', '.join(wrapped)}): convert "
                           "nnfpga.compress.strip(model), the plain model with the pruned weights set to zero")
    g = Graph(name=identifier(model.name))
    unsupported: list[tuple[str, str]] = []
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ShapeError(f"model {model.name!r} has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
                         "nnfpga supports one input and one output")
    in_shape = tuple(model.inputs[0].shape[1:])
    if any(d is None for d in in_shape):
        raise ShapeError(f"model input shape {tuple(model.inputs[0].shape)} has unknown dimensions; "
                         "give keras.Input a full shape")
    in_layer = model.inputs[0]._keras_history.operation.name
    g.add(Node(in_layer, "input", [], in_shape, source=f"InputLayer {in_layer!r}"))
    last: dict[str, str] = {in_layer: in_layer}  # keras layer name -> node producing its output

    # Layers downstream of an unsupported one see a made-up input (its producer's): their shape errors are not
    # reported, but they are still checked for support, so that every unsupported layer is listed at once.
    tainted: set[str] = set()
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        parents = [t._keras_history.operation.name for t in layer._inbound_nodes[0].input_tensors]
        merge = kind in MERGE_LAYERS
        if (len(parents) != 1 and not merge) or any(p not in last for p in parents):
            reasons = (several_inputs_reasons(layer, kind, len(parents)) if kind in RECURRENT_LAYERS
                       else [f"{kind} with {len(parents)} inputs"])
            unsupported.extend((layer.name, why) for why in reasons)
            tainted.add(layer.name)
            last[layer.name] = last[next((p for p in parents if p in last), in_layer)]
            continue
        src = last[parents[0]]
        n_unsupported = len(unsupported)
        upstream_tainted = any(p in tainted for p in parents)
        try:
            out = (_convert_merge(g, layer, kind, [last[p] for p in parents]) if merge else
                   _convert_layer(g, layer, kind, src, unsupported))
        except ShapeError:
            if not upstream_tainted:
                raise
            out = None
        if upstream_tainted or len(unsupported) > n_unsupported:
            tainted.add(layer.name)
        last[layer.name] = out if out is not None else src
    if unsupported:
        raise UnsupportedLayerError(unsupported, supported=LAYERS + RECURRENT_LAYERS, activations=tuple(ACTIVATIONS))
    g.outputs = [last[model.outputs[0]._keras_history.operation.name]]
    return g


def _convert_merge(g: Graph, layer: Any, kind: str, srcs: list[str]) -> str:
    """A Keras merge layer; Concatenate's ``axis`` counts the batch axis (Keras), the IR's does not."""
    axis = int(layer.get_config().get("axis", -1)) if kind == "Concatenate" else -1
    return add_merge(g, MERGE_LAYERS[kind], layer.name, srcs, f"{kind} {layer.name!r}",
                     axis=axis - 1 if axis > 0 else axis)


def _convert_layer(g: Graph, layer: Any, kind: str, src: str, unsupported: list[tuple[str, str]]) -> str | None:
    if type(layer).__module__.startswith("hgq"):
        from nnfpga.frontends.hgq import convert_hgq_layer

        return convert_hgq_layer(g, layer, kind, src, unsupported)
    if kind in RECURRENT_LAYERS or kind == "Masking":
        return convert_recurrent(g, layer, kind, src, unsupported)
    act = activation_name(layer.activation) if hasattr(layer, "activation") else None
    ws = {w.path.split("/")[-1]: np.asarray(w.numpy() if hasattr(w, "numpy") else w, dtype=np.float64)
          for w in layer.weights}
    return add_keras_layer(g, kind, layer.name, src, layer.get_config(), act, ws, unsupported)


QKERAS_CLASSES = ("QDense", "QActivation", "QConv1D", "QConv2D", "QDepthwiseConv2D", "QSeparableConv1D",
                  "QSeparableConv2D", "QAveragePooling2D", "QGlobalAveragePooling2D", "QLSTM", "QGRU", "QSimpleRNN")


def _saved_qkeras(path: Path) -> bool:
    """Whether ``path`` holds a QKeras model: QKeras modules named in its config, or (older files, which name
    no module) QKeras layer classes and nothing from HGQ2."""
    text = _saved_config_text(path)
    return '"qkeras.' in text or ('"hgq' not in text
                                  and any(f'"class_name": "{c}"' in text for c in QKERAS_CLASSES))


def _saved_config_text(path: Path) -> str:
    """The model config saved in ``path`` as JSON text ("" when there is none to read)."""
    from nnfpga.frontends.qkeras import read_config

    try:
        return json.dumps(read_config(path))
    except Exception:  # no config or unreadable: the Keras loader reports it
        return ""
