"""Stream stages of the streaming Verilog top that change the number of beats: global pooling (one beat per
image), zero padding (beats inserted at the borders), cropping (beats dropped) and nearest upsampling (a
one-row buffer, each pixel and row repeated). Each takes the upstream :class:`Stream` (it drives the upstream
``ready`` wire) and returns its own (whose ``ready`` wire the next layer drives).

Handshakes: padding and cropping pass beats through combinationally (``ready`` follows the downstream ready and
a position counter, never ``valid``); the global pooling and the upsampler hold registers (``in_ready`` low
while the result or the row is being emitted). Cycles per image without stalls: global pooling ``H*W + 1``;
padding the padded image's pixels (the padding before the first pixel waits for it); cropping the input's;
upsampling ``H*W + H*f_h*W*f_w``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from nnfpga.backends import registrar
from nnfpga.backends.rtl.context import Ctx
from nnfpga.backends.rtl.timing import Stage as Schedule
from nnfpga.backends.rtl.verilog import Arith, If, Module, NonBlocking, Val, literal
from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Node
from nnfpga.ops import OPS


@dataclass
class Stream:
    """A stream between two layers: its valid expression, the ready wire its consumer drives, one beat's values
    and their type."""

    valid: str
    ready: str
    vals: list[Val]
    type: FixedType


Stage = Callable[[Ctx, Node, tuple[int, ...], Stream], Stream]
STAGES: dict[str, Stage] = {}
stage = registrar(STAGES)


def stage_key(node: Node) -> str:
    """The key of ``node``'s stage in :data:`STAGES` (global poolings: ``global_max_pool``/``global_avg_pool``)."""
    return f"global_{node.op}" if node.attrs.get("global") and node.op in ("max_pool", "avg_pool") else node.op


def _bits(n: int) -> int:
    """Width of a counter over ``0..n-1``."""
    return max(1, (n - 1).bit_length())


def position_counter(m: Module, pre: str, advance: str, rows: int, cols: int) -> tuple[str, str]:
    """Row and column registers of a raster scan over ``rows x cols``, stepping when ``advance`` is high (back to
    0, 0 after the last position); reset by ``rst``."""
    r, c = m.reg(f"{pre}_r", _bits(rows)), m.reg(f"{pre}_c", _bits(cols))
    zero_r, zero_c = literal(0, _bits(rows)), literal(0, _bits(cols))
    step = If(f"{c} == {cols - 1}", [NonBlocking(c, zero_c), If(f"{r} == {rows - 1}", [NonBlocking(r, zero_r)],
                                                               [NonBlocking(r, f"{r} + 1'b1")])],
              [NonBlocking(c, f"{c} + 1'b1")])
    m.always([If("rst", [NonBlocking(r, zero_r), NonBlocking(c, zero_c)], [If(advance, [step])])], clock="clk")
    return r, c


def schedule(node: Node, shape: tuple[int, ...]) -> Schedule:
    """The schedule of ``node``'s stage on an input of per-sample ``shape``, for
    :mod:`~nnfpga.backends.rtl.timing` (keep it true to the lowerings below)."""
    if stage_key(node).startswith("global_"):
        return Schedule("flatten", pixels=int(np.prod(shape[:-1])))
    if node.op == "zero_pad":
        rows, cols = _pairs(OPS["zero_pad"].pads(node), shape)  # type: ignore[attr-defined]
        return Schedule("pad", plane=_plane(tuple(node.shape)), rows=rows, cols=cols)
    if node.op == "crop":
        rows, cols = _pairs(OPS["crop"].crops(node), shape)  # type: ignore[attr-defined]
        return Schedule("crop", plane=_plane(shape), rows=rows, cols=cols)
    size = OPS["upsample"].size(node)  # type: ignore[attr-defined]
    factor = (int(size[0]), int(size[1])) if len(shape) == 3 else (1, int(size[0]))
    return Schedule("upsample", plane=_plane(shape), factor=factor)


