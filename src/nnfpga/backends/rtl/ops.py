"""What each op becomes in Verilog: one lowering per op (semantics: :mod:`nnfpga.ops`), registered in
:data:`LOWERINGS` and called by :func:`nnfpga.backends.rtl.lower.build_design` with the layer's inputs already
latency-balanced.

- Dense (node attribute ``multipliers``): ``"shared"`` (what ``"auto"``, the default, means but in ECP5's large
  timing-driven designs, where it means ``"csd"``: :class:`~nnfpga.backends.rtl.delay.DelayModel`), the weight matrix
  as a graph of exact two-input adders (CSD shift-and-add with shared subexpressions,
  :mod:`~nnfpga.backends.rtl.cmvm`; ``"csd"``: without sharing), with registers placed for the clock or after every
  ``adders_per_stage`` adders on each path (:mod:`~nnfpga.backends.rtl.adder_graph`; None: none inside the layer);
  ``"operator"``: one ``x * w`` per nonzero weight and a balanced adder tree computed modulo ``2**accum_width``. Then
  the bias (a constant), the result reinterpreted in the accumulator's width (exact, or wrapped like the emulator's
  WRAP accumulator) and cast. An accumulator with fewer fractional bits than the products, or one that may saturate,
  is lowered by :mod:`~nnfpga.backends.rtl.accumulate` (each product cast, then a wrapping sum or a saturating chain).
- ScaleShift, LeakyReLU, hard sigmoid, hard tanh, ReLU (optionally capped), linear: exact integer logic, then a
  cast.
- Sigmoid, tanh, ELU: the same table index arithmetic (a bit slice, a constant subtraction, a clamp) addressing
  a ROM that holds the table entries already cast to the result type.
- Softmax: maximum tree, differences, two exp ROMs and their product cast to the exp type, exact sum, the
  inverse ROM, products cast to the result type; with ``adders_per_stage`` set (the default), a register
  after each level of the maximum tree and the exp products, two after the ROMs (8 for 5 classes).
- Flatten, Reshape, Dropout, Transpose: wiring.
- Merges (several inputs; :mod:`nnfpga.ops.merge`): the inputs that arrive early are delayed by registers so
  that all arrive in the same cycle (latency balancing); then the exact sum, difference, product or
  comparison on their mantissas aligned to one scale, and a cast; Concatenate is wiring and a cast per input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from nnfpga.backends import registrar
from nnfpga.backends.rtl import cmvm
from nnfpga.backends.rtl.accumulate import dense_casts, needs_casts, product_cast
from nnfpga.backends.rtl.adder_graph import Pipeline, Timed, adder_tree, materialize
from nnfpga.backends.rtl.context import MULTIPLIERS, Ctx
from nnfpga.backends.rtl.reuse import dense_reuse
from nnfpga.backends.rtl.tables import rom_read
from nnfpga.backends.rtl.verilog import Cond, NonBlocking, Val, cond_time
from nnfpga.errors import ConfigError, GraphError
from nnfpga.fixed import FixedType, requantize
from nnfpga.ir.graph import Node
from nnfpga.ir.layout import broadcast_flat, concat_order, transpose_order
from nnfpga.ops.base import Plan

# Every op of nnfpga.ops.OPS has a lowering (LOWERINGS, filled by @lowering below), or an entry in NOT_LOWERED
# (handled by build_design itself), or is refused with its reason in REFUSED (tests/ops/test_op_registry.py).
NOT_LOWERED: dict[str, str] = {"input": "the top module's in_data port: build_design unpacks it into the values"}
_LATER = ("not lowered yet: the bit-exact emulator (hw.predict, hw.trace) runs it; its Verilog lowering comes in a "
          "later release")
REFUSED: dict[str, str] = {op: _LATER for op in ("conv", "max_pool", "avg_pool", "zero_pad", "crop", "upsample")}


# -- lowerings ----------------------------------------------------------------------------------

Lowering = Callable[[Ctx, Node, list[Val], FixedType, dict[str, Any]], list[Val]]
LOWERINGS: dict[str, Lowering] = {}


lowering = registrar(LOWERINGS)


def _ints(a: Any) -> list:
    return np.asarray(a).tolist()


@lowering("dense")
def _dense(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    wm = [[int(v) for v in row] for row in _ints(prep.wm)]
    b_acc = [int(v) for v in _ints(prep.b_acc)]
    shift = prep.shift
    if len(xs) != len(wm):
        raise GraphError(f"{node.describe()}: {len(wm)} weight rows but {len(xs)} inputs")
    rf = int(node.attrs.get("reuse_factor", 1))
    ta = node.types["accum"]
    if rf > 1:
        cast = product_cast(c, ta, prep.fp) if shift < 0 else None
        accs = dense_reuse(c.ar, c.prefix, c.go, xs, wm, b_acc, 0 if cast else shift, rf, cast)
        c.cycles = rf + 1
        return [_accumulated(c, node, a, j) for j, a in enumerate(accs)]
    multipliers = c.multipliers
    if multipliers not in MULTIPLIERS:
        raise ConfigError(f"multipliers of {node.describe()} must be one of {', '.join(MULTIPLIERS)}, "
                          f"got {multipliers!r}")
    if needs_casts(prep, tx, ta):  # products cast to a narrower accumulator, or a saturating chain
        return dense_casts(c, node, xs, wm, b_acc, prep, tx, lambda a, j: _accumulated(c, node, a, j))
    if multipliers == "operator":
        return _dense_operator(c, node, xs, wm, b_acc, shift)
    pipe = Pipeline(c.ar, c.prefix, c.per_stage, c.budget, c.fanout)
    sums = pipe.matvec(cmvm.plan(wm, share=c.shares()), [Timed(x) for x in xs])
    accs: list[Timed] = []
    for j, t in enumerate(sums):  # + bias, in accumulator units (the sum's LSB is 2**-(accum frac - shift))
        bias = Timed(Val.constant(b_acc[j]))
        accs.append(bias if t is None else pipe.add(replace(t, shift=t.shift + shift), bias) if b_acc[j] else
                    replace(t, shift=t.shift + shift))
    out, c.cycles = pipe.close(accs, lambda accs: [_accumulated(c, node, materialize(c.ar, a, c.name(f"o{j}")), j)
                                                   for j, a in enumerate(accs)])
    return out


def _dense_operator(c: Ctx, node: Node, xs: list[Val], wm: list[list[int]], b_acc: list[int],
                    shift: int) -> list[Val]:
    """``x * W`` as Verilog multiplications (the synthesizer maps them to DSPs or LUTs), wrapped modulo the
    accumulator width at the accumulator's LSB."""
    ta = node.types["accum"]
    cap = ta.width - shift
    out = []
    for j in range(len(b_acc)):
        if cap > 0:
            leaves = [c.ar.mul_const(xs[i], wm[i][j], c.name(f"m{i}_{j}")) for i in range(len(wm)) if wm[i][j]]
            tree = adder_tree(c.ar, leaves, c.name(f"o{j}"), cap=cap)
        else:
            tree = Val.constant(0)
        acc = c.ar.shl(tree, shift, c.name(f"o{j}_shl"))
        acc = c.ar.add(acc, Val.constant(b_acc[j]), c.name(f"o{j}_b"), cap=ta.width)
        out.append(_accumulated(c, node, acc, j))
    return out


