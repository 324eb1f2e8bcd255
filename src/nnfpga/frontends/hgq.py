"""HGQ2 frontend (Keras 3): HGQ2's quantized layers inside a Keras model -> nodes with pinned types.

Called by :func:`nnfpga.frontends.keras.graph_from_keras` for every layer whose class comes from ``hgq``.

HGQ2's fixed-point quantizer with keep-negative ``k``, integer bits ``i`` (sign excluded) and fractional bits
``f`` rounds ``x * 2**f`` with its rounding mode and then wraps or saturates (saturation first, which gives
the same result since the bounds lie on the grid). That is exactly
``ap_fixed<k+i+f, k+i, Q, O>`` (``ap_ufixed<i+f, i, Q, O>`` when ``k = 0``) with the same names for ``Q``
(``RND`` = ties up, ``RND_CONV``, ``TRN``, ...; the stochastic ``S_`` modes round deterministically at
inference) and ``O`` in ``WRAP``, ``SAT``, ``SAT_SYM``.

- Weights: HGQ2 may give every weight its own bit width. The quantized values (``layer.qkernel``,
  ``layer.qbias``) are stored as they are, with the narrowest type holding all of them: exact.
- Activations (a QDense's input quantizer ``iq``, its output quantizer ``oq``, a ``Quantizer`` layer): one
  type per tensor, so HGQ2 must use one ``(k, i, f)`` for every element (``heterogeneous_axis=()``);
  per-element activation bit widths are rejected, naming the layer.
- A QDense or QConv1D/QConv2D (grouped too; HGQ2 has no depthwise or separable layer) whose input type is known
  gets its exact accumulator type as result (HGQ2 computes it in float32, exact while the sums fit in 24 bits; a
  warning says when they may not); its activation follows. A convolution's geometry is read as Keras's
  (:mod:`nnfpga.frontends.keras_conv`).
- QMaxPooling1D/2D, QGlobalMaxPooling1D/2D (the input's type: exact) and QAveragePooling1D/2D,
  QGlobalAveragePooling1D/2D whose every window averages a power of two of positions (the mean is then exact in
  fixed point as in float32; other windows are refused: HGQ2's float32 division and the firmware's truncated one
  round differently). Each quantizes its input (``iq``) and output (``oq``) when enabled.
Float quantizers, ``scaler``/``affine`` quantizers, 3D layers, ``channels_first`` and every other HGQ2 layer are
reported as unsupported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnfpga.errors import ModelLoadError, ShapeError
from nnfpga.fixed import FixedType
from nnfpga.frontends import Rejected
from nnfpga.frontends.keras_common import (
    ACTIVATIONS,
    activation_name,
    exact_weight_type,
    known_type,
    pin_exact_dense,
    pin_input,
    relu_type,
)
from nnfpga.frontends.keras_conv import add_spatial_layer
from nnfpga.ir.graph import Graph, Node
from nnfpga.ops import OPS
from nnfpga.ops.base import Context
from nnfpga.ops.spatial import window_counts

HGQ_CONV = ("QConv1D", "QConv2D")
HGQ_POOL = tuple(f"Q{g}{k}Pooling{n}D" for g in ("", "Global") for k in ("Max", "Average") for n in (1, 2))
HGQ_LAYERS = ("QDense", "Quantizer", *HGQ_CONV, *HGQ_POOL)
ROUNDING = {"TRN", "RND", "RND_CONV", "TRN_ZERO", "RND_ZERO", "RND_MIN_INF", "RND_INF"}
OVERFLOW = {"WRAP", "SAT", "SAT_SYM"}


def import_hgq() -> Any:
    """Import HGQ2 (registers its layers with Keras' deserializer)."""
    try:
        import hgq
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelLoadError(f"the model uses HGQ2 layers, but HGQ2 is not installed ({exc}); "
                             "install nnfpga[hgq]") from None
    return hgq


def _numpy(x: Any) -> np.ndarray:
    from keras import ops

    return np.asarray(ops.convert_to_numpy(x), dtype=np.float64)


def quantizer_type(q: Any, what: str) -> FixedType:
    """The one fixed-point type an HGQ2 ``Quantizer`` applies to every element; Rejected if there is none."""
    if getattr(q, "scaler", None) is not None or getattr(q, "affine", None) is not None:
        raise Rejected(f"{what} has a scaler or affine transform; nnfpga supports plain fixed-point quantizers")
    inner = q.quantizer
    if not all(hasattr(inner, a) for a in ("kif", "round_mode", "overflow_mode")):
        raise Rejected(f"{what} is a {type(inner).__name__} ({q.config.q_type!r}); nnfpga supports the "
                       "fixed-point 'kif' and 'kbi' quantizers")
    k, i, f = (_numpy(v) for v in inner.kif)
    spread = {n: (float(a.min()), float(a.max())) for n, a in (("k", k), ("i", i), ("f", f)) if a.min() != a.max()}
    if spread:
        ranges = ", ".join(f"{n} in {lo:g}..{hi:g}" for n, (lo, hi) in spread.items())
        raise Rejected(f"{what} quantizes elements with different bit widths ({ranges}); one tensor has one "
                       "fixed-point type here: train it with QuantizerConfig(..., heterogeneous_axis=())")
    k0, i0, f0 = int(k.flat[0]), int(i.flat[0]), int(f.flat[0])
    rounding = inner.round_mode.upper().removeprefix("S_")  # stochastic only while training
    overflow = inner.overflow_mode.upper()
    if rounding not in ROUNDING or overflow not in OVERFLOW:
        raise Rejected(f"{what} uses round_mode={inner.round_mode!r}, overflow_mode={inner.overflow_mode!r}; "
                       f"supported: {sorted(ROUNDING)} and {sorted(OVERFLOW)}")
    if k0 + i0 + f0 <= 0:
        raise Rejected(f"{what} has {k0 + i0 + f0} bits (its output is always 0)")
    if k0:
        return FixedType(1 + i0 + f0, 1 + i0, True, rounding, overflow)
    return FixedType(i0 + f0, i0, False, rounding, overflow)


def convert_hgq_layer(g: Graph, layer: Any, kind: str, src: str, unsupported: list[tuple[str, str]]) -> str | None:
    """Add the nodes of one HGQ2 layer reading ``src``; returns the node producing its output."""
    try:
        if kind in ("QDense", *HGQ_CONV):
            return _qlinear(g, layer, kind, src)
        if kind in HGQ_POOL:
            return _qpool(g, layer, kind, src)
        if kind == "Quantizer":
            return _quantize(g, layer, src, layer.name, f"Quantizer {layer.name!r}")
        raise Rejected(f"not supported (HGQ2 layers supported: {', '.join(HGQ_LAYERS)})")
    except Rejected as exc:
        unsupported.append((layer.name, f"{kind}: {exc}"))
        return None


def _quantize(g: Graph, q: Any, src: str, name: str, what: str) -> str:
    t = quantizer_type(q, what)
    pin_input(g, src, t)
    return g.add(Node(name, "linear", [src], g[src].shape, {"qtypes": {"result": str(t)}}, source=what)).name


def _qlinear(g: Graph, layer: Any, kind: str, src: str) -> str:
    name, shape, source = layer.name, g[src].shape, f"{kind} {layer.name!r}"
    if kind == "QDense" and len(shape) != 1:
        raise ShapeError(f"{source} receives per-sample shape {shape}; nnfpga supports Dense on flat vectors: "
                         "add a Flatten before it")
    act = activation_name(layer.activation)
    if act not in ACTIVATIONS:
        raise Rejected(f"activation {act!r}")
    cur = src
    if layer.enable_iq:
        cur = _quantize(g, layer.iq, cur, g.unique_name(f"{name}_iq"), f"{source} input quantizer")
    kernel = _numpy(layer.qkernel)
    bias = _numpy(layer.qbias) if layer.bias is not None else np.zeros(kernel.shape[-1])
    qtypes = {"weight": str(exact_weight_type(kernel)), "bias": str(exact_weight_type(bias))}
    if kind == "QDense":
        node = g.add(Node(name, "dense", [cur], (kernel.shape[1],), {"qtypes": qtypes},
                          {"kernel": kernel, "bias": bias}, source=source))
    else:
        out = _spatial(g, kind, name, cur, layer.get_config(), {"kernel": kernel, "bias": bias})
        node = g[out]
        node.attrs["qtypes"] = qtypes
        node.source = source
    pin_exact_dense(g, node, known_type(g, cur))
    out = name
    if act != "linear":
        op, attrs = ACTIVATIONS[act]
        attrs = dict(attrs)
        t = known_type(g, name)
        if op == "relu" and not attrs and t is not None:
            attrs["qtypes"] = {"result": str(relu_type(t))}
        out = g.add(Node(g.unique_name(f"{name}_{act}"), op, [name], node.shape, attrs, source=source)).name
    if layer.enable_oq:
        out = _quantize(g, layer.oq, out, g.unique_name(f"{name}_oq"), f"{source} output quantizer")
    return out


def _spatial(g: Graph, kind: str, name: str, src: str, cfg: dict[str, Any], ws: dict[str, np.ndarray]) -> str:
    """The Keras layer under an HGQ2 conv or pooling layer (its refusals, e.g. ``channels_first``, Rejected)."""
    refused: list[tuple[str, str]] = []
    out = add_spatial_layer(g, kind[1:], name, src, cfg, ws, refused)
    if out is None:
        raise Rejected(refused[0][1])
    return out


def _qpool(g: Graph, layer: Any, kind: str, src: str) -> str:
    name, source = layer.name, f"{kind} {layer.name!r}"
    cur = src
    if layer.enable_iq:
        cur = _quantize(g, layer.iq, cur, g.unique_name(f"{name}_iq"), f"{source} input quantizer")
    out = _spatial(g, kind, name, cur, layer.get_config(), {})
    node = g[out]
    node.source = source
    if node.op == "avg_pool":
        spatial = tuple(g[cur].shape[:-1])
        counts = np.unique(window_counts(spatial, OPS["avg_pool"].window(node)))
        odd = [int(c) for c in counts if c & (c - 1)]
        if odd:
            raise Rejected(f"windows averaging {odd} positions; HGQ2 divides in float32 and the firmware's "
                           "fixed-point mean truncates, so only power-of-two windows (2, 4, 2x2, ...) are exact: "
                           "use one, or a max pooling")
    t = known_type(g, cur)
    if t is not None:  # pin the op's own exact types (a max: the input's; a power-of-two mean: exact)
        probe = Node(name, node.op, [], node.shape, attrs=node.attrs)
        OPS[node.op].infer_types(probe, [t], Context(t))
        node.attrs["qtypes"] = {s: str(probe.types[s]) for s in ("accum", "result")}
    if layer.enable_oq:
        out = _quantize(g, layer.oq, out, g.unique_name(f"{name}_oq"), f"{source} output quantizer")
    return out
