"""``nnfpga.fixed``: ap_fixed conversions against an exact ``Fraction`` reference, pinned values, and parsing.

The reference implements the documented semantics on exact rationals: exact value -> rounding to the target
LSB -> overflow handling. Bit-exactness against the real Xilinx headers is in ``test_ap_headers.py``.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnfpga.errors import PrecisionError
from nnfpga.fixed import (
    OVERFLOW_MODES,
    ROUNDING_MODES,
    FixedType,
    Overflow,
    from_float,
    requantize,
    storage_dtype,
    to_float,
)
from nnfpga.fixed.arith import as_storage

# -- the exact reference -------------------------------------------------------------------------------

def ref_convert(value: Fraction, t: FixedType) -> tuple[int, bool]:
    """The mantissa of ``value`` in type ``t``, and whether the conversion overflowed."""
    scaled = value * Fraction(2) ** t.frac
    down = math.floor(scaled)
    if t.rounding == "TRN":  # toward -inf
        q = down
    elif t.rounding == "TRN_ZERO":  # toward zero
        q = math.trunc(scaled)
    else:  # to nearest; the mode decides ties
        up = down + 1
        dist = scaled - down
        if dist != Fraction(1, 2):
            q = down if dist < Fraction(1, 2) else up
        else:
            q = {
                "RND": up,  # toward +inf
                "RND_MIN_INF": down,  # toward -inf
                "RND_ZERO": up if scaled < 0 else down,  # toward zero
                "RND_INF": down if scaled < 0 else up,  # away from zero
                "RND_CONV": down if down % 2 == 0 else up,  # to even
            }[t.rounding]
    lo, hi = t.min_mantissa, t.max_mantissa
    if t.overflow == "SAT_SYM" and t.signed and t.width > 1:
        # symmetric: [-max, max]. For a 1-bit signed type ap_fixed builds -max as (min | 1) == min, so it
        # saturates like AP_SAT there (verified against the headers in test_ap_headers.py).
        lo = -hi
    if lo <= q <= hi:
        return q, False
    if t.overflow == "WRAP":
        return (q - t.min_mantissa) % (1 << t.width) + t.min_mantissa, True
    if t.overflow == "SAT_ZERO":
        return 0, True
    return min(max(q, lo), hi), True


def check_against_reference(values: list[Fraction], got: np.ndarray, ov: Overflow, t: FixedType) -> None:
    expected = [ref_convert(v, t) for v in values]
    assert got.dtype == storage_dtype(t.width)
    assert got.shape == (len(values),)
    got_ints = [int(g) for g in got.tolist()]
    for v, (e, _), g in zip(values, expected, got_ints, strict=True):
        assert g == e, f"{t} <- {v} ({float(v)!r}): expected {e}, got {g}"
    assert ov == Overflow(sum(o for _, o in expected), len(values))


# -- strategies ----------------------------------------------------------------------------------------

WIDTHS = st.one_of(st.integers(1, 70), st.sampled_from([1, 2, 52, 53, 54, 61, 62, 63, 64, 65, 100, 200]))


@st.composite
def fixed_types(draw: st.DrawFn) -> FixedType:
    width = draw(WIDTHS)
    signed = draw(st.booleans())
    if draw(st.integers(0, 9)) == 0:
        return FixedType(width, width, signed, "TRN_ZERO", "WRAP", kind="int")
    integer = draw(st.one_of(st.integers(-20, width + 20), st.sampled_from([0, 1, width, width + 1, -1])))
    rounding, overflow = draw(st.sampled_from(ROUNDING_MODES)), draw(st.sampled_from(OVERFLOW_MODES))
    return FixedType(width, integer, signed, rounding, overflow)


@st.composite
def doubles_for(draw: st.DrawFn, t: FixedType) -> float:
    """Any finite double, or one at / next to a multiple of a quarter LSB near the type's range."""
    if draw(st.integers(0, 3)) == 0:
        return draw(st.floats(allow_nan=False, allow_infinity=False))
    k = draw(st.integers(t.min_mantissa - 3, t.max_mantissa + 3) | st.integers(-5, 5))
    quarter = draw(st.integers(0, 3))
    x = float(Fraction(4 * k + quarter, 4) * Fraction(2) ** -t.frac)
    nudge = draw(st.sampled_from([0, 0, -1, 1]))
    if nudge and math.isfinite(x):
        x = math.nextafter(x, nudge * math.inf)
    return x if math.isfinite(x) else 0.0


