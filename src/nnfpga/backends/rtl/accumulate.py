"""Dense layers whose accumulator is not an exact sum: every product cast to the accumulator, then a sum that
wraps, or a chain that saturates in the emulator's order (:mod:`nnfpga.ops.dense`).

The emulator computes ``acc = (accum_t) bias; acc = (accum_t)(acc + (accum_t)(x[i] * w[i, j]))`` input by input.
When the accumulator has fewer fractional bits than the products (``shift < 0``), each product ``x[i] * w[i, j]``
is computed on its own (a Verilog ``*`` with ``multipliers="operator"``, else its CSD shift-and-add) and cast to
the accumulator (its low bits dropped or rounded by the accumulator's rounding mode). Then, per output:

- *sum*: when the accumulator wraps, or bounds prove that no product cast and no partial sum leaves its range
  (:func:`safe_columns`), the sequential casts equal the exact sum of the cast products and the bias reduced
  modulo ``2**W``: a pipelined adder tree (:class:`~nnfpga.backends.rtl.adder_graph.Pipeline`), reinterpreted
  in the accumulator's width;
- *chain*: otherwise ``acc[0] = bias``, ``acc[s + 1] = (accum_t)(acc[s] + q[s])`` over the output's nonzero
  weights in input order, every step an adder and a saturating cast to the accumulator (``q`` cast with the
  accumulator's overflow mode too). Zero weights are skipped: adding 0 to a value in range changes nothing.

Pipelining (``adders_per_stage = P`` set): the products and their casts take one stage (registered after the
cast); a chain step (an adder and its saturation) counts as one adder, so a register follows every ``P`` steps,
and each step's product is computed from its input delayed to the cycle before the step (the delay registers
on the inputs are shared by every output). A chain of ``n`` steps thus adds about ``1 + n / P`` cycles; shorter
chains and the sums are delayed to the slowest output. ``P = None``: all combinational. Timing-driven (a
budget in ns): the sums place their registers by the delay model, and a chain takes the most steps (an adder,
a compare and a mux each) that fit the budget as its ``P``.

ReuseFactor > 1 (:mod:`~nnfpga.backends.rtl.reuse`) casts each product before its adder tree when every output
is a *sum*; a chain would need the products in input order, which the reused multipliers do not deliver, so
such a layer is refused (:func:`reuse_problem`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from nnfpga.backends.rtl.adder_graph import Pipeline, Timed, adder_tree, materialize
from nnfpga.backends.rtl.cast import dst_bounds
from nnfpga.backends.rtl.cmvm import csd
from nnfpga.backends.rtl.context import Ctx
from nnfpga.backends.rtl.verilog import Arith, Val
from nnfpga.fixed import FixedType, requantize
from nnfpga.ir.graph import Node
from nnfpga.ops.base import Plan


def _round(p: int, k: int, rounding: str, frac: int) -> int:
    """``p`` (at ``frac + k`` fractional bits) at ``frac`` fractional bits, rounded, never overflowing."""
    if k <= 0:
        return p << -k
    wide = FixedType(p.bit_length() + 8, p.bit_length() + 8 - frac, True, rounding, "WRAP")
    m, _ = requantize(np.array([p], dtype=object), frac + k, p.bit_length() + 2, wide)
    return int(m[0])


def safe_columns(prep: Plan, tx: FixedType, ta: FixedType) -> list[bool]:
    """Per output: whether the sequential accumulation (bias, then each product cast to ``ta``, in input order)
    never leaves ``ta``'s range: then it equals the exact sum of the cast products and the bias. Rounding is
    monotonic, so each cast product lies between the casts of the product's extremes."""
    lo, hi = dst_bounds(ta)
    wm = [[int(v) for v in row] for row in np.asarray(prep.wm).tolist()]
    k = -prep.shift
    out = []
    for j, b in enumerate(int(v) for v in np.asarray(prep.b_acc).tolist()):
        plo = phi = b
        ok = True
        for row in wm:
            w = row[j]
            if not w:
                continue
            p1, p2 = w * tx.min_mantissa, w * tx.max_mantissa
            q1, q2 = (_round(p, k, ta.rounding, ta.frac) for p in (min(p1, p2), max(p1, p2)))
            plo, phi = plo + min(q1, 0), phi + max(q2, 0)
            if q1 < lo or q2 > hi or plo < lo or phi > hi:
                ok = False
                break
        out.append(ok)
    return out


def chain_columns(prep: Plan, tx: FixedType, ta: FixedType) -> list[bool]:
    """Per output: whether it needs the saturating chain (not WRAP, and it may leave the accumulator's range)."""
    if ta.overflow == "WRAP":
        return [False] * len(np.asarray(prep.b_acc))
    return [not s for s in safe_columns(prep, tx, ta)]


