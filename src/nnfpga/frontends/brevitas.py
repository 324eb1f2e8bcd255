"""Brevitas layers read directly from the module: their quantizers become exact fixed-point types.

A Brevitas integer quantizer computes ``clamp(round(x / s), lo, hi) * s``. With a power-of-two scale
``s = 2**e`` and ``b`` bits this is an ``ap_fixed<b, b + e>`` (``ap_ufixed`` when unsigned) conversion:
- rounding: ``RoundSte`` is ``torch.round``, round half to even -> ``AP_RND_CONV``; ``FloorSte`` -> ``AP_TRN``;
  ``RoundToZeroSte`` -> ``AP_TRN_ZERO``; other rounding modes have no ``ap_fixed`` equivalent and are rejected;
- clamping: to ``[-2**(b-1), 2**(b-1) - 1]`` -> ``AP_SAT``; narrow range ``[-(2**(b-1) - 1), ...]`` ->
  ``AP_SAT_SYM`` (an unsigned narrow range has no equivalent and is rejected).
QuantLinear and QuantConv1d/QuantConv2d (grouped and depthwise too; the geometry as ``nn.Conv``'s, see
:mod:`nnfpga.frontends.pytorch_conv`) share one path: input quantizer, quantized weight and bias, the exact sum
(pinned after the graph is built), output quantizer. Pooling between them is PyTorch's own ``nn.MaxPool``
(exact on a quantized tensor). ``TruncAvgPool2d`` (no padding) and ``TruncAdaptiveAvgPool2d`` to 1 become an
``avg_pool`` whose result is the truncation quantizer's type: Brevitas sums the window's integers and rounds the
sum divided by ``2**(acc_bits - out_bits)``, which for a power-of-two window is the exact mean rounded to that
type (other windows give a non-power-of-two scale and are refused).
Quantized weights and biases are stored dequantized (exact) with their types pinned; per-channel power-of-two
weight scales get one type wide enough for every channel (still exact). Non-power-of-two scales, non-zero
zero points and per-channel activation scales cannot be exact and are rejected, naming the layer and what to
use instead. Pinned types go into ``node.attrs["qtypes"]`` (see :func:`nnfpga.config.apply.pinned_types`).
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from nnfpga.fixed import FixedType
from nnfpga.frontends import FLOAT32_EXACT_BITS
from nnfpga.frontends.pytorch_conv import conv, spatial_op
from nnfpga.ir.graph import Graph, Node
from nnfpga.ops import OPS
from nnfpga.ops.base import Context
from nnfpga.passes import infer_types

if TYPE_CHECKING:
    from nnfpga.frontends.pytorch_emit import Emit

ROUNDING = {"RoundSte": "RND_CONV", "FloorSte": "TRN", "RoundToZeroSte": "TRN_ZERO"}
CLAMPS = ("TensorClamp", "TensorClampSte")
EXACT_OPS = ("linear", "relu", "flatten", "reshape", "dropout", "hard_tanh", "transpose", "max_pool", "zero_pad",
             "crop", "upsample")  # exact type rules (the input's type), no constants
LINEAR = ("QuantLinear", "QuantConv1d", "QuantConv2d")
POOLS = ("TruncAvgPool2d", "TruncAdaptiveAvgPool2d")
LAYERS = ("QuantIdentity", "QuantReLU", "QuantHardTanh", *LINEAR, *POOLS)
USE_INSTEAD = {
    "weight_quant": "weight_quant=Int8WeightPerTensorFixedPoint",
    "bias_quant": "bias_quant=Int8BiasPerTensorFixedPointInternalScaling (or Int16Bias after fixed-point input "
                  "and weight quantizers)",
    "act_quant": "act_quant=Int8ActPerTensorFixedPoint (Uint8ActPerTensorFixedPoint for QuantReLU)",
    "input_quant": "input_quant=Int8ActPerTensorFixedPoint",
    "output_quant": "output_quant=Int8ActPerTensorFixedPoint",
    "trunc_quant": "a power-of-two window (2x2, 4x4) with trunc_quant=RoundTo8bit",
}


class _Reject(Exception):
    """A quantizer that has no exact fixed-point equivalent (the message says why and what to use)."""


def convert_module(e: Emit, module: Any, in_value: Any) -> str | None:
    """Add the nodes of one Brevitas layer; return the node holding its output (None if rejected)."""
    kind = type(module).__name__
    if kind in LINEAR:
        return _linear(e, module, in_value, kind)
    if kind in ("QuantIdentity", "QuantReLU", "QuantHardTanh"):
        return _activation(e, module, kind)
    if kind in POOLS:
        try:
            return _trunc_avg_pool(e, module, in_value, kind)
        except _Reject as exc:
            e.reject(f"{kind}: {exc}")
            return None
    e.reject(f"Brevitas {kind}; supported Brevitas layers: {', '.join(LAYERS)}")
    return None


def _trunc_avg_pool(e: Emit, module: Any, in_value: Any, kind: str) -> str:
    import torch

    if len(e.in_shape) != 3:
        raise _Reject(f"per-sample shape {e.in_shape}; it reads (C, H, W) tensors")
    if not hasattr(in_value, "scale"):
        raise _Reject("its input is not a quantized tensor (Brevitas then averages in float): give the layer "
                      "before it return_quant_tensor=True")
    spatial = list(e.in_shape[1:])
    if kind == "TruncAdaptiveAvgPool2d":
        size = module.output_size
        if any(s != 1 for s in ([size] * 2 if isinstance(size, int) else size)):
            raise _Reject(f"output_size={size!r}; nnfpga reads adaptive pooling to 1 (global pooling)")
        geo: dict[str, Any] = {"pool": spatial, "strides": spatial, "pads": [[0, 0]] * 2, "global": True,
                               "keepdims": True}
    else:
        bad = [f"{a}={getattr(module, a)!r}" for a, ok in (("ceil_mode", False), ("divisor_override", None),
                                                          ("padding", 0)) if getattr(module, a, ok) != ok]
        if bad:
            raise _Reject(f"{', '.join(bad)} (not supported)")
        pool = [module.kernel_size] * 2 if isinstance(module.kernel_size, int) else list(module.kernel_size)
        stride = module.stride if module.stride is not None else module.kernel_size
        geo = {"pool": pool, "strides": [stride] * 2 if isinstance(stride, int) else list(stride), "pads": [[0, 0]] * 2}
    tq = module.trunc_quant.tensor_quant
    rounding = ROUNDING.get(_class_name(tq.float_to_int_impl))
    if rounding is None:
        raise _Reject(f"trunc_quant rounds with {_class_name(tq.float_to_int_impl)}, which has no ap_fixed "
                      "equivalent; use RoundSte (round half to even), FloorSte or RoundToZeroSte")
    with torch.no_grad():
        out = module(in_value)
    t_in = _exact_type(in_value, "the input")
    bits, exps = _bits_and_exponents(out.scale, out.zero_point, out.bit_width, "trunc_quant")
    signed, narrow = bool(out.signed), bool(tq.narrow_range)
    t = FixedType(bits, bits + exps[0], signed, rounding, "SAT_SYM" if narrow and signed else "SAT")
    probe = Node(e.name, "avg_pool", [], e.out_shape, attrs=geo)
    OPS["avg_pool"].infer_types(probe, [t_in], Context(t_in))  # the exact sum (its default accumulator)
    return spatial_op(e, "avg_pool", {**geo, "qtypes": {"accum": str(probe.types["accum"]), "result": str(t)}})


def _exact_type(q: Any, what: str) -> FixedType:
    """The type of a quantized tensor's values (per-tensor power-of-two scale)."""
    bits, exps = _bits_and_exponents(q.scale, q.zero_point, q.bit_width, "trunc_quant")
    if len(exps) != 1:
        raise _Reject(f"{what} has per-channel scales")
    return FixedType(bits, bits + exps[0], bool(q.signed))


