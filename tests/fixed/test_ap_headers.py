"""Bit-exactness of :mod:`nnfpga.fixed.arith` against the real Xilinx ``ap_types`` headers.

The headers are the ones shipped inside the hls4ml wheel (a test-only dependency; they are never copied into
this repository). One C++ program is generated for a fixed-seed draw of target types covering every rounding
mode x overflow mode, signed and unsigned, widths 1..64 (1, 2, 53, 54, 63, 64 included), odd/even, negative
and larger-than-width integer bits, plus ``ap_int<W>`` / ``ap_uint<W>``. For each target it converts

* many doubles (inside and far outside the range, exact half-LSB ties and their neighbours, range edges,
  tiny and huge magnitudes, random bit patterns) with the ``double`` constructor, and
* many values of a few source ``ap_fixed`` / ``ap_ufixed`` types with the converting constructor,

prints the raw bits of every result, and compares them with :func:`from_float` / :func:`requantize`.

Two header behaviours are bugs rather than ``ap_fixed`` semantics, so those inputs are left out:

* ``ap_int_base(double)`` (ap_int_base.h) truncates the magnitude and negates afterwards, but for
  ``|x| < 0.5`` its shift-out branch yields ``-1`` before the negation, so a negative double with
  ``|x| < 0.5`` becomes ``+1`` instead of ``0``;
* ``ap_fixed_base::to_ap_int_base()`` (ap_fixed_base.h, used to assign ``ap_fixed`` to ``ap_int``) returns a
  1-bit signed integer when the source has ``I <= 0`` integer bits, so its C-style "+1 for negative values
  with fractional bits" correction turns ``0`` into ``-1`` (and for ``I < 0`` the bits are uninitialized).
  Sources of ``ap_int`` targets therefore have ``I >= 1``.

And one harmless one: ``ap_fixed_base::operator=`` (ap_fixed_base.h) reads the source bit ``F2 - F - 1`` even
when it lies above the source MSB (every source bit is below the target LSB), which trips ap_private's
``assert(i < _AP_W)``; the bit is not used then, so the program is compiled with ``-DNDEBUG``.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import math
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from nnfpga.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedType, from_float, requantize
from nnfpga.fixed.arith import as_storage
from tooling import gxx, require_xilinx_ap_types

pytestmark = [pytest.mark.tools, pytest.mark.slow]

SEED = 20240611
SPECIAL_WIDTHS = (1, 2, 53, 54, 63, 64)
TYPES_PER_MODE_PAIR = 6  # x 28 mode pairs, plus the ap_int/ap_uint types
INT_WIDTHS = (1, 2, 7, 8, 16, 31, 32, 53, 54, 63, 64)
SOURCES_PER_TARGET = 3
N_UNITS = 4  # translation units, compiled two at a time
SHOW = 8  # mismatches shown in a failure message


@dataclass
class Case:
    kind: str  # "double" or "fixed"
    dst: FixedType
    inputs: list[int]  # raw bits: float64 bit patterns, or the source's two's-complement bits
    src: FixedType | None = None
    got: list[int] = field(default_factory=list)


# -- drawing types and inputs ------------------------------------------------------------------------

def _draw_integer(rng: np.random.Generator, width: int) -> int:
    pick = int(rng.integers(6))
    if pick == 0:
        return int(rng.integers(-9, 0))  # negative: all bits are fractional and below the binary point
    if pick == 1:
        return width + int(rng.integers(1, 10))  # I > W: the LSB weighs more than 1
    if pick == 2:
        return width
    if pick == 3:
        return int(rng.integers(0, 3))
    return int(rng.integers(0, width + 1))


def _draw_targets(rng: np.random.Generator) -> list[FixedType]:
    targets = []
    for j, (q, o) in enumerate(itertools.product(ROUNDING_MODES, OVERFLOW_MODES)):
        for s in range(TYPES_PER_MODE_PAIR):
            width = SPECIAL_WIDTHS[(2 * j + s) % len(SPECIAL_WIDTHS)] if s < 2 else int(rng.integers(1, 65))
            signed = (s + j) % 2 == 0
            targets.append(FixedType(width, _draw_integer(rng, width), signed, q, o))
    for w in INT_WIDTHS:
        for signed in (True, False):
            targets.append(FixedType.parse(f"ap_{'' if signed else 'u'}int<{w}>"))
    return targets


def _draw_sources(rng: np.random.Generator, dst: FixedType) -> list[FixedType]:
    sources = []
    for s in range(SOURCES_PER_TARGET):
        if s == 0:  # more fractional bits (rounding) and a few more integer bits (overflow)
            frac = dst.frac + int(rng.integers(1, 13))
            integer = dst.integer + int(rng.integers(-1, 6))
        elif s == 1:  # anything, fewer fractional bits included (left shift)
            frac = dst.frac + int(rng.integers(-6, 20))
            integer = dst.integer + int(rng.integers(-6, 10))
        else:  # wide
            frac = dst.frac + int(rng.integers(0, 40))
            integer = dst.integer + int(rng.integers(-2, 12))
        width = min(max(frac + integer, 1), 64)
        integer = width - frac
        if dst.kind == "int":  # see the module docstring: to_ap_int_base() is wrong for I <= 0
            integer = max(integer, 1)
        signed = bool(rng.integers(2)) if s < 2 else True
        sources.append(FixedType(width, integer, signed))
    return sources


def _exact(mantissa: int, exp: int) -> float | None:
    """``mantissa * 2**exp`` as a double when exactly representable as a normal number, else None."""
    if mantissa == 0:
        return 0.0
    if abs(mantissa) >= 1 << 53:
        shift = abs(mantissa).bit_length() - 53
        if mantissa % (1 << shift):
            return None
        mantissa, exp = mantissa >> shift, exp + shift
    try:
        value = math.ldexp(mantissa, exp)
    except OverflowError:
        return None
    return value if abs(value) >= 2.0**-1022 else None


def _double_inputs(rng: np.random.Generator, t: FixedType) -> list[float]:
    f, lsb = t.frac, t.lsb
    lo, hi = t.min_value, t.max_value
    span = max(hi - lo, lsb)
    xs: list[float] = []
    xs += list(rng.uniform(lo, hi + lsb, 30))  # inside the range
    xs += list(rng.uniform(lo - 4 * span, hi + 4 * span, 15))  # well beyond it
    # random 53-bit mantissas at random exponents around the type's bits
    mant = rng.integers(1 << 52, 1 << 53, 25)
    expo = rng.integers(-f - 6, t.integer + 6, 25)
    sign = rng.choice([-1, 1], 25)
    xs += [float(s) * math.ldexp(int(m), int(e) - 52) for s, m, e in zip(sign, mant, expo, strict=True)]
    # exact half-LSB ties and their neighbours, in range, at the edges and outside
    ks = [t.min_mantissa - 1, t.min_mantissa, t.max_mantissa - 1, t.max_mantissa, -1, 0, 1, 2, -2]
    ks += [int(k) for k in rng.integers(max(t.min_mantissa - 3, -(1 << 50)), min(t.max_mantissa + 3, 1 << 50), 6)]
    for k in ks:
        tie = _exact(2 * k + 1, -f - 1)
        if tie is not None:
            xs += [tie, math.nextafter(tie, -math.inf), math.nextafter(tie, math.inf)]
    # range edges, as exact as a double can be
    for m in (t.min_mantissa, t.max_mantissa, t.min_mantissa - 1, t.max_mantissa + 1, -t.max_mantissa):
        edge = _exact(m, -f)
        if edge is not None:
            xs += [edge, math.nextafter(edge, -math.inf), math.nextafter(edge, math.inf)]
    for e in (t.integer - 1, t.integer, t.integer + 1):
        xs += [math.ldexp(1.0, e), -math.ldexp(1.0, e), math.nextafter(math.ldexp(1.0, e), 0.0)]
        xs += [-math.nextafter(math.ldexp(1.0, e), 0.0)]
    # tiny magnitudes: below a quarter / just below half an LSB, the smallest doubles
    quarter, half = math.ldexp(1.0, -f - 2), math.ldexp(1.0, -f - 1)
    for v in (quarter, math.nextafter(half, 0.0), math.ldexp(1.0, -f - 30), 1e-300, 2.0**-1022, 5e-324):
        xs += [v, -v]
    # huge magnitudes
    for v in (1e300, 1.7976931348623157e308, math.ldexp(1.0, 200) * 1.234567, float(2**63), float(2**64) * 3):
        xs += [v, -v]
    xs += [0.0, -0.0]
    out = [x for x in xs if math.isfinite(x)]
    if t.kind == "int":  # ap_int_base(double) bug, see the module docstring
        out = [x for x in out if not -0.5 < x < 0]
    return out


def _fixed_inputs(rng: np.random.Generator, src: FixedType, dst: FixedType) -> list[int]:
    w, mask = src.width, (1 << src.width) - 1
    ms = [int(v) for v in rng.integers(0, 1 << min(w, 62), 12, dtype=np.int64)]
    if w > 62:
        ms += [int(v) << (w - 62) | int(rng.integers(0, 1 << (w - 62))) for v in rng.integers(0, 1 << 62, 8)]
    ms += [0, 1, mask, 1 << (w - 1), (1 << (w - 1)) - 1]
    d = src.frac - dst.frac  # fractional bits dropped
    lo, hi = dst.min_mantissa, dst.max_mantissa
    edges = [lo, hi, lo - 1, hi + 1, 0, 1, -1, -hi]
    edges += [int(k) for k in rng.integers(-(1 << min(dst.width, 60)), 1 << min(dst.width, 60), 4)]
    for k in edges:
        if d <= 0:
            ms += [(k >> -d) + o for o in (-1, 0, 1)]
        else:
            half = 1 << (d - 1)
            ms += [(k << d) + o for o in (0, half, half - 1, half + 1, -1, -half, (1 << d) - 1)]
    return sorted({m & mask for m in ms})


def _signed_value(bits: int, t: FixedType) -> int:
    return bits - (1 << t.width) if t.signed and bits >> (t.width - 1) else bits


def _build_cases() -> list[Case]:
    rng = np.random.default_rng(SEED)
    cases = []
    for t in _draw_targets(rng):
        xs = np.array(_double_inputs(rng, t), dtype=np.float64)
        cases.append(Case("double", t, [int(b) for b in xs.view(np.uint64)]))
        for s in _draw_sources(rng, t):
            cases.append(Case("fixed", t, _fixed_inputs(rng, s, t), src=s))
    return cases


# -- the C++ program ----------------------------------------------------------------------------------

_PRELUDE = """\
#include <ap_fixed.h>
#include <ap_int.h>
#include <cstdio>
#include <cstring>