def needs_casts(prep: Plan, tx: FixedType, ta: FixedType) -> bool:
    """Whether this module lowers the Dense (else the exact adder graph of :mod:`~nnfpga.backends.rtl.ops` does)."""
    return prep.shift < 0 or not (prep.fast or all(safe_columns(prep, tx, ta)))


def reuse_problem(node: Node, tx: FixedType, prep: Plan) -> str | None:
    """Why a Dense with ReuseFactor > 1 cannot be built with this accumulator (None: it can)."""
    ta = node.types["accum"]
    if not any(chain_columns(prep, tx, ta)):
        return None
    return (f"Dense layer {node.name!r}: accumulator {ta} may saturate a partial sum (overflow {ta.overflow}), "
            f"which needs the products summed one by one in input order; the Verilog backend builds that only "
            f"at ReuseFactor 1 (the reused multipliers deliver the products out of order). Use ReuseFactor 1, "
            f"a WRAP accumulator, or accum: auto")


def product_cast(c: Ctx, ta: FixedType, fp: int) -> Callable[[Val, str], Val]:
    """The cast of one product (``fp`` fractional bits) to the accumulator, for the sums (wrapping: the same
    bits as ``ta``'s own overflow whenever nothing overflows, and modulo ``2**W`` otherwise)."""
    tq = replace(ta, overflow="WRAP")
    return lambda p, hint: c.cast(p, fp, tq, hint)


def _product(ar: Arith, x: Val, w: int, operator: bool, hint: str) -> Val:
    """``x * w``, exact: a multiplier, or the sum of ``w``'s signed digits (shift-and-add)."""
    if operator:
        return ar.mul_const(x, w, hint)
    digits = csd(w)
    pos = adder_tree(ar, [ar.shl(x, s, f"{hint}_p{s}") for s, neg in digits if not neg], f"{hint}_p")
    neg = adder_tree(ar, [ar.shl(x, s, f"{hint}_n{s}") for s, neg in digits if neg], f"{hint}_n")
    return ar.sub(pos, neg, hint)


def dense_casts(c: Ctx, node: Node, xs: list[Val], wm: list[list[int]], b_acc: list[int], prep: Plan,
                tx: FixedType, build: Callable[[Val, int], Val]) -> list[Val]:
    """Every output: ``build`` (the cast to the result) on its accumulator value (see the module docstring);
    sets ``c.cycles``."""
    ta = node.types["accum"]
    chain = chain_columns(prep, tx, ta)
    operator = c.multipliers == "operator"
    pipe = Pipeline(c.ar, c.prefix, c.per_stage, c.budget)
    P = c.per_stage
    if pipe.budget is not None:  # the chains as in the fixed mode, as many steps a stage as fit the budget
        model = c.ar.model
        assert model is not None
        P = max(1, int(pipe.budget // (model.adder + model.carry * ta.width + model.level)))
    ins = [Timed(x) for x in xs]
    to_sum = product_cast(c, ta, prep.fp)

    def cast_product(i: int, j: int, cycle: int, cast: Callable[[Val, str], Val]) -> Timed:
        """Product ``i, j`` cast, from the input at ``cycle``; registered after the cast when pipelined."""
        x = pipe.at(ins[i], cycle).val
        q = cast(_product(c.ar, x, wm[i][j], operator, c.name(f"m{i}_{j}")), f"q{i}_{j}")
        t = Timed(q, cycle=cycle)
        if P is None or (pipe.budget is not None and cast is to_sum):  # timing-driven sums: the Pipeline places
            return t
        return replace(pipe.at(t, cycle + 1), depth=0)

    accs: list[Timed] = []
    for j, b in enumerate(b_acc):
        live = [i for i in range(len(wm)) if wm[i][j]]
        if not chain[j]:
            items = [cast_product(i, j, 0, to_sum) for i in live] + ([Timed(Val.constant(b))] if b else [])
            accs.append(pipe.sum(items) or Timed(Val.constant(0)))
            continue
        acc = Timed(Val.constant(b))
        for s, i in enumerate(live):
            cyc = 0 if P is None else s // P
            q = cast_product(i, j, cyc, lambda p, hint: c.cast(p, prep.fp, ta, hint))
            step = cyc + (P is not None)
            acc = pipe.at(acc, step)
            total = c.ar.add(acc.val, q.val, c.name(f"c{j}_{s}"))
            acc = Timed(c.cast(total, ta.frac, ta, f"s{j}_{s}"), cycle=step, depth=1 + (0 if P is None else s % P))
        accs.append(acc)
    out, c.cycles = pipe.close(accs, lambda accs: [build(materialize(c.ar, a, c.name(f"o{j}")), j)
                                                   for j, a in enumerate(accs)])
    return out


__all__ = ["chain_columns", "dense_casts", "needs_casts", "product_cast", "reuse_problem", "safe_columns"]
