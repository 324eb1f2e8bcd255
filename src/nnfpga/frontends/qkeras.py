"""QKeras frontend: a saved QKeras model file (.h5 or .keras) -> an untyped :class:`Graph` with pinned types.

Reads the file with h5py and json only: TensorFlow and QKeras are not needed. Each quantizer becomes the
exact fixed-point type it implements (``node.attrs["qtypes"]``, see :func:`nnfpga.config.apply.pinned_types`):

- ``quantized_bits(bits, integer, symmetric, keep_negative, alpha)`` computes
  ``m_i * clip(round(x * m / m_i), lo, m - 1) / m`` with ``m = 2**(bits - keep_negative)``, ``m_i = 2**integer``,
  ``round`` half to even (``tf.round``) and ``lo = -m + symmetric`` (``0`` without keep_negative): that is
  ``ap_fixed<bits, integer+1, AP_RND_CONV, AP_SAT>`` (``AP_SAT_SYM`` when symmetric) or
  ``ap_ufixed<bits, integer, AP_RND_CONV, AP_SAT>``.
- ``quantized_relu(bits, integer)`` clips ``round(x * 2**bits / m_i) / 2**bits`` to ``[0, 1 - 2**-bits]``
  (times ``m_i``): ``ap_ufixed<bits, integer, AP_RND_CONV, AP_SAT>``.
- ``binary`` and ``ternary`` kernels are the values ``±alpha`` (and ``0``), exactly.
- ``quantized_tanh(bits)`` / ``quantized_sigmoid(bits)`` activations are QKeras's hard curves (``clip(x, -1, 1)``,
  ``clip(0.5 x + 0.5, 0, 1)``; the tables with ``use_real_*``) cast to ``ap_fixed<bits, 1, AP_RND_CONV, AP_SAT>``
  / ``ap_ufixed<bits, 0, AP_RND_CONV, AP_SAT>`` (:func:`~nnfpga.frontends.qkeras_common.curve_quantizer`).
  ``"hard_sigmoid"`` is QKeras's own ``clip(0.5 x + 0.5, 0, 1)`` in a QKeras layer (``get_quantizer`` finds it
  before Keras's) and Keras 2's ``clip(0.2 x + 0.5, 0, 1)`` in a plain Keras 2 layer.

Quantized weights are stored dequantized (exact) with the narrowest type that holds every one of them.
QConv1D/2D, QDepthwiseConv2D, QSeparableConv1D/2D, Q(Global)AveragePooling2D and Keras's conv, pooling, padding,
cropping and upsampling layers between them are read by :mod:`nnfpga.frontends.qkeras_conv`, with exact types too;
QLSTM, QGRU, QSimpleRNN (and Keras 2's LSTM, GRU, SimpleRNN) by :mod:`nnfpga.frontends.qkeras_recurrent`.
A Dense whose input type is known exactly gets an exact result type: QKeras computes it in float32, which is
exact while the sums fit in 24 bits (a warning says when they may not). A binary activation becomes an exact
``x * 2**(F+1) + 1`` (ScaleShift) followed by a HardTanh to ``{-1, +1}`` (or a ReLU capped at 1 for ``{0, 1}``).
Anything whose output is not a fixed-point value (``alpha="auto"``/``"auto_po2"``, non-power-of-two alphas,
``qnoise_factor != 1``, sigmoid/slope variants, other quantizers) is listed in one UnsupportedLayerError.
"""

from __future__ import annotations

import io
import json
import os
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from nnfpga.errors import ModelLoadError, ShapeError, UnsupportedLayerError
from nnfpga.fixed import FixedType
from nnfpga.frontends import Rejected, identifier
from nnfpga.frontends.keras_common import (
    ACTIVATIONS,
    PLAIN_LAYERS,
    add_plain_layer,
    check_model_file,
    exact_weight_type,
    known_type,
    pin_exact_dense,
    pin_input,
    relu_type,
)
from nnfpga.frontends.keras_conv import SPATIAL_LAYERS
from nnfpga.frontends.qkeras_common import (
    CURVES,
    QUANTIZERS,
    activation_type,
    curve_quantizer,
    parse_quantizer,
    po2_exponent,
    quantize_weights,
)
from nnfpga.frontends.qkeras_conv import QCONV_LAYERS, add_qkeras_spatial
from nnfpga.frontends.qkeras_recurrent import QRECURRENT_LAYERS, add_qkeras_recurrent
from nnfpga.ir.graph import Graph, Node
from nnfpga.ops.recurrent_arith import GATE_ACTIVATIONS

