"""QONNX quantizers (``Quant``/``IntQuant``, ``BipolarQuant``, ``Trunc``) as exact fixed-point types.

Semantics follow the QONNX operator specification (``qonnx.custom_op.general``, opset 1 and Trunc opset 2) and
its reference implementation: ``y = clip(round(x / scale + zeropt), min_int, max_int) - zeropt) * scale``.
Clamping to integer bounds and rounding commute, so with a power-of-two ``scale = 2**-k`` and a zero
``zeropt`` a Quant is exactly an ``ap_fixed<bits, bits - k, Q, O>`` cast: ``Q`` from ``rounding_mode``
(ROUND/HALF_EVEN -> AP_RND_CONV, FLOOR -> AP_TRN, DOWN -> AP_TRN_ZERO, HALF_UP -> AP_RND_INF, HALF_DOWN ->
AP_RND_ZERO) and ``O`` AP_SAT, or AP_SAT_SYM for a signed narrow range. Everything else (other scales, zero
points, CEIL/UP, unsigned narrow) has no exact ``ap_fixed`` form and is rejected with the reason.

A 1-bit signed Quant and a BipolarQuant give ``+scale`` for ``x >= 0`` and ``-scale`` otherwise (the reference
implementation's rule, so ``sign(0) = +1``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nnfpga.fixed import FixedType
from nnfpga.frontends import Rejected

QUANT_OPS = ("Quant", "IntQuant", "BipolarQuant", "Trunc")

ROUNDING = {"ROUND": "RND_CONV", "HALF_EVEN": "RND_CONV", "FLOOR": "TRN", "DOWN": "TRN_ZERO",
            "HALF_UP": "RND_INF", "HALF_DOWN": "RND_ZERO"}
_NUMPY_ROUNDING = {
    "RND_CONV": np.round, "TRN": np.floor, "TRN_ZERO": np.trunc,
    "RND_INF": lambda v: np.sign(v) * np.floor(np.abs(v) + 0.5),
    "RND_ZERO": lambda v: np.sign(v) * np.ceil(np.abs(v) - 0.5),
}




@dataclass
class QuantSpec:
    """One Quant node: ``bits``, scale exponents (``scale = 2**exp``, per element), signedness, narrow range,
    ``ap_fixed`` rounding mode, and whether it is bipolar (+-scale)."""

    bits: int
    exp: np.ndarray
    signed: bool
    narrow: bool
    rounding: str
    bipolar: bool = False

    @property
    def lo(self) -> int:
        return -(1 << (self.bits - 1)) + int(self.narrow) if self.signed else 0

    @property
    def hi(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1 - int(self.narrow)


def po2_exponents(scale: np.ndarray, what: str) -> np.ndarray:
    """Integer exponents of a power-of-two ``scale`` (any shape); rejects anything else."""
    s = np.asarray(scale, dtype=np.float64)
    if s.size == 0 or not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise Rejected(f"{what} {_show(s)}: expected positive powers of two")
    mant, exp = np.frexp(s)
    if np.any(mant != 0.5):
        raise Rejected(f"{what} {_show(s)} is not a power of two; only power-of-two scales map to exact "
                       "fixed-point types (e.g. Brevitas *PerTensorFixedPoint / *FixedPoint quantizers)")
    return (exp - 1).astype(np.int64)


def parse_quant(op: str, attrs: dict[str, Any], params: list[np.ndarray | None]) -> QuantSpec:
    """Check a Quant/IntQuant/BipolarQuant node's constant parameters (``params``: scale, zeropt, bitwidth;
    ``None`` where not constant) and attributes; return its spec or raise :class:`Rejected` saying why."""
    if any(p is None for p in params):
        raise Rejected("scale, zero point and bit width must be constants (initializers or Constant nodes)")
    exp = po2_exponents(params[0], "scale")  # type: ignore[arg-type]
    if op == "BipolarQuant":
        return QuantSpec(1, exp, True, False, "RND_CONV", bipolar=True)
    zeropt, bitwidth = np.asarray(params[1]), np.asarray(params[2])
    if np.any(zeropt != 0):
        raise Rejected(f"zero point {_show(zeropt)}: expected 0 (asymmetric quantization has no ap_fixed form)")
    if bitwidth.size != 1 or float(bitwidth.ravel()[0]) != int(bitwidth.ravel()[0]) or bitwidth.ravel()[0] < 1:
        raise Rejected(f"bit width {_show(bitwidth)}: expected one positive integer")
    bits = int(bitwidth.ravel()[0])
    signed, narrow = bool(attrs.get("signed", 1)), bool(attrs.get("narrow", 0))
    mode = str(attrs.get("rounding_mode", "ROUND")).upper()
    if mode not in ROUNDING:
        raise Rejected(f"rounding_mode {mode!r} has no ap_fixed equivalent; expected one of "
                       f"{', '.join(ROUNDING)}")
    if bits == 1 and signed:  # the reference implementation treats it as bipolar
        return QuantSpec(1, exp, True, False, ROUNDING[mode], bipolar=True)
    if narrow and not signed:
        raise Rejected(f"unsigned narrow range [0, {(1 << bits) - 2}] has no ap_fixed form; expected narrow=0 "
                       "for unsigned quantizers")
    return QuantSpec(bits, exp, signed, narrow, ROUNDING[mode])


def fake_quant(x: np.ndarray, spec: QuantSpec) -> np.ndarray:
    """The dequantized values of constant ``x`` (exact: the scales are powers of two)."""
    x = np.asarray(x, dtype=np.float64)
    if spec.bipolar:
        return np.ldexp(np.where(x >= 0, 1.0, -1.0), spec.exp)
    q = np.clip(np.ldexp(x, -spec.exp), spec.lo, spec.hi)
    return np.ldexp(_NUMPY_ROUNDING[spec.rounding](q), spec.exp)


def tensor_exp(spec: QuantSpec) -> int:
    """The one scale exponent of an activation quantizer (per-channel scales are rejected)."""
    if np.unique(spec.exp).size != 1:
        raise Rejected(f"per-channel scales 2**{_show(spec.exp)} on an activation: expected one scale "
                       "(one fixed-point type per tensor)")
    return int(spec.exp.ravel()[0])


def activation_type(spec: QuantSpec) -> FixedType:
    """The ``ap_fixed`` type whose cast equals the quantizer (not for bipolar ones)."""
    k = -tensor_exp(spec)
    overflow = "SAT_SYM" if spec.narrow and spec.signed else "SAT"
    return FixedType(spec.bits, spec.bits - k, spec.signed, spec.rounding, overflow)


def const_type(spec: QuantSpec) -> FixedType:
    """A type holding every value of a quantized constant exactly (one type for per-channel scales too)."""
    lo, hi = (-1, 1) if spec.bipolar else (spec.lo, spec.hi)
    frac = int(-spec.exp.min())
    integer = max(int(e) for e in np.unique(spec.exp)) + max((-lo - 1).bit_length(), hi.bit_length()) + 1
    if not spec.signed:
        integer -= 1
    return FixedType(max(integer + frac, 1), integer, spec.signed)


def bipolar_nodes(spec: QuantSpec) -> list[tuple[str, dict[str, Any], dict[str, np.ndarray]]]:
    """A bipolar activation as two exact nodes: ``step = hard_sigmoid(x + 1) -> ap_ufixed<1,1,AP_TRN,AP_SAT>``
    (1 when ``x >= 0``, else 0: values in [0, 1) truncate to 0), then ``y = step * 2s - s``."""
    e = tensor_exp(spec)
    step = {"slope": 1.0, "offset": 1.0,
            "qtypes": {"param": "ap_fixed<3,2>", "result": "ap_ufixed<1,1,AP_TRN,AP_SAT>"}}
    pm = {"qtypes": {"weight": str(FixedType(2, 2 + e + 1)), "bias": str(FixedType(2, 2 + e)),
                     "result": str(FixedType(2, 2 + e))}}
    weights = {"scale": np.array([np.ldexp(1.0, e + 1)]), "shift": np.array([-np.ldexp(1.0, e)])}
    return [("hard_sigmoid", step, {}), ("scale_shift", pm, weights)]


def parse_trunc(attrs: dict[str, Any], params: list[np.ndarray | None]) -> tuple[FixedType, FixedType]:
    """Trunc (opset 2: scale, zeropt, in_bitwidth, out_scale, out_bitwidth): the input is rounded half to even
    onto the ``scale`` grid, then cast to the output. Returns both types."""
    if len(params) != 5:
        raise Rejected(f"{len(params) + 1} inputs: expected 6 (QONNX Trunc opset 2: x, scale, zeropt, "
                       "in_bitwidth, out_scale, out_bitwidth); re-export with a current Brevitas/QONNX")
    scale, zeropt, in_bits, out_scale, out_bits = params
    signed, narrow = attrs.get("signed", 1), attrs.get("narrow", 0)
    s_in = parse_quant("Quant", {"signed": signed, "narrow": 0}, [scale, zeropt, in_bits])
    s_out = parse_quant("Quant", {"signed": signed, "narrow": narrow, "rounding_mode": attrs.get("rounding_mode",
                                                                                                 "FLOOR")},
                        [out_scale, zeropt, out_bits])
    if s_in.bipolar or s_out.bipolar:
        raise Rejected("1-bit signed Trunc: expected at least 2 bits")
    return activation_type(s_in), activation_type(s_out)


def exact_type(values: np.ndarray, max_frac: int = 160) -> FixedType | None:
    """The narrowest signed type holding every value exactly (None if some needs more than ``max_frac``
    fractional bits)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    for frac in range(-64, max_frac + 1):
        m = np.ldexp(v, frac)
        if np.all(m == np.round(m)):
            ints = [int(x) for x in m]
            width = max(max((-i - 1).bit_length() if i < 0 else i.bit_length() for i in ints), 0) + 1 if ints else 1
            return FixedType(width, width - frac)
    return None


def _show(a: np.ndarray) -> str:
    a = np.asarray(a)
    return str(a.ravel()[0]) if a.size == 1 else f"{a.ravel()[:4].tolist()}{'...' if a.size > 4 else ''}"
