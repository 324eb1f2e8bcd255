"""What a generated Verilog design is made of, read from its modules' items (not from any tool): per layer, the
carry-chain bits of its adders and comparators, its mux bits, its tables, its multipliers' operand widths and
its register bits. :mod:`nnfpga.backends.rtl.estimate` turns these counts into LUT, FF, DSP and BRAM.

Everything is read from the final :class:`~nnfpga.backends.rtl.verilog.Module` (the logic a timing-driven
lowering tried and rolled back is gone from it), one item at a time, with the widths the items declare: a wire
:class:`~nnfpga.backends.rtl.verilog.Arith` made from its op and operands (``Wire.op``), any other from its text.
Registers and wires that no logic reads are left out (Yosys removes them).

- ``add_bits``: an addition or subtraction of two variables, its carry bits: the result width less the low bits
  an operand holds as constant zeros (a shifted term: those bits pass through), at most one bit above the wider
  operand (the rest, sign extension, is ``ext_bits``); ``adders`` their number; ``const_add_bits`` the same with
  one constant operand; ``dsp_add_bits`` an adder reading a product (a DSP can absorb it); a negation counts as
  an addition.
- ``mux_bits``: ``c ? a : b`` (result width); ``cmp_bits``: a signed comparison (its operands' width).
- ``rom_bits`` / ``rom_entries``: a ``case`` of constants (a table read by a counter or an index), per output
  bit; ``sel_bits``: a ``case`` of variables (a multiplexer of ``entries`` inputs), ``width x (entries - 1)``.
- ``muls``: each variable multiplier's (wider, narrower) operand widths without their sign extension, its product
  width, and the select bits of the weight table feeding it (0: none).
- ``reg_bits``: bits of the registers a clocked ``always`` assigns.
- The streaming top's window generators and FIFOs are Verilog text (``TextModule``), counted per instance by
  :func:`~nnfpga.backends.rtl.netlist_text.text_counts` from their declarations: ``stream_reg_bits``,
  ``skid_bits``, ``count_bits``, ``srl_cells`` and ``mems`` (their memories), the window's output registers scaled
  to the bits the kernel reads.
"""

from __future__ import annotations

import re

from nnfpga.backends.rtl.counts import Counts
from nnfpga.backends.rtl.netlist_text import text_counts
from nnfpga.backends.rtl.verilog import Always, Assign, Case, If, Instance, Module, NonBlocking, Reg, Val, Wire

