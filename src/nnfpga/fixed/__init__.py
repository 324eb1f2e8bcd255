"""Fixed-point types (``ap_fixed`` semantics) and their bit-exact vectorized arithmetic."""

from nnfpga.fixed.arith import Overflow, from_float, requantize, storage_dtype, to_float
from nnfpga.fixed.types import OVERFLOW_MODES, ROUNDING_MODES, FixedType, integer_bits_for

__all__ = [
    "OVERFLOW_MODES",
    "ROUNDING_MODES",
    "FixedType",
    "Overflow",
    "from_float",
    "integer_bits_for",
    "requantize",
    "storage_dtype",
    "to_float",
]
