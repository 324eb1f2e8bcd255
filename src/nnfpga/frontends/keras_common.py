"""What the Keras-family frontends share (Keras 3 models, QKeras files, HGQ2 layers): the activation names, the
model-file check, the plain layers (BatchNormalization, Dropout, Flatten, Reshape), and the helpers that pin the
exact types of quantization-aware layers. The Keras frontend dispatches to the QKeras and HGQ2 ones; they all
import from here, not from each other."""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from nnfpga.errors import ModelLoadError, ShapeError
from nnfpga.fixed import FixedType
from nnfpga.frontends import FLOAT32_EXACT_BITS, Rejected
from nnfpga.frontends.keras_conv import SPATIAL_LAYERS, add_spatial_layer
from nnfpga.ir.graph import Graph, Node
from nnfpga.ops import OPS

# Keras activation name -> (nnfpga op, attrs)
ACTIVATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "linear": ("linear", {}),
    "relu": ("relu", {}),
    "relu6": ("relu", {"max_value": 6.0}),
    "leaky_relu": ("leaky_relu", {"alpha": 0.2}),  # keras.activations.leaky_relu's default slope
    "elu": ("elu", {"alpha": 1.0}),
    "sigmoid": ("sigmoid", {}),
    "tanh": ("tanh", {}),
    "hard_sigmoid": ("hard_sigmoid", {"slope": 1 / 6, "offset": 0.5}),
    "hard_tanh": ("hard_tanh", {}),
    "softmax": ("softmax", {}),
}

# Keras merge layer -> nnfpga merge op (several inputs)
MERGE_LAYERS = {"Add": "add", "Subtract": "subtract", "Multiply": "multiply", "Average": "average",
                "Maximum": "maximum", "Minimum": "minimum", "Concatenate": "concatenate"}
LAYERS = ("InputLayer", "Dense", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "BatchNormalization",
          "Dropout", "Flatten", "Reshape", *MERGE_LAYERS, *SPATIAL_LAYERS)