def _accumulated(c: Ctx, node: Node, acc: Val, j: int) -> Val:
    """Output ``j`` from its accumulator value (exact, or wrapped to the accumulator width like WRAP)."""
    ta, tr = node.types["accum"], node.types["result"]
    if acc.const is not None:  # no nonzero weight: the bias, already an accumulator value
        acc_v = Val.constant((acc.const - ta.min_mantissa) % (1 << ta.width) + ta.min_mantissa)
    else:  # reinterpret the low accum-width bits as the accumulator type (exact, or wrapped like WRAP)
        name = c.ar.m.wire(c.name(f"acc{j}"), ta.width, acc.ext(ta.width))
        lo, hi = (acc.lo, acc.hi) if ta.min_mantissa <= acc.lo and acc.hi <= ta.max_mantissa else (None, None)
        acc_v = c.ar.timed(Val.of(name, ta.width, ta.signed, lo, hi), acc.slice_at(0, ta.width - 1))
    return c.cast(acc_v, ta.frac, tr, f"y{j}")


@lowering("scale_shift")
def _scale_shift(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    tw, tb, tr = node.types["weight"], node.types["bias"], node.types["result"]
    fp = tx.frac + tw.frac
    f = max(fp, tb.frac)
    out = []
    scale, shift = (_ints(broadcast_flat(c, node.shape)) for c in (prep.sm, prep.bm))
    for i, (x, s, b) in enumerate(zip(xs, scale, shift, strict=True)):
        p = c.ar.shl(c.ar.mul_const(x, int(s), c.name(f"m{i}")), f - fp, c.name(f"m{i}_shl"))
        v = c.ar.add(p, Val.constant(int(b) << (f - tb.frac)), c.name(f"a{i}"))
        out.append(c.cast(v, f, tr, f"y{i}"))
    return out


@lowering("linear")
def _linear(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    tr = node.types["result"]
    return xs if tr == tx else [c.cast(x, tx.frac, tr, f"y{i}") for i, x in enumerate(xs)]


@lowering("flatten", "reshape", "dropout")
def _wiring(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    return xs


@lowering("relu")
def _relu(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    tr = node.types["result"]
    mv = node.attrs.get("max_value")
    cap = int(np.floor(np.ldexp(mv, tx.frac))) if mv is not None else None
    out = []
    for i, x in enumerate(xs):
        y = c.ar.clamp(x, 0, None, c.name(f"r{i}"))
        if cap is not None:
            y = c.ar.clamp(y, None, cap, c.name(f"c{i}"))
        out.append(y if tr == tx else c.cast(y, tx.frac, tr, f"y{i}"))
    return out


def _affine_frac(tx: FixedType, tp: FixedType) -> int:
    return max(tx.frac + tp.frac, tp.frac, tx.frac)


@lowering("leaky_relu")
def _leaky_relu(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    tp, tr = node.types["param"], node.types["result"]
    alpha = int(prep.c[0])
    f = _affine_frac(tx, tp)
    out = []
    for i, x in enumerate(xs):
        neg = c.ar.shl(c.ar.mul_const(x, alpha, c.name(f"m{i}")), f - tx.frac - tp.frac, c.name(f"m{i}_shl"))
        pos = c.ar.shl(x, f - tx.frac, c.name(f"p{i}"))
        y = c.ar.mux(c.ar.ge(x, Val.constant(0)), pos, neg, c.name(f"v{i}"))
        out.append(c.cast(y, f, tr, f"y{i}"))
    return out


@lowering("hard_sigmoid")
def _hard_sigmoid(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    tp, tr = node.types["param"], node.types["result"]
    slope, offset = (int(v) for v in prep.c)
    f = _affine_frac(tx, tp)
    if f < 0:
        raise ConfigError(f"{node.describe()}: input and param types with no fractional bits are not supported")
    out = []
    for i, x in enumerate(xs):
        p = c.ar.shl(c.ar.mul_const(x, slope, c.name(f"m{i}")), f - tx.frac - tp.frac, c.name(f"m{i}_shl"))
        v = c.ar.add(p, Val.constant(offset << (f - tp.frac)), c.name(f"a{i}"))
        v = c.ar.clamp(v, 0, 1 << f, c.name(f"c{i}"))
        out.append(c.cast(v, f, tr, f"y{i}"))
    return out


@lowering("hard_tanh")
def _hard_tanh(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    tr = node.types["result"]
    f = max(tx.frac, 0)
    one = 1 << f
    out = []
    for i, x in enumerate(xs):
        v = c.ar.shl(x, f - tx.frac, c.name(f"x{i}"))
        v = c.ar.clamp(v, -one, one, c.name(f"c{i}"))
        out.append(c.cast(v, f, tr, f"y{i}"))
    return out


def _table_index(c: Ctx, x: Val, shift: int, lo_steps: int, size: int, hint: str) -> Val:
    """``clip(floor(x / 2**shift) - lo_steps, 0, size - 1)`` (see ops.tables.table_index)."""
    v = c.ar.floor_shift(x, shift, c.name(f"{hint}_sh"))
    v = c.ar.sub(v, Val.constant(lo_steps), c.name(f"{hint}_off"))
    return c.ar.clamp(v, 0, size - 1, c.name(f"{hint}_idx"))


@lowering("sigmoid", "tanh", "elu")
def _table(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    tt, tr = node.types["table"], node.types["result"]
    table = np.asarray(prep.table)
    cast_table, _ = requantize(table, tt.frac, tt.width, tr)  # entry i cast to the result, as run_fixed does
    values = [int(v) for v in _ints(cast_table)]
    rom = c.lib.rom_module(f"{c.lib.prefix}_{c.prefix}_rom", values, tr,
                           f"{node.describe()}: {node.op} table ({len(values)} entries of {tt}) cast to {tr}")
    shift = tx.frac + prep.step_log2
    out = []
    for i, x in enumerate(xs):
        idx = _table_index(c, x, shift, prep.lo_steps, prep.size, f"t{i}")
        y = c.lib.rom(c.ar, rom, values, tr, idx, c.name(f"rom{i}"))
        if node.op == "elu":  # x >= 0: x itself (cast); below: the table
            pos = c.cast(x, tx.frac, tr, f"p{i}")
            y = c.ar.mux(c.ar.ge(x, Val.constant(0)), pos, y, c.name(f"y{i}"))
        out.append(y)
    return out


def _low_bits(c: Ctx, v: Val, n: int, hint: str) -> Val:
    """``v & (2**n - 1)`` for ``v >= 0``."""
    if n == 0:
        return Val.constant(0)
    if v.width >= n:
        return v.bits(n - 1, 0)
    return Val.of(c.ar.m.wire(hint, n, v.ext(n)), n, False, max(v.lo, 0), min(v.hi, (1 << n) - 1))


class _Stages:
    """Registers between a layer's steps, counted: ``count`` is the number on each path. Fixed mode
    (``adders_per_stage`` set): a register after each step that asks for them; timing-driven (a budget): a
    register before a step whose logic would otherwise pass the budget."""

    def __init__(self, c: Ctx) -> None:
        self.c, self.count = c, 0

    def register(self, vals: list[Val], hint: str) -> list[Val]:
        """A register after each of ``vals`` (constants pass through)."""
        c = self.c
        self.count += 1
        body, out = [], []
        for i, v in enumerate(vals):
            if v.const is not None:
                out.append(v)
                continue
            reg = c.ar.m.reg(c.name(f"{hint}{i}"), v.width)
            body.append(NonBlocking(reg, v.expr))
            out.append(Val.of(reg, v.width, v.signed, v.lo, v.hi))
        if body:
            c.ar.m.always(body, clock="clk")
        return out

    def step(self, state: list[Val], fn: Callable[[list[Val]], list[Val]], after: tuple[str, ...] = (),
             hint: str = "r") -> list[Val]:
        """``fn`` (one step of the layer) on ``state`` (every value carried on), registered as the mode asks:
        fixed, one register after it per name in ``after``; timing-driven, ``state`` registered first if the
        step's logic would settle after the budget."""
        c = self.c
        if c.budget is None:
            out = fn(state)
            if c.per_stage is not None:
                for name in after:
                    out = self.register(out, name)
            return out
        mark = c.ar.mark()
        out = fn(state)
        if c.settles_late(mark, state):
            c.ar.rollback(mark)
            out = fn(self.register(state, f"{hint}{self.count}_"))
        else:
            c.ar.release(mark)
        return out

    def piped(self, state: list[Val], fn: Callable[[Pipeline, list[Val]], list[Timed]], hint: str = "p") -> list[Val]:
        """Timing-driven: ``fn`` builds on an adder :class:`Pipeline` that registers inside as the budget asks; its
        results (the values carried on among them) are brought to one cycle and counted."""
        c = self.c
        pipe = Pipeline(c.ar, c.name(f"{hint}{self.count}"), None, c.budget)
        res = fn(pipe, state)
        cycle = max((t.cycle for t in res), default=0)
        out = [materialize(c.ar, pipe.at(t, cycle), c.name(f"{hint}{self.count}_{i}")) for i, t in enumerate(res)]
        pipe.finish()
        self.count += cycle
        return out


def _lut_product(c: Ctx, pipe: Pipeline, a: Val, b: Val, hint: str) -> Timed:
    """``a * b`` of two unsigned values as LUT logic: one partial product ``a & b[i]`` per bit of the narrower,
    summed by ``pipe`` (registers inside where the budget asks); a hard multiplier where a value may be negative."""
    if a.const is not None or b.const is not None or a.lo < 0 or b.lo < 0:
        return Timed(c.ar.mul(a, b, c.name(hint)))
    if b.width > a.width:
        a, b = b, a
    model = c.ar.model
    ta, tb = Timed(a), Timed(b)
    if model is not None and pipe.budget is not None and model.logic((a,), extra=b.top) > pipe.budget:
        ta, tb = pipe.at(ta, 1), pipe.at(tb, 1)  # the partial products start from registers
    a, b = ta.val, tb.val
    pps = []
    for i in range(b.width):
        bit = b.bit(i)
        at = None if model is None else (model.logic((a,), extra=b.top),) * 2
        pp = c.ar.wire(c.name(f"{hint}_{i}"), 0, a.hi, lambda w, bit=bit: f"{a.ext(w)} & {{{w}{{{bit}}}}}", at=at)
        pps.append(Timed(pp, shift=i, cycle=ta.cycle))
    return pipe.sum(pps) or Timed(Val.constant(0))


@lowering("softmax")
def _softmax(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    """Every row (the last axis) at once, step by step (the state: the values a later step still needs):
    maximum tree levels, differences and table indices, the exp ROMs, their products, the sum and its index,
    the inverse ROM, the outputs. Fixed mode: a register after each level of the maximum tree (~6.5 ns each on
    ECP5), two after each ROM (a synthesizer puts large ROMs in block RAM, whose own read register has a slow
    clock-to-out: 5.6 ns on ECP5), one after the exp products."""
    te, ti, tr = node.types["exp_table"], node.types["inv_table"], node.types["result"]
    size = prep.size
    exp_v, fine_v, inv_v = ([int(v) for v in _ints(a)] for a in (prep.exp, prep.fine, prep.inv))
    fine_bits = (len(fine_v) - 1).bit_length()
    base = f"{c.lib.prefix}_{c.prefix}"
    rom_exp = c.lib.rom_module(f"{base}_exp_rom", exp_v, te, f"{node.describe()}: exp(-i * 2^{prep.step_log2})")
    rom_fine = c.lib.rom_module(f"{base}_fine_rom", fine_v, te,
                                f"{node.describe()}: exp(-k * 2^{prep.fine_log2})")
    rom_inv = c.lib.rom_module(f"{base}_inv_rom", inv_v, ti,
                               f"{node.describe()}: 1 / ((i + 0.5) * 2^{prep.inv_step_log2})")
    n = node.shape[-1]
    rows = len(xs) // n
    hs = [f"g{g}_" if len(xs) > n else "" for g in range(rows)]

    def per_row(st: list[Val], k: int, fn: Callable[[str, list[Val]], list[Val]]) -> list[Val]:
        """``fn(h, row_part)`` on each row's ``k`` values of ``st``, concatenated."""
        return [v for g in range(rows) for v in fn(hs[g], st[g * k:(g + 1) * k])]

    stage = _Stages(c)
    # the maximum tree: each row is [*level, *row]
    width, lvl, st = n, 0, list(xs)

    def compare(h: str, part: list[Val], width: int, lvl: int) -> list[Val]:  # [*level, *row] -> [*gt, *level, *row]
        gts = []
        for i in range(0, width - 1, 2):
            gt = c.ar.gt(part[i + 1], part[i])
            gts.append(Val.constant(int(gt)) if isinstance(gt, bool) else
                       c.ar.wire(c.name(f"{h}gt{lvl}_{i // 2}"), 0, 1, lambda w, gt=gt: gt, at=(cond_time(gt),) * 2))
        return gts + part

    def select(h: str, part: list[Val], width: int, lvl: int) -> list[Val]:  # [*gt, *level, *row] -> [*max, *row]
        m = width // 2
        gts, level, row = part[:m], part[m:m + width], part[m + width:]
        conds = [Cond(g.expr, g.top) if g.const is None else bool(g.const) for g in gts]
        nxt = [c.ar.mux(conds[i // 2], level[i + 1], level[i], c.name(f"{h}max{lvl}_{i // 2}"))
               for i in range(0, width - 1, 2)]
        return nxt + ([level[-1]] if width % 2 else []) + row

    st = [v for g in range(rows) for v in (*xs[g * n:(g + 1) * n], *xs[g * n:(g + 1) * n])]
    while width > 1:
        k, nw = width + n, (width + 1) // 2
        st = stage.step(st, lambda st, k=k, w=width, lv=lvl: per_row(st, k, lambda h, p: compare(h, p, w, lv)))
        st = stage.step(st, lambda st, k=k + width // 2, w=width, lv=lvl: per_row(st, k, lambda h, p: select(h, p, w,
                                                                                                                lv)),
                        (f"m{lvl + 1}q",))
        width, lvl = nw, lvl + 1
    if lvl == 0:  # one value: still one register (fixed mode)
        st = stage.step(st, lambda st: st, ("m1q",))

    def diffs(h: str, part: list[Val]) -> list[Val]:  # [max, *row] -> [*(max - x)]
        mx, row = part[0], part[1:]
        # max - x >= 0, exact in span's width (computed modulo 2**width)
        return [c.ar.wire(c.name(f"{h}d{j}"), 0, max(mx.hi - x.lo, 0), lambda w, x=x: f"{mx.ext(w)} - {x.ext(w)}",
                          at=c.ar.sum_at(mx, x)) for j, x in enumerate(row)]

    def indices(h: str, part: list[Val]) -> list[Val]:  # [*(max - x)] -> [*exp indices, *fine indices]
        jcs = [c.ar.clamp(c.ar.floor_shift(d, tx.frac + prep.step_log2, c.name(f"{h}dc{j}")), None, size - 1,
                          c.name(f"{h}jc{j}")) for j, d in enumerate(part)]
        kfs = [_low_bits(c, c.ar.floor_shift(d, tx.frac + prep.fine_log2, c.name(f"{h}df{j}")), fine_bits,
                         c.name(f"{h}kf{j}")) for j, d in enumerate(part)]
        return jcs + kfs

    def roms(h: str, part: list[Val]) -> list[Val]:
        return ([c.lib.rom(c.ar, rom_exp, exp_v, te, jc, c.name(f"{h}exp{j}")) for j, jc in enumerate(part[:n])]
                + [c.lib.rom(c.ar, rom_fine, fine_v, te, kf, c.name(f"{h}fine{j}")) for j, kf in enumerate(part[n:])])

    def products(h: str, part: list[Val]) -> list[Val]:
        return [c.ar.mul(e1, e2, c.name(f"{h}ep{j}")) for j, (e1, e2) in enumerate(zip(part[:n], part[n:],
                                                                                       strict=True))]

    def exps(h: str, part: list[Val]) -> list[Val]:
        return [c.cast(p, 2 * te.frac, te, f"{h}e{j}") for j, p in enumerate(part)]

    def total(h: str, part: list[Val]) -> list[Val]:  # es -> [sum, *es]
        return [adder_tree(c.ar, part, c.name(f"{h}sum")), *part]

    def total_piped(pipe: Pipeline, h: str, part: list[Val]) -> list[Timed]:  # the same, registers inside
        return [pipe.sum([Timed(e) for e in part]) or Timed(Val.constant(0)), *(Timed(e) for e in part)]

    def inv_index(h: str, part: list[Val]) -> list[Val]:  # [sum, *es] -> [inverse ROM index, *es]
        t = c.ar.clamp(c.ar.floor_shift(part[0], te.frac + prep.inv_step_log2, c.name(f"{h}ssh")), None, size - 1,
                       c.name(f"{h}si"))
        return [t, *part[1:]]

    def inverse(h: str, part: list[Val]) -> list[Val]:
        return [c.lib.rom(c.ar, rom_inv, inv_v, ti, part[0], c.name(f"{h}inv")), *part[1:]]

    def scaled(h: str, part: list[Val]) -> list[Val]:
        inv, *es = part
        return [c.ar.mul(e, inv, c.name(f"{h}p{j}")) for j, e in enumerate(es)]

    def outputs(h: str, part: list[Val]) -> list[Val]:
        return [c.cast(p, te.frac + ti.frac, tr, f"{h}y{j}") for j, p in enumerate(part)]

    # each row is now [max, *row]
    st = stage.step(st, lambda st: per_row(st, 1 + n, diffs))
    st = stage.step(st, lambda st: per_row(st, n, indices))
    model = c.ar.model
    banked = c.budget is not None and model is not None and (c.fanout is not None or model.rom(
        Val.of("a", 1, False), len(exp_v)) > c.budget)
    if banked:  # a whole table read passes the clock (or the design limits fanout): tables.rom_read
        st = stage.piped(st, lambda pipe, st: [
            r for g in range(rows) for r in
            [rom_read(c, pipe, f"{base}_exp_rom", exp_v, te, a, f"{hs[g]}exp{j}")
             for j, a in enumerate(st[g * 2 * n:g * 2 * n + n])]
            + [rom_read(c, pipe, f"{base}_fine_rom", fine_v, te, a, f"{hs[g]}fine{j}")
               for j, a in enumerate(st[g * 2 * n + n:(g + 1) * 2 * n])]])
    else:
        st = stage.step(st, lambda st: per_row(st, 2 * n, roms), ("eq", "eqq"))
    lut_mul = c.budget is not None and c.ar.model is not None and c.ar.model.dsp > c.budget
    if lut_mul:  # a hard multiplier alone passes the clock: partial products through the adder pipeline
        st = stage.piped(st, lambda pipe, st: [_lut_product(c, pipe, a, b, f"epp{i}") for i, (a, b) in enumerate(
            (a, b) for g in range(rows) for a, b in zip(st[g * 2 * n:g * 2 * n + n], st[g * 2 * n + n:(g + 1) * 2 * n],
                                                        strict=True))])
    else:
        st = stage.step(st, lambda st: per_row(st, 2 * n, products))
    st = stage.step(st, lambda st: per_row(st, n, exps), ("esq",))
    if c.budget is None:
        st = stage.step(st, lambda st: per_row(st, n, total))
    else:
        st = stage.piped(st, lambda pipe, st: [t for g in range(rows) for t in total_piped(pipe, hs[g],
                                                                                            st[g * n:(g + 1) * n])])
    st = stage.step(st, lambda st: per_row(st, 1 + n, inv_index))
    if banked:
        st = stage.piped(st, lambda pipe, st: [
            r for g in range(rows) for r in
            [rom_read(c, pipe, f"{base}_inv_rom", inv_v, ti, st[g * (1 + n)], f"{hs[g]}inv"),
             *(Timed(e) for e in st[g * (1 + n) + 1:(g + 1) * (1 + n)])]])
    else:
        st = stage.step(st, lambda st: per_row(st, 1 + n, inverse), ("iq", "iqq"))
    if lut_mul:
        st = stage.piped(st, lambda pipe, st: [_lut_product(c, pipe, e, st[g * (1 + n)], f"ypp{g}_{j}")
                                               for g in range(rows) for j, e in enumerate(st[g * (1 + n) + 1:
                                                                                             (g + 1) * (1 + n)])])
    else:
        st = stage.step(st, lambda st: per_row(st, 1 + n, scaled))
    out = stage.step(st, lambda st: per_row(st, n, outputs))
    c.cycles = stage.count
    return out


# -- several inputs and index maps ------------------------------------------------------------------

def _aligned(c: Ctx, frac: int) -> list[list[Val]]:
    """Every input's values at ``frac`` fractional bits (``frac`` >= each input's)."""
    return [[c.ar.shl(x, frac - i.type.frac, c.name(f"a{k}_{j}")) for j, x in enumerate(i.vals)]
            for k, i in enumerate(c.ins)]


@lowering("add", "subtract", "average", "multiply", "maximum", "minimum")
def _merge(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    """The exact expression on mantissas (aligned to the inputs' largest fraction; a product's fractions add
    up, an average is the sum read at ``log2(n)`` more fractional bits), then a cast."""
    tr = node.types["result"]
    f = max(i.type.frac for i in c.ins)
    cols = zip(*([i.vals for i in c.ins] if node.op == "multiply" else _aligned(c, f)), strict=True)
    frac = prep.exact.frac if node.op in ("multiply", "average") else f
    out = []
    for j, col in enumerate(cols):
        v = col[0]
        for k, x in enumerate(col[1:], 1):
            h = c.name(f"v{j}_{k}")
            if node.op in ("add", "average"):
                v = c.ar.add(v, x, h)
            elif node.op == "subtract":
                v = c.ar.sub(v, x, h)
            elif node.op == "multiply":
                v = c.ar.mul(v, x, h)
            else:
                v = c.ar.mux(c.ar.gt(x, v) if node.op == "maximum" else c.ar.lt(x, v), x, v, h)
        out.append(c.cast(v, frac, tr, f"y{j}"))
    return out


@lowering("concatenate")
def _concatenate(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    tr = node.types["result"]
    order = concat_order([i.shape for i in c.ins], node.attrs["axis"])
    return [c.ins[k].vals[i] if c.ins[k].type == tr else c.cast(c.ins[k].vals[i], c.ins[k].type.frac, tr, f"y{j}")
            for j, (k, i) in enumerate(order)]


@lowering("transpose")
def _transpose(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Plan) -> list[Val]:
    return [xs[i] for i in transpose_order(c.ins[0].shape, node.attrs["perm"])]

