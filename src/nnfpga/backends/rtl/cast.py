"""Generated submodules: fixed-point casts (``requantize`` in logic) and constant ROMs.

A cast converts an integer mantissa ``x`` at ``src_frac`` fractional bits to a type ``dst`` exactly like
:func:`nnfpga.fixed.requantize` (``ap_fixed`` assignment): drop ``k = src_frac - dst.frac`` bits with the
rounding mode (``k <= 0`` appends zeros instead), then wrap or saturate into ``dst``. With ``k > 0``:

  floor = x >>> k                     (arithmetic shift: a bit slice of the sign-extended x)
  r     = x[k-1:0]                    (the dropped bits, 0 <= r < 2**k, half = 2**(k-1))
  above = r[k-1] & |r[k-2:0]          tie = r[k-1] & ~|r[k-2:0]      nonzero = |r
  inc   = TRN: 0                      TRN_ZERO: nonzero & x < 0      RND: r[k-1]
          RND_ZERO: above | tie & x < 0                     RND_INF: above | tie & x >= 0
          RND_MIN_INF: above          RND_CONV: above | tie & floor[0]
  q     = floor + inc
Overflow: WRAP keeps the low ``W`` bits; SAT / SAT_SYM clamp to [min (or -max), max]; SAT_ZERO gives 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from nnfpga.backends.rtl.delay import DelayModel
from nnfpga.backends.rtl.verilog import Arith, Case, Module, Val, literal
from nnfpga.fixed import FixedType, requantize


def dst_bounds(t: FixedType) -> tuple[int, int]:
    """The mantissa range a saturating conversion to ``t`` clamps to (``SAT_SYM``: ``-max`` at the bottom)."""
    lo, hi = t.min_mantissa, t.max_mantissa
    if t.overflow == "SAT_SYM" and t.signed and t.width > 1:
        lo = -hi
    return lo, hi


def requantize_logic(ar: Arith, x: Val, k: int, dst: FixedType, hint: str = "q") -> Val:
    """Logic computing ``requantize(x, src_frac, ., dst)`` with ``k = src_frac - dst.frac``; returns a Val of
    ``dst.width`` bits (its ``lo..hi`` the reachable part of ``dst``'s range)."""
    if x.const is not None:
        m, _ = requantize(np.array([x.const], dtype=object), dst.frac + k, x.width + 1, dst)
        return Val.constant(int(m[0]))
    m = ar.m
    if k <= 0:
        q = ar.shl(x, -k, f"{hint}_shl")
    else:
        if (x.lo >= 0 and k < x.width) or (x.signed and x.width > k):
            xs = x  # floor is a slice of x itself
        else:  # sign-extend so that a sign bit lies above the k dropped bits
            width = max(x.swidth, k + 1)
            xs = ar.timed(Val.of(m.wire(f"{hint}_xs", width, x.ext(width)), width, True, x.lo, x.hi), x.at)
        q = ar.floor_shift(xs, k, f"{hint}_floor")
        if dst.rounding != "TRN":
            inc = Val.of(m.wire(f"{hint}_inc", 1, _increment(m, xs, k, dst.rounding, hint)), 1, False)
            if ar.model is not None:  # a reduction of the k dropped bits, then the rounding rule
                levels = 1 + math.ceil(math.log(max(k, 2)) / math.log(ar.model.lut_inputs))
                t = ar.model.logic((xs,), levels)
                inc = ar.timed(inc, (t, t))
            q = ar.add(q, inc, f"{hint}_rnd")
    lo, hi = dst_bounds(dst)
    if dst.overflow != "WRAP":
        over, under = ar.gt(q, Val.constant(hi)), ar.lt(q, Val.constant(lo))
        if dst.overflow == "SAT_ZERO":
            bad = _or(over, under)
            if bad is not False:
                q = ar.mux(bad, Val.constant(0), q, f"{hint}_sat")
        else:
            if under is not False:
                q = ar.mux(under, Val.constant(lo), q, f"{hint}_min")
            if over is not False:
                q = ar.mux(over, Val.constant(hi), q, f"{hint}_max")
    if q.const is not None:
        return Val.constant((q.const - dst.min_mantissa) % (1 << dst.width) + dst.min_mantissa)
    rlo, rhi = (q.lo, q.hi) if dst.min_mantissa <= q.lo and q.hi <= dst.max_mantissa else \
        (dst.min_mantissa, dst.max_mantissa)  # wrapped
    if q.width >= dst.width:  # the low W bits (a slice, no logic)
        out = q.bits(dst.width - 1, 0)
        return replace(out, signed=dst.signed, lo=rlo, hi=rhi)
    return ar.timed(Val.of(m.wire(f"{hint}_y", dst.width, q.ext(dst.width)), dst.width, dst.signed, rlo, rhi), q.at)


def _increment(m: Module, xs: Val, k: int, rounding: str, hint: str) -> str:
    """The rounding increment of dropping the low ``k`` bits of ``xs`` (a 1-bit expression)."""
    names: dict[str, str] = {}

    def w(term: str) -> str:
        if term not in names:
            expr = {"neg": xs.bit(xs.width - 1) if xs.signed and xs.lo < 0 else "1'b0",
                    "r_msb": xs.bit(k - 1), "odd": xs.bit(k), "nonzero": f"|{xs.bits(k - 1, 0).expr}",
                    "rest": f"|{xs.bits(k - 2, 0).expr}" if k >= 2 else "1'b0"}[term]
            names[term] = m.wire(f"{hint}_{term}", 1, expr)
        return names[term]

    def above() -> str:
        return f"({w('r_msb')} & {w('rest')})"

    def tie() -> str:
        return f"({w('r_msb')} & ~{w('rest')})"

    if rounding == "TRN_ZERO":
        return f"{w('nonzero')} & {w('neg')}"
    if rounding == "RND":
        return w("r_msb")
    if rounding == "RND_ZERO":
        return f"{above()} | ({tie()} & {w('neg')})"
    if rounding == "RND_INF":
        return f"{above()} | ({tie()} & ~{w('neg')})"
    if rounding == "RND_MIN_INF":
        return above()
    if rounding == "RND_CONV":
        return f"{above()} | ({tie()} & {w('odd')})"
    raise AssertionError(rounding)


def _or(a: str | bool, b: str | bool) -> str | bool:
    if a is True or b is True:
        return True
    if a is False:
        return b
    if b is False:
        return a
    return f"({a}) | ({b})"


@dataclass
class Library:
    """The submodules a design instantiates (casts and ROMs), created on first use, in a stable order."""

    prefix: str
    model: DelayModel | None = None  # the target's delays: cast and ROM outputs get their settling times
    modules: dict[str, Module] = field(default_factory=dict)
    _roms: dict[tuple, str] = field(default_factory=dict)
    _delay: dict[str, float] = field(default_factory=dict)  # cast module -> its inputs-to-output delay

    # -- casts ---------------------------------------------------------------------------------
    def cast_module(self, src_width: int, src_signed: bool, k: int, dst: FixedType) -> str:
        kk = f"k{k}" if k >= 0 else f"km{-k}"
        name = (f"{self.prefix}_cast_{src_width}{'s' if src_signed else 'u'}_{kk}_"
                f"{dst.width}{'s' if dst.signed else 'u'}_{dst.rounding.lower()}_{dst.overflow.lower()}")
        if name not in self.modules:
            m = Module(name, header=(
                f"{src_width}-bit {'signed' if src_signed else 'unsigned'} mantissa at F + {k} fractional bits -> "
                f"{dst} at F (rounding {dst.rounding}, overflow {dst.overflow}); combinational."))
            m.port("input", "x", src_width)
            m.port("output", "y", dst.width)
            y = requantize_logic(Arith(m, self.model), Val.of("x", src_width, src_signed), k, dst)
            m.assign("y", y.ext(dst.width))
            self.modules[name] = m
            self._delay[name] = y.top
        return name

    def cast(self, ar: Arith, x: Val, k: int, dst: FixedType, hint: str) -> Val:
        """``x`` (at ``dst.frac + k`` fractional bits) converted to ``dst``: inline when it only moves bits,
        else an instance of a cast submodule."""
        lo, hi = dst_bounds(dst)
        qlo, qhi = (x.lo << -k, x.hi << -k) if k <= 0 else (x.lo >> k, x.hi >> k)
        moves_bits = k <= 0 or dst.rounding == "TRN"  # no rounding logic
        if x.const is not None or (moves_bits and (dst.overflow == "WRAP" or (lo <= qlo and qhi <= hi))):
            return requantize_logic(ar, x, k, dst, hint)
        module = self.cast_module(x.width, x.signed, k, dst)
        out = ar.m.wire(hint, dst.width)
        ar.m.instance(module, f"u_{out}", [("x", x.expr), ("y", out)])
        t = x.top + self._delay.get(module, 0.0)
        return ar.timed(Val.of(out, dst.width, dst.signed), (t, t))

    # -- ROMs ----------------------------------------------------------------------------------
    def rom_module(self, base: str, values: list[int], t: FixedType, comment: str) -> str:
        """A ROM of ``len(values)`` (a power of two) ``t`` mantissas: ``d = values[a]`` (no module for one entry)."""
        if len(values) == 1:
            return ""
        key = (t.width, tuple(values))
        if key in self._roms:
            return self._roms[key]
        name = base
        i = 1
        while name in self.modules:
            name, i = f"{base}_{i}", i + 1
        abits = max((len(values) - 1).bit_length(), 1)
        m = Module(name, header=f"{comment}\n{len(values)} x {t} mantissas; combinational ROM.")
        m.port("input", "a", abits)
        m.port("output", "d", t.width, kind="reg")
        items = [(literal(i, abits), literal(v, t.width)) for i, v in enumerate(values)]
        m.always([Case("a", "d", items, literal(0, t.width))])
        self.modules[name] = m
        self._roms[key] = name
        return name

    def rom(self, ar: Arith, module: str, values: list[int], t: FixedType, addr: Val, hint: str) -> Val:
        if len(values) == 1:
            return Val.constant(values[0])
        abits = max((len(values) - 1).bit_length(), 1)
        out = ar.m.wire(hint, t.width)
        ar.m.instance(module, f"u_{out}", [("a", addr.ext(abits)), ("d", out)])
        v = Val.of(out, t.width, t.signed, min(values), max(values))
        if ar.model is None:
            return v
        ready = ar.model.rom(addr, len(values))
        return ar.timed(v, (ready, ready))