def _activation(e: Emit, module: Any, kind: str) -> str | None:
    proxy = module.act_quant
    fused = proxy.fused_activation_quant_proxy
    act = _class_name(fused.activation_impl) if fused is not None else "Identity"
    op = {"Identity": "linear", "ReLU": "relu"}.get(act)
    if op is None:
        e.reject(f"{kind} with activation {act}")
        return None
    if not proxy.is_quant_enabled:  # act_quant=None: a float activation
        return e.src if op == "linear" else e.add(op)
    try:
        t = act_type(proxy, "act_quant")
    except _Reject as exc:
        e.reject(f"{kind}: {exc}")
        return None
    if op == "linear":
        return quantize(e, t)
    return e.add(op, attrs={"qtypes": {"result": str(t)}})


def quantize(e: Emit, t: FixedType, suffix: str = "") -> str:
    """A cast to ``t``. On the graph input itself (its only consumer) it becomes the input's type: ap_fixed's
    conversion from float rounds and saturates exactly as the quantizer does, with no earlier rounding."""
    src = e.g[e.src]
    if e.input_exclusive and "qtypes" not in src.attrs:
        src.attrs["qtypes"] = {"result": str(t)}
        src.source += f", quantized by {e.source}"
        if not suffix:
            e.g.removed[e.name] = f"{e.source} quantizes the graph input: its type is that of input {e.src!r}"
        return e.src
    return e.add("linear", src.shape, {"qtypes": {"result": str(t)}}, suffix=suffix)