QKERAS_LAYERS = ("InputLayer", "QDense", "QActivation", "Dense", "Activation", "BatchNormalization", "Dropout",
                 "Flatten", "Reshape", *QCONV_LAYERS, *SPATIAL_LAYERS, *QRECURRENT_LAYERS)
HARD_SIGMOID = {True: "hard_sigmoid_qkeras", False: "hard_sigmoid_keras2"}  # by "is a QKeras layer"
__all__ = ["QKERAS_LAYERS", "QUANTIZERS", "activation_type", "graph_from_qkeras", "parse_quantizer",
           "quantize_weights", "read_config", "read_weights"]
# -- reading saved files ------------------------------------------------------------------------------
def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The model config (JSON) of a saved .h5 or .keras file, without loading any framework."""
    import h5py

    p = Path(path)
    if zipfile.is_zipfile(p):
        with zipfile.ZipFile(p) as z:
            return json.loads(z.read("config.json"))
    with h5py.File(p, "r") as f:
        if "model_config" not in f.attrs:
            raise ModelLoadError(f"cannot read {str(p)!r}: the HDF5 file has no model config (weights only?)")
        raw = f.attrs["model_config"]
    return json.loads(raw.decode() if isinstance(raw, bytes) else raw)


def _snake(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def read_weights(path: Path, layers: list[dict[str, Any]]) -> dict[str, dict[str, np.ndarray]]:
    """Layer name -> {"kernel", "bias", "gamma", ...: array}, from Keras 2's HDF5 layout or the .keras zip."""
    import h5py

    out: dict[str, dict[str, np.ndarray]] = {}
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z, h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
            counts: dict[str, int] = {}
            for layer in layers:  # the zip names layers by class, numbered in model order
                base = _snake(layer["class_name"])
                key = base if counts.get(base, 0) == 0 else f"{base}_{counts[base]}"
                counts[base] = counts.get(base, 0) + 1
                group = f.get(f"layers/{key}/vars")
                if layer["class_name"] in QRECURRENT_LAYERS:  # a recurrent layer's variables are its cell's
                    group = f.get(f"layers/{key}/cell/vars")
                arrays = [np.asarray(group[str(i)]) for i in range(len(group))] if group is not None else []
                out[layer["config"]["name"]] = dict(zip(_var_names(layer), arrays, strict=False))
        return out
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        for name in root:
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in root[name].attrs.get("weight_names", [])]
            out[name] = {n.split("/")[-1].split(":")[0]: np.asarray(root[name][n]) for n in names}
    return out


def _var_names(layer: dict[str, Any]) -> list[str]:
    cfg = layer["config"]
    if layer["class_name"] == "BatchNormalization":
        return [*(["gamma"] if cfg.get("scale", True) else []), *(["beta"] if cfg.get("center", True) else []),
                "moving_mean", "moving_variance"]
    if "DepthwiseConv" in layer["class_name"] or "SeparableConv" in layer["class_name"]:
        pointwise = ["pointwise_kernel"] if "Separable" in layer["class_name"] else []
        return ["depthwise_kernel", *pointwise, "bias"]
    if layer["class_name"] in QRECURRENT_LAYERS:
        return ["kernel", "recurrent_kernel", "bias"]
    return ["kernel", "bias"]


