"""Legacy Keras 2 files, as hls4ml's model zoo stores them, read with json and h5py (no TensorFlow, no Keras).

The format facts relied on (Keras 2.x ``Model.to_json`` / ``save_weights`` / ``save(..., save_format="h5")``, and
hls4ml 1.3's reader ``hls4ml/converters/keras_v2_to_hls.py``, which walks the same layout):

* Architecture JSON: ``{"class_name": "Sequential" | "Model" | "Functional", "config": ..., "keras_version":
  "2.x", "backend": "tensorflow"}``. A Sequential's ``config`` is ``{"name", "layers": [...]}`` (before Keras
  2.2.3 the bare list); each layer is ``{"class_name", "config": {"name", ...}}``; the input shape is the
  ``batch_input_shape`` of an ``InputLayer`` or, without one (TF < 2.3), of the first layer (hls4ml then names
  the input ``input1``: so does this reader). A functional model's ``config`` has ``layers`` (each also with
  ``name`` and ``inbound_nodes: [[[parent, node_index, tensor_index, kwargs], ...]]``), ``input_layers`` and
  ``output_layers`` (``[[name, 0, 0]]``).
* Weights HDF5 (``save_weights``): one group per layer name, whose attribute ``weight_names`` lists its weights
  as paths inside the group (``b"fc1/kernel:0"``, ``b"fc1/bias:0"``; batch norm: ``gamma``, ``beta``,
  ``moving_mean``, ``moving_variance``), in ``get_weights()`` order; the root attributes are ``layer_names``,
  ``backend`` and ``keras_version``.
* Whole-model HDF5 (TF 2.x ``model.save("m.h5")``): root attribute ``model_config`` (the architecture JSON, str
  or bytes) and ``keras_version``; the weights in group ``model_weights``, laid out as above.

Layers are mapped by the Keras frontend's own code (:func:`~nnfpga.frontends.keras_common.add_keras_layer`,
:func:`~nnfpga.frontends.merge.add_merge`); every unsupported layer is listed in one
:class:`~nnfpga.errors.UnsupportedLayerError`.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from nnfpga.errors import ModelLoadError, ShapeError, UnsupportedLayerError
from nnfpga.frontends import identifier
from nnfpga.frontends.keras_common import ACTIVATIONS, LAYERS, MERGE_LAYERS, add_keras_layer
from nnfpga.frontends.merge import add_merge
from nnfpga.ir.graph import Graph, Node

SEQUENTIAL_INPUT = "input1"  # hls4ml's name for the implicit input of an old Sequential


def is_keras2_h5(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an HDF5 model written by Keras 2 (root ``keras_version`` 2.x and a ``model_config``)."""
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as f:
            version = _text(f.attrs.get("keras_version", ""))
            return version.startswith("2.") and "model_config" in f.attrs
    except OSError:
        return False


def graph_from_keras2_h5(path: str | os.PathLike[str]) -> Graph:
    """A whole-model ``.h5`` of TF 2.x Keras -> untyped graph."""
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as f:
            if "model_config" not in f.attrs:
                raise ModelLoadError(f"{str(path)!r} has no 'model_config' attribute: it holds weights only; "
                                     "give the architecture JSON too (KerasJson + KerasH5)")
            arch = json.loads(_text(f.attrs["model_config"]))
            return _read(arch, f["model_weights"] if "model_weights" in f else f, str(path))
    except OSError as exc:
        raise ModelLoadError(f"cannot read {str(path)!r} as a Keras 2 HDF5 model: {exc}") from None


def graph_from_keras2_json(arch: str | os.PathLike[str] | dict[str, Any], weights: str | os.PathLike[str]) -> Graph:
    """A Keras 2 architecture (``model.to_json()`` file, or the parsed dict) and its ``save_weights`` ``.h5``
    -> untyped graph."""
    if not isinstance(arch, dict):
        try:
            arch = json.loads(Path(arch).read_text())
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot read the Keras model JSON {str(arch)!r}: {exc}") from None
    h5py = _h5py()
    try:
        with h5py.File(weights, "r") as f:
            return _read(arch, f["model_weights"] if "model_weights" in f else f, str(weights))
    except OSError as exc:
        raise ModelLoadError(f"cannot read the Keras weights {str(weights)!r}: {exc}") from None


