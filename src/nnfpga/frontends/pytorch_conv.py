"""PyTorch's convolution, pooling, padding and upsampling modules -> ``conv``, ``max_pool``, ``avg_pool``,
``zero_pad``, ``upsample`` nodes.

torch tensors are channels-first (``(N, C, L)``, ``(N, C, H, W)``); nnfpga's ops are channels-last. Each spatial
module becomes a ``transpose`` to channels-last, the op, and a ``transpose`` back, so a later ``flatten`` or
``view(N, -1)`` keeps PyTorch's flat order; the transposes between two spatial ops cancel in the passes. A torch
weight ``(C_out, C_in/groups, *K)`` becomes nnfpga's kernel ``(*K, C_in/groups, C_out)`` (a depthwise output
channel ``c * m + j`` is the same channel in both). ``padding="same"`` pads ``dilation * (k - 1)`` in total, the
smaller half before (PyTorch's rule). ``AvgPool(count_include_pad=True)`` with padding divides by the whole
window (the op's ``count_pad``). Refused, each call named: ``padding_mode`` other than ``"zeros"``,
``ceil_mode=True``, ``divisor_override``, ``return_indices``, pooling dilation, adaptive pooling to anything but
1, interpolation other than nearest by integer factors, negative (cropping) pads.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from nnfpga.ir.layout import channels_last_perms
from nnfpga.ops.spatial import same_pads

SPATIAL_MODULES = ("Conv1d", "Conv2d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d",
                   "AdaptiveAvgPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "Upsample", "ZeroPad1d",
                   "ZeroPad2d")
SPATIAL_FUNCTIONS = ("F.interpolate", "F.pad", "F.max_pool1d/2d", "F.avg_pool1d/2d", "F.adaptive_avg_pool1d/2d",
                     "F.adaptive_max_pool1d/2d")
# functional -> (its module's class name, the parameters after the input, in order, with their defaults)
_MAX = (("kernel_size", None), ("stride", None), ("padding", 0), ("dilation", 1), ("ceil_mode", False),
        ("return_indices", False))
_AVG = (("kernel_size", None), ("stride", None), ("padding", 0), ("ceil_mode", False), ("count_include_pad", True),
        ("divisor_override", None))
FUNCTIONALS = {f"{p}{n}d": (f"{c}{n}d", params) for n in (1, 2) for p, c, params in (
    ("max_pool", "MaxPool", _MAX), ("avg_pool", "AvgPool", _AVG),
    ("adaptive_avg_pool", "AdaptiveAvgPool", (("output_size", None),)),
    ("adaptive_max_pool", "AdaptiveMaxPool", (("output_size", None), ("return_indices", False))))}


def _ints(value: Any, n: int) -> list[int]:
    return [int(value)] * n if isinstance(value, (int, np.integer)) else [int(v) for v in value]


def spatial_op(e: Any, op: str, attrs: dict[str, Any], weights: dict[str, np.ndarray] | None = None) -> str:
    """``op`` on a channels-first tensor: transpose to channels-last, the op, transpose back (to the recorded
    output shape)."""
    to_last, to_first = channels_last_perms(len(e.in_shape))
    last_in = tuple(e.in_shape[p] for p in to_last)
    last_out = tuple(e.out_shape[p] for p in to_last)
    t = e.add("transpose", last_in, {"perm": to_last}, suffix="_to_last")
    y = e.add(op, last_out, attrs, weights, src=t)
    return e.add("transpose", e.out_shape, {"perm": to_first}, src=y, suffix="_to_first")


def _nd(e: Any, kind: str) -> int | None:
    nd = int(kind[-2]) if kind[-2].isdigit() else len(e.in_shape) - 1
    if len(e.in_shape) != nd + 1 or nd not in (1, 2):
        e.reject(f"{kind} on per-sample shape {e.in_shape}; nnfpga reads (C, L) and (C, H, W) tensors")
        return None
    return nd


def convert_spatial(e: Any, m: Any, kind: str) -> str | None:
    """A module of :data:`SPATIAL_MODULES`; the node holding its output, or None after rejecting it."""
    nd = _nd(e, kind)
    if nd is None:
        return None
    if kind.startswith("Conv"):
        return _conv(e, m, kind, nd)
    if kind.startswith("Adaptive"):
        size = m.output_size
        if any(s != 1 for s in ([size] * nd if isinstance(size, (int, np.integer)) else size)):
            e.reject(f"{kind}(output_size={m.output_size!r}); nnfpga reads adaptive pooling to 1 (global pooling)")
            return None
        spatial = list(e.in_shape[1:])
        op = "max_pool" if "Max" in kind else "avg_pool"
        return spatial_op(e, op, {"pool": spatial, "strides": spatial, "pads": [[0, 0]] * nd, "global": True,
                                  "keepdims": True})
    if "Pool" in kind:
        return _pool(e, m, kind, nd)
    if kind.startswith("ZeroPad"):
        p = _ints(m.padding, 2 * nd)  # (left, right[, top, bottom]): the last axis first
        pads = [[p[2 * i], p[2 * i + 1]] for i in reversed(range(nd))]
        if any(v < 0 for v in p):
            e.reject(f"{kind}(padding={m.padding!r}) with negative (cropping) pads")
            return None
        return spatial_op(e, "zero_pad", {"pads": pads})
    return upsample(e, m.mode, kind)


def convert_functional(e: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], kind: str) -> str | None:
    """``F.max_pool2d(x, 2)``, ``F.pad(x, (1, 1))``... (``name``: the function's name, ``args`` after the input)."""
    if name == "pad":
        pads = args[0] if args else kwargs.get("pad")
        mode = args[1] if len(args) > 1 else kwargs.get("mode", "constant")
        value = args[2] if len(args) > 2 else kwargs.get("value")
        if mode != "constant" or value not in (None, 0, 0.0) or not isinstance(pads, (tuple, list)) or \
                len(pads) != 2 * (len(e.in_shape) - 1):
            e.reject(f"{kind}(pad={pads!r}, mode={mode!r}, value={value!r}); nnfpga pads every spatial axis with "
                     "zeros (constant mode)")
            return None
        return convert_spatial(e, SimpleNamespace(padding=tuple(pads)), f"ZeroPad{len(e.in_shape) - 1}d")
    cls, params = FUNCTIONALS[name]
    values = {p: args[i] if i < len(args) else kwargs.get(p, d) for i, (p, d) in enumerate(params)}
    if any(hasattr(v, "op") for v in values.values()):
        e.reject(f"{kind} with a computed argument (only constants)")
        return None
    return convert_spatial(e, SimpleNamespace(**values), cls)


def upsample(e: Any, mode: Any, kind: str) -> str | None:
    """Nearest-neighbour upsampling by the integer factors the recorded shapes show."""
    nd = _nd(e, kind)
    if nd is None:
        return None
    ins, outs = e.in_shape[1:], e.out_shape[1:]
    # 'nearest-exact' takes source pixel floor((x + 0.5) / k): x // k, as 'nearest', for an integer factor k
    if mode not in ("nearest", "nearest-exact"):
        e.reject(f"{kind}(mode={mode!r}); nnfpga upsamples by nearest neighbour only (mode 'nearest' or "
                 "'nearest-exact'), with integer factors")
        return None
    if any(o % i for i, o in zip(ins, outs, strict=True)):
        e.reject(f"{kind} from {ins} to {outs}, not an integer factor on every axis; nnfpga upsamples by nearest "
                 "neighbour with integer factors")
        return None
    return spatial_op(e, "upsample", {"size": [o // i for i, o in zip(ins, outs, strict=True)]})


def _conv(e: Any, m: Any, kind: str, nd: int) -> str | None:
    w = m.weight.detach().double().numpy()
    return conv(e, m, kind, nd, w, m.bias.detach().double().numpy() if m.bias is not None else None)


def conv(e: Any, m: Any, kind: str, nd: int, weight: np.ndarray, bias: np.ndarray | None,
         attrs: dict[str, Any] | None = None) -> str | None:
    """An ``nn.Conv1d/2d``-like module ``m`` (its geometry) with torch-layout ``weight`` ``(C_out, C_in/groups, *K)``
    and ``bias`` (Brevitas: the quantized ones); ``attrs`` go on the conv node (pinned types)."""
    if m.padding_mode != "zeros":
        e.reject(f"{kind}(padding_mode={m.padding_mode!r}); nnfpga pads convolutions with zeros only")
        return None
    k, dil, strides = _ints(m.kernel_size, nd), _ints(m.dilation, nd), _ints(m.stride, nd)
    if getattr(m, "is_same_padded_strided", False):  # Brevitas's padding="same" with strides: TensorFlow's rule
        pads = same_pads(tuple(e.in_shape[1:]), k, strides, dil)
    elif m.padding == "same":
        pads = [[d * (s - 1) // 2, d * (s - 1) - d * (s - 1) // 2] for s, d in zip(k, dil, strict=True)]
    elif m.padding == "valid":
        pads = [[0, 0]] * nd
    else:
        pads = [[p, p] for p in _ints(m.padding, nd)]
    kernel = np.ascontiguousarray(np.transpose(weight, (*range(2, 2 + nd), 1, 0)))
    bias = bias if bias is not None else np.zeros(weight.shape[0])
    conv_attrs = {"strides": strides, "dilation": dil, "pads": pads, "groups": int(m.groups), **(attrs or {})}
    if m.groups > 1 and m.groups == e.in_shape[0]:
        conv_attrs["depthwise"] = True
    return spatial_op(e, "conv", conv_attrs, {"kernel": kernel, "bias": bias})


def _pool(e: Any, m: Any, kind: str, nd: int) -> str | None:
    bad = [f"{a}={getattr(m, a)!r}" for a, ok in (("ceil_mode", False), ("return_indices", False),
                                                   ("divisor_override", None)) if getattr(m, a, ok) != ok]
    if "dilation" in vars(m) and any(d != 1 for d in _ints(m.dilation, nd)):
        bad.append(f"dilation={m.dilation!r}")
    if bad:
        e.reject(f"{kind} with {', '.join(bad)} (not supported)")
        return None
    pool = _ints(m.kernel_size, nd)
    strides = _ints(m.stride if m.stride is not None else m.kernel_size, nd)
    pads = [[p, p] for p in _ints(m.padding, nd)]
    if "Max" in kind:
        return spatial_op(e, "max_pool", {"pool": pool, "strides": strides, "pads": pads})
    count_pad = bool(m.count_include_pad) and any(p for p, _ in pads)
    return spatial_op(e, "avg_pool", {"pool": pool, "strides": strides, "pads": pads, "count_pad": count_pad})