HYPOTHESIS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@HYPOTHESIS
@given(data=st.data())
def test_from_float_matches_reference(data: st.DataObject) -> None:
    t = data.draw(fixed_types(), label="type")
    xs = data.draw(st.lists(doubles_for(t), min_size=1, max_size=25), label="values")
    got, ov = from_float(np.array(xs, dtype=np.float64), t)
    check_against_reference([Fraction(x) for x in xs], got, ov, t)


@st.composite
def mantissas_of(draw: st.DrawFn, src: FixedType) -> int:
    near = st.integers(max(src.min_mantissa, -64), min(src.max_mantissa, 64))
    edges = st.sampled_from([src.min_mantissa, src.max_mantissa, src.min_mantissa + 1, src.max_mantissa - 1])
    return draw(st.one_of(st.integers(src.min_mantissa, src.max_mantissa), near, edges))


@HYPOTHESIS
@given(data=st.data())
def test_requantize_matches_reference(data: st.DataObject) -> None:
    dst = data.draw(fixed_types(), label="dst")
    src = data.draw(fixed_types(), label="src")
    ms = data.draw(st.lists(mantissas_of(src), min_size=1, max_size=25), label="mantissas")
    m = as_storage(np.array(ms, dtype=object), src.width)
    got, ov = requantize(m, src.frac, src.width + (not src.signed), dst)
    check_against_reference([Fraction(v) * Fraction(2) ** -src.frac for v in ms], got, ov, dst)


@pytest.mark.parametrize(("width", "integer"), [(8, -1100), (8, -1076), (8, -1070), (30, -1050), (8, 1030), (8, 1100),
                                               (1000, 3), (1000, -20)])
@pytest.mark.parametrize("overflow", OVERFLOW_MODES)
@pytest.mark.parametrize("rounding", ["TRN", "TRN_ZERO", "RND_INF", "RND_CONV"])
def test_from_float_extreme_integer_bits(width: int, integer: int, rounding: str, overflow: str) -> None:
    t = FixedType(width, integer, True, rounding, overflow)
    xs = [0.0, 5e-324, -5e-324, 2.0**-1022, -3e-310, 1e-300, 0.75, -1.5, 1e300, -1.7976931348623157e308,
          math.ldexp(1.0, integer - 1) if -1074 <= integer - 1 <= 1023 else 1.0]
    got, ov = from_float(np.array(xs), t)
    check_against_reference([Fraction(x) for x in xs], got, ov, t)


# -- pinned values -------------------------------------------------------------------------------------

def convert(spelling: str, xs: list[float]) -> tuple[list[int], Overflow]:
    m, ov = from_float(np.array(xs, dtype=np.float64), FixedType.parse(spelling))
    return [int(v) for v in m.tolist()], ov


@pytest.mark.parametrize(
    ("rounding", "expected"),
    [
        ("TRN", [2, -3, 3, -4, 2, -3]),
        ("TRN_ZERO", [2, -2, 3, -3, 2, -2]),
        ("RND", [3, -2, 4, -3, 3, -3]),
        ("RND_ZERO", [2, -2, 3, -3, 3, -3]),
        ("RND_INF", [3, -3, 4, -4, 3, -3]),
        ("RND_MIN_INF", [2, -3, 3, -4, 3, -3]),
        ("RND_CONV", [2, -2, 4, -4, 3, -3]),
    ],
)
def test_rounding_modes_on_ties(rounding: str, expected: list[int]) -> None:
    assert convert(f"ap_fixed<8,8,AP_{rounding}>", [2.5, -2.5, 3.5, -3.5, 2.75, -2.75]) == (expected, Overflow(0, 6))


def test_lsb_and_scaling() -> None:
    assert convert("ap_fixed<8,3>", [0.3, -0.3]) == ([9, -10], Overflow(0, 2))  # 0.3 * 32 = 9.6
    assert convert("ap_fixed<8,3,AP_RND>", [0.3, -0.3]) == ([10, -10], Overflow(0, 2))
    assert convert("ap_fixed<8,3,AP_TRN_ZERO>", [0.3, -0.3]) == ([9, -9], Overflow(0, 2))
    assert convert("ap_fixed<4,6>", [10.0, -10.0, 6.0]) == ([2, -3, 1], Overflow(0, 3))  # I > W: LSB = 4
    assert convert("ap_fixed<4,6,AP_RND>", [10.0, -10.0, 6.0]) == ([3, -2, 2], Overflow(0, 3))
    assert convert("ap_ufixed<4,-2>", [0.05]) == ([3], Overflow(0, 1))  # I < 0: LSB = 2**-6, 0.05 * 64 = 3.2
    assert to_float(np.array([3.0]), FixedType.parse("ap_ufixed<4,-2>")).tolist() == [3 / 64]


