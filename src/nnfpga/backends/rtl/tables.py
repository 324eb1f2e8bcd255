"""Timing-driven table reads (a softmax's exp and inverse tables): ``values[addr]`` with registers where the clock
budget asks (:func:`rom_read`).

A table read as LUT logic is a mux tree whose first level reads the low address bits in every LUT: a
``2**a``-entry, ``w``-bit table puts about ``w * 2**a / 2**k`` loads (``k``: LUT inputs) on each of them. Where the
design limits fanout (``Ctx.fanout``: ECP5's large designs, whose routing is most of every path), the address is
registered into copies, each feeding one slice of the table's output bits small enough that a copy drives at
most ``fanout * 2**k`` LUTs (``(* keep *)``, so synthesis does not merge the copies back); the
slices are ROMs of their own bits, concatenated.
"""

from __future__ import annotations

from nnfpga.backends.rtl.adder_graph import Pipeline, Timed
from nnfpga.backends.rtl.context import Ctx
from nnfpga.backends.rtl.verilog import Cond, Val
from nnfpga.fixed import FixedType


def rom_read(c: Ctx, pipe: Pipeline, base: str, values: list[int], t: FixedType, addr: Val, hint: str) -> Timed:
    """``values[addr]``, with registers where the budget asks: the table split into banks small enough to read in
    one clock from a registered address, each read with the low address bits, then the bank the high bits select
    (a mux tree), registered first when it would not fit behind the reads."""
    model, budget = c.ar.model, pipe.budget
    assert model is not None and budget is not None
    abits = max((len(values) - 1).bit_length(), 1)
    low = abits
    while low > 1 and model.level * -(-low // model.lut_inputs) > budget:
        low -= 1
    size = min(1 << low, len(values))
    parts = []  # (ROM base name, entries, comment) of each bank
    if low >= abits:
        parts.append((base, values, "table"))
    else:
        for k in range(-(-len(values) // size)):
            part = values[k * size:(k + 1) * size]
            parts.append((f"{base}_b{k}", part + [part[-1]] * (size - len(part)),
                          f"bank {k} (entries {k * size}..) of {base}"))
    slices = _slices(c, size, t.width)
    ta = Timed(addr)
    if c.fanout and addr.const is None:  # one address copy per bank slice
        copies = iter(pipe.copies(ta, len(parts) * len(slices), 1))
        addrs = [[next(copies) for _ in slices] for _ in parts]
    else:
        if model.rom(addr, size) > budget:
            ta = pipe.at(ta, ta.cycle + 1)
        addrs = [[ta] * len(slices) for _ in parts]
    reads = [Timed(_read(c, rb, part, t, note, [a.val.bits(low - 1, 0) if low < abits else a.val for a in aa],
                         slices, c.name(hint if low >= abits else f"{hint}_b{k}")), cycle=aa[0].cycle)
             for k, ((rb, part, note), aa) in enumerate(zip(parts, addrs, strict=True))]
    if low >= abits:
        return reads[0]
    hi = Timed(addrs[0][0].val.bits(abits - 1, low), cycle=addrs[0][0].cycle)
    if max(b.val.top for b in reads) + model.level * (abits - low) > budget:  # a two-way mux per high bit
        cyc = hi.cycle + 1
        reads, hi = [pipe.at(b, cyc) for b in reads], pipe.at(hi, cyc)
    sel = hi.val
    vals = [b.val for b in reads]
    for i in range(sel.width):  # a mux tree, least significant select bit first
        cond = Cond(sel.bit(i), sel.top)
        vals = [c.ar.mux(cond, vals[j + 1], vals[j], c.name(f"{hint}_s{i}_{j // 2}")) if j + 1 < len(vals)
                else vals[j] for j in range(0, len(vals), 2)]
    return Timed(vals[0], cycle=hi.cycle)


def _slices(c: Ctx, entries: int, width: int) -> list[tuple[int, int]]:
    """``(lsb, bits)`` of each slice of a ``width``-bit table's output bits that one address copy feeds (one
    slice, the whole word, where fanout is not limited)."""
    model = c.ar.model
    if model is None or not c.fanout or entries <= 2:
        return [(0, width)]
    luts = 1 << model.lut_inputs
    per = max(1, c.fanout * luts // max(1, -(-entries // luts)))  # output bits per address copy
    return [(lsb, min(per, width - lsb)) for lsb in range(0, width, per)]


def _read(c: Ctx, base: str, values: list[int], t: FixedType, note: str, addrs: list[Val],
          slices: list[tuple[int, int]], hint: str) -> Val:
    """One bank's word: a ROM per slice of its bits, each read from its own address, concatenated."""
    lib = c.lib
    if len(slices) == 1:
        rom = lib.rom_module(base, values, t, note)
        return lib.rom(c.ar, rom, values, t, addrs[0], hint)
    mask = (1 << t.width) - 1
    parts = []
    for k, ((lsb, bits), a) in enumerate(zip(slices, addrs, strict=True)):
        sv = [((v & mask) >> lsb) & ((1 << bits) - 1) for v in values]
        st = FixedType(bits, bits, False)
        rom = lib.rom_module(f"{base}_w{lsb}", sv, st, f"bits {lsb + bits - 1}..{lsb} of {note}")
        parts.append(lib.rom(c.ar, rom, sv, st, a, f"{hint}_w{k}"))
    wire = c.ar.m.wire(hint, t.width, "{" + ", ".join(p.ext(p.width) for p in reversed(parts)) + "}")
    v = Val.of(wire, t.width, t.signed, min(values), max(values))
    ready = max(p.top for p in parts)
    return c.ar.timed(v, (ready, ready))