typedef unsigned long long u64;

static u64 next_bits(FILE* in) {
  u64 u;
  if (std::fscanf(in, "%llx", &u) != 1) { std::fprintf(stderr, "bad input\\n"); std::exit(2); }
  return u;
}

template <class T> static void from_double(FILE* in, FILE* out) {
  int n = (int)next_bits(in);
  for (int i = 0; i < n; ++i) {
    u64 u = next_bits(in);
    double d;
    std::memcpy(&d, &u, sizeof d);
    T x = d;
    std::fprintf(out, "%llx\\n", (u64)x.V.to_uint64());
  }
}

template <class S, class T> static void from_fixed(FILE* in, FILE* out) {
  int n = (int)next_bits(in);
  for (int i = 0; i < n; ++i) {
    S s;
    s.setBits(next_bits(in));
    T x = s;
    std::fprintf(out, "%llx\\n", (u64)x.V.to_uint64());
  }
}
"""


def _cpp_call(case: Case) -> str:
    if case.kind == "double":
        return f"  from_double<{case.dst} >(in, out);"
    return f"  from_fixed<{case.src}, {case.dst} >(in, out);"


def _write_program(cases: list[Case], root: Path) -> list[Path]:
    chunks = np.array_split(np.arange(len(cases)), N_UNITS)
    units = []
    for u, chunk in enumerate(chunks):
        body = "\n".join(_cpp_call(cases[i]) for i in chunk)
        path = root / f"unit{u}.cpp"
        path.write_text(f"{_PRELUDE}\nvoid unit{u}(FILE* in, FILE* out) {{\n{body}\n}}\n")
        units.append(path)
    decls = "".join(f"void unit{u}(FILE*, FILE*);\n" for u in range(N_UNITS))
    calls = "".join(f"  unit{u}(in, out);\n" for u in range(N_UNITS))
    main = root / "main.cpp"
    main.write_text(
        "#include <cstdio>\n" + decls + "int main(int argc, char** argv) {\n"
        '  FILE* in = std::fopen(argv[1], "r");\n  FILE* out = std::fopen(argv[2], "w");\n'
        + calls + "  std::fclose(out);\n  return 0;\n}\n"
    )
    units.append(main)
    with (root / "inputs.txt").open("w") as fh:
        for case in cases:
            fh.write(f"{len(case.inputs):x}\n")
            fh.write("".join(f"{b:x}\n" for b in case.inputs))
    return units


def _compile(sources: list[Path], include: Path, exe: Path) -> None:
    def one(src: Path) -> Path:
        obj = src.with_suffix(".o")
        cmd = ["g++", "-O1", "-std=c++14", "-DNDEBUG", "-w", f"-I{include}", "-c", str(src), "-o", str(obj)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, f"g++ failed on {src.name}:\n{proc.stderr[-4000:]}"
        return obj

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        objs = list(pool.map(one, sources))
    proc = subprocess.run(["g++", *map(str, objs), "-o", str(exe)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]


@pytest.fixture(scope="module")
def ap_types() -> Path:
    gxx()
    return require_xilinx_ap_types()


@pytest.fixture(scope="module")
def header_results(ap_types: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    root = tmp_path_factory.mktemp("ap_headers")
    cases = _build_cases()
    sources = _write_program(cases, root)
    exe = root / "convert"
    start = time.perf_counter()
    _compile(sources, ap_types, exe)
    print(f"\ncompiled {len(cases)} conversions in {time.perf_counter() - start:.1f} s")
    proc = subprocess.run([str(exe), str(root / "inputs.txt"), str(root / "outputs.txt")], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = (root / "outputs.txt").read_text().split()
    assert len(lines) == sum(len(c.inputs) for c in cases)
    pos = 0
    for case in cases:
        case.got = [int(v, 16) for v in lines[pos:pos + len(case.inputs)]]
        pos += len(case.inputs)
    return cases


def _expected(case: Case) -> list[int]:
    mask = (1 << case.dst.width) - 1
    if case.kind == "double":
        x = np.array(case.inputs, dtype=np.uint64).view(np.float64)
        m, _ = from_float(x, case.dst)
    else:
        src = case.src
        assert src is not None
        m_src = np.array([_signed_value(b, src) for b in case.inputs], dtype=object)
        m, _ = requantize(as_storage(m_src, src.width), src.frac, src.width + (not src.signed), case.dst)
    return [int(v) & mask for v in m.tolist()]


def _describe(case: Case, value: int) -> str:
    if case.kind == "double":
        x = float(np.array([value], dtype=np.uint64).view(np.float64)[0])
        return f"double {x!r} ({x.hex()})"
    assert case.src is not None
    return f"{case.src} bits 0x{value:x} (mantissa {_signed_value(value, case.src)})"


def _check(cases: list[Case], kind: str) -> int:
    mismatches = []
    n = 0
    for case in cases:
        if case.kind != kind:
            continue
        mask = (1 << case.dst.width) - 1
        n += len(case.inputs)
        for inp, exp, got in zip(case.inputs, _expected(case), case.got, strict=True):
            if exp != got & mask:
                mismatches.append(f"{case.dst} <- {_describe(case, inp)}: expected 0x{exp:x}, header 0x{got & mask:x}")
    shown = "\n".join(mismatches[:SHOW])
    assert not mismatches, f"{len(mismatches)} of {n} conversions differ from ap_types (first {SHOW}):\n{shown}"
    return n


def test_types_cover_the_modes(header_results: list[Case]) -> None:
    targets = {c.dst for c in header_results}
    assert 150 <= len(targets) <= 250
    fixed = [t for t in targets if t.kind == "fixed"]
    assert {(t.rounding, t.overflow) for t in fixed} == set(itertools.product(ROUNDING_MODES, OVERFLOW_MODES))
    assert set(SPECIAL_WIDTHS) <= {t.width for t in fixed}
    assert {True, False} == {t.signed for t in fixed} == {t.signed for t in targets if t.kind == "int"}
    assert any(t.integer < 0 for t in fixed) and any(t.integer > t.width for t in fixed)
    assert {t.integer % 2 for t in fixed} == {0, 1}


def test_from_float_matches_ap_fixed_double_constructor(header_results: list[Case]) -> None:
    assert _check(header_results, "double") >= 20_000


def test_requantize_matches_ap_fixed_assignment(header_results: list[Case]) -> None:
    assert _check(header_results, "fixed") >= 10_000