@pytest.mark.parametrize(
    ("overflow", "expected", "count"),
    [
        ("WRAP", [7, -8, -8, 7, 4, 2], 3),
        ("SAT", [7, 7, -8, -8, 7, 2], 3),
        ("SAT_ZERO", [7, 0, -8, 0, 0, 2], 3),
        ("SAT_SYM", [7, 7, -7, -7, 7, 2], 4),  # the most negative value -2.0 counts as an overflow too
    ],
)
def test_overflow_modes(overflow: str, expected: list[int], count: int) -> None:
    # ap_fixed<4,2>: LSB 1/4, range [-2, 1.75]; the raw mantissas are 7, 8, -8, -9, 20, 2
    got = convert(f"ap_fixed<4,2,AP_TRN,AP_{overflow}>", [1.75, 2.0, -2.0, -2.25, 5.0, 0.5])
    assert got == (expected, Overflow(count, 6))


def test_unsigned_and_integer_types() -> None:
    assert convert("ap_ufixed<4,2>", [-0.25, 3.75, 4.0]) == ([15, 15, 0], Overflow(2, 3))
    assert convert("ap_ufixed<4,2,AP_TRN,AP_SAT>", [-0.25, 3.75, 4.0]) == ([0, 15, 15], Overflow(2, 3))
    assert convert("ap_ufixed<4,2,AP_TRN,AP_SAT_SYM>", [-0.25, 4.0]) == ([0, 15], Overflow(2, 2))  # = SAT
    assert convert("ap_uint<4>", [-1.5, 17.9, 3.99]) == ([15, 1, 3], Overflow(2, 3))  # C truncation, then wrap
    assert convert("ap_int<8>", [-1.5, 200.7, -0.7]) == ([-1, -56, 0], Overflow(1, 3))


def test_one_bit_sat_sym_saturates_like_sat() -> None:
    # what the Xilinx headers do: -max is built as (min | 1), which is min itself for W = 1
    assert convert("ap_fixed<1,1,AP_TRN,AP_SAT_SYM>", [-3.0, 3.0, -1.0, 0.0]) == ([-1, 0, -1, 0], Overflow(2, 4))


def test_regressions_found_against_the_headers() -> None:
    # ldexp underflowed to 0 and lost the sign of a tiny value (I > W)
    assert convert("ap_ufixed<2,7>", [-5e-324]) == ([3], Overflow(1, 1))
    # 1 - (0.5 - 2**-54) rounds to the tie 0.5 in floating point: -0.4999.. LSB must round to 0, not -1
    x = -math.nextafter(0.5, 0.0) / 32
    assert convert("ap_fixed<8,3,AP_RND_INF>", [x]) == ([0], Overflow(0, 1))
    assert convert("ap_fixed<8,3,AP_RND_MIN_INF>", [x]) == ([0], Overflow(0, 1))
    # ap_fixed<64,-14> -> ap_ufixed<50,7>: requantize converted wide int64 sources to float64 when the result
    # was narrow, losing their low bits
    m, ov = requantize(np.array([0x0F4BF2A7FFFFFFFF], dtype=np.int64), 78, 64, FixedType.parse("ap_ufixed<50,7>"))
    assert [int(v) for v in m.tolist()] == [0x1E97E54] and ov == Overflow(0, 1)
    # ... and failed on unsigned 64-bit sources
    m, _ = requantize(np.array([2**64 - 1], dtype=object), 45, 65, FixedType.parse("ap_fixed<54,19,AP_TRN,AP_SAT>"))
    assert [int(v) for v in m.tolist()] == [2**53 - 1]


def test_wrap_of_huge_values_counts_as_overflow() -> None:
    assert convert("ap_fixed<4,2>", [8.0, 16.0 + 0.25, -1e300]) == ([0, 1, 0], Overflow(3, 3))


def test_wide_types_use_exact_storage() -> None:
    assert storage_dtype(53) == np.float64 and storage_dtype(54) == np.int64
    assert storage_dtype(62) == np.int64 and storage_dtype(63) == np.dtype(object)
    m, _ = from_float(np.array([1 / 3, -1 / 3]), FixedType.parse("ap_fixed<80,20>"))
    assert m.dtype == np.dtype(object)
    exact = Fraction(1 / 3) * 2**60
    assert m.tolist() == [math.floor(exact), math.floor(-exact)]
    m, _ = from_float(np.array([0.1]), FixedType.parse("ap_fixed<60,4>"))
    assert m.dtype == np.int64 and int(m[0]) == math.floor(Fraction(0.1) * 2**56)


