"""Write legacy Keras 2 files (as TF 2.x Keras writes them, see nnfpga.frontends.keras2 for the format facts) from
a Keras 3 model's layers and weights, with json and h5py only: TensorFlow is not installed here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

KERAS_VERSION = "2.9.0"
INITIALIZER = {"class_name": "GlorotUniform", "config": {"seed": None}}


def layer_config(layer: Any) -> dict[str, Any]:
    """A Keras 2 ``get_config()`` of a Keras 3 layer: plain dtype, Keras 2 initializer dicts, ``alpha`` for
    LeakyReLU, ``batch_input_shape`` for InputLayer."""
    kind = type(layer).__name__
    cfg = layer.get_config()
    if kind == "InputLayer":
        return {"batch_input_shape": [None, *cfg["batch_shape"][1:]], "dtype": "float32", "sparse": False,
                "ragged": False, "name": layer.name}
    out: dict[str, Any] = {"name": layer.name, "trainable": True, "dtype": "float32"}
    for k, v in cfg.items():
        if k in ("name", "trainable", "dtype"):
            continue
        if isinstance(v, dict) and "class_name" in v:  # initializers, regularizers: Keras 2's shape
            out[k] = INITIALIZER if k.endswith("initializer") else None
        else:
            out[k] = v
    if kind == "LeakyReLU":
        out["alpha"] = out.pop("negative_slope")
    return out


def architecture(model: Any, *, functional: bool = False, old_sequential: bool = False) -> dict[str, Any]:
    """``model.to_json()`` of Keras 2 (parsed): Sequential (``old_sequential``: the pre-2.2.3 bare list without an
    InputLayer, the input shape on the first layer) or Functional."""
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    inp = model.inputs[0]._keras_history.operation
    if functional:
        entries = [{"class_name": "InputLayer", "config": layer_config(inp), "name": inp.name, "inbound_nodes": []}]
        for layer in layers:
            parents = [t._keras_history.operation.name for t in layer._inbound_nodes[0].input_tensors]
            entries.append({"class_name": type(layer).__name__, "config": layer_config(layer), "name": layer.name,
                            "inbound_nodes": [[[p, 0, 0, {}] for p in parents]]})
        out_name = model.outputs[0]._keras_history.operation.name
        config: Any = {"name": model.name, "layers": entries, "input_layers": [[inp.name, 0, 0]],
                       "output_layers": [[out_name, 0, 0]]}
        return {"class_name": "Functional", "config": config, "keras_version": KERAS_VERSION, "backend": "tensorflow"}
    entries = [{"class_name": type(layer).__name__, "config": layer_config(layer)} for layer in layers]
    if old_sequential:
        entries[0]["config"]["batch_input_shape"] = [None, *inp.batch_shape[1:]]
        config = entries
    else:
        config = {"name": model.name,
                  "layers": [{"class_name": "InputLayer", "config": layer_config(inp)}, *entries]}
    return {"class_name": "Sequential", "config": config, "keras_version": KERAS_VERSION, "backend": "tensorflow"}


def write_weights(group: Any, model: Any, names: dict[str, str] | None = None) -> None:
    """``save_weights`` layout into ``group``: ``layer_names``; per layer a group with ``weight_names``
    (``b"fc1/kernel:0"``...) and the datasets at those paths, in ``get_weights()`` order."""
    names = names or {}
    group.attrs["layer_names"] = np.array([layer.name.encode() for layer in model.layers])
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = KERAS_VERSION.encode()
    for layer in model.layers:
        g = group.create_group(layer.name)
        wnames = [f"{layer.name}/{names.get(w.path.split('/')[-1], w.path.split('/')[-1])}:0".encode()
                  for w in layer.weights]
        g.attrs["weight_names"] = np.array(wnames, dtype="S") if wnames else np.array([], dtype="S1")
        for n, w in zip(wnames, layer.get_weights(), strict=True):
            g.create_dataset(n.decode(), data=np.asarray(w, dtype=np.float32))


def save_json_and_weights(model: Any, folder: Path, **arch_kw: Any) -> tuple[Path, Path]:
    """``model.json`` (``to_json()``) and ``weights.h5`` (``save_weights``) as Keras 2 writes them."""
    js, h5 = folder / "model.json", folder / "weights.h5"
    js.write_text(json.dumps(architecture(model, **arch_kw)))
    with h5py.File(h5, "w") as f:
        write_weights(f, model)
    return js, h5


def save_whole_h5(model: Any, path: Path, **arch_kw: Any) -> Path:
    """A TF 2.x ``model.save("m.h5")`` file: root ``model_config`` (JSON str), ``keras_version``, ``backend``;
    the weights in group ``model_weights``."""
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(architecture(model, **arch_kw))
        f.attrs["keras_version"] = KERAS_VERSION
        f.attrs["backend"] = "tensorflow"
        write_weights(f.create_group("model_weights"), model)
    return path


def edited_h5(tmp_path: Path, source: Path, edit: Any) -> Path:
    """A copy of the Keras 2 file ``source`` whose saved model config ``edit(layers_by_name)`` changed in place."""
    import shutil

    path = tmp_path / f"edited_{source.name}"
    shutil.copy(source, path)
    with h5py.File(path, "r+") as f:
        cfg = json.loads(f.attrs["model_config"])
        edit({layer["config"]["name"]: layer["config"] for layer in cfg["config"]["layers"]})
        f.attrs["model_config"] = json.dumps(cfg)
    return path