# -- the graph ----------------------------------------------------------------------------------------
def graph_from_qkeras(path: str | os.PathLike[str]) -> Graph:
    """Translate a saved QKeras model (Keras 2 .h5 or .keras) into an untyped graph with pinned types."""
    p = check_model_file(path)
    config = read_config(p)
    cfg = config.get("config", {})
    layers = cfg["layers"] if isinstance(cfg, dict) else cfg
    weights = read_weights(p, layers)
    g = Graph(name=identifier(cfg.get("name", "model") if isinstance(cfg, dict) else "model"))
    unsupported: list[tuple[str, str]] = []
    last: dict[str, str] = {}
    sequential = config.get("class_name") == "Sequential"
    for i, layer in enumerate(layers):
        kind, lc = layer["class_name"], layer["config"]
        name = lc["name"]
        shape = lc.get("batch_input_shape", lc.get("batch_shape"))
        if not g.nodes:  # the input: an InputLayer, or the first layer's declared input shape
            if shape is None or any(d is None for d in shape[1:]):
                raise ShapeError(f"QKeras model: cannot tell the input shape from {kind} {name!r} ({shape})")
            in_name = name if kind == "InputLayer" else "input_1"
            g.add(Node(in_name, "input", [], tuple(int(d) for d in shape[1:]), source=f"InputLayer {in_name!r}"))
            last[in_name] = in_name
            if kind == "InputLayer":
                continue
        elif kind == "InputLayer":
            unsupported.append((name, "a second InputLayer"))
            continue
        parents = [list(last)[-1]] if sequential or i == 0 else _parents(layer)
        if len(parents) != 1 or parents[0] not in last:
            unsupported.append((name, f"{kind} with {len(parents)} inputs"))
            last[name] = list(last.values())[-1]
            continue
        try:
            last[name] = _layer(g, kind, lc, weights.get(name, {}), last[parents[0]]) or last[parents[0]]
        except Rejected as exc:
            unsupported.append((name, f"{kind}: {exc}"))
            last[name] = last[parents[0]]
    if unsupported:
        raise UnsupportedLayerError(unsupported, "QKeras", supported=QKERAS_LAYERS,
                                    activations=(*QUANTIZERS, *CURVES, *ACTIVATIONS))
    out = layers[-1]["config"]["name"] if sequential else cfg["output_layers"][0][0]
    g.outputs = [last[out]]
    if "qtypes" not in g[g.inputs[0]].attrs:
        warnings.warn("QKeras model without an input quantizer: the input's precision comes from the config, "
                      "so the firmware sees rounded inputs where QKeras sees float ones", stacklevel=2)
    return g


def _parents(layer: dict[str, Any]) -> list[str]:
    nodes = layer.get("inbound_nodes") or []
    if not nodes:
        return []
    first = nodes[0]
    if isinstance(first, dict):  # Keras 3 style: {"args": [keras tensor, ...]}
        return [a["config"]["keras_history"][0] for a in first.get("args", []) if isinstance(a, dict)]
    return [entry[0] for entry in first]


def _layer(g: Graph, kind: str, cfg: dict[str, Any], ws: dict[str, np.ndarray], src: str) -> str | None:
    name, shape, source = cfg["name"], g[src].shape, f"{kind} {cfg['name']!r}"
    if kind in ("Dense", "QDense"):
        if len(shape) != 1:
            raise ShapeError(f"{source} receives per-sample shape {shape}; add a Flatten before it")
        if "kernel" not in ws:
            raise ModelLoadError(f"{source}: the saved file has no kernel for this layer")
        kernel = np.asarray(ws["kernel"], dtype=np.float64)
        bias = np.asarray(ws["bias"], dtype=np.float64) if "bias" in ws else np.zeros(kernel.shape[1])
        qtypes: dict[str, str] = {}
        if kind == "QDense":
            kq, bq = parse_quantizer(cfg.get("kernel_quantizer")), parse_quantizer(cfg.get("bias_quantizer"))
            if kq is not None:
                kernel = quantize_weights(*kq, kernel)
                qtypes["weight"] = str(exact_weight_type(kernel))
            if bq is not None or "bias" not in ws:
                bias = quantize_weights(*bq, bias) if bq is not None else bias
                qtypes["bias"] = str(exact_weight_type(bias))
        node = g.add(Node(name, "dense", [src], (kernel.shape[1],), {"qtypes": qtypes} if qtypes else {},
                          {"kernel": kernel, "bias": bias}, source=source))
        if pin_exact_dense(g, node, known_type(g, src)) is None and kind == "QDense":
            # No quantizer before it (its input type is the config's): QKeras's output is the float sum, so the
            # default result is the exact sum, not the model's default type (a quantizer after it rounds that)
            node.attrs["exact_result"] = True
        return _activation(g, name, cfg.get("activation"), g.unique_name(f"{name}_act"), source)
    if kind in QCONV_LAYERS or kind in SPATIAL_LAYERS:
        def quantize(key: str, values: np.ndarray) -> np.ndarray | None:
            q = parse_quantizer(cfg.get(key))
            return None if q is None else quantize_weights(*q, values)

        out = add_qkeras_spatial(g, kind, cfg, ws, src, quantize)
        return _activation(g, out, cfg.get("activation"), g.unique_name(f"{name}_act"), source)
    if kind in QRECURRENT_LAYERS:
        return add_qkeras_recurrent(g, kind, cfg, ws, src)
    if kind in ("QActivation", "Activation"):
        return _activation(g, src, cfg["activation"], name, source)
    if kind in PLAIN_LAYERS:
        return add_plain_layer(g, kind, name, src, cfg, ws, source)
    raise Rejected("layer type not supported")


