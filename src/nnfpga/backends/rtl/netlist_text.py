"""What a stream element written as Verilog text (``TextModule``: the streaming top's window generators and FIFOs)
is made of, read from its declarations and non-blocking assignments (:func:`text_counts`); the modules built as
items are read by :mod:`~nnfpga.backends.rtl.netlist_features`."""

from __future__ import annotations

import re

from nnfpga.backends.rtl.counts import Counts

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
_DECL = re.compile(r"^\s*(?:output\s+)?reg\s*(?:\[(\d+):(\d+)\])?\s*([A-Za-z_][\w$]*(?:\s*,\s*[A-Za-z_][\w$]*)*)"
                   r"\s*(?:\[0:([^\]]+)\])?\s*[;,]?\s*(?://.*)?$")
_PARAM = re.compile(r"localparam\s+integer\s+([A-Za-z_]\w*)\s*=\s*(\d+)\s*;")
_NB = re.compile(r"([A-Za-z_][\w$]*)(?:\[[^\]]*\])?\s*<=\s*([^;]+);")
_WIRE_ARITH = re.compile(r"wire\s*\[(\d+):(\d+)\]\s*[A-Za-z_][\w$]*\s*=[^;]*\s[+-]\s[^;]*;")
SRL_MIN, SRL_DEPTH = 3, 32  # synth_xilinx's shregmap: chains of 3 or more registers, 32 per SRLC32E


def text_counts(text: str, used: float = 1.0) -> Counts:
    """The :class:`Counts` of a stream element written as Verilog text (``TextModule``: the window generators and
    FIFOs of the streaming top), read from its declarations and non-blocking assignments:

    - ``mems``: (width, depth, read) of each memory indexed by a variable (read 1: synchronously, in a clocked
      block; 0: by an ``assign``, asynchronously): line buffers of 512 bits a row or more, FIFOs;
    - ``srl_cells``: a register shifted into itself (``r <= {r[..:0], x}``, a line buffer row of fewer bits) of 3
      or more steps: ``shift width x ceil(steps / 32)`` SRL cells (neither LUT nor FF in Yosys's count);
    - ``stream_reg_bits``: every other register bit (a memory indexed by constants only, the window, is registers);
    - ``skid_bits``: bits of a register loaded from two or more variables (a window generator's output register:
      the window or its skid register), per extra source;
    - ``count_bits``: counters (``+``/``-`` a constant) and the comparisons of their wrap.

    ``used``: the share of the ``out_data`` bits that the instantiating module reads (a pruned kernel leaves some of
    a window unread): the registers as wide as ``out_data`` (it and the skid register) and ``skid_bits`` count that
    share (Yosys removes the rest)."""
    c = Counts()
    text = re.sub(r"//[^\n]*", "", text)
    params = {m.group(1): int(m.group(2)) for m in _PARAM.finditer(text)}
    regs: dict[str, tuple[int, int]] = {}  # name -> (width, depth; 0: not a memory)
    for line in text.splitlines():
        m = _DECL.match(line)
        if not m:
            continue
        width = int(m.group(1)) - int(m.group(2)) + 1 if m.group(1) else 1
        depth = 0
        if m.group(4):
            d = re.sub(r"[A-Za-z_]\w*", lambda x: str(params.get(x.group(0), 0)), m.group(4)).replace(" ", "")
            depth = int(d[:-2]) if d.endswith("-1") else int(d) + 1  # [0:N-1] or [0:N]
        for name in m.group(3).split(","):
            regs[name.strip()] = (width, depth)
    sources: dict[str, set[str]] = {}
    shifted: dict[str, int] = {}
    for m in _NB.finditer(text):
        name, rhs = m.group(1), m.group(2).strip()
        if name not in regs:
            continue
        if sh := re.match(rf"^\{{{re.escape(name)}\[(\d+):0\],", rhs):
            shifted[name] = regs[name][0] - int(sh.group(1)) - 1
        elif _NAME.match(rhs):
            sources.setdefault(name, set()).add(rhs)
        if re.search(r"[+-] *\d+'d1\b", rhs):
            c.count_bits += regs[name][0]
    for m in _WIRE_ARITH.finditer(text):  # a wire counting, or a FIFO's fill level
        c.count_bits += int(m.group(1)) - int(m.group(2)) + 1
    out = re.search(r"output\s+reg\s*\[(\d+):(\d+)\]\s*out_data\b", text)
    out_width = int(out.group(1)) - int(out.group(2)) + 1 if out else 0
    for name, (width, depth) in regs.items():
        share = used if width == out_width and not depth else 1.0
        if depth:
            if re.search(rf"\b{re.escape(name)}\[(?!\d+\])", text):
                sync = re.search(rf"<=\s*{re.escape(name)}\[", text) is not None
                c.mems.append((width, depth, int(sync)))
            else:
                c.stream_reg_bits += width * depth
        elif name in shifted and shifted[name] > 0 and width // shifted[name] >= SRL_MIN:
            c.srl_cells += shifted[name] * -(-(width // shifted[name]) // SRL_DEPTH)
        else:
            c.stream_reg_bits += round(width * share)
        if len(sources.get(name, ())) > 1:
            c.skid_bits += round(width * share) * (len(sources[name]) - 1)
    return c
