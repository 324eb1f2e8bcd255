"""The critical paths of a nextpnr-ecp5 ``--report`` JSON, summarized per cell type and mapped back to the
generated Verilog's names.

nextpnr reports, per pair of clock events, its worst path as a list of segments: ``clk-to-q`` (a register's
clock to its output), ``logic`` (through one cell, input port to output port), ``routing`` (one net, driver to
sink; carry-chain links ``FCO -> FCI`` are routing of zero delay), ``setup`` (at the capturing register) and
``source`` (an unclocked input). Cell names after Yosys ``synth_ecp5`` and the nextpnr packer keep the name of
the net a cell drives: ``dut.fc_a154h_CCU2C_S0_6$CCU2_COMB0`` is one half of a CCU2C of the adder whose output
wire is ``fc_a154h``, ``dut.fc_q170_TRELLIS_FF_Q`` a flip-flop of the register ``fc_q170`` (``dut.`` is the
place-and-route wrapper's instance). Cells named ``$abc$...``/``$auto$...`` have no Verilog name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# a marker in a cell name -> its ECP5 cell type; the rightmost marker wins ("dout_TRELLIS_FF_Q_DI_LUT4_Z": LUT4)
CELL_MARKERS = {"$CCU2_COMB": "CCU2C", "_CCU2C": "CCU2C", "_TRELLIS_FF": "TRELLIS_FF", "_MULT18X18D": "MULT18X18D",
                "_DP16KD": "DP16KD", "_TRELLIS_DPR16X4": "TRELLIS_DPR16X4", "_PFUMX": "PFUMX",
                "_L6MUX21": "L6MUX21", "_LUT4": "LUT4", "$lut": "LUT4", "_ALU54B": "ALU54B", "$tr_io": "TRELLIS_IO"}
# without a marker, the ports tell: (ports of that type, type)
PORT_TYPES = (({"FCI", "FCO"}, "CCU2C"), ({"Q", "DI", "M", "CE", "LSR"}, "TRELLIS_FF"),
              ({"OFX0", "OFX1", "FXA", "FXB"}, "PFUMX"), ({"A", "B", "C", "D", "F"}, "LUT4"))
WRAPPER_INSTANCE = "dut."
_IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")


def cell_type(cell: str, ports: Iterable[str] = ()) -> str:
    """The ECP5 cell type of a packed cell, from the markers Yosys/nextpnr leave in its name, else its ports
    (``"other"`` when neither tells)."""
    best, at = None, -1
    for marker, kind in CELL_MARKERS.items():
        pos = cell.rfind(marker)
        if pos > at:
            best, at = kind, pos
    if best is not None:
        return best
    if any(p.startswith(("DOA", "DOB", "DIA", "DIB", "ADA", "ADB")) for p in ports):
        return "DP16KD"
    if any(re.fullmatch(r"[ABP]\d+", p) for p in ports):
        return "MULT18X18D"
    for names, kind in PORT_TYPES:
        if set(ports) & names:
            return kind
    return "other"


def verilog_name(cell: str, names: set[str] | None = None) -> str | None:
    """The Verilog wire/register a cell was made for (``"dut.fc_q170_TRELLIS_FF_Q"`` -> ``"fc_q170"``), or
    None for a Yosys-made name; with ``names`` (identifiers of the generated Verilog), only a name in it."""
    if cell.startswith("$"):
        return None
    base = cell.removeprefix(WRAPPER_INSTANCE)
    cuts = [base.find(m) for m in (*CELL_MARKERS, "$") if m != "$lut" and base.find(m) > 0]
    base = base[:min(cuts)] if cuts else base
    if not base or base.startswith("$"):
        return None
    if names is not None and base.split(".")[-1] not in names:
        return None
    return base


def verilog_identifiers(sources: Iterable[str]) -> set[str]:
    """Every identifier in the given Verilog texts (to check a mapped name against)."""
    return {m.group(0) for text in sources for m in _IDENT.finditer(text)}


def net_fanout(netlist: dict[str, Any], top: str) -> dict[str, int]:
    """Net name (``"hold[62]"``, ``"dut.fc_a154[14]"``) -> number of cell input ports it drives, from Yosys's
    ``write_json`` netlist of ``top`` (before packing: a close estimate of the routed fanout)."""
    mod = (netlist.get("modules") or {}).get(top) or {}
    loads: dict[int, int] = {}
    for cell in (mod.get("cells") or {}).values():
        dirs = cell.get("port_directions") or {}
        for port, bits in (cell.get("connections") or {}).items():
            if dirs.get(port) == "input":
                for b in bits:
                    if isinstance(b, int):
                        loads[b] = loads.get(b, 0) + 1
    out: dict[str, int] = {}
    for name, net in (mod.get("netnames") or {}).items():
        bits, offset = net.get("bits") or [], int(net.get("offset", 0))
        for i, b in enumerate(bits):
            if isinstance(b, int):
                out[f"{name}[{i + offset}]"] = loads.get(b, 0)
        if len(bits) == 1 and isinstance(bits[0], int):  # a one-bit net is also routed under its bare name
            out[name] = loads.get(bits[0], 0)
    return out


def segments(path: dict[str, Any]) -> list[dict[str, Any]]:
    """A nextpnr path's segments, each ``{"type", "delay", "from", "from_port", "to", "to_port", "net",
    "cell_type", "dist"}`` (``cell_type`` of the cell a logic/clk-to-q/setup segment is in, or of the sink of a
    routing segment; ``dist``: tiles between its ends, Manhattan), zero-delay carry links left out."""
    out = []
    for seg in path.get("path") or []:
        kind, delay = seg.get("type", ""), float(seg.get("delay", 0.0))
        src, dst = seg.get("from") or {}, seg.get("to") or {}
        ports = (src.get("port", ""), dst.get("port", ""))
        if kind in ("logic", "routing") and delay == 0.0 and ports in (("FCO", "FCI"), ("FCI", "FCO")):
            continue  # carry links inside or between slices
        cell = dst.get("cell", "")
        ctype = cell_type(cell, ports if kind != "routing" else (ports[1],))
        if kind == "logic" and ports[1].startswith("OFX"):  # the slice's wide-function muxes, not its LUT
            ctype = "L6MUX21" if ports[0] in ("FXA", "FXB") else "PFUMX"
        out.append({"type": kind, "delay": round(delay, 4), "from": src.get("cell", ""), "from_port": ports[0],
                    "to": cell, "to_port": ports[1], "net": seg.get("net"), "cell_type": ctype,
                    "dist": _distance(src.get("loc"), dst.get("loc"))})
    return out


def _distance(a: list[int] | None, b: list[int] | None) -> int | None:
    return None if not a or not b else abs(a[0] - b[0]) + abs(a[1] - b[1])


def summarize(path: dict[str, Any], names: set[str] | None = None,
              fanout: dict[str, int] | None = None) -> dict[str, Any]:
    """One nextpnr path as a JSON-able summary: total ``delay_ns``, the clock events, start and end cell and
    their Verilog names (None where unknown), ``clk_to_q_ns``, ``setup_ns``, ``logic_ns`` with
    ``logic_ns_by_type`` (CCU2C, LUT4, MULT18X18D, ...), ``cells_by_type`` (distinct cells crossed),
    ``routing_ns`` over ``routing_hops`` nets (``routing`` lists ``[delay_ns, fanout or None, distance in
    tiles]`` per hop), and ``adders``: the carry chains crossed, ``{"name", "ccu2c"}`` in path order (one
    CCU2C adds two bits)."""
    segs = segments(path)
    by_type: dict[str, float] = {}
    cells: dict[str, set[str]] = {}
    adders: list[dict[str, Any]] = []  # {"name", "cells": CCU2C cells}
    routing: list[list[Any]] = []
    out: dict[str, Any] = {"from": path.get("from"), "to": path.get("to"),
                           "delay_ns": round(sum(s["delay"] for s in segs), 3), "clk_to_q_ns": 0.0, "setup_ns": 0.0}
    prev = None
    for s in segs:
        if s["type"] == "clk-to-q":
            out["clk_to_q_ns"] += s["delay"]
        elif s["type"] == "setup":
            out["setup_ns"] += s["delay"]
        elif s["type"] == "logic":
            kind = s["cell_type"]
            by_type[kind] = by_type.get(kind, 0.0) + s["delay"]
            cells.setdefault(kind, set()).add(s["to"].split("$CCU2_COMB")[0])
            if kind == "CCU2C":  # a chain is entered through A-D (after a routing hop) and left through F
                base = s["to"].split("$CCU2_COMB")[0]
                if prev is None or prev["type"] != "logic" or prev["cell_type"] != "CCU2C":
                    adders.append({"name": verilog_name(s["to"], names) or _chain(base), "cells": set()})
                adders[-1]["cells"].add(base)
        elif s["type"] == "routing":
            routing.append([s["delay"], (fanout or {}).get(s["net"] or ""), s["dist"]])
        prev = s
    if segs:
        out["start_cell"], out["end_cell"] = segs[0]["from"], segs[-1]["to"]
        out["start"], out["end"] = verilog_name(segs[0]["from"], names), verilog_name(segs[-1]["to"], names)
    out["logic_ns"] = round(sum(by_type.values()), 3)
    out["logic_ns_by_type"] = {k: round(v, 3) for k, v in sorted(by_type.items())}
    out["cells_by_type"] = {k: len(v) for k, v in sorted(cells.items())}
    out["routing_ns"] = round(sum(r[0] for r in routing), 3)
    out["routing_hops"] = len(routing)
    out["routing"] = routing
    out["adders"] = [{"name": a["name"], "ccu2c": len(a["cells"])} for a in adders]
    out["clk_to_q_ns"], out["setup_ns"] = round(out["clk_to_q_ns"], 3), round(out["setup_ns"], 3)
    return out


def _chain(cell: str) -> str:
    """The carry chain (adder) a CCU2C cell belongs to: its name up to ``_CCU2C``."""
    return cell.split("_CCU2C")[0]


def critical_paths(report: dict[str, Any], names: set[str] | None = None,
                   fanout: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """The register-to-register paths of a nextpnr report (both ends clocked), summarized, slowest first."""
    paths = [p for p in report.get("critical_paths") or []
             if "<async>" not in (p.get("from") or "") and "<async>" not in (p.get("to") or "")]
    return sorted((summarize(p, names, fanout) for p in paths), key=lambda s: -s["delay_ns"])