def _activation(g: Graph, src: str, spec: Any, name: str, source: str) -> str:
    q = parse_quantizer(spec)
    if q is None:
        return src
    qname, params = q
    shape, t_in = g[src].shape, known_type(g, src)
    if qname in ("quantized_tanh", "quantized_sigmoid") or (qname == "hard_sigmoid" and not params):
        # QKeras layers resolve "hard_sigmoid" to QKeras's own clip(0.5 x + 0.5); Keras 2's layers to 0.2 x + 0.5
        curve, t = curve_quantizer(qname, params) if params else (HARD_SIGMOID[source.startswith("Q")], None)
        op, attrs = GATE_ACTIVATIONS[curve]
        return g.add(Node(name, op, [src], shape, {**attrs, **({"qtypes": {"result": str(t)}} if t else {})},
                          source=source)).name
    if qname in ("quantized_bits", "quantized_relu"):
        t = activation_type(qname, params)
        if qname == "quantized_bits":
            pin_input(g, src, t)
        op = "relu" if qname == "quantized_relu" else "linear"
        return g.add(Node(name, op, [src], shape, {"qtypes": {"result": str(t)}}, source=source)).name
    if qname == "binary":
        if t_in is None:
            raise Rejected("a binary activation needs an exactly known input type: quantize the layer before it")
        if po2_exponent(params["alpha"], qname) != 0:
            raise Rejected(f"binary activation alpha={params['alpha']!r}; use alpha=1")
        # m = x * 2**F is an integer: (m + 1) or (2m + 1) is >= 1 exactly when x >= 0, else <= 0 or <= -1
        use01 = bool(params["use_01"])
        scale = np.full(shape, 2.0 ** (t_in.frac + (0 if use01 else 1)))
        step = FixedType(t_in.width + 2, t_in.width + 2)
        step_node = g.add(Node(g.unique_name(f"{name}_step"), "scale_shift", [src], shape,
                   {"qtypes": {"weight": str(exact_weight_type(scale)), "bias": "ap_fixed<2,2>", "result": str(step)}},
                   {"scale": scale, "shift": np.ones(shape)}, source=source))
        if use01:
            return g.add(Node(name, "relu", [step_node.name], shape,
                              {"max_value": 1.0, "qtypes": {"result": "ap_ufixed<1,1>"}}, source=source)).name
        return g.add(Node(name, "hard_tanh", [step_node.name], shape, {"qtypes": {"result": "ap_fixed<2,2>"}},
                          source=source)).name
    if qname == "ternary":
        raise Rejected("ternary activations are not supported (nnfpga has no exact two-threshold op yet); "
                       "use quantized_bits, quantized_relu or binary")
    if qname in ACTIVATIONS and not params:
        op, attrs = ACTIVATIONS[qname]
        attrs = dict(attrs)
        if op == "relu" and not attrs and t_in is not None:
            attrs["qtypes"] = {"result": str(relu_type(t_in))}
        return g.add(Node(name, op, [src], shape, attrs, source=source)).name
    raise Rejected(f"quantizer/activation {qname!r} is not supported")

