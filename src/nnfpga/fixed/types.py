"""Fixed-point types with the semantics of Xilinx ``ap_fixed<W,I,Q,O,N>``, ``ap_ufixed``, ``ap_int``, ``ap_uint``.

A value of type ``FixedType(W, I, signed)`` is ``m * 2**-(W - I)`` for an integer mantissa ``m`` in
``[-2**(W-1), 2**(W-1) - 1]`` (signed) or ``[0, 2**W - 1]`` (unsigned). ``I > W`` and ``I < 0`` are legal.
The arithmetic lives in :mod:`nnfpga.fixed.arith`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from nnfpga.errors import PrecisionError

ROUNDING_MODES = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
OVERFLOW_MODES = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")
MAX_WIDTH = 1024  # the largest width Xilinx ap_fixed accepts

_EXAMPLES = "e.g. 'ap_fixed<16,6>', 'ap_ufixed<8,0,AP_RND,AP_SAT>', 'ap_int<8>' or hls4ml's 'fixed<16,6,RND,SAT>'"
_PATTERN = re.compile(r"^\s*(ap_)?(fixed|ufixed|int|uint)\s*<\s*([^<>]*?)\s*>\s*$")
_INTEGER = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class FixedType:
    """An ``ap_fixed``-style type: width, integer bits (sign included), signedness, rounding, overflow.

    ``kind`` is ``"fixed"`` or ``"int"``; ``ap_int<W>`` converts like C (truncation toward zero, wrap).
    """

    width: int
    integer: int
    signed: bool = True
    rounding: str = "TRN"
    overflow: str = "WRAP"
    kind: str = "fixed"

    def __post_init__(self) -> None:
        if not isinstance(self.width, int) or isinstance(self.width, bool) or not 1 <= self.width <= MAX_WIDTH:
            raise PrecisionError(f"fixed-point width must be an integer in 1..{MAX_WIDTH}, got {self.width!r}")
        if not isinstance(self.integer, int) or isinstance(self.integer, bool):
            raise PrecisionError(f"integer bits must be an integer, got {self.integer!r}")
        if self.rounding not in ROUNDING_MODES:
            raise PrecisionError(
                f"unknown rounding mode {self.rounding!r}; expected one of {', '.join(ROUNDING_MODES)}"
            )
        if self.overflow not in OVERFLOW_MODES:
            raise PrecisionError(
                f"unknown overflow mode {self.overflow!r}; expected one of {', '.join(OVERFLOW_MODES)}"
            )
        if self.kind not in ("fixed", "int"):
            raise PrecisionError(f"kind must be 'fixed' or 'int', got {self.kind!r}")

    # -- construction -------------------------------------------------------------------------
    @staticmethod
    def parse(text: str | FixedType) -> FixedType:
        """Parse ``ap_fixed<W,I[,Q[,O[,N]]]>``, ``ap_ufixed<..>``, ``ap_int<W>``, ``ap_uint<W>`` or hls4ml's
        spellings without the ``ap_`` prefix. Anything else raises :class:`PrecisionError` quoting the text."""
        if isinstance(text, FixedType):
            return text
        if not isinstance(text, str):
            raise PrecisionError(
                f"a precision must be a string like {_EXAMPLES.split(', ')[0][5:]}, got {type(text).__name__} {text!r}"
            )
        match = _PATTERN.match(text)
        if match is None:
            raise PrecisionError(f"invalid precision {text!r}: expected {_EXAMPLES}")
        base = match.group(2)
        name = (match.group(1) or "") + base  # as spelled, for the messages
        args = [a.strip() for a in match.group(3).split(",")] if match.group(3) else []
        signed = base in ("fixed", "int")
        if base in ("int", "uint"):
            if len(args) != 1:
                raise PrecisionError(
                    f"invalid precision {text!r}: {name}<W> takes exactly one width, got {len(args)} argument(s)"
                )
            width = _parse_int(args[0], "width", text)
            try:
                return FixedType(width, width, signed, "TRN_ZERO", "WRAP", kind="int")
            except PrecisionError as exc:
                raise PrecisionError(f"invalid precision {text!r}: {exc}") from None
        if not 2 <= len(args) <= 5:
            raise PrecisionError(
                f"invalid precision {text!r}: {name}<W,I[,Q[,O[,N]]]> takes 2 to 5 arguments, got {len(args)}; "
                + _EXAMPLES
            )
        width = _parse_int(args[0], "width", text)
        integer = _parse_int(args[1], "integer bits", text)
        rounding = _parse_mode(args[2], ROUNDING_MODES, "rounding", text) if len(args) > 2 else "TRN"
        overflow = _parse_mode(args[3], OVERFLOW_MODES, "overflow", text) if len(args) > 3 else "WRAP"
        if len(args) > 4 and _parse_int(args[4], "saturation bits N", text) != 0:
            raise PrecisionError(
                f"invalid precision {text!r}: saturation bits N other than 0 are not supported; drop the fifth argument"
            )
        try:
            return FixedType(width, integer, signed, rounding, overflow)
        except PrecisionError as exc:
            raise PrecisionError(f"invalid precision {text!r}: {exc}") from None

    @staticmethod
    def for_range(lo: float, hi: float, width: int, *, signed: bool | None = None, **modes: str) -> FixedType:
        """The type of ``width`` bits with the fewest integer bits that holds every value in ``[lo, hi]``."""
        signed = lo < 0 if signed is None else signed
        return FixedType(width, integer_bits_for(lo, hi, signed), signed, **modes)

    def with_(self, **changes: object) -> FixedType:
        return replace(self, **changes)  # type: ignore[arg-type]

    # -- properties ---------------------------------------------------------------------------
    @property
    def frac(self) -> int:
        """Fractional bits ``F = W - I`` (negative when ``I > W``)."""
        return self.width - self.integer

    @property
    def min_mantissa(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_mantissa(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def min_value(self) -> float:
        return math.ldexp(self.min_mantissa, -self.frac)

    @property
    def max_value(self) -> float:
        return math.ldexp(self.max_mantissa, -self.frac)

    @property
    def lsb(self) -> float:
        return math.ldexp(1.0, -self.frac)

    def __str__(self) -> str:
        if self.kind == "int":
            return f"ap_{'' if self.signed else 'u'}int<{self.width}>"
        name = "ap_fixed" if self.signed else "ap_ufixed"
        if self.overflow != "WRAP":
            return f"{name}<{self.width},{self.integer},AP_{self.rounding},AP_{self.overflow}>"
        if self.rounding != "TRN":
            return f"{name}<{self.width},{self.integer},AP_{self.rounding}>"
        return f"{name}<{self.width},{self.integer}>"

    def __repr__(self) -> str:
        return f"FixedType({str(self)!r})"


def integer_bits_for(lo: float, hi: float, signed: bool) -> int:
    """Fewest integer bits (sign bit included when signed) such that ``[lo, hi]`` fits without overflow,
    ignoring the LSB of the positive side (``hi`` itself must be below ``2**(I - signed)``)."""
    if not signed and lo < 0:
        raise PrecisionError(f"an unsigned type cannot hold the negative bound {lo}")
    bound = max(abs(lo) if lo < 0 else 0.0, 0.0)
    need_neg = math.ceil(math.log2(bound)) if bound > 0 else -1_000
    need_pos = math.floor(math.log2(hi)) + 1 if hi > 0 else -1_000
    bits = max(need_neg, need_pos)
    if bits == -1_000:  # all zeros
        bits = 0
    return bits + (1 if signed else 0)


def _parse_int(arg: str, what: str, text: str) -> int:
    if _INTEGER.fullmatch(arg) is None:  # int() alone would also take '1_6' and non-ASCII digits
        raise PrecisionError(f"invalid precision {text!r}: {what} must be an integer, got {arg!r}")
    return int(arg)


def _parse_mode(arg: str, modes: tuple[str, ...], what: str, text: str) -> str:
    name = arg.upper()
    name = name[3:] if name.startswith("AP_") else name
    if name not in modes:
        raise PrecisionError(
            f"invalid precision {text!r}: unknown {what} mode {arg!r}; expected one of "
            + ", ".join(f"AP_{m}" for m in modes)
        )
    return name