def _linear(e: Emit, module: Any, in_value: Any, kind: str) -> str | None:
    import torch

    nd = 0 if kind == "QuantLinear" else int(kind[-2])
    if len(e.in_shape) != nd + 1:
        e.reject(f"QuantLinear on per-sample shape {e.in_shape}; nnfpga supports Linear on flat vectors: flatten first"
                 if not nd else f"{kind} on per-sample shape {e.in_shape}; it reads {nd} spatial axis(es) after the "
                 "channels")
        return None
    problems: list[str] = []
    qtypes: dict[str, str] = {}
    with torch.no_grad():
        q_in = module.input_quant(in_value)
        q_w = module.quant_weight(q_in if hasattr(q_in, "scale") else None)
        q_b = module.bias_quant(module.bias, q_in, q_w) if module.bias is not None else None
    t_in = _checked(problems, lambda: act_type(module.input_quant, "input_quant"), module.input_quant)
    if hasattr(q_w, "scale"):
        t_w = _checked(problems, lambda: const_type(q_w, "weight_quant"))
        if t_w is not None:
            qtypes["weight"] = str(t_w)
    if q_b is not None and hasattr(q_b, "scale"):
        t_b = _checked(problems, lambda: const_type(q_b, "bias_quant"))
        if t_b is not None:
            qtypes["bias"] = str(t_b)
    t_out = _checked(problems, lambda: act_type(module.output_quant, "output_quant"), module.output_quant)
    if t_out is not None:
        qtypes["result"] = str(t_out)
    if problems:
        e.reject(f"{kind}: " + "; ".join(problems))
        return None
    src = quantize(e, t_in, suffix="_input_quant") if t_in is not None else e.src
    attrs = {"qtypes": qtypes} if qtypes else {}
    if nd:
        e.src = src
        out = conv(e, module, kind, nd, _array(q_w), _array(q_b) if q_b is not None else None, attrs)
        if out is not None:
            e.notes["quant_dense"] = e.g[out].inputs[0]  # the conv node, between the two transposes
        return out
    kernel = _array(q_w).T.copy()
    bias = _array(q_b) if q_b is not None else np.zeros(kernel.shape[1])
    name = e.add("dense", (kernel.shape[1],), attrs, {"kernel": kernel, "bias": bias}, src=src)
    e.notes["quant_dense"] = name
    return name


def _checked(problems: list[str], fn: Any, proxy: Any = None) -> FixedType | None:
    if proxy is not None and not proxy.is_quant_enabled:
        return None
    try:
        return fn()
    except _Reject as exc:
        problems.append(str(exc))
        return None


def _array(value: Any) -> np.ndarray:
    v = value.value if hasattr(value, "scale") else value
    return v.detach().double().cpu().numpy()


def act_type(proxy: Any, what: str) -> FixedType:
    """The ``ap_fixed`` type that converts exactly as the activation quantizer behind ``proxy`` does."""
    tq = proxy.fused_activation_quant_proxy.tensor_quant
    iq = getattr(tq, "int_quant", None)
    if iq is None:
        raise _Reject(f"{what} {_class_name(tq)} is not an integer quantizer; use {USE_INSTEAD[what]}")
    rounding = ROUNDING.get(_class_name(iq.float_to_int_impl))
    if rounding is None:
        raise _Reject(f"{what} rounds with {_class_name(iq.float_to_int_impl)}, which has no ap_fixed equivalent; "
                      f"use RoundSte (round half to even, the default), FloorSte or RoundToZeroSte")
    if _class_name(iq.tensor_clamp_impl) not in CLAMPS:
        raise _Reject(f"{what} clamps with {_class_name(iq.tensor_clamp_impl)}; nnfpga maps TensorClamp (saturation)")
    signed, narrow = bool(iq.signed), bool(iq.narrow_range)
    bits, exps = _bits_and_exponents(proxy.scale(), proxy.zero_point(), proxy.bit_width(), what)
    if len(set(exps)) != 1:
        raise _Reject(f"{what} has per-channel scales {sorted(set(exps))} (as powers of two); an activation has one "
                      f"type: use a per-tensor quantizer such as {USE_INSTEAD[what]}")
    if narrow and not signed:
        raise _Reject(f"{what} is an unsigned narrow-range quantizer (0..2**b-2), which no ap_ufixed saturation mode "
                      "reproduces; use narrow_range=False")
    return FixedType(bits, bits + exps[0], signed, rounding, "SAT_SYM" if narrow and signed else "SAT")