def _read(arch: Any, weights: Any, where: str) -> Graph:
    if not isinstance(arch, dict) or arch.get("class_name") not in ("Sequential", "Model", "Functional"):
        got = arch.get("class_name") if isinstance(arch, dict) else type(arch).__name__
        raise ModelLoadError(f"expected a Keras model architecture with class_name Sequential, Model or Functional, "
                             f"got {got!r}")
    cfg = arch.get("config")
    layers = cfg if isinstance(cfg, list) else (cfg or {}).get("layers", [])
    name = "model" if isinstance(cfg, list) else str(cfg.get("name", "model"))
    g = Graph(name=identifier(name))
    if arch["class_name"] == "Sequential":
        layers = _sequential_links(layers)
        outputs = [layers[-1]["name"]] if layers else []
    else:
        outputs = [o[0] for o in cfg.get("output_layers", [])]
        if len(cfg.get("input_layers", [])) != 1 or len(outputs) != 1:
            raise ShapeError(f"model {name!r} has {len(cfg.get('input_layers', []))} inputs and {len(outputs)} "
                             "outputs; nnfpga supports one input and one output")
    last: dict[str, str] = {}
    unsupported: list[tuple[str, str]] = []
    for layer in layers:
        out = _layer(g, layer, last, weights, unsupported, where)
        last[layer["name"]] = out
    if unsupported:
        raise UnsupportedLayerError(unsupported, supported=LAYERS, activations=tuple(ACTIVATIONS))
    g.outputs = [last[outputs[0]]]
    return g


def _sequential_links(layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A Sequential's layers with functional-style names and parents (an InputLayer first)."""
    out = []
    if layers and layers[0].get("class_name") != "InputLayer":
        shape = layers[0].get("config", {}).get("batch_input_shape")
        out.append({"class_name": "InputLayer", "name": SEQUENTIAL_INPUT,
                    "config": {"name": SEQUENTIAL_INPUT, "batch_input_shape": shape}})
    out += [{**layer, "name": layer["config"]["name"]} for layer in layers]
    for prev, layer in itertools.pairwise(out):
        layer["parents"] = [prev["name"]]
    return out


def _layer(g: Graph, layer: dict[str, Any], last: dict[str, str], weights: Any,
           unsupported: list[tuple[str, str]], where: str) -> str:
    kind, cfg, name = layer["class_name"], layer.get("config", {}), layer["name"]
    if kind == "InputLayer":
        shape = tuple(cfg.get("batch_input_shape") or cfg.get("batch_shape") or ())[1:]
        if not shape or any(not isinstance(d, int) for d in shape):
            raise ShapeError(f"InputLayer {name!r} has shape {cfg.get('batch_input_shape')}; nnfpga needs every "
                             "per-sample dimension known")
        return g.add(Node(name, "input", [], shape, source=f"InputLayer {name!r}")).name
    parents = layer.get("parents") or [n[0] for n in (layer.get("inbound_nodes") or [[]])[0]]
    if not parents or any(p not in last for p in parents):
        unsupported.append((name, f"{kind} with inputs {parents}"))
        return next((last[p] for p in parents if p in last), next(iter(last.values()), name))
    srcs = [last[p] for p in parents]
    if kind in MERGE_LAYERS:
        axis = int(cfg.get("axis", -1)) if kind == "Concatenate" else -1
        return add_merge(g, MERGE_LAYERS[kind], name, srcs, f"{kind} {name!r}", axis=axis - 1 if axis > 0 else axis)
    if len(srcs) != 1:
        unsupported.append((name, f"{kind} with {len(srcs)} inputs"))
        return srcs[0]
    ws = _weights(weights, name, where)
    act = cfg.get("activation") if kind in ("Dense", "Activation") else None
    try:
        out = add_keras_layer(g, kind, name, srcs[0], cfg, act if isinstance(act, str) or act is None else str(act),
                              ws, unsupported)
    except ShapeError:
        if not unsupported:
            raise
        out = None  # downstream of an unsupported layer: its shape is made up, report the support errors
    return out if out is not None else srcs[0]


def _weights(root: Any, layer: str, where: str) -> dict[str, np.ndarray]:
    """Layer ``layer``'s weights by short name (``kernel``, ``bias``...), from its group's ``weight_names``."""
    if layer not in root:
        return {}
    group = root[layer]
    out = {}
    for raw in group.attrs.get("weight_names", []):
        path = _text(raw)
        if path not in group:
            raise ModelLoadError(f"{where}: layer {layer!r} lists weight {path!r}, which the file lacks")
        out[path.split("/")[-1].split(":")[0]] = np.asarray(group[path][()], dtype=np.float64)
    return out


def _text(v: Any) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _h5py() -> Any:
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelLoadError(f"reading Keras 2 HDF5 files needs h5py ({exc}); install nnfpga[keras]") from None
    return h5py