def inputs_before_outputs(node: Node, shape: tuple[int, ...]) -> np.ndarray:
    """For each output beat of ``node``'s padding, cropping or upsampling stage (one image, raster order), the
    index of the last input beat that must have reached the stage before it can give that beat (taken, or
    offered: the padding before the image's first pixel waits for that pixel to be valid). The streaming graph
    top sizes its branch FIFOs from this (:mod:`~nnfpga.backends.rtl.stream_graph`)."""
    s = schedule(node, shape)
    (h, w), (rb, ra), (cb, ca) = s.plane, s.rows, s.cols
    r, q = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    inside = ((r >= rb) & (r < h - ra) & (q >= cb) & (q < w - ca)).reshape(-1)
    if s.kind == "crop":
        return np.flatnonzero(inside)
    if s.kind == "upsample":
        fh, fw = s.factor
        rows = np.repeat(np.arange(h), fh * w * fw)
        return (rows + 1) * w - 1
    before = np.concatenate([[0], np.cumsum(inside)[:-1]])  # input pixels passed before each output position
    return np.where(inside, before, np.maximum(before - 1, 0))


def reciprocal(n_max: int, d: int) -> tuple[int, int]:
    """``(m, s)`` with ``n // d == (n * m) >> s`` for every ``0 <= n <= n_max``: ``s = bits(n_max) + bits(d)``,
    ``m = ceil(2**s / d)``. (``n * m / 2**s = n / d + n * e / (d * 2**s)`` with ``e = m * d - 2**s < d``; the
    excess ``n * e / (d * 2**s) < n_max / 2**s <= 1 / d`` never reaches the next multiple of ``1 / d``.)"""
    s = max(n_max, 1).bit_length() + d.bit_length()
    return -(-(1 << s) // d), s


def divide_const(c: Ctx, acc: Val, d: int, hint: str) -> Val:
    """``acc / d`` truncated toward zero (C's integer division, the emulator's average): a shift with a sign
    correction for a power of two, else the magnitude times a reciprocal constant, shifted (:func:`reciprocal`:
    exact over ``acc``'s range), and the sign put back."""
    if d == 1:
        return acc
    if acc.const is not None:
        q = abs(acc.const) // d
        return Val.constant(q if acc.const >= 0 else -q)
    if d & (d - 1) == 0:
        k = d.bit_length() - 1
        if acc.lo < 0:  # (acc + (acc < 0 ? d - 1 : 0)) >>> k
            fix = c.ar.mux(acc.bit(acc.width - 1), Val.constant(d - 1), Val.constant(0), c.name(f"{hint}_fix"))
            acc = c.ar.add(acc, fix, c.name(f"{hint}_t"))
        return c.ar.floor_shift(acc, k, c.name(f"{hint}_sh"))
    neg = acc.bit(acc.width - 1) if acc.lo < 0 else None
    top = max(-acc.lo, acc.hi, 0)
    mag = acc if neg is None else replace(c.ar.mux(neg, c.ar.neg(acc, c.name(f"{hint}_n")), acc,
                                                   c.name(f"{hint}_abs")), lo=max(acc.lo, 0), hi=top)
    m, sh = reciprocal(top, d)
    q = c.ar.floor_shift(c.ar.mul_const(mag, m, c.name(f"{hint}_m")), sh, c.name(f"{hint}_q"))
    q = replace(q, lo=mag.lo // d, hi=top // d)
    if neg is None:
        return q
    return replace(c.ar.mux(neg, c.ar.neg(q, c.name(f"{hint}_qn")), q, c.name(hint)), lo=-(-acc.lo // d) if acc.lo < 0
                   else acc.lo // d, hi=acc.hi // d if acc.hi >= 0 else -(-acc.hi // d))


def _cast_all(c: Ctx, node: Node, vals: list[Val], tx: FixedType) -> list[Val]:
    tr = node.types["result"]
    return vals if tr == tx else [c.cast(x, tx.frac, tr, f"y{i}") for i, x in enumerate(vals)]


def _plane(shape: tuple[int, ...]) -> tuple[int, int]:
    """Rows and columns of a 2D ``(H, W, C)`` or 1D ``(L, C)`` image (one row)."""
    return (int(shape[0]), int(shape[1])) if len(shape) == 3 else (1, int(shape[0]))


def _pairs(pairs: Any, shape: tuple[int, ...]) -> tuple[tuple[int, int], tuple[int, int]]:
    return (tuple(pairs[0]), tuple(pairs[1])) if len(shape) == 3 else ((0, 0), tuple(pairs[0]))  # type: ignore


def _inside(r: str, q: str, rows: tuple[int, int], cols: tuple[int, int], h: int, w: int) -> str:
    """1-bit expression: the position (r, q) lies in rows ``rows[0]..h - 1 - rows[1]`` and the same for columns
    (``rows``/``cols``: how many are outside before and after)."""
    terms = ([f"{r} >= {rows[0]}"] if rows[0] else []) + ([f"{r} < {h - rows[1]}"] if rows[1] else []) \
        + ([f"{q} >= {cols[0]}"] if cols[0] else []) + ([f"{q} < {w - cols[1]}"] if cols[1] else [])
    return " && ".join(terms) or "1'b1"


@stage("zero_pad")
def _zero_pad(c: Ctx, node: Node, shape: tuple[int, ...], s: Stream) -> Stream:
    """Beats of zeros inserted where the padded image has padding; the input's beats pass through elsewhere."""
    m = c.ar.m
    h, w = _plane(tuple(node.shape))
    rows, cols = _pairs(OPS["zero_pad"].pads(node), shape)  # type: ignore[attr-defined]
    out_valid, out_ready = m.wire(c.name("ovalid"), 1), m.wire(c.name("oready"), 1)
    r, q = position_counter(m, c.name("opos"), f"{out_valid} && {out_ready}", h, w)
    inside = m.wire(c.name("inside"), 1, _inside(r, q, rows, cols, h, w))
    # the padding before the image's first pixel waits for that pixel (else a stage would emit the next image's
    # top rows before the image exists); the rest of the padding is emitted at once
    early = [f"{r} < {rows[0]}"] if rows[0] else []
    if cols[0]:
        early.append(f"({r} == {rows[0]} && {q} < {cols[0]})")
    wait = m.wire(c.name("wait"), 1, " || ".join(early) or "1'b0")
    m.assign(s.ready, f"{inside} && {out_ready}")
    m.assign(out_valid, f"({inside} || {wait}) ? ({s.valid}) : 1'b1")
    vals = [c.ar.mux(inside, x, Val.constant(0), c.name(f"p{i}")) for i, x in enumerate(s.vals)]
    return Stream(out_valid, out_ready, _cast_all(c, node, vals, s.type), node.types["result"])


@stage("crop")
def _crop(c: Ctx, node: Node, shape: tuple[int, ...], s: Stream) -> Stream:
    """The input's beats outside the kept region accepted and dropped; the others passed through."""
    m = c.ar.m
    h, w = _plane(shape)
    rows, cols = _pairs(OPS["crop"].crops(node), shape)  # type: ignore[attr-defined]
    out_ready = m.wire(c.name("oready"), 1)
    r, q = position_counter(m, c.name("ipos"), f"({s.valid}) && {s.ready}", h, w)
    keep = m.wire(c.name("keep"), 1, _inside(r, q, rows, cols, h, w))
    m.assign(s.ready, f"!{keep} || {out_ready}")
    out_valid = m.wire(c.name("ovalid"), 1, f"{keep} && ({s.valid})")
    return Stream(out_valid, out_ready, _cast_all(c, node, s.vals, s.type), node.types["result"])


@stage("upsample")
def _upsample(c: Ctx, node: Node, shape: tuple[int, ...], s: Stream) -> Stream:
    """One input row stored, then emitted ``f_h`` times with each pixel repeated ``f_w`` times."""
    m = c.ar.m
    _, w = _plane(shape)
    size = OPS["upsample"].size(node)  # type: ignore[attr-defined]
    fh, fw = (int(size[0]), int(size[1])) if len(shape) == 3 else (1, int(size[0]))
    t, ch = s.type, len(s.vals)
    pw = ch * t.width
    beat = Arith(m).pack(c.name("beat"), s.vals, t.width)
    buf, emit = m.reg(c.name("row"), w * pw), m.reg(c.name("emit"), 1)
    col, src, sub, rep = (m.reg(c.name(n), _bits(k)) for n, k in (("col", w), ("src", w), ("sub", fw), ("rep", fh)))
    out_ready = m.wire(c.name("oready"), 1)
    m.assign(s.ready, f"!{emit}")

    def zero(reg: str, n: int) -> NonBlocking:
        return NonBlocking(reg, literal(0, _bits(n)))

    def inc(reg: str) -> NonBlocking:
        return NonBlocking(reg, f"{reg} + 1'b1")

    fill = If(f"({s.valid}) && !{emit}", [
        NonBlocking(f"{buf}[{col} * {pw} +: {pw}]", beat),
        If(f"{col} == {w - 1}", [zero(col, w), NonBlocking(emit, "1'b1")], [inc(col)])])
    drain = If(f"{emit} && {out_ready}", [If(f"{sub} == {fw - 1}", [zero(sub, fw), If(f"{src} == {w - 1}", [
        zero(src, w), If(f"{rep} == {fh - 1}", [zero(rep, fh), NonBlocking(emit, "1'b0")], [inc(rep)])],
        [inc(src)])], [inc(sub)])])
    m.always([If("rst", [zero(col, w), zero(src, w), zero(sub, fw), zero(rep, fh), NonBlocking(emit, "1'b0")],
                 [fill, drain])], clock="clk")
    pix = m.wire(c.name("pix"), pw, f"{buf}[{src} * {pw} +: {pw}]")
    vals = [Val.of(pix, t.width, t.signed, lsb=i * t.width, full=ch == 1) for i in range(ch)]
    return Stream(emit, out_ready, _cast_all(c, node, vals, t), node.types["result"])


@stage("global_max_pool", "global_avg_pool")
def _global_pool(c: Ctx, node: Node, shape: tuple[int, ...], s: Stream) -> Stream:
    """A running maximum or sum per channel over the image's beats (the sum cast to the accumulator after each
    beat, in raster order: the emulator's order), one output beat when the image's last pixel is in; the
    input stalls until that beat is taken."""
    m = c.ar.m
    n = int(np.prod(shape[:-1]))
    tx, ta, tr = s.type, node.types["accum"], node.types["result"]
    count, full = m.reg(c.name("count"), _bits(n)), m.reg(c.name("full"), 1)
    out_ready = m.wire(c.name("oready"), 1)
    m.assign(s.ready, f"!{full}")
    first = m.wire(c.name("first"), 1, f"{count} == {literal(0, _bits(n))}")
    body, out = [], []
    f = max(ta.frac, tx.frac)
    for k, x in enumerate(s.vals):
        if node.op == "max_pool":
            acc = m.reg(c.name(f"acc{k}"), tx.width)
            av = Val.of(acc, tx.width, tx.signed)
            prev = c.ar.mux(first, x, av, c.name(f"prev{k}"))
            new = c.ar.mux(c.ar.gt(x, prev), x, prev, c.name(f"max{k}"))
            out.append(c.cast(c.cast(av, tx.frac, ta, f"a{k}"), ta.frac, tr, f"y{k}"))
        else:
            acc = m.reg(c.name(f"acc{k}"), ta.width)
            av = Val.of(acc, ta.width, ta.signed)
            prev = c.ar.mux(first, Val.constant(0), av, c.name(f"prev{k}"))
            v = c.ar.add(c.ar.shl(prev, f - ta.frac, c.name(f"ps{k}")), c.ar.shl(x, f - tx.frac, c.name(f"xs{k}")),
                         c.name(f"sum{k}"))
            new = c.cast(v, f, ta, f"s{k}")
            out.append(c.cast(divide_const(c, av, n, f"q{k}"), ta.frac, tr, f"y{k}"))
        body.append(NonBlocking(acc, new.ext(tx.width if node.op == "max_pool" else ta.width)))
    last = If(f"{count} == {n - 1}", [NonBlocking(count, literal(0, _bits(n))), NonBlocking(full, "1'b1")],
              [NonBlocking(count, f"{count} + 1'b1")])
    m.always([If("rst", [NonBlocking(count, literal(0, _bits(n))), NonBlocking(full, "1'b0")], [
        If(f"({s.valid}) && !{full}", [*body, last]),
        If(f"{full} && {out_ready}", [NonBlocking(full, "1'b0")])])], clock="clk")
    return Stream(full, out_ready, out, tr)