def test_requantize_pinned() -> None:
    dst = FixedType.parse("ap_fixed<8,4,AP_RND,AP_SAT>")
    m, ov = requantize(np.array([40.0, -40.0, 24.0, -24.0, 8000.0]), 8, 16, dst)  # 2.5 -2.5 1.5 -1.5 500 LSBs
    assert m.dtype == np.float64 and m.tolist() == [3, -2, 2, -1, 127] and ov == Overflow(1, 5)
    m, ov = requantize(np.array([3.0, -3.0]), 0, 3, FixedType.parse("ap_fixed<8,4>"))  # left shift by 4
    assert m.tolist() == [48, -48] and ov == Overflow(0, 2)
    m, ov = requantize(np.array([3.0, -3.0]), 0, 3, FixedType.parse("ap_fixed<8,2,AP_TRN,AP_SAT>"))
    assert m.tolist() == [127, -128] and ov == Overflow(2, 2)


@pytest.mark.parametrize(("rounding", "expected"), [("TRN", [-1, -1, 0, 0]), ("TRN_ZERO", [0, 0, 0, 0]),
                                                    ("RND", [0, 0, 0, 0]), ("RND_MIN_INF", [0, 0, 0, 0])])
def test_requantize_drops_every_bit(rounding: str, expected: list[int]) -> None:
    # ap_fixed<4,-10> into ap_fixed<8,4>: all 14 fractional source bits go, only the sign can matter
    m, ov = requantize(np.array([-8.0, -1.0, 0.0, 7.0]), 14, 4, FixedType(8, 4, True, rounding))
    assert m.tolist() == expected and ov == Overflow(0, 4)


def test_overflow_add_and_empty_input() -> None:
    total = Overflow()
    total.add(Overflow(2, 5))
    total.add(Overflow(1, 3))
    assert total == Overflow(3, 8)
    m, ov = from_float(np.array([]), FixedType.parse("ap_fixed<8,3>"))
    assert m.shape == (0,) and ov == Overflow(0, 0)
    m, ov = requantize(np.array([], dtype=np.int64), 10, 60, FixedType.parse("ap_fixed<70,3>"))
    assert m.shape == (0,) and ov == Overflow(0, 0)


def test_from_float_rejects_too_wide_types() -> None:
    message = r"^conversion from float to ap_fixed<1001,1> is not supported: widths above 1000$"
    with pytest.raises(PrecisionError, match=message):
        from_float(np.array([1.0]), FixedType(1001, 1))


# -- parsing -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ap_fixed<16,6>", FixedType(16, 6)),
        ("fixed<16,6,RND,SAT>", FixedType(16, 6, True, "RND", "SAT")),
        ("ap_fixed<16,6,AP_RND,AP_SAT>", FixedType(16, 6, True, "RND", "SAT")),
        ("ap_fixed<16,6,ap_rnd_conv,sat_sym>", FixedType(16, 6, True, "RND_CONV", "SAT_SYM")),
        ("fixed<16,6,AP_TRN_ZERO,SAT_ZERO,0>", FixedType(16, 6, True, "TRN_ZERO", "SAT_ZERO")),
        ("ap_fixed<16,6,AP_RND_MIN_INF>", FixedType(16, 6, True, "RND_MIN_INF")),
        ("ufixed<8,0>", FixedType(8, 0, False)),
        ("ap_ufixed<8,0,AP_RND_INF,AP_WRAP>", FixedType(8, 0, False, "RND_INF")),
        ("ap_fixed<8,-3>", FixedType(8, -3)),
        ("ap_fixed<4,10>", FixedType(4, 10)),
        ("int<8>", FixedType(8, 8, True, "TRN_ZERO", "WRAP", kind="int")),
        ("ap_int<64>", FixedType(64, 64, True, "TRN_ZERO", "WRAP", kind="int")),
        ("ap_uint<4>", FixedType(4, 4, False, "TRN_ZERO", "WRAP", kind="int")),
        ("uint<1>", FixedType(1, 1, False, "TRN_ZERO", "WRAP", kind="int")),
        ("  ap_fixed < 16 , 6 , AP_RND , AP_SAT >  ", FixedType(16, 6, True, "RND", "SAT")),
        ("\tap_uint< 12 >\n", FixedType(12, 12, False, "TRN_ZERO", "WRAP", kind="int")),
    ],
)
def test_parse_accepts(text: str, expected: FixedType) -> None:
    t = FixedType.parse(text)
    assert t == expected
    assert FixedType.parse(str(t)) == t
    assert FixedType.parse(t) is t


