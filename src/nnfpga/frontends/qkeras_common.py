"""QKeras quantizers as saved in a model file -> names, parameters, exact fixed-point types and quantized weights.

Shared by :mod:`nnfpga.frontends.qkeras` (dense, activations), :mod:`nnfpga.frontends.qkeras_conv` (through
``qkeras``) and :mod:`nnfpga.frontends.qkeras_recurrent`. The formulas are in :mod:`nnfpga.frontends.qkeras`'s
docstring; ``quantized_tanh`` and ``quantized_sigmoid`` (recurrent gates only) in
:mod:`nnfpga.frontends.qkeras_recurrent`'s.
"""

from __future__ import annotations

import ast
import math
from typing import Any

import numpy as np

from nnfpga.fixed import FixedType
from nnfpga.frontends import Rejected

QUANTIZERS = ("quantized_bits", "quantized_relu", "binary", "ternary")
CURVES = ("quantized_tanh", "quantized_sigmoid")  # activations only: see curve_quantizer
_ARGS = {  # positional parameter order and defaults of QKeras 0.9's quantizer constructors
    "quantized_bits": {"bits": 8, "integer": 0, "symmetric": 0, "keep_negative": True, "alpha": None,
                       "use_stochastic_rounding": False, "scale_axis": None, "qnoise_factor": 1.0},
    "quantized_relu": {"bits": 8, "integer": 0, "use_sigmoid": 0, "negative_slope": 0.0,
                       "use_stochastic_rounding": False, "relu_upper_bound": None, "is_quantized_clip": True,
                       "qnoise_factor": 1.0},
    "binary": {"use_01": False, "alpha": None, "use_stochastic_rounding": False},
    "ternary": {"alpha": None, "threshold": None, "use_stochastic_rounding": False, "number_of_unrolls": 5},
    "quantized_tanh": {"bits": 8, "use_stochastic_rounding": False, "symmetric": False, "use_real_tanh": False},
    "quantized_sigmoid": {"bits": 8, "symmetric": False, "use_real_sigmoid": False,
                          "use_stochastic_rounding": False},
}


def parse_quantizer(spec: Any) -> tuple[str, dict[str, Any]] | None:
    """A quantizer as saved (``"quantized_relu(6,2)"`` or ``{"class_name": ..., "config": ...}``) -> name and
    full parameters; a plain activation name -> (name, {}); None/"linear" -> None."""
    if spec is None:
        return None
    if isinstance(spec, dict):
        name, given, pos = spec["class_name"], dict(spec.get("config", {})), []
    else:
        try:
            tree = ast.parse(str(spec).strip(), mode="eval").body
            if isinstance(tree, ast.Name):
                name, given, pos = tree.id, {}, []
            elif isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name):
                name = tree.func.id
                pos = [ast.literal_eval(a) for a in tree.args]
                given = {k.arg: ast.literal_eval(k.value) for k in tree.keywords if k.arg}
            else:
                raise ValueError(spec)
        except (SyntaxError, ValueError):
            raise Rejected(f"cannot parse quantizer {spec!r}") from None
    if name == "linear":
        return None
    if name not in _ARGS:
        return name, {}
    params = dict(_ARGS[name])
    params.update(zip(params, pos, strict=False))
    params.update(given)
    return name, params


def po2_exponent(alpha: Any, what: str) -> int:
    if alpha is None:
        return 0
    if isinstance(alpha, str) or not isinstance(alpha, (int, float)) or alpha <= 0:
        raise Rejected(f"{what} alpha={alpha!r}: the scale is computed from the weights at run time; "
                       "train with alpha=1 (or a fixed power of two)")
    mant, exp = math.frexp(float(alpha))
    if mant != 0.5:
        raise Rejected(f"{what} alpha={alpha!r} is not a power of two, so the scaled values are not fixed-point")
    return exp - 1


