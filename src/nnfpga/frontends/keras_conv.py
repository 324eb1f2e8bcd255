"""Keras's convolution, pooling, padding, cropping and upsampling layers -> ``conv``, ``max_pool``, ``avg_pool``,
``zero_pad``, ``crop``, ``upsample`` nodes (channels-last, as Keras's default ``data_format``).

Shared by the Keras 3 frontend and the Keras 2 file reader (through
:func:`nnfpga.frontends.keras_common.add_keras_layer`, which adds a convolution's inline activation). Keras's
``padding="same"`` becomes explicit (before, after) numbers by TensorFlow's rule (:func:`~nnfpga.ops.spatial.
same_pads`), ``"causal"`` (Conv1D) pads ``(k - 1) * dilation`` before. A depthwise kernel ``(*k, C, m)`` becomes a
grouped kernel ``(*k, 1, C * m)`` (output channel ``c * m + j``, Keras's order); a separable convolution becomes
two nodes, ``<name>_depthwise`` (no bias) and ``<name>_pointwise`` (a 1x1 convolution with the bias), as hls4ml
splits it. Refused, each layer named: ``data_format="channels_first"`` and interpolations other than nearest.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnfpga.errors import ShapeError
from nnfpga.ir.graph import Graph, Node
from nnfpga.ops import OPS
from nnfpga.ops.spatial import same_pads

CONV_LAYERS = ("Conv1D", "Conv2D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D")
POOL_LAYERS = tuple(f"{g}{k}Pooling{n}D" for g in ("", "Global") for k in ("Max", "Average") for n in (1, 2))
RESIZE_LAYERS = ("ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D", "UpSampling1D", "UpSampling2D")
SPATIAL_LAYERS = CONV_LAYERS + POOL_LAYERS + RESIZE_LAYERS


def _ints(value: Any, n: int) -> list[int]:
    """A Keras size/stride argument (an int or a sequence) as ``n`` ints."""
    return [int(value)] * n if isinstance(value, (int, np.integer)) else [int(v) for v in value]


def _pairs(value: Any, n: int) -> list[list[int]]:
    """A Keras padding/cropping argument as ``n`` (before, after) pairs: an int, ``n`` ints, or ``n`` pairs (1D: a
    pair is one pair)."""
    if isinstance(value, (int, np.integer)):
        return [[int(value)] * 2 for _ in range(n)]
    value = list(value)
    if n == 1 and len(value) == 2 and all(isinstance(v, (int, np.integer)) for v in value):
        return [[int(value[0]), int(value[1])]]
    return [[int(v)] * 2 if isinstance(v, (int, np.integer)) else [int(v[0]), int(v[1])] for v in value]


def _add(g: Graph, name: str, op: str, src: str, attrs: dict[str, Any], weights: dict[str, np.ndarray],
         source: str) -> str:
    node = Node(name, op, [src], (), attrs, weights=weights, source=source)
    node.shape = tuple(OPS[op].infer_shape(node, [tuple(g[src].shape)]))
    return g.add(node).name


def _pads(kind: str, cfg: dict[str, Any], spatial: tuple[int, ...], size: list[int], strides: list[int],
          dilation: list[int]) -> list[list[int]] | None:
    padding = str(cfg.get("padding", "valid")).lower()
    if padding == "valid":
        return [[0, 0] for _ in size]
    if padding == "same":
        return same_pads(spatial, size, strides, dilation)
    if padding == "causal" and len(size) == 1:
        return [[(size[0] - 1) * dilation[0], 0]]
    return None


def add_spatial_layer(g: Graph, kind: str, name: str, src: str, cfg: dict[str, Any], ws: dict[str, Any],
                      unsupported: list[tuple[str, str]]) -> str | None:
    """A layer of :data:`SPATIAL_LAYERS` (its activation aside) reading node ``src``; the node carrying its
    output, or None after adding it to ``unsupported`` (also when its config or weights lack a key it needs)."""
    try:
        return _add_spatial(g, kind, name, src, cfg, ws, unsupported)
    except KeyError as exc:
        unsupported.append((name, f"{kind} without {exc.args[0]!r} in its config or weights"))
        return None


def _add_spatial(g: Graph, kind: str, name: str, src: str, cfg: dict[str, Any], ws: dict[str, Any],
                 unsupported: list[tuple[str, str]]) -> str | None:
    source = f"{kind} {name!r}"
    nd = int(kind[-2])
    shape = tuple(g[src].shape)
    if cfg.get("data_format", "channels_last") == "channels_first":
        unsupported.append((name, f"{kind} with data_format='channels_first' (nnfpga reads channels-last layers)"))
        return None
    if len(shape) != nd + 1:
        raise ShapeError(f"{source} receives per-sample shape {shape}; it takes {nd} spatial axis(es) and channels")
    spatial = shape[:-1]
    if kind in RESIZE_LAYERS:
        return _add_resize(g, kind, name, src, cfg, nd, source, unsupported)
    if kind in POOL_LAYERS:
        op = "max_pool" if "Max" in kind else "avg_pool"
        if kind.startswith("Global"):
            attrs = {"pool": list(spatial), "strides": list(spatial), "pads": [[0, 0]] * nd, "global": True,
                     "keepdims": bool(cfg.get("keepdims", False))}
            return _add(g, name, op, src, attrs, {}, source)
        pool = _ints(cfg["pool_size"], nd)
        strides = _ints(cfg.get("strides") or pool, nd)
        pads = _pads(kind, cfg, spatial, pool, strides, [1] * nd)
        if pads is None:
            unsupported.append((name, f"{kind} with padding={cfg.get('padding')!r}"))
            return None
        return _add(g, name, op, src, {"pool": pool, "strides": strides, "pads": pads}, {}, source)
    size = _ints(cfg["kernel_size"], nd)
    strides, dilation = _ints(cfg.get("strides", 1), nd), _ints(cfg.get("dilation_rate", 1), nd)
    pads = _pads(kind, cfg, spatial, size, strides, dilation)
    if pads is None:
        unsupported.append((name, f"{kind} with padding={cfg.get('padding')!r}"))
        return None
    geo = {"strides": strides, "dilation": dilation, "pads": pads}
    f64 = {k: np.asarray(v, dtype=np.float64) for k, v in ws.items()}
    if kind.startswith("Conv"):
        kernel = f64["kernel"]
        bias = f64.get("bias", np.zeros(kernel.shape[-1]))
        return _add(g, name, "conv", src, {**geo, "groups": int(cfg.get("groups", 1))},
                    {"kernel": kernel, "bias": bias}, source)
    dw = f64.get("depthwise_kernel", f64.get("kernel"))  # Keras 3 DepthwiseConv: "kernel"; Keras 2: "depthwise_"
    c, m = dw.shape[-2:]
    dw = dw.reshape(*dw.shape[:-2], 1, c * m)
    dw_attrs = {**geo, "groups": int(c), "depthwise": True}
    if kind.startswith("Depthwise"):
        return _add(g, name, "conv", src, dw_attrs, {"kernel": dw, "bias": f64.get("bias", np.zeros(c * m))}, source)
    pw = f64["pointwise_kernel"]  # separable: (1, ..., C * m, filters)
    d = _add(g, g.unique_name(f"{name}_depthwise"), "conv", src, dw_attrs, {"kernel": dw, "bias": np.zeros(c * m)},
             source)
    return _add(g, g.unique_name(f"{name}_pointwise"), "conv", d, {"groups": 1},
                {"kernel": pw, "bias": f64.get("bias", np.zeros(pw.shape[-1]))}, source)


def _add_resize(g: Graph, kind: str, name: str, src: str, cfg: dict[str, Any], nd: int, source: str,
                unsupported: list[tuple[str, str]]) -> str | None:
    if kind.startswith("ZeroPadding"):
        return _add(g, name, "zero_pad", src, {"pads": _pairs(cfg["padding"], nd)}, {}, source)
    if kind.startswith("Cropping"):
        return _add(g, name, "crop", src, {"crops": _pairs(cfg["cropping"], nd)}, {}, source)
    interpolation = cfg.get("interpolation", "nearest")
    if interpolation != "nearest":
        unsupported.append((name, f"{kind} with interpolation={interpolation!r} (nnfpga upsamples by nearest "
                                  "neighbour: it has no fixed-point bilinear semantics yet)"))
        return None
    return _add(g, name, "upsample", src, {"size": _ints(cfg.get("size", 2), nd)}, {}, source)