def const_type(q: Any, what: str) -> FixedType:
    """A type holding every value of a quantized constant exactly (per-channel power-of-two scales: the union)."""
    bits, exps = _bits_and_exponents(q.scale, q.zero_point, q.bit_width, what)
    lo, hi = min(exps), max(exps)
    t = FixedType(bits + hi - lo, bits + hi, bool(q.signed))
    m = np.ldexp(_array(q), t.frac)
    if not (np.all(m == np.round(m)) and m.min(initial=0) >= t.min_mantissa and m.max(initial=0) <= t.max_mantissa):
        raise _Reject(f"{what} values are not exact in {t}")  # a quantizer this module does not understand
    return t


def _bits_and_exponents(scale: Any, zero_point: Any, bit_width: Any, what: str) -> tuple[int, list[int]]:
    bits = float(bit_width)
    if bits != int(bits) or bits < 1:
        raise _Reject(f"{what} has bit width {bits:g}; a fixed-point type needs a whole number of bits")
    zp = np.asarray(_detach(zero_point), dtype=np.float64)
    if np.any(zp != 0):
        raise _Reject(f"{what} has a non-zero zero point (asymmetric quantization), which no ap_fixed type "
                      f"reproduces; use {USE_INSTEAD[what]}")
    exps = []
    for s in np.unique(np.asarray(_detach(scale), dtype=np.float64)):
        mant, exp = math.frexp(float(s))
        if mant != 0.5:
            raise _Reject(f"{what} scale {s:.6g} is not a power of two, so its values are not exact fixed-point "
                          f"numbers; use a fixed-point (power-of-two scale) quantizer: {USE_INSTEAD[what]}")
        exps.append(exp - 1)
    return int(bits), exps


def _class_name(module: Any) -> str:
    """A module's class name, also under BREVITAS_JIT=1 (a TorchScript module keeps it in ``original_name``)."""
    return getattr(module, "original_name", None) or type(module).__name__


def _detach(v: Any) -> Any:
    return v.detach().cpu().numpy() if hasattr(v, "detach") else v


# -- after the graph is built -----------------------------------------------------------------------

def finalize(g: Graph, quant_dense: list[str], model: str) -> None:
    """Pin each QuantLinear's and QuantConv's result to its exact sum (Brevitas passes the unrounded sum on), and
    warn about the first layers whose output the quantizers do not determine (there the firmware can differ from
    Brevitas)."""
    exact: set[str] = set()
    roots: list[str] = []
    for node in g:
        q = node.attrs.get("qtypes", {})
        if not all(i in exact for i in node.inputs):
            continue  # downstream of a layer already reported
        if node.op == "input":
            ok = "result" in q
            why = "the input is not quantized: start the model with a QuantIdentity"
        elif node.op in ("dense", "conv") and node.name in quant_dense:
            ok, why = _pin_sum(g, node.name)
        else:
            ok = "result" in q or (node.op in EXACT_OPS and not node.attrs.get("max_value"))
            why = f"float {node.op}: its types come from the config"
        if ok:
            exact.add(node.name)
        else:
            roots.append(f"  - {node.name!r} ({node.source or node.op}): {why}")
    if roots:
        warnings.warn(f"Brevitas model {model!r}: the firmware reproduces the model's quantized output bit for bit "
                      "only where Brevitas quantizers fix every type; from these layers on it can differ:\n"
                      + "\n".join(roots), stacklevel=4)


def _pin_sum(g: Graph, name: str) -> tuple[bool, str]:
    node = g[name]
    q = node.attrs.get("qtypes", {})
    if "weight" not in q:
        return False, "float weights (weight_quant=None): use weight_quant=Int8WeightPerTensorFixedPoint"
    if "bias" not in q and np.any(node.weights["bias"] != 0):
        return False, f"float bias (bias_quant=None): use {USE_INSTEAD['bias_quant']}"
    typed = g.copy()
    for n in typed:
        n.types = {s: FixedType.parse(t) for s, t in n.attrs.get("qtypes", {}).items()}
    infer_types(typed, FixedType(16, 6))
    accum = typed[name].types["accum"]  # exact: every partial sum fits
    node.attrs["qtypes"] = {"result": str(accum), **q}
    if accum.width > FLOAT32_EXACT_BITS:
        return False, (f"its exact sums need {accum} ({accum.width} bits); Brevitas adds in float32, which rounds "
                       f"sums wider than {FLOAT32_EXACT_BITS} bits (the firmware's sums stay exact)")
    return True, ""
