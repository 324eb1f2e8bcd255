"""ONNX's Conv, MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, Pad and Resize/Upsample on NCHW tensors
-> ``conv``, ``max_pool``, ``avg_pool``, ``zero_pad``, ``upsample`` nodes between transposes to channels-last and
back (as the PyTorch frontend does; the passes cancel the transposes between two spatial ops).

A weight ``(C_out, C_in/group, *K)`` becomes the kernel ``(*K, C_in/group, C_out)``; ``pads`` ``[b1, b2, ...,
e1, e2, ...]`` become (before, after) pairs; ``auto_pad`` ``SAME_UPPER`` is TensorFlow's rule (the larger half
after), ``SAME_LOWER`` the mirror, ``VALID`` no padding. ``AveragePool(count_include_pad=1)`` with padding divides
by the whole window (the op's ``count_pad``). Refused with the reason (:class:`Rejected`): ``ceil_mode=1``, pooling
dilation, MaxPool's indices output, Pad other than constant zeros on the spatial axes, Resize other than nearest
by integer factors with a coordinate rule that repeats each position.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnfpga.errors import ShapeError
from nnfpga.frontends import Rejected, onnx_node_name
from nnfpga.ir.graph import Node
from nnfpga.ir.layout import channels_last_perms
from nnfpga.ops import OPS
from nnfpga.ops.spatial import same_pads

SPATIAL_OPS = ("Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Pad", "Resize", "Upsample")
# (coordinate_transformation_mode, nearest_mode) pairs whose nearest neighbour of output x is x // factor
REPEATING = {("half_pixel", "round_prefer_floor"), ("half_pixel", "round_prefer_ceil"),
             ("pytorch_half_pixel", "round_prefer_floor"), ("pytorch_half_pixel", "round_prefer_ceil"),
             ("asymmetric", "floor")}


def convert_spatial(r: Any, node: Any, op: str, ins: list[str], a: dict[str, Any], src: str,
                    shape: tuple[int, ...]) -> str:
    """The IR node holding the output of ``node`` (reader ``r``: an ``onnx._Reader``)."""
    nd = len(shape) - 1
    if nd not in (1, 2):
        raise Rejected(f"{op} on per-sample shape {shape}: expected (C, L) or (C, H, W)")
    spatial = list(shape[1:])
    if op in ("GlobalAveragePool", "GlobalMaxPool"):
        attrs = {"pool": spatial, "strides": spatial, "pads": [[0, 0]] * nd, "global": True, "keepdims": True}
        return _spatial(r, node, "avg_pool" if "Average" in op else "max_pool", src, shape, attrs)
    if op == "Pad":
        return _pad(r, node, ins, a, src, shape)
    if op in ("Resize", "Upsample"):
        return _resize(r, node, op, ins, a, src, shape)
    k = [int(v) for v in a.get("kernel_shape", [])] or None
    if op == "Conv":
        w = r._const(ins[1], "the weight").astype(np.float64)
        k = k or list(w.shape[2:])
    if k is None or len(k) != nd:
        raise Rejected(f"kernel_shape {k} for {nd} spatial axes")
    strides = [int(v) for v in a.get("strides", [1] * nd)]
    dilation = [int(v) for v in a.get("dilations", [1] * nd)]
    pads = _pads(a, spatial, k, strides, dilation)
    if op == "Conv":
        kernel = np.ascontiguousarray(np.transpose(w, (*range(2, 2 + nd), 1, 0)))
        bias = r._const(ins[2], "the bias").astype(np.float64) if len(ins) > 2 and ins[2] else np.zeros(w.shape[0])
        group = int(a.get("group", 1))
        attrs = {"strides": strides, "dilation": dilation, "pads": pads, "groups": group}
        if group > 1 and group == shape[0]:
            attrs["depthwise"] = True
        return _spatial(r, node, "conv", src, shape, attrs, {"kernel": kernel, "bias": bias})
    bad = [f"{n}={a[n]}" for n in ("ceil_mode",) if a.get(n, 0)]
    bad += [f"dilations={dilation}"] if any(d != 1 for d in dilation) else []
    bad += ["its Indices output"] if len(node.output) > 1 and node.output[1] else []
    if bad:
        raise Rejected(f"{op} with {', '.join(bad)} (not supported)")
    attrs = {"pool": k, "strides": strides, "pads": pads}
    if op == "AveragePool":
        attrs["count_pad"] = bool(a.get("count_include_pad", 0)) and any(b or e for b, e in pads)
    return _spatial(r, node, "max_pool" if op == "MaxPool" else "avg_pool", src, shape, attrs)


def _pads(a: dict[str, Any], spatial: list[int], k: list[int], strides: list[int],
          dilation: list[int]) -> list[list[int]]:
    auto = a.get("auto_pad", "NOTSET")
    nd = len(spatial)
    if auto == "VALID":
        return [[0, 0] for _ in range(nd)]
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = same_pads(tuple(spatial), k, strides, dilation)
        return pads if auto == "SAME_UPPER" else [[e, b] for b, e in pads]
    if auto != "NOTSET":
        raise Rejected(f"auto_pad={auto!r}: expected NOTSET, SAME_UPPER, SAME_LOWER or VALID")
    p = [int(v) for v in a.get("pads", [0] * 2 * nd)]
    if len(p) != 2 * nd:
        raise Rejected(f"pads {p}: expected {2 * nd} values (the beginnings, then the ends, of each spatial axis)")
    return [[p[i], p[i + nd]] for i in range(nd)]


def _pad(r: Any, node: Any, ins: list[str], a: dict[str, Any], src: str, shape: tuple[int, ...]) -> str:
    mode = a.get("mode", "constant")
    p = r._const(ins[1], "the pads").tolist() if len(ins) > 1 and ins[1] else a.get("pads", [])
    value = r._const(ins[2], "the constant value") if len(ins) > 2 and ins[2] else np.float32(a.get("value", 0.0))
    rank = len(shape) + 1
    if len(ins) > 3 and ins[3]:
        raise Rejected("Pad with an axes input: expected pads for every axis")
    p = [int(v) for v in np.asarray(p).ravel()]
    if mode != "constant" or np.any(np.asarray(value) != 0) or len(p) != 2 * rank or any(v < 0 for v in p) or \
            p[0] or p[1] or p[rank] or p[rank + 1]:
        raise Rejected(f"Pad(mode={mode!r}, pads={p}, value={np.asarray(value).tolist()}): nnfpga pads the spatial "
                       "axes with zeros (constant mode, no batch or channel padding, no cropping)")
    return _spatial(r, node, "zero_pad", src, shape, {"pads": [[p[i], p[i + rank]] for i in range(2, rank)]})


def _resize(r: Any, node: Any, op: str, ins: list[str], a: dict[str, Any], src: str, shape: tuple[int, ...]) -> str:
    rank = len(shape) + 1
    mode = a.get("mode", "nearest")
    if op == "Upsample":
        scales = r._const(ins[1], "the scales") if len(ins) > 1 else np.asarray(a.get("scales", []))
        rule = ("asymmetric", "floor")
    else:
        scale_in = 1 if r.opset < 11 else 2
        scales = r._const(ins[scale_in], "the scales") if len(ins) > scale_in and ins[scale_in] else None
        axes = [int(v) % rank for v in a.get("axes", range(rank))]
        if scales is None or scales.size == 0:
            sizes = r._const(ins[3], "the sizes or scales") if len(ins) > 3 and ins[3] else np.zeros(0)
            if sizes.size != len(axes):
                raise Rejected(f"Resize without {len(axes)} scales or sizes")
            dims = [sizes[0] if 0 in axes else 1, *shape]  # a static batch size passes as 1
            scales = sizes.astype(np.float64) / np.array([dims[i] for i in axes], dtype=np.float64)
        if scales.size != len(axes):
            raise Rejected(f"Resize with {scales.size} scales for axes {axes}")
        full = np.ones(rank)
        full[axes] = np.asarray(scales, dtype=np.float64).ravel()
        scales = full
        rule = (a.get("coordinate_transformation_mode", "half_pixel"), a.get("nearest_mode", "round_prefer_floor"))
        if r.opset < 11:
            rule = ("asymmetric", "floor")
        if a.get("keep_aspect_ratio_policy", "stretch") != "stretch":
            raise Rejected(f"Resize with keep_aspect_ratio_policy={a['keep_aspect_ratio_policy']!r}: expected "
                           "'stretch'")
    s = [float(v) for v in np.asarray(scales, dtype=np.float64).ravel()]
    if mode != "nearest" or len(s) != rank or s[:2] != [1.0, 1.0] or any(v < 1 or v != int(v) for v in s) or \
            rule not in REPEATING:
        raise Rejected(f"{op}(mode={mode!r}, scales={s}, coordinate rule {rule}): nnfpga upsamples the spatial axes "
                       "by nearest neighbour with integer factors, each position repeated (coordinate_transformation"
                       "_mode half_pixel with round_prefer_floor/ceil, or asymmetric with floor)")
    return _spatial(r, node, "upsample", src, shape, {"size": [int(v) for v in s[2:]]})


def _spatial(r: Any, node: Any, op: str, src: str, shape: tuple[int, ...], attrs: dict[str, Any],
             weights: dict[str, np.ndarray] | None = None) -> str:
    """``op`` between a transpose of the NCHW tensor to channels-last and one back."""
    to_last, to_first = channels_last_perms(len(shape))
    last_in = tuple(shape[p] for p in to_last)
    base, source = onnx_node_name(node), f"{node.op_type} {node.name!r}" if node.name else node.op_type
    y = Node(r.g.unique_name(base), op, [], (), attrs, weights=dict(weights or {}), source=source)
    try:
        last_out = tuple(OPS[op].infer_shape(y, [last_in]))
    except ShapeError as exc:
        raise Rejected(str(exc)) from None
    t = r.g.add(Node(r.g.unique_name(base + "_to_last"), "transpose", [r.act[src]], last_in, {"perm": to_last},
                     source=source)).name
    y.inputs, y.shape = [t], last_out
    r.g.add(y)
    first = tuple(last_out[p] for p in to_first)
    return r.g.add(Node(r.g.unique_name(base + "_to_first"), "transpose", [y.name], first, {"perm": to_first},
                        source=source)).name


def elementwise(r: Any, node: Any, op: str, src: str, attrs: dict[str, Any]) -> str:
    """An elementwise op; on a tensor just transposed back to NCHW (after a convolution or pooling), it runs before
    that transpose, so that the transposes between two spatial ops meet and cancel."""
    prev = r.g[r.act[src]]
    n = len(prev.shape)
    if n > 1 and prev.op == "transpose" and list(prev.attrs["perm"]) == list(channels_last_perms(n)[1]):
        r._bind(f"{node.output[0]}/last", prev.inputs[0])
        y = r._add(node, op, f"{node.output[0]}/last", attrs=attrs)
        r._bind(f"{node.output[0]}/last_y", y)
        return r._add(node, "transpose", f"{node.output[0]}/last_y", prev.shape, attrs=dict(prev.attrs))
    return r._add(node, op, src, attrs=attrs)