_LIT = re.compile(r"^(\d+)'s?([hbd])([0-9a-fA-F_]+)$")
_SLICE = re.compile(r"^([A-Za-z_][A-Za-z0-9_$]*)\[(\d+)(?::(\d+))?\]$")
_REPL = re.compile(r"^\{(\d+)\{(.*)\}\}$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def _depth(s: str) -> int:
    return s.count("(") + s.count("{") + s.count("[") - s.count(")") - s.count("}") - s.count("]")


def _split_top(s: str, sep: str) -> list[str]:
    """``s`` split at ``sep`` outside parentheses and braces."""
    i = s.find(sep)
    if i < 0:
        return [s.strip()]
    out, start, depth, seen = [], 0, 0, 0
    while i >= 0:
        depth += _depth(s[seen:i])
        seen = i
        if depth == 0:
            out.append(s[start:i].strip())
            start = i + len(sep)
        i = s.find(sep, i + len(sep))
    out.append(s[start:].strip())
    return out


def _strip_parens(s: str) -> str:
    s = s.strip()
    while s.startswith("(") and s.endswith(")") and len(_split_top(s[1:-1], ")")) == 1 and _balanced(s[1:-1]):
        s = s[1:-1].strip()
    return s


def _balanced(s: str) -> bool:
    depth = 0
    for c in s:
        depth += c in "({["
        depth -= c in ")}]"
        if depth < 0:
            return False
    return depth == 0


class _Reader:
    """Widths and constant low bits of the names of one module, and the analysis of its expressions."""

    def __init__(self, module: Module) -> None:
        self.width: dict[str, int] = {p.name: p.width for p in module.ports}
        self._zeros: dict[str, int] = {}  # name -> its low bits that are constant zeros (read when asked)
        self._wiring: dict[str, str] = {}  # name -> the slices / concatenation it is
        self._wiring_ops: dict[str, tuple[tuple, int]] = {}  # ... or the shift / concatenation Arith made (and width)
        self.const_regs: dict[str, int] = {}  # a table of one value (the same weight every cycle) -> it
        reads: list[str] = []
        self._operands: dict[str, tuple[int, int, int]] = {}
        self._constants: dict[str, int | None] = {}
        self.table_bits: dict[str, int] = {}  # a table's name -> the bits that select its entry
        self.products: set[str] = set()  # wires holding a product wide enough for a DSP (it absorbs an adder)
        for item in module.items:
            if isinstance(item, (Wire, Reg)):
                self.width[item.name] = item.width
            _reads(item, reads)
            if isinstance(item, Wire) and item.op is not None:
                if item.op[0] == "mul" and item.width >= 9:
                    self.products.add(item.name)
                elif item.op[0] in ("shl", "cat"):
                    self._wiring_ops[item.name] = (item.op, item.width)
            elif isinstance(item, Wire) and item.expr is not None:
                kind = _kind(item.expr)
                if kind == "wire":
                    self._wiring[item.name] = item.expr
                elif kind == "mul" and item.width >= 9:
                    self.products.add(item.name)
            if isinstance(item, Always) and item.clock is None and len(item.body) == 1 and isinstance(
                    item.body[0], Case):
                values = {self.constant(v) for _, v in item.body[0].items}
                if len(values) == 1 and None not in values:
                    self.const_regs[item.body[0].lhs] = values.pop()
                elif None not in values:
                    self.table_bits[item.body[0].lhs] = max(len(item.body[0].items) - 1, 1).bit_length()
        self.read_text = " ".join(reads)
        self.read = set(_IDENT.findall(self.read_text))  # names some logic reads (Yosys drops the others)

    def used_fraction(self, name: str) -> float:
        """The fraction of the bits of ``name`` some logic reads (slices of it; a bare read: all)."""
        width = self.width.get(name, 1)
        bits: set[int] = set()
        for m in re.finditer(rf"\b{re.escape(name)}\b(\[(\d+)(?::(\d+))?\])?", self.read_text):
            if m.group(1) is None:
                return 1.0
            hi, lo = int(m.group(2)), int(m.group(3) or m.group(2))
            bits.update(range(lo, hi + 1))
        return len(bits) / width if width else 1.0

    def operand(self, s: str) -> tuple[int, int, int]:
        """(width, width without sign/zero extension, low constant-zero bits) of an operand expression, or
        (0, 0, 0) for a constant (see :meth:`constant`)."""
        got = self._operands.get(s)
        if got is None:
            got = self._operands[s] = self._operand(s)
        return got

    def zeros(self, name: str) -> int:
        """Low bits of ``name`` that are constant zeros (a shifted term)."""
        if name not in self._zeros:
            expr = self._wiring.get(name)
            if name in self._wiring_ops:
                (kind, *args), width = self._wiring_ops[name]
                high, low, s = (args[0], Val.constant(0), args[1]) if kind == "shl" else args
                self._zeros[name] = self._low_zeros([(low, s), (high, width - s)])
            else:
                self._zeros[name] = 0 if expr is None else self.operand(expr)[2]
        return self._zeros[name]

    def _low_zeros(self, parts: list[tuple[Val, int]]) -> int:
        """Low constant-zero bits of the concatenation of ``v.ext(n)`` for ``(v, n)`` in ``parts`` (lowest first),
        as :meth:`operand` reads its text."""
        zeros = 0
        for v, n in parts:
            if v.const is None:
                return zeros + max(self.zeros(v.base) - v.lsb, 0)
            if v.const % (1 << n):
                return zeros
            zeros += n
        return zeros

    def _operand(self, s: str) -> tuple[int, int, int]:
        s = _strip_parens(s)
        if s.startswith("$signed(") and s.endswith(")"):
            return self.operand(s[8:-1])
        if _LIT.match(s):
            return 0, 0, 0
        if _REPL.match(s):
            return self._part(s)
        if s.startswith("{") and s.endswith("}"):
            parts = _split_top(s[1:-1], ",")
            info = [self._part(p) for p in parts]
            width = sum(w for w, _, _ in info)
            ext, unsigned = 0, False
            for (w, real, _), p in zip(info, parts, strict=True):  # leading copies of one bit: extension
                if real == 0 and not _LIT.match(p):
                    ext += w
                    unsigned = unsigned or "1'b0" in p
                elif _LIT.match(p) and self.constant(p) == 0 and ext == 0 and p is not parts[-1]:
                    ext, unsigned = ext + w, True
                else:
                    break
            zeros = 0
            for (w, _, z), p in zip(reversed(info), reversed(parts), strict=True):
                if _LIT.match(p) and self.constant(p) == 0:
                    zeros += w
                    continue
                zeros += z
                break
            return width, max(width - ext + (unsigned and ext > 0), 1), zeros
        if m := _SLICE.match(s):
            hi, lo = int(m.group(2)), int(m.group(3) or m.group(2))
            return hi - lo + 1, hi - lo + 1, max(self.zeros(m.group(1)) - lo, 0)
        if _NAME.match(s):
            w = self.width.get(s, 1)
            return w, w, self.zeros(s)
        return 1, 1, 0  # a 1-bit condition or an expression we do not read further

    def _part(self, p: str) -> tuple[int, int, int]:
        if m := _LIT.match(p):
            return int(m.group(1)), int(m.group(1)), int(m.group(1)) if self.constant(p) == 0 else 0
        if m := _REPL.match(p):
            inner = _LIT.match(m.group(2).strip())
            return int(m.group(1)) * (int(inner.group(1)) if inner else self.operand(m.group(2))[0]), 0, 0
        return self.operand(p)

    def constant(self, s: str) -> int | None:
        if s in self._constants:
            return self._constants[s]
        v = self._constants[s] = self._constant(s)
        return v

    def _constant(self, s: str) -> int | None:
        s = _strip_parens(s)
        if s in self.const_regs:
            return self.const_regs[s]
        m = _LIT.match(s)
        if not m:
            return None
        base = {"h": 16, "b": 2, "d": 10}[m.group(2)]
        return int(m.group(3).replace("_", ""), base)

    def expression(self, expr: str, width: int, c: Counts) -> None:
        """Count the logic of ``expr`` (a ``width``-bit result) into ``c``."""
        expr = _strip_parens(expr)
        kind = _kind(expr)
        if kind == "mux":
            cond, *rest = _split_top(expr, "?")
            a, b = _split_top("?".join(rest), ":")[:2]
            c.mux_bits += width
            self.condition(cond, c)
            for part in (a, b):
                if _kind(_strip_parens(part)) != "wire":
                    self.expression(part, width, c)
        elif kind == "mul":
            a, b = _split_top(expr, "*")[:2]
            wa, wb = self.operand(a)[1], self.operand(b)[1]
            consts = [self.constant(_strip_parens(x).removeprefix("$signed(").removesuffix(")")) for x in (a, b)]
            if any(v is not None and v & (v - 1) == 0 for v in consts) or wb == 0 or wa == 0:
                return  # a product by 0 or a power of two: wiring
            k = max(self.table_bits.get(n, 0) for x in (a, b) for n in _IDENT.findall(x))
            c.muls.append((max(wa, wb), min(wa, wb), width, k))
        elif kind == "add":
            parts = _split_sum(expr)
            ops = [self.operand(p) if self.constant(p) is None else None for p in parts]
            consts = [p for p, o in zip(parts, ops, strict=True) if o is None]
            zeros = max([o[2] for o in ops if o is not None] + [_low_zeros(self.constant(p)) for p in consts])
            reals = [o[1] for o in ops if o is not None] + [_signed_width(self.constant(p), width) for p in consts]
            core = max(min(width, max(reals) + 1) - zeros, 1)
            c.ext_bits += max(width - zeros - core, 0) * (len(parts) - 1)
            if consts:
                c.const_add_bits += core * (len(parts) - 1)
            elif self.products and any(set(_IDENT.findall(p)) & self.products for p in parts):
                c.dsp_add_bits += core * (len(parts) - 1)
            else:
                c.add_bits += core * (len(parts) - 1)
                c.adders += len(parts) - 1
            for p in parts:
                if _kind(_strip_parens(p)) in ("mux", "add", "mul"):
                    self.expression(p, width, c)
        elif kind == "neg":
            c.add_bits += width

    def _val(self, v: Val, width: int) -> tuple[int, int]:
        """(width without extension, low constant-zero bits) of variable ``v`` extended to ``width`` bits, as
        :meth:`operand` reads ``v.ext(width)``."""
        zeros = max(self.zeros(v.base) - v.lsb, 0)
        if width <= v.width:
            return width, zeros
        k = width - v.width
        return (v.width + 1 if (k == 1 or not v.signed) else v.width), zeros

    def tagged(self, op: tuple, width: int, c: Counts) -> None:
        """Count the logic of a wire :class:`~nnfpga.backends.rtl.verilog.Arith` made (``op``: its kind and
        operands) into ``c``: what :meth:`expression` reads from its text, without parsing it."""
        kind = op[0]
        if kind == "add" and op[1].const is None and op[2].const is None:  # the common case, quicker
            (ra, za), (rb, zb) = self._val(op[1], width), self._val(op[2], width)
            zeros = max(za, zb)
            core = max(min(width, max(ra, rb) + 1) - zeros, 1)
            c.ext_bits += max(width - zeros - core, 0)
            if op[1].base in self.products or op[2].base in self.products:
                c.dsp_add_bits += core
            else:
                c.add_bits += core
                c.adders += 1
        elif kind == "add":
            vals = op[1:]
            var = [self._val(v, width) for v in vals if v.const is None]
            consts = [v.const % (1 << width) for v in vals if v.const is not None]
            zeros = max([z for _, z in var] + [_low_zeros(k) for k in consts])
            reals = [r for r, _ in var] + [_signed_width(k, width) for k in consts]
            core = max(min(width, max(reals) + 1) - zeros, 1)
            c.ext_bits += max(width - zeros - core, 0)
            if consts:
                c.const_add_bits += core
            elif any(v.base in self.products for v in vals):
                c.dsp_add_bits += core
            else:
                c.add_bits += core
                c.adders += 1
        elif kind == "neg":
            c.add_bits += width
        elif kind == "mux":
            c.mux_bits += width
            self.condition(str(op[1]), c)
        elif kind == "mul" and op[2].const is None:
            a, b = op[1], op[2]
            wa, wb = self._val(a, width)[0], self._val(b, width)[0]
            k = max(self.table_bits.get(a.base, 0), self.table_bits.get(b.base, 0))
            c.muls.append((max(wa, wb), min(wa, wb), width, k))

    def condition(self, cond: str, c: Counts) -> None:
        cond = _strip_parens(cond.lstrip("!"))
        for op in (" < ", " > ", " <= ", " >= "):
            if op in cond:
                a, b = cond.split(op, 1)
                c.cmp_bits += max(self.operand(a)[0], self.operand(b)[0])
                return
        if " == " in cond:
            a, _ = cond.split(" == ", 1)
            c.cmp_bits += self.operand(a)[0] // 4


def _signed_width(v: int | None, width: int) -> int:
    """Bits of the constant ``v`` read as a ``width``-bit two's-complement number, sign included."""
    v = v or 0
    if v >= 1 << (width - 1):
        v -= 1 << width
    return (v if v >= 0 else -v - 1).bit_length() + 1


def _low_zeros(v: int | None) -> int:
    if not v:
        return 0
    return (v & -v).bit_length() - 1


def _split_sum(expr: str) -> list[str]:
    parts = []
    for p in _split_top(expr, " + "):
        parts += _split_top(p, " - ")
    return [p for p in parts if p]


def _kind(expr: str) -> str:
    """``mux``, ``mul``, ``add``, ``neg`` or ``wire`` (wiring: slices, concatenations) at the top level."""
    if len(_split_top(expr, " ? ")) > 1:
        return "mux"
    if len(_split_top(expr, " * ")) > 1:
        return "mul"
    if len(_split_top(expr, " + ")) > 1 or len(_split_top(expr, " - ")) > 1:
        return "add"
    if expr.startswith("-"):
        return "neg"
    return "wire"


def _layer_of(name: str, layers: set[str]) -> str:
    """The longest of ``layers`` that is ``name`` or prefixes it before an underscore ("" if none)."""
    if name in layers:
        return name
    i = name.rfind("_")
    while i > 0:
        if name[:i] in layers:
            return name[:i]
        i = name.rfind("_", 0, i)
    return ""


def _reads(item: object, out: list[str]) -> None:
    """The expressions ``item`` reads, appended to ``out``."""
    if isinstance(item, Wire):
        out.append(item.expr or "")
    elif isinstance(item, Assign):
        out.append(item.rhs)
    elif isinstance(item, Instance):
        out += [e for _, e in item.connections]
    elif isinstance(item, Always):
        for s in item.body:
            _reads(s, out)
    elif isinstance(item, NonBlocking):
        out.append(item.rhs)
    elif isinstance(item, If):
        out.append(item.cond)
        for s in (*item.then, *item.orelse):
            _reads(s, out)
    elif isinstance(item, Case):
        out += [item.sel, item.default, *(v for _, v in item.items)]


def _walk(stmts: list, clocked: bool, r: _Reader, c: Counts, regs: set[str]) -> None:
    for s in stmts:
        if isinstance(s, NonBlocking):
            base = s.lhs.split("[")[0].strip()
            if clocked:
                regs.add(base)
            r.expression(s.rhs, r.width.get(base, 1), c)
        elif isinstance(s, If):
            r.condition(s.cond, c)
            _walk(s.then, clocked, r, c, regs)
            _walk(s.orelse, clocked, r, c, regs)
        elif isinstance(s, Case):
            w = r.width.get(s.lhs.split("[")[0].strip(), 1)
            if s.lhs in r.const_regs:
                continue
            if all(r.constant(v) is not None for _, v in s.items):
                if len(s.items) > 2:  # a table of two entries is its select bit, or its inverse, per bit
                    c.rom_bits += w
                c.rom_entries += len(s.items)
            else:
                c.sel_bits += w * max(len(s.items) - 1, 0)


def module_counts(module: Module, layers: list[str], library: dict[str, dict[str, Counts]] | None = None,
                  texts: dict[str, str] | None = None) -> dict[str, Counts]:
    """Layer name -> :class:`Counts` of ``module`` (``""``: what no layer's name prefixes: the valid pipeline,
    the output register). ``library``: the counts of the submodules it instantiates (added per instance);
    ``texts``: the Verilog text of the stream elements it instantiates (:func:`text_counts`, per instance, with
    the share of its ``out_data`` that this module reads)."""
    names = set(layers)
    r = _Reader(module)
    out: dict[str, Counts] = {}
    reg_layer: dict[str, str] = {}
    for item in module.items:
        if isinstance(item, Wire) and item.op is not None:
            r.tagged(item.op, item.width, _of(out, _layer_of(item.name, names)))
        elif isinstance(item, Wire) and item.expr is not None:
            r.expression(item.expr, item.width, _of(out, _layer_of(item.name, names)))
        elif isinstance(item, Reg):
            reg_layer[item.name] = _layer_of(item.name, names)
        elif isinstance(item, Always):
            regs: set[str] = set()
            first = _first_name(item.body)
            c = _of(out, _layer_of(first, names))
            _walk(item.body, item.clock is not None, r, c, regs)
            for name in regs & r.read:
                _of(out, reg_layer.get(name, _layer_of(name, names))).reg_bits += r.width.get(name, 1)
        elif isinstance(item, Instance) and texts and item.module in texts:
            wire = dict(item.connections).get("out_data", "")
            used = r.used_fraction(wire) if _NAME.match(wire) else 1.0
            _of(out, _layer_of(item.name, names)).add(text_counts(texts[item.module], used))
        elif isinstance(item, Instance) and library and item.module in library:
            for sub in library[item.module].values():
                _of(out, _layer_of(item.name, names)).add(sub)
    return out


def _of(out: dict[str, Counts], layer: str) -> Counts:
    """``out[layer]``, made when missing."""
    c = out.get(layer)
    if c is None:
        c = out[layer] = Counts()
    return c


def _first_name(stmts: list) -> str:
    for s in stmts:
        if isinstance(s, (NonBlocking, Case)):
            return s.lhs.split("[")[0].strip()
        if isinstance(s, If):
            name = _first_name(s.then) or _first_name(s.orelse)
            if name:
                return name
    return ""


def design_counts(modules: list[Module], layers: list[str]) -> dict[str, Counts]:
    """Layer name -> :class:`Counts` of a design (top module first; submodules counted per instance; a module
    given as text, a stream element, by :func:`text_counts`)."""
    library: dict[str, dict[str, Counts]] = {}
    texts: dict[str, str] = {}
    for m in reversed(modules[1:]):
        text = getattr(m, "text", None)
        if isinstance(text, str):
            texts[m.name] = text
        else:
            library[m.name] = module_counts(m, [], library, texts)
    return module_counts(modules[0], layers, library, texts)