def activation_type(name: str, p: dict[str, Any]) -> FixedType:
    """The exact result type of a quantizing activation (quantized_bits or quantized_relu)."""
    if float(p.get("qnoise_factor", 1.0)) != 1.0:
        raise Rejected(f"{name} with qnoise_factor={p['qnoise_factor']} mixes float and quantized values")
    bits, integer = int(p["bits"]), int(p["integer"])
    if name == "quantized_relu":
        if p["use_sigmoid"] or float(p["negative_slope"]) != 0.0 or not p["is_quantized_clip"]:
            raise Rejected("quantized_relu with use_sigmoid, negative_slope or is_quantized_clip=False")
        return FixedType(bits, integer, signed=False, rounding="RND_CONV", overflow="SAT")
    if po2_exponent(p["alpha"], name) != 0:
        raise Rejected(f"{name} activation alpha={p['alpha']!r} scales after rounding; use alpha=1")
    keep = bool(p["keep_negative"])
    if bits - keep <= 0:
        raise Rejected(f"{name}(bits={bits}, keep_negative={keep}) is a sign function; use binary")
    overflow = "SAT_SYM" if keep and p["symmetric"] else "SAT"
    return FixedType(bits, integer + keep, signed=keep, rounding="RND_CONV", overflow=overflow)


def quantize_weights(name: str, p: dict[str, Any], w: np.ndarray) -> np.ndarray:
    """QKeras's own formula in float32, returned as exact float64 values."""
    x = np.asarray(w, dtype=np.float32)
    if name in ("binary", "ternary"):
        scale = 2.0 ** po2_exponent(p["alpha"], name)
        if name == "binary":
            q = np.where(x >= 0, 1.0, -1.0)
            q = (q + 1.0) / 2.0 if p["use_01"] else q
        else:
            thr = np.float32(0.33 if p["threshold"] is None else p["threshold"])
            q = np.where(np.abs(x) >= thr, np.sign(x), 0.0)
        return q.astype(np.float64) * scale
    if name != "quantized_bits":
        raise Rejected(f"{name} weights")
    if float(p.get("qnoise_factor", 1.0)) != 1.0:
        raise Rejected(f"{name} with qnoise_factor={p['qnoise_factor']}")
    shift = po2_exponent(p["alpha"], name)
    keep, bits, integer = int(bool(p["keep_negative"])), int(p["bits"]), int(p["integer"])
    if bits - keep <= 0:
        q = np.where(x >= 0, 1.0, -1.0)
        return ((q if keep else (q + 1.0) / 2.0) * 2.0**shift).astype(np.float64)
    m, m_i = np.float32(2.0 ** (bits - keep)), np.float32(2.0**integer)
    r = np.clip(np.round(x * m / m_i), keep * (-m + int(bool(p["symmetric"]))), m - 1)
    return r.astype(np.float64) * (2.0 ** (integer - bits + keep + shift))


def curve_quantizer(name: str, p: dict[str, Any]) -> tuple[str, FixedType]:
    """``quantized_tanh`` / ``quantized_sigmoid`` (parameters ``p``) -> the curve before the rounding (``hard_tanh``
    = QKeras's ``2 hard_sigmoid(x) - 1``, ``hard_sigmoid_qkeras`` = ``clip(0.5 x + 0.5, 0, 1)``, or with
    ``use_real_*`` the ``tanh`` / ``sigmoid`` tables) and the exact type QKeras rounds it to: ``round(p * m) / m``
    half to even, clipped to ``[-1 (+1/m if symmetric), 1 - 1/m]`` with ``m = 2**(bits-1)`` is
    ``ap_fixed<bits, 1, AP_RND_CONV, AP_SAT>`` (``AP_SAT_SYM``); the sigmoid's ``[0, 1 - 1/m]`` with ``m = 2**bits``
    is ``ap_ufixed<bits, 0, AP_RND_CONV, AP_SAT>``."""
    bits, real = int(p["bits"]), bool(p["use_real_tanh" if name == "quantized_tanh" else "use_real_sigmoid"])
    if p["use_stochastic_rounding"]:
        raise Rejected(f"{name} with use_stochastic_rounding rounds at random; set use_stochastic_rounding=False")
    if name == "quantized_tanh":
        if bits < 2:
            raise Rejected(f"quantized_tanh(bits={bits}) is a sign function; use bits >= 2")
        t = FixedType(bits, 1, signed=True, rounding="RND_CONV", overflow="SAT_SYM" if p["symmetric"] else "SAT")
        return ("tanh" if real else "hard_tanh"), t
    if p["symmetric"]:
        raise Rejected("quantized_sigmoid(symmetric=True) never outputs 0; use symmetric=False")
    return ("sigmoid" if real else "hard_sigmoid_qkeras"), FixedType(bits, 0, signed=False, rounding="RND_CONV",
                                                                       overflow="SAT")
