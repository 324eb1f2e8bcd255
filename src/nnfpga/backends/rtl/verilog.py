"""A small builder for synthesizable Verilog-2005: modules made of ports, wires, registers, assigns, always
blocks and instances, rendered deterministically. Plus :class:`Val`, an integer mantissa held in Verilog bits
with its known value range, and :class:`Arith`, exact integer arithmetic on :class:`Val` that declares one wire
per operation.

Arithmetic convention: every wire holds raw two's-complement (or unsigned) bits. Additions, subtractions and
muxes first extend every operand explicitly to the result width (so Verilog's width and sign rules never come
into play, and lint sees equal widths); only multiplications and comparisons use ``$signed`` operands.
A value whose exact range needs more bits than a ``cap`` is kept modulo ``2**cap`` (wrap-around arithmetic).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from nnfpga.backends.names import ascii_name

if TYPE_CHECKING:
    from nnfpga.backends.rtl.delay import DelayModel

VERILOG_KEYWORDS = frozenset("""
accept_on alias always always_comb always_ff always_latch and assert assign assume automatic before begin bind bins
binsof bit break buf bufif0 bufif1 byte case casex casez cell chandle checker class clocking cmos config const
constraint context continue cover covergroup coverpoint cross deassign default defparam design disable dist do edge
else end endcase endchecker endclass endclocking endconfig endfunction endgenerate endgroup endinterface endmodule
endpackage endprimitive endprogram endproperty endspecify endsequence endtable endtask enum event eventually expect
export extends extern final first_match for force foreach forever fork forkjoin function generate genvar global
highz0 highz1 if iff ifnone ignore_bins illegal_bins implements implies import incdir include initial inout input
inside instance int integer interconnect interface intersect join join_any join_none large let liblist library local
localparam logic longint macromodule matches medium modport module nand negedge nettype new nexttime nmos nor
noshowcancelled not notif0 notif1 null or output package packed parameter pmos posedge primitive priority program
property protected pull0 pull1 pulldown pullup pulsestyle_ondetect pulsestyle_onevent pure rand randc randcase
randsequence rcmos real realtime ref reg reject_on release repeat restrict return rnmos rpmos rtran rtranif0 rtranif1
s_always s_eventually s_nexttime s_until s_until_with scalared sequence shortint shortreal showcancelled signed small
soft solve specify specparam static string strong strong0 strong1 struct super supply0 supply1 sync_accept_on
sync_reject_on table tagged task this throughout time timeprecision timeunit tran tranif0 tranif1 tri tri0 tri1 triand
trior trireg type typedef union unique unique0 unsigned until until_with untyped use uwire var vectored virtual void
wait wait_order wand weak weak0 weak1 while wildcard wire with within wor xnor xor
std Vtop
""".split())  # SystemVerilog 1800-2017 (Verilator's default language) and names of the simulation harness
_IDENT = re.compile(r"[^A-Za-z0-9_]")
# Comments starting with these words are directives to some tool (translate_off, lint_off, full_case...)
_PRAGMA_WORDS = ("synopsys", "synthesis", "pragma", "verilator", "lint_", "cadence", "ambit", "xilinx", "altera",
                 "translate_", "full_case", "parallel_case", "yosys", "rtl_synthesis", "coverage", "spyglass")


def identifier(name: str) -> str:
    """A valid (System)Verilog identifier for ``name``: invalid characters become ``_`` (non-ASCII ones
    ``u<hex>``), a leading digit gets a prefix, keywords get a suffix, long names are cut (with a hash)."""
    out = ascii_name(name, _IDENT) or "_"
    if out[0].isdigit():
        out = f"n_{out}"
    if out in VERILOG_KEYWORDS:
        out = f"{out}_"
    return out


def comment_line(text: str) -> str:
    """One line of text made safe after ``//``: printable ASCII (other characters spelled ``<U+XXXX>``), and
    never read as a tool directive (``// synthesis translate_off``...)."""
    out = "".join(c if " " <= c <= "~" else f"<U+{ord(c):04X}>" for c in text).rstrip()
    if out.lstrip().lower().startswith(_PRAGMA_WORDS):
        out = f"| {out}"
    return out


def comment_lines(text: str) -> list[str]:
    return [comment_line(line) for line in text.splitlines()]


def literal(value: int, width: int) -> str:
    """A ``width``-bit hexadecimal literal holding ``value`` modulo ``2**width`` (unsigned)."""
    return f"{width}'h{value % (1 << width):x}"


def slit(value: int, width: int) -> str:
    """A signed ``width``-bit literal (two's complement of ``value``)."""
    return f"{width}'sh{value % (1 << width):x}"


def range_width(lo: int, hi: int) -> tuple[int, bool]:
    """(width, signed) of the narrowest two's-complement / unsigned vector holding every integer in ``lo..hi``."""
    if lo < 0:
        return max((-lo - 1).bit_length(), hi.bit_length()) + 1, True
    return max(hi.bit_length(), 1), False


def signed_width(value: int) -> int:
    """Bits of the narrowest two's-complement vector holding ``value``."""
    return (value if value >= 0 else -value - 1).bit_length() + 1


def _decl(width: int) -> str:
    return "" if width == 1 else f"[{width - 1}:0] "


# -- statements (inside always blocks) -------------------------------------------------------------

@dataclass
class NonBlocking:
    lhs: str
    rhs: str

    def render(self, ind: str) -> list[str]:
        return [f"{ind}{self.lhs} <= {self.rhs};"]


@dataclass
class If:
    cond: str
    then: list
    orelse: list = field(default_factory=list)

    def render(self, ind: str) -> list[str]:
        out = [f"{ind}if ({self.cond}) begin"]
        for s in self.then:
            out += s.render(ind + "    ")
        if self.orelse:
            out.append(f"{ind}end else begin")
            for s in self.orelse:
                out += s.render(ind + "    ")
        out.append(f"{ind}end")
        return out


@dataclass
class Case:
    """``case (sel)`` with one assignment per item: ``items`` maps a selector literal to the right-hand side."""

    sel: str
    lhs: str
    items: list[tuple[str, str]]
    default: str

    def render(self, ind: str) -> list[str]:
        out = [f"{ind}case ({self.sel})"]
        out += [f"{ind}    {k}: {self.lhs} = {v};" for k, v in self.items]
        out += [f"{ind}    default: {self.lhs} = {self.default};", f"{ind}endcase"]
        return out


# -- module items ----------------------------------------------------------------------------------

@dataclass
class Port:
    direction: str  # "input" / "output"
    name: str
    width: int
    kind: str = "wire"  # "wire" / "reg"
    comment: str = ""


@dataclass
class Wire:
    name: str
    width: int
    expr: str | None = None
    comment: str = ""
    op: tuple | None = None  # what Arith made it: (kind, operand Vals...), read by the resource estimate (wiring
    # too: ("shl", a, s) is ``{a, s'b0}``, ("cat", high, low, s) ``{high, low's low s bits}``)

    def render(self) -> list[str]:
        assign = f" = {self.expr}" if self.expr is not None else ""
        tail = f"  // {comment_line(self.comment)}" if self.comment else ""
        return [f"    wire {_decl(self.width)}{self.name}{assign};{tail}"]


@dataclass
class Reg:
    name: str
    width: int
    comment: str = ""

    def render(self) -> list[str]:
        tail = f"  // {comment_line(self.comment)}" if self.comment else ""
        return [f"    reg {_decl(self.width)}{self.name};{tail}"]


@dataclass
class Assign:
    lhs: str
    rhs: str

    def render(self) -> list[str]:
        return [f"    assign {self.lhs} = {self.rhs};"]


@dataclass
class Always:
    """``always @(posedge clk)`` (``clock`` given) or ``always @*`` (combinational). ``keep``: marked
    ``(* keep *)``, so that a synthesizer keeps its registers apart even where two hold the same value (copies made
    to limit a register's fanout; Yosys's opt_merge would fold them into one)."""

    body: list
    clock: str | None = None
    keep: bool = False

    def render(self) -> list[str]:
        head = f"always @(posedge {self.clock})" if self.clock else "always @*"
        if self.keep:
            head = f"(* keep *) {head}"
        out = [f"    {head} begin"]
        for s in self.body:
            out += s.render("        ")
        out.append("    end")
        return out


@dataclass
class Instance:
    module: str
    name: str
    connections: list[tuple[str, str]]

    def render(self) -> list[str]:
        conns = ", ".join(f".{p}({e})" for p, e in self.connections)
        return [f"    {self.module} {self.name} ({conns});"]


@dataclass
class Comment:
    text: str

    def render(self) -> list[str]:
        return [f"    // {line}".rstrip() for line in comment_lines(self.text)] if self.text else [""]


class Module:
    """One Verilog module. Names handed out by :meth:`fresh` (and every ``wire``/``reg``) are unique."""

    def __init__(self, name: str, header: str = "") -> None:
        self.name = name
        self.header = header
        self.ports: list[Port] = []
        self.items: list = []
        self._names: set[str] = set()
        self._counters: dict[str, int] = {}
        self._order: list[str] = []  # names in the order handed out (for rollback)

    def mark(self) -> tuple[int, int, dict[str, int]]:
        """A point to :meth:`rollback` to: everything declared after it is forgotten."""
        return len(self.items), len(self._order), dict(self._counters)

    def rollback(self, mark: tuple[int, int, dict[str, int]]) -> None:
        n_items, n_names, counters = mark
        del self.items[n_items:]
        for name in self._order[n_names:]:
            self._names.discard(name)
        del self._order[n_names:]
        self._counters = counters

    # -- names ---------------------------------------------------------------------------------
    def fresh(self, base: str) -> str:
        base = identifier(base)
        if base not in self._names:
            self._names.add(base)
            self._order.append(base)
            return base
        i = self._counters.get(base, 1)
        while f"{base}_{i}" in self._names:
            i += 1
        self._counters[base] = i + 1
        self._names.add(f"{base}_{i}")
        self._order.append(f"{base}_{i}")
        return f"{base}_{i}"

    # -- declarations --------------------------------------------------------------------------
    def port(self, direction: str, name: str, width: int, kind: str = "wire", comment: str = "") -> str:
        if name in self._names:
            raise ValueError(f"duplicate port {name!r} in module {self.name}")
        self._names.add(name)
        self._order.append(name)
        self.ports.append(Port(direction, name, width, kind, comment))
        return name

    def wire(self, base: str, width: int, expr: str | None = None, comment: str = "", op: tuple | None = None
             ) -> str:
        name = self.fresh(base)
        self.items.append(Wire(name, width, expr, comment, op))
        return name

    def reg(self, base: str, width: int, comment: str = "") -> str:
        name = self.fresh(base)
        self.items.append(Reg(name, width, comment))
        return name

    def assign(self, lhs: str, rhs: str) -> None:
        self.items.append(Assign(lhs, rhs))

    def always(self, body: list, clock: str | None = None) -> None:
        self.items.append(Always(body, clock))

    def instance(self, module: str, base: str, connections: list[tuple[str, str]]) -> str:
        name = self.fresh(base)
        self.items.append(Instance(module, name, connections))
        return name

    def comment(self, text: str) -> None:
        self.items.append(Comment(text))

    # -- text ----------------------------------------------------------------------------------
    def render(self) -> str:
        lines = [f"// {line}".rstrip() for line in comment_lines(self.header)]
        if not self.ports:
            lines.append(f"module {self.name};")
        else:
            lines.append(f"module {self.name} (")
            wmax = max(len(_decl(p.width)) for p in self.ports)
            for i, p in enumerate(self.ports):
                sep = "," if i < len(self.ports) - 1 else ""
                head = f"{p.direction:<6} {p.kind:<4} {_decl(p.width):<{wmax}}{p.name}{sep}"
                lines.append(f"    {head}" + (f"  // {comment_line(p.comment)}" if p.comment else ""))
            lines.append(");")
        for item in self.items:
            lines += item.render()
        lines.append("endmodule")
        return "\n".join(lines) + "\n"


# -- values and exact arithmetic -------------------------------------------------------------------

@dataclass(frozen=True)
class Val:
    """An integer held in Verilog: the bits ``base[lsb +: width]`` (two's complement when ``signed``), or the
    constant ``const``. Its value is known to lie in ``lo..hi`` (the whole vector's range after a wrap)."""

    base: str
    lsb: int
    width: int
    signed: bool
    lo: int
    hi: int
    full: bool = True  # ``base`` is exactly this vector
    const: int | None = None
    t: float = 0.0  # ns after the last register when the LSB settles (nnfpga.backends.rtl.delay)
    top: float = 0.0  # ... and when the MSB does (every bit: a carry chain ripples from t to top)

    @staticmethod
    def constant(value: int) -> Val:
        width, signed = range_width(value, value)
        return Val("", 0, width, signed, value, value, True, value)

    @staticmethod
    def of(name: str, width: int, signed: bool, lo: int | None = None, hi: int | None = None,
           lsb: int = 0, full: bool = True, at: tuple[float, float] = (0.0, 0.0)) -> Val:
        """Bits of a declared vector; the range defaults to everything ``width`` bits can hold; ``at``: its
        ``(t, top)`` settling times (0: straight from a register or an input port)."""
        if lo is None or hi is None:
            lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
        return Val(name, lsb, width, signed, lo, hi, full, None, at[0], at[1])

    @property
    def at(self) -> tuple[float, float]:
        return self.t, self.top

    def slice_at(self, lo: int, hi: int) -> tuple[float, float]:
        """Settling times of bits ``hi..lo`` (a ripple's bits settle from ``t`` to ``top`` in order)."""
        step = (self.top - self.t) / max(self.width, 1)
        return self.t + step * lo, self.t + step * (hi + 1)

    @property
    def expr(self) -> str:
        if self.const is not None:
            return literal(self.const, self.width)
        if self.full:
            return self.base
        if self.width == 1:
            return f"{self.base}[{self.lsb}]"
        return f"{self.base}[{self.lsb + self.width - 1}:{self.lsb}]"

    def bit(self, i: int) -> str:
        if self.const is not None:
            return f"1'b{(self.const >> i) & 1}"
        if self.full and self.width == 1:
            return self.base
        return f"{self.base}[{self.lsb + i}]"

    def bits(self, hi: int, lo: int) -> Val:
        """Bits ``hi..lo`` as an unsigned value (no new wire)."""
        n = hi - lo + 1
        if self.const is not None:
            return Val.constant((self.const >> lo) & ((1 << n) - 1))
        if lo == 0 and n == self.width and not self.signed:
            return self
        full = self.full and lo == 0 and n == self.width
        return Val.of(self.base, n, False, lsb=self.lsb + lo, full=full, at=self.slice_at(lo, hi))

    def ext(self, n: int) -> str:
        """Verilog expression of exactly ``n`` bits: this value sign/zero-extended, or its low ``n`` bits."""
        if self.const is not None:
            return literal(self.const, n)
        if n == self.width:
            return self.expr
        if n < self.width:
            return self.bits(n - 1, 0).expr
        k = n - self.width
        fill = self.bit(self.width - 1) if self.signed else "1'b0"
        pad = fill if k == 1 else f"{{{k}{{{fill}}}}}"
        return f"{{{pad}, {self.expr}}}"

    def signed_expr(self) -> str:
        """``$signed(...)`` of this value with a sign bit: ``width`` bits if signed, ``width + 1`` if not."""
        if self.const is not None:
            return slit(self.const, signed_width(self.const))
        return f"$signed({self.expr})" if self.signed else f"$signed({self.ext(self.width + 1)})"

    @property
    def swidth(self) -> int:
        """Width of :meth:`signed_expr`."""
        if self.const is not None:
            return signed_width(self.const)
        return self.width if self.signed else self.width + 1


class Cond(str):
    """A 1-bit Verilog expression that knows when it settles (``t``, ns after the last register)."""

    t: float

    def __new__(cls, expr: str, t: float = 0.0) -> Cond:
        obj = super().__new__(cls, expr)
        obj.t = t
        return obj


def cond_time(cond: str | bool) -> float:
    return getattr(cond, "t", 0.0)


class Arith:
    """Exact integer operations on :class:`Val`, each declaring one wire in ``module`` named ``<prefix>_<hint>``.

    With a delay ``model`` (:mod:`~nnfpga.backends.rtl.delay`) every value also gets its settling times, and the
    Arith keeps the slowest value it made (``worst``, in layer ``worst_where``: set ``where`` while building a
    layer); :meth:`mark` / :meth:`slowest_since` / :meth:`rollback` let a lowering try some logic and take it back.
    """

    def __init__(self, module: Module, model: DelayModel | None = None) -> None:
        self.m = module
        self.model = model
        self.where = ""
        self.worst = 0.0
        self.worst_where = ""
        self.worst_signal = ""
        self._windows: list[float] = []

    # -- timing --------------------------------------------------------------------------------
    def note(self, top: float, signal: str = "") -> None:
        if top > self.worst:
            self.worst, self.worst_where, self.worst_signal = top, self.where, signal
        for i, w in enumerate(self._windows):
            if top > w:
                self._windows[i] = top

    def mark(self) -> tuple:
        self._windows.append(0.0)
        return len(self._windows) - 1, self.m.mark(), self.worst, self.worst_where, self.worst_signal

    def slowest_since(self, mark: tuple) -> float:
        """The latest settling time of a value made since ``mark``."""
        return self._windows[mark[0]]

    def release(self, mark: tuple) -> None:
        """Keep what was built since ``mark``; stop watching it."""
        del self._windows[mark[0]:]

    def rollback(self, mark: tuple) -> None:
        """Forget everything declared since ``mark``."""
        i, m, self.worst, self.worst_where, self.worst_signal = mark
        del self._windows[i:]
        self.m.rollback(m)

    def timed(self, v: Val, at: tuple[float, float]) -> Val:
        """``v`` with settling times ``at`` (recorded)."""
        if self.model is None or v.const is not None:
            return v
        self.note(at[1], v.base)
        return Val(v.base, v.lsb, v.width, v.signed, v.lo, v.hi, v.full, None, at[0], at[1])

    def wire(self, hint: str, lo: int, hi: int, expr_for_width, *, cap: int | None = None,
             min_width: int = 0, at=None, op: tuple | None = None) -> Val:
        """A new wire holding ``expr_for_width(width)``; ``at``: its ``(t, top)``, or a function of its width
        giving them (None: it settles at once, like a constant); ``op``: what it computes, ``(kind, operands...)``
        (:mod:`~nnfpga.backends.rtl.netlist_features` reads it)."""
        width, signed = range_width(lo, hi)
        width = max(width, min_width)
        if cap is not None and width > cap:  # kept modulo 2**cap
            width, signed = cap, True
            lo, hi = -(1 << (cap - 1)), (1 << (cap - 1)) - 1
        name = self.m.wire(hint, width, expr_for_width(width), op=op)
        if at is None or self.model is None:
            return Val(name, 0, width, signed, lo, hi)
        t, top = at(width) if callable(at) else at
        self.note(top, name)
        return Val(name, 0, width, signed, lo, hi, True, None, t, top)

    def sum_at(self, *vals: Val):
        model = self.model
        return None if model is None else (lambda w: model.add(vals, w))

    # -- arithmetic ----------------------------------------------------------------------------
    def add(self, a: Val, b: Val, hint: str, cap: int | None = None) -> Val:
        if a.const is not None and b.const is not None:
            return Val.constant(a.const + b.const)
        if b.const == 0:
            return a
        if a.const == 0:
            return b
        return self.wire(hint, a.lo + b.lo, a.hi + b.hi, lambda w: f"{a.ext(w)} + {b.ext(w)}", cap=cap,
                         op=("add", a, b),
                         at=self.sum_at(a, b))

    def sub(self, a: Val, b: Val, hint: str) -> Val:
        if a.const is not None and b.const is not None:
            return Val.constant(a.const - b.const)
        if b.const == 0:
            return a
        return self.wire(hint, a.lo - b.hi, a.hi - b.lo, lambda w: f"{a.ext(w)} - {b.ext(w)}", at=self.sum_at(a, b),
                         op=("add", a, b))

    def neg(self, a: Val, hint: str) -> Val:
        if a.const is not None:
            return Val.constant(-a.const)
        return self.wire(hint, -a.hi, -a.lo, lambda w: f"-{a.ext(w)}", at=self.sum_at(a), op=("neg", a))

    def shl(self, a: Val, s: int, hint: str) -> Val:
        """``a * 2**s`` (``s >= 0``)."""
        if s == 0 or a.const is not None:
            return Val.constant(a.const << s) if a.const is not None else a
        if a.lo == a.hi:  # a wire that can only hold one value
            return Val.constant(a.lo << s)
        return self.wire(hint, a.lo << s, a.hi << s, lambda w: f"{{{a.ext(w - s)}, {s}'b0}}", at=a.at,
                         op=("shl", a, s))

    # Products are signed products of operands both extended to the result width ``w`` (sign- or zero-extended
    # by their own signedness): Verilator 5.006 was seen to get ``$signed(a) * $signed({1'b0, b})`` (operands of
    # different widths) wrong, and signed cells let Yosys narrow the multiplier back to the operands' real
    # widths (one DSP48 per 16x16 product; an unsigned w x w product took two).
    def mul_const(self, a: Val, c: int, hint: str) -> Val:
        """``a * c`` for an integer constant ``c`` (shifts for powers of two, else a constant multiplier)."""
        if c == 0 or a.const is not None:
            return Val.constant(c * a.const if a.const is not None else 0)
        mag = abs(c)
        if mag & (mag - 1) == 0:  # +-2**k
            s = self.shl(a, mag.bit_length() - 1, hint)
            return s if c > 0 else self.neg(s, hint + "n")
        lo, hi = sorted((c * a.lo, c * a.hi))
        cw = signed_width(c)
        return self.wire(hint, lo, hi, lambda w: f"$signed({a.ext(w)}) * {slit(c, w)}", min_width=max(a.swidth, cw),
                         op=("mul", a, Val.constant(c)),
                         at=self._mul_at(a))

    def mul(self, a: Val, b: Val, hint: str) -> Val:
        """Exact product of two variables (or a constant and a variable)."""
        if b.const is not None:
            return self.mul_const(a, b.const, hint)
        if a.const is not None:
            return self.mul_const(b, a.const, hint)
        ends = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
        return self.wire(hint, min(ends), max(ends), lambda w: f"$signed({a.ext(w)}) * $signed({b.ext(w)})",
                         op=("mul", a, b),
                         min_width=max(a.swidth, b.swidth), at=self._mul_at(a, b))

    def _mul_at(self, *vals: Val):
        model = self.model
        if model is None:
            return None

        def at(w: int) -> tuple[float, float]:
            t = model.multiply(vals, w)
            return t, t
        return at

    def mux(self, cond: str, a: Val, b: Val, hint: str) -> Val:
        """``cond ? a : b``; ``cond`` is a 1-bit expression or the Python constants True/False."""
        if cond is True:
            return a
        if cond is False:
            return b
        if a.const is not None and a.const == b.const:
            return a
        model = self.model
        at = None if model is None else (model.logic((a, b), extra=cond_time(cond)),) * 2
        return self.wire(hint, min(a.lo, b.lo), max(a.hi, b.hi), lambda w: f"{cond} ? {a.ext(w)} : {b.ext(w)}", at=at,
                         op=("mux", cond, a, b))

    # -- comparisons (a 1-bit expression, or True/False when the ranges decide) ----------------
    def lt(self, a: Val, b: Val) -> str | bool:
        if a.hi < b.lo:
            return True
        if a.lo >= b.hi:
            return False
        return self._cmp(a, "<", b)

    def gt(self, a: Val, b: Val) -> str | bool:
        return self.lt(b, a)

    def ge(self, a: Val, b: Val) -> str | bool:
        r = self.lt(a, b)
        return (not r) if isinstance(r, bool) else Cond(f"!({r})", cond_time(r))

    def _cmp(self, a: Val, op: str, b: Val) -> str:
        w = max(a.swidth, b.swidth)
        t = 0.0 if self.model is None else self.model.compare((a, b), w)
        if self.model is not None:
            self.note(t)
        return Cond(f"$signed({a.ext(w)}) {op} $signed({b.ext(w)})", t)

    # -- shifts of the value (floor division by powers of two) ---------------------------------
    def floor_shift(self, a: Val, k: int, hint: str) -> Val:
        """``floor(a / 2**k)`` for any sign of ``k`` (``k < 0`` multiplies); right shifts are bit slices."""
        if k <= 0:
            return self.shl(a, -k, hint)
        if a.const is not None:
            return Val.constant(a.const >> k)
        if k >= a.width:
            if not a.signed or a.lo >= 0:
                return Val.constant(0)
            sign = Val.of(a.base, 1, True, lsb=a.lsb + a.width - 1, full=a.full and a.width == 1)
            return replace(sign, lo=-1 if a.lo < 0 else 0, hi=0, t=a.top, top=a.top)
        part = a.bits(a.width - 1, k)
        return Val(part.base, part.lsb, part.width, a.signed, a.lo >> k, a.hi >> k, part.full, part.const, part.t,
                   part.top)

    def clamp(self, a: Val, lo: int | None, hi: int | None, hint: str) -> Val:
        """``min(max(a, lo), hi)`` (either bound optional)."""
        if lo is not None:
            # x < 0 is the sign bit: no comparator on the path (what made ReLU the critical path on ECP5). Only
            # here: the same shortcut inside the cast modules made Verilator 5.006 miscompute a neighbouring
            # output of a wide concatenation (tests/backends/rtl/test_rtl_sim.py, the cast test).
            c = (Cond(a.bit(a.width - 1), a.top) if lo == 0 and a.const is None and a.signed and a.lo < 0 <= a.hi
                 else self.lt(a, Val.constant(lo)))
            if c is True:
                a = Val.constant(lo)
            elif c is not False:
                a = replace(self.mux(c, Val.constant(lo), a, hint), lo=max(a.lo, lo), hi=max(a.hi, lo))
        if hi is not None:
            c = self.gt(a, Val.constant(hi))
            if c is True:
                a = Val.constant(hi)
            elif c is not False:
                a = replace(self.mux(c, Val.constant(hi), a, hint), lo=min(a.lo, hi), hi=min(a.hi, hi))
        return a

    def pack(self, hint: str, vals: list[Val], width: int, comment: str = "") -> str:
        """One bus of ``len(vals) * width`` bits, element 0 in the low bits; returns its name."""
        parts = ", ".join(v.ext(width) for v in reversed(vals))
        return self.m.wire(hint, width * len(vals), f"{{{parts}}}" if len(vals) > 1 else vals[0].ext(width),
                           comment)