def check_model_file(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path, if it looks like a Keras model file (.keras zip or .h5 HDF5); else ModelLoadError."""
    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"model file {str(p)!r} does not exist")
    suffix = p.suffix.lower()
    if suffix not in (".keras", ".h5", ".hdf5"):
        raise ModelLoadError(f"cannot read {str(p)!r}: expected a Keras model file ending in .keras or .h5, "
                             f"got {suffix or 'no suffix'!r}")
    with open(p, "rb") as f:
        magic = f.read(8)
    if suffix == ".keras" and not zipfile.is_zipfile(p):
        raise ModelLoadError(f"cannot read {str(p)!r}: a .keras file is a zip archive, but this file is not "
                             f"(it starts with {magic!r}); is it truncated or of another format?")
    if suffix != ".keras" and magic != b"\x89HDF\r\n\x1a\n":
        raise ModelLoadError(f"cannot read {str(p)!r}: an .h5 model is an HDF5 file, "
                             "but this file does not start with the HDF5 signature")
    return p


PLAIN_LAYERS = ("BatchNormalization", "Dropout", "Flatten", "Reshape")


def add_plain_layer(g: Graph, kind: str, name: str, src: str, cfg: dict[str, Any], ws: dict[str, Any],
                    source: str) -> str:
    """A layer of :data:`PLAIN_LAYERS` (Keras config ``cfg``, weights ``ws`` by name), shared by the Keras and
    the QKeras-file frontends."""
    shape = g[src].shape
    if kind == "BatchNormalization":
        n = shape[-1]
        gamma, beta = ws.get("gamma", np.ones(n)), ws.get("beta", np.zeros(n))
        scale = np.asarray(gamma, dtype=np.float64) / np.sqrt(np.asarray(ws["moving_variance"], dtype=np.float64)
                                                              + float(cfg.get("epsilon", 1e-3)))
        shift = np.asarray(beta, dtype=np.float64) - np.asarray(ws["moving_mean"], dtype=np.float64) * scale
        return g.add(Node(name, "scale_shift", [src], shape, weights={"scale": scale, "shift": shift},
                          source=source)).name
    if kind == "Dropout":
        return g.add(Node(name, "dropout", [src], shape, source=source)).name
    if kind == "Flatten":
        return g.add(Node(name, "flatten", [src], (int(np.prod(shape)),), source=source)).name
    target = tuple(int(d) for d in cfg["target_shape"])  # Reshape
    if -1 in target:
        known = int(np.prod([d for d in target if d != -1]))
        target = tuple(int(np.prod(shape)) // known if d == -1 else d for d in target)
    if int(np.prod(target)) != int(np.prod(shape)):
        raise ShapeError(f"Reshape {name!r}: cannot reshape {shape} to {target}")
    return g.add(Node(name, "reshape", [src], target, source=source)).name


def add_keras_layer(g: Graph, kind: str, name: str, src: str, cfg: dict[str, Any], act: str | None,
                    ws: dict[str, Any], unsupported: list[tuple[str, str]]) -> str | None:
    """A single-input Keras layer of class ``kind`` (Dense, the activations, :data:`PLAIN_LAYERS`, the convolution,
    pooling, padding, cropping and upsampling layers of :mod:`~nnfpga.frontends.keras_conv`) reading node
    ``src``, from its config ``cfg``, activation name ``act`` and weights ``ws`` by short name (``kernel``,
    ``bias``, ``gamma``...): shared by the Keras 3 frontend and the Keras 2 file reader. Returns the node that
    carries its output, or None after adding it to ``unsupported``."""
    shape = g[src].shape
    source = f"{kind} {name!r}"
    if kind == "Dense" or kind in SPATIAL_LAYERS:
        act = act or "linear"
        if act not in ACTIVATIONS:
            unsupported.append((name, f"{kind} activation {act!r}"))
        if kind == "Dense":
            if len(shape) != 1:
                raise ShapeError(f"Dense {name!r} receives per-sample shape {shape}; nnfpga supports Dense on flat "
                                 "vectors: add a Flatten before it")
            kernel = np.asarray(ws["kernel"], dtype=np.float64)
            bias = np.asarray(ws["bias"], dtype=np.float64) if "bias" in ws else np.zeros(kernel.shape[1])
            out = g.add(Node(name, "dense", [src], (kernel.shape[1],), weights={"kernel": kernel, "bias": bias},
                             source=source)).name
        else:
            out = add_spatial_layer(g, kind, name, src, cfg, ws, unsupported)
        if out is None or act == "linear" or act not in ACTIVATIONS:
            return out
        op, attrs = ACTIVATIONS[act]
        act_node = Node(g.unique_name(f"{name}_{act}"), op, [out], g[out].shape, dict(attrs), source=source)
        return g.add(act_node).name
    if kind == "Activation":
        if act == "relu" and known_type(g, src) is not None:  # after a quantized layer: keep the type exact
            return _add_act(g, name, "relu", src, {"qtypes": {"result": str(relu_type(known_type(g, src)))}},
                            source)
        if act not in ACTIVATIONS:
            unsupported.append((name, f"Activation {act!r}"))
            return None
        op, attrs = ACTIVATIONS[act]
        return _add_act(g, name, op, src, dict(attrs), source)
    if kind == "ReLU":
        slope, thr, mx = cfg.get("negative_slope", 0.0), cfg.get("threshold", 0.0), cfg.get("max_value")
        if thr != 0 or (slope and mx is not None):
            unsupported.append((name, f"ReLU(threshold={thr}, negative_slope={slope}, max_value={mx})"))
            return None
        if slope:
            return _add_act(g, name, "leaky_relu", src, {"alpha": float(slope)}, source)
        return _add_act(g, name, "relu", src, {} if mx is None else {"max_value": float(mx)}, source)
    if kind == "LeakyReLU":
        alpha = float(cfg.get("negative_slope", cfg.get("alpha", 0.3)))
        return _add_act(g, name, "leaky_relu", src, {"alpha": alpha}, source)
    if kind == "ELU":
        return _add_act(g, name, "elu", src, {"alpha": float(cfg.get("alpha", 1.0))}, source)
    if kind == "Softmax":
        axis = cfg.get("axis", -1)
        if axis not in (-1, len(shape)):
            unsupported.append((name, f"Softmax over axis {axis}"))
            return None
        return _add_act(g, name, "softmax", src, {}, source)
    if kind == "BatchNormalization":
        axis = cfg.get("axis", -1)
        axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
        if axis not in (-1, len(shape)):
            unsupported.append((name, f"BatchNormalization over axis {axis}"))
            return None
    if kind in PLAIN_LAYERS:
        return add_plain_layer(g, kind, name, src, cfg, ws, source)
    unsupported.append((name, kind))
    return None


def _add_act(g: Graph, name: str, op: str, src: str, attrs: dict[str, Any], source: str) -> str:
    return g.add(Node(name, op, [src], g[src].shape, attrs, source=source)).name



def activation_name(fn: Any) -> str:
    return getattr(fn, "__name__", str(fn))


# -- helpers shared by the quantization-aware frontends (QKeras, HGQ2) ----------------------------------------




def known_type(g: Graph, name: str) -> FixedType | None:
    """The exact type of node ``name``'s output when a quantization-aware frontend pinned it (shape ops pass
    their input's through)."""
    node = g[name]
    while OPS[node.op].view:
        node = g[node.inputs[0]]
    result = node.attrs.get("qtypes", {}).get("result")
    return FixedType.parse(result) if result is not None else None


def pin_input(g: Graph, src: str, t: FixedType) -> None:
    """A quantizer applied to the graph input (through shape ops only): the input node converts to its type."""
    node = g[src]
    while OPS[node.op].view:
        node = g[node.inputs[0]]
    if node.op == "input":
        node.attrs.setdefault("qtypes", {}).setdefault("result", str(t))


def exact_weight_type(values: np.ndarray) -> FixedType:
    """The narrowest signed type that holds every value of ``values`` exactly (values must be dyadic)."""
    v = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(v)):
        raise Rejected("non-finite quantized weights")
    nz = v[v != 0]
    if nz.size == 0:
        return FixedType(2, 2)
    frac = 0
    for f in range(-int(np.frexp(nz)[1].max()) - 1, 1100):
        if np.all(np.ldexp(nz, f) == np.round(np.ldexp(nz, f))):
            frac = f
            break
    m = np.round(np.ldexp(v, frac))
    width = max(int(-m.min() - 1).bit_length() if m.min() < 0 else 0, int(m.max()).bit_length()) + 1
    return FixedType(width, width - frac)


def pin_exact_dense(g: Graph, node: Node, in_type: FixedType | None) -> FixedType | None:
    """Pin a quantized Dense's (or Conv's: any op with ``exact_accum``) result to its exact accumulator type when
    the input type is known."""
    q = node.attrs.get("qtypes", {})
    if in_type is None or "weight" not in q or "bias" not in q:
        return None
    probe = Node(node.name, node.op, [], node.shape, dict(node.attrs), weights=node.weights,
                 types={"weight": FixedType.parse(q["weight"]), "bias": FixedType.parse(q["bias"])})
    t = OPS[node.op].exact_accum(probe, in_type)
    if t.width > FLOAT32_EXACT_BITS:
        warnings.warn(f"{node.source}: exact sums need {t.width} bits ({t}); the framework computes them in "
                      f"float32 (exact to {FLOAT32_EXACT_BITS} bits), so its own outputs may be rounded where nnfpga's "
                      "are exact", stacklevel=4)
    q["result"] = str(t)
    return t


def relu_type(t: FixedType) -> FixedType:
    return FixedType(max(t.width - 1, 1), t.integer - 1, signed=False) if t.signed else t