def test_str_is_the_cpp_spelling() -> None:
    assert str(FixedType(16, 6)) == "ap_fixed<16,6>"
    assert str(FixedType(16, 6, True, "RND")) == "ap_fixed<16,6,AP_RND>"
    assert str(FixedType(16, 6, False, "TRN", "SAT")) == "ap_ufixed<16,6,AP_TRN,AP_SAT>"
    assert str(FixedType.parse("uint<7>")) == "ap_uint<7>"
    assert repr(FixedType(8, 3)) == "FixedType('ap_fixed<8,3>')"
    t = FixedType(16, 6, False)
    assert (t.frac, t.min_mantissa, t.max_mantissa, t.lsb, t.max_value) == (10, 0, 65535, 2**-10, 65535 / 1024)


EXAMPLES = "e.g. 'ap_fixed<16,6>', 'ap_ufixed<8,0,AP_RND,AP_SAT>', 'ap_int<8>' or hls4ml's 'fixed<16,6,RND,SAT>'"
ROUNDINGS = "AP_TRN, AP_TRN_ZERO, AP_RND, AP_RND_ZERO, AP_RND_INF, AP_RND_MIN_INF, AP_RND_CONV"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ap_fixd<16,6>", f"invalid precision 'ap_fixd<16,6>': expected {EXAMPLES}"),
        ("", f"invalid precision '': expected {EXAMPLES}"),
        ("ap_fixed<16,6", f"invalid precision 'ap_fixed<16,6': expected {EXAMPLES}"),
        ("ap_fixed<16>",
         f"invalid precision 'ap_fixed<16>': ap_fixed<W,I[,Q[,O[,N]]]> takes 2 to 5 arguments, got 1; {EXAMPLES}"),
        ("fixed<16,6,RND,SAT,0,1>",
         "invalid precision 'fixed<16,6,RND,SAT,0,1>': fixed<W,I[,Q[,O[,N]]]> takes 2 to 5 arguments, got 6; "
         + EXAMPLES),
        ("ap_fixed<16,6,RNDX>",
         f"invalid precision 'ap_fixed<16,6,RNDX>': unknown rounding mode 'RNDX'; expected one of {ROUNDINGS}"),
        ("ap_fixed<16,6,RND,SATX>", "invalid precision 'ap_fixed<16,6,RND,SATX>': unknown overflow mode 'SATX'; "
                                    "expected one of AP_WRAP, AP_SAT, AP_SAT_ZERO, AP_SAT_SYM"),
        ("ap_fixed<16,6,RND,SAT,1>", "invalid precision 'ap_fixed<16,6,RND,SAT,1>': saturation bits N other than 0 "
                                     "are not supported; drop the fifth argument"),
        ("ap_fixed<0,1>", "invalid precision 'ap_fixed<0,1>': fixed-point width must be an integer in 1..1024, got 0"),
        ("ap_fixed<1025,1>",
         "invalid precision 'ap_fixed<1025,1>': fixed-point width must be an integer in 1..1024, got 1025"),
        ("ap_uint<0>", "invalid precision 'ap_uint<0>': fixed-point width must be an integer in 1..1024, got 0"),
        ("ap_fixed<a,b>", "invalid precision 'ap_fixed<a,b>': width must be an integer, got 'a'"),
        ("ap_fixed<16,b>", "invalid precision 'ap_fixed<16,b>': integer bits must be an integer, got 'b'"),
        ("ap_fixed<1_6,6>", "invalid precision 'ap_fixed<1_6,6>': width must be an integer, got '1_6'"),
        ("ap_int<8,2>", "invalid precision 'ap_int<8,2>': ap_int<W> takes exactly one width, got 2 argument(s)"),
        ("int<>", "invalid precision 'int<>': int<W> takes exactly one width, got 0 argument(s)"),
    ],
)
def test_parse_rejects(text: str, message: str) -> None:
    with pytest.raises(PrecisionError) as info:
        FixedType.parse(text)
    assert str(info.value) == message


def test_parse_rejects_non_strings_and_bad_fields() -> None:
    with pytest.raises(PrecisionError) as info:
        FixedType.parse(16)  # type: ignore[arg-type]
    assert str(info.value) == "a precision must be a string like 'ap_fixed<16,6>', got int 16"
    with pytest.raises(PrecisionError, match=r"^fixed-point width must be an integer in 1\.\.1024, got True$"):
        FixedType(True, 1)  # type: ignore[arg-type]
    with pytest.raises(PrecisionError, match=r"^unknown rounding mode 'AP_RND'; expected one of TRN, "):
        FixedType(8, 3, True, "AP_RND")
    with pytest.raises(PrecisionError, match=r"^kind must be 'fixed' or 'int', got 'float'$"):
        FixedType(8, 3, kind="float")
