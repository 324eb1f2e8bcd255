"""Calibration data for an ECP5 delay model (LFE5U-85F, speed 6: what ``hw.synthesize("ecp5")`` targets): the
placed-and-routed timing of small Dense (and Softmax) designs built by the current Verilog backend at several
``adders_per_stage``, and a least-squares fit of

    delay_ns = T0 + L * adder_levels + c * carry_bits   (+ the same with a separate routing term)

where, for each register, ``adder_levels`` is the number of adders on its deepest input cone back to registers
and ``carry_bits`` the widest adder's width on that cone (a carry ripples through roughly one adder's width; the
levels' carries overlap). T0 holds clock-to-out, setup and the routing into and out of the chain.

Data per design (from nextpnr-ecp5's ``--report`` with ``--detailed-timing-report``):
- the critical path(s), segment by segment (clock-to-q, logic per cell type, routing per hop with fanout and
  distance in tiles, setup), summarized by :mod:`nnfpga.backends.rtl.ecp5_paths`;
- the worst arrival time at every register's data input (nextpnr's per-endpoint arrival), each register tagged
  with its cone's adder levels and widths parsed from the generated Verilog; the slowest ``--keep`` of them go to
  the JSON and all of them into the fit.
Element delays (clock-to-q, CCU2C entry / carry per CCU2C / exit, LUT4, routing per hop: median, p90) come
straight from the critical paths' segments.

Run: PYTHONPATH=src python benchmarks/ecp5_calibration.py [--designs d8_s3_aps1,...] [--workdir DIR]
     [--reuse] [--out benchmarks/data/ecp5_paths.json]
One P&R at a time (30 s - 3 min each on 2 shared cores); ``--reuse`` reads the reports a previous run left in
``--workdir`` instead of placing and routing again.

Measured (2026-12-06, Yosys 0.23 + yowasp nextpnr-ecp5 0.11, 11 designs: the 16x8 8-bit cases and the softmax;
16x8 at 16 bits did not route within 12 min): clock-to-q 0.525, setup on DI 0; CCU2C entry (A/B -> FCO) 0.447,
carry 0.071 per CCU2C (2 bits), exit (FCI -> F) 0.443; LUT4 0.236; routing per hop median 1.33, p90 3.54 ns
(fanout 1: 0.60, 2-4: 1.21, 5-16: 3.13). Slowest register per (design, adder levels), carry fixed at 0.0355
ns/bit: 2.16 + 2.90 * levels + 0.0355 * bits ns (rms 0.58 ns); the critical paths (5.3-20.5 ns, 49-187 MHz)
within -14 % .. +5 % of it. Routing is 55-75 % of every critical path.

Mid-size layers (2026-12-06, synthesis without alumacc; ``--designs d8_64x32p75_aps1,d8_64x32p75_aps2,
d8_32x32_aps1,d8_32x32_aps2 --timeout 900 --out benchmarks/data/ecp5_paths_midsize.json``; d8_32x32_aps1 did not
route within 900 s): 75.5, 78.7 and 71.9 MHz; even with one adder a stage the critical path is 13.25 ns, 11.88 ns
of it routing over 2 hops. Routing per hop by fanout: 1: 0.13, 2-4: 1.92, 5-16: 5.01, over 16: 10.5 ns (median):
in a layer this size a register that feeds more than 16 adders is the limit, whatever the adders per stage.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

PRECISION = {8: "ap_fixed<8,3>", 16: "ap_fixed<16,6>"}


def cases() -> dict[str, dict[str, Any]]:
    """Design name -> how to build it: 16x8 Dense+ReLU at 8 and 16 bits over adders_per_stage 1-4 and None
    (weights seed 3), two more weight seeds at 8 bits, a 16->5 Dense + Softmax, and mid-size 8-bit layers (64x32
    with 75 % of the weights pruned, 32x32) at adders_per_stage 1 and 2."""
    out: dict[str, dict[str, Any]] = {}
    for bits in (8, 16):
        for aps in (1, 2, 3, 4, None):
            out[f"d{bits}_s3_aps{aps}"] = {"bits": bits, "seed": 3, "aps": aps, "softmax": False}
    out["sm8_s3_aps1"] = {"bits": 8, "seed": 3, "aps": 1, "softmax": True}
    for aps in (1, 2, None):  # 16x8 at 16 bits: ~10k LUT, router2 congested after 12 min at APS 1
        out[f"d16x4_s3_aps{aps}"] = {"bits": 16, "seed": 3, "aps": aps, "softmax": False, "outputs": 4}
    for seed in (4, 5):
        for aps in (1, 2, None):
            out[f"d8_s{seed}_aps{aps}"] = {"bits": 8, "seed": seed, "aps": aps, "softmax": False}
    # mid-size layers (the pruned jet's routing grows past the 16-input layers': issue 16's notes)
    for aps in (1, 2):
        out[f"d8_64x32p75_aps{aps}"] = {"bits": 8, "seed": 3, "aps": aps, "softmax": False, "inputs": 64,
                                        "outputs": 32, "pruned": 0.75}
        out[f"d8_32x32_aps{aps}"] = {"bits": 8, "seed": 3, "aps": aps, "softmax": False, "inputs": 32, "outputs": 32}
    return out


def place_and_route(name: str, case: dict[str, Any], work: Path, timeout_s: float) -> dict[str, Any]:
    """Build the case's design with the current backend and run ``hw.synthesize("ecp5")`` in ``work``."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    import nnfpga
    from nnfpga.backends.rtl.lower import build_design
    from nnfpga.examples import prune_dense

    keras.utils.set_random_seed(case["seed"])
    inp = keras.Input((case.get("inputs", 16),), name="x")
    if case["softmax"]:
        out = keras.layers.Softmax(name="sm")(keras.layers.Dense(5, name="fc")(inp))
    else:
        out = keras.layers.Dense(case.get("outputs", 8), activation="relu", name="fc")(inp)
    model = prune_dense(keras.Model(inp, out), case.get("pruned", 0.0))
    cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision=PRECISION[case["bits"]])
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog", clock_period=5.0)
    d = build_design(hw.graph, hw.settings["project_name"], prep=hw.interpreter.prep, adders_per_stage=case["aps"])
    t0 = time.time()
    r = hw.synthesize("ecp5", design=d, workdir=work, save=False, progress=False, detailed_timing=True,
                       timeout_s=timeout_s)
    meta = {"name": name, **case, "latency": d.latency, "top": f"{d.name}_pnr", "verilog": sorted(d.sources()),
            "seconds": round(time.time() - t0, 1), "report": r.to_dict()}
    (work / "meta.json").write_text(json.dumps(meta, indent=1))
    return meta


# -- the generated Verilog's structure ------------------------------------------------------------------------
_WIRE = re.compile(r"^\s*wire\s*(?:\[(\d+):(\d+)\])?\s*(\w+)\s*=\s*(.*);\s*(?://.*)?$")
_REG = re.compile(r"^\s*reg\s*(?:\[(\d+):(\d+)\])?\s*(\w+)\s*;")
_NB = re.compile(r"^\s*(\w+)\s*<=\s*(.*);")
_ASSIGN = re.compile(r"^\s*assign\s+(\w+)\s*=\s*(.*);")
_ID = re.compile(r"(?<!')\b[A-Za-z_]\w*\b")
_ADD = re.compile(r"[\w\]}]\s*[-+]\s*[{\w]")  # a binary + or - between two operands


def cones(verilog: str) -> dict[str, dict[str, Any]]:
    """Register -> its data input's deepest cone: ``levels`` (adders in a row back to a register or input),
    ``w_last`` (the last adder's width), ``w_max`` and ``w_sum`` over that row's adders, ``muxes`` (``?:``
    wires on it), ``from_input`` (the row starts at the module's in_data)."""
    wires: dict[str, tuple[int, str]] = {}
    regs: dict[str, str] = {}
    for line in verilog.splitlines():
        if m := _WIRE.match(line):
            wires[m.group(3)] = (int(m.group(1) or 0) - int(m.group(2) or 0) + 1, m.group(4))
        elif m := _REG.match(line):
            regs.setdefault(m.group(3), "")
        elif (m := _NB.match(line)) and m.group(1) in regs:
            regs[m.group(1)] = m.group(2)
        elif m := _ASSIGN.match(line):
            wires.setdefault(m.group(1), (0, m.group(2)))
    Cone = tuple[int, int, int, int, int, bool, int]
    memo: dict[str, Cone] = {}

    def depth(expr: str, seen: frozenset[str]) -> Cone:
        best: Cone = (0, 0, 0, 0, 0, False, 0)
        for ident in set(_ID.findall(expr)):
            if ident == "in_data":
                best = max(best, (0, 0, 0, 0, 0, True, 0))
            elif ident in wires and ident not in seen:
                best = max(best, node(ident, seen | {ident}))
        return best

    def node(name: str, seen: frozenset[str]) -> Cone:
        if name not in memo:
            width, expr = wires[name]
            lv, w_last, w_max, w_sum, mux, inp, subs = depth(expr, seen)
            if m := _ADD.search(expr.replace("'b", "").replace("'h", "")):
                lv, w_last, w_max, w_sum = lv + 1, width, max(w_max, width), w_sum + width
                subs += "-" in m.group(0)
            if "?" in expr:
                mux += 1
            memo[name] = (lv, w_last, w_max, w_sum, mux, inp, subs)
        return memo[name]

    out = {}
    for reg, expr in regs.items():
        lv, w_last, w_max, w_sum, mux, inp, subs = depth(expr, frozenset())
        out[reg] = {"levels": lv, "w_last": w_last, "w_max": w_max, "w_sum": w_sum, "muxes": mux,
                    "from_input": inp, "subs": subs}
    return out


# -- one design's timing ------------------------------------------------------------------------------------
def analyze(work: Path, keep: int) -> dict[str, Any]:
    from nnfpga.backends.rtl import ecp5_paths

    meta = json.loads((work / "meta.json").read_text())
    meta.setdefault("aps", meta.get("adders_per_stage"))
    meta.setdefault("top", next(p.stem for p in work.glob("*_pnr.v")))
    meta.setdefault("verilog", sorted(p.name for p in work.glob("*.v") if not p.stem.endswith("_pnr")))
    report = json.loads((work / "report.json").read_text())
    texts = [(work / f).read_text() for f in meta["verilog"]]
    names = ecp5_paths.verilog_identifiers(texts)
    fanout = ecp5_paths.net_fanout(json.loads((work / "netlist.json").read_text()), meta["top"])
    cone = {}
    for text in texts:
        cone.update(cones(text))
    paths = []
    for p in report.get("critical_paths") or []:
        if "<async>" in p.get("from", "") + p.get("to", ""):
            continue
        s = ecp5_paths.summarize(p, names, fanout)
        s["segments"] = [[g["type"], g["delay"], g["from"], g["from_port"], g["to"], g["to_port"], g["cell_type"],
                          g["dist"], fanout.get(g["net"] or "")] for g in ecp5_paths.segments(p)]
        ends_at_ff = ecp5_paths.cell_type(s.get("end_cell", "")) == "TRELLIS_FF"  # not a RAM's address register
        s["cone"] = cone.get(s.get("end") or "") if ends_at_ff else None
        paths.append(s)
    arrival: dict[str, float] = {}
    for net in report.get("detailed_net_timings") or []:
        for e in net.get("endpoints") or []:
            reg = ecp5_paths.verilog_name(e.get("cell", ""), names)
            if e.get("port") in ("DI", "M") and reg in cone:
                arrival[reg] = max(arrival.get(reg, 0.0), float(e["delay"][-1]))
    rows = [[reg, round(t, 3), *(cone[reg][k] for k in ("levels", "w_last", "w_max", "w_sum", "muxes")),
             int(cone[reg]["from_input"]), cone[reg]["subs"]] for reg, t in arrival.items()]
    rows.sort(key=lambda r: -r[1])
    return {"name": meta["name"], "bits": meta["bits"], "seed": meta["seed"], "adders_per_stage": meta["aps"],
            "softmax": meta["softmax"], "latency": meta["latency"], "fmax_mhz": meta["report"]["fmax_mhz"],
            "lut": meta["report"]["lut"], "ff": meta["report"]["ff"], "carry": meta["report"]["extra"].get("carry"),
            "pnr_s": meta["report"]["extra"].get("pnr_s"), "critical_paths": paths,
            "endpoint_columns": ["register", "arrival_ns", "levels", "w_last", "w_max", "w_sum", "muxes",
                                 "from_input", "subs"],
            "endpoints_total": len(rows), "endpoints": rows[:keep], "_all_endpoints": rows}


# -- element delays and the fit -----------------------------------------------------------------------------
def _stats(xs: list[float]) -> dict[str, float] | None:
    if not xs:
        return None
    xs = sorted(xs)
    return {"n": len(xs), "median": round(statistics.median(xs), 3), "p90": round(xs[-(-9 * len(xs) // 10) - 1], 3),
            "min": round(xs[0], 3), "max": round(xs[-1], 3)}


def elements(designs: list[dict[str, Any]]) -> dict[str, Any]:
    """Element delays seen on the critical paths' segments (ns)."""
    kinds: dict[str, list[float]] = {}
    hops: list[tuple[float, int | None, int | None]] = []
    for d in designs:
        for p in d["critical_paths"]:
            for typ, delay, _, fport, _, tport, ctype, dist, fo in p["segments"]:
                if typ == "routing":
                    hops.append((delay, fo, dist))
                    continue
                key = {"clk-to-q": f"clk_to_q {ctype}", "setup": f"setup {ctype}"}.get(typ, f"{ctype} {fport}->{tport}")
                kinds.setdefault(key, []).append(delay)
    out: dict[str, Any] = {k: _stats(v) for k, v in sorted(kinds.items())}
    out["routing per hop"] = _stats([h[0] for h in hops if h[0] > 0])
    by_fo: dict[str, list[float]] = {}
    for delay, fo, _ in hops:
        if delay > 0 and fo is not None:
            by_fo.setdefault("1" if fo <= 1 else "2-4" if fo <= 4 else "5-16" if fo <= 16 else ">16", []).append(delay)
    out["routing per hop by fanout"] = {k: _stats(v) for k, v in sorted(by_fo.items())}
    out["routing ns per tile"] = _stats([h[0] / h[2] for h in hops if h[0] > 0 and h[2]])
    return out


def fit(designs: list[dict[str, Any]], carry_ns_per_bit: float | None = None) -> dict[str, Any]:
    """Least squares of the register arrival times (+ setup, 0 on DI) on [1, adder levels, carry bits], over
    every register with at least one adder on its cone: ``internal`` leaves out the registers whose cone starts
    at in_data (their routing is from the wrapper's hold register), ``all`` keeps them; ``.../fixed_c`` fixes
    the carry term at ``carry_ns_per_bit`` (the CCU2C's FCI->FCO over its two bits) and fits T0 and L only.
    ``resid_p90_ns``/``resid_max_ns``: how far the measured arrivals go above the fit (a margin for the worst
    of many registers). ``worst_per_level``: only the slowest register of each (design, adder levels), the
    figure an Fmax estimate needs. ``w_max+subs`` adds a term per subtraction on the row (``sub_ns``)."""
    rows = [r for d in designs for r in d["_all_endpoints"] if r[2] >= 1]
    worst: dict[tuple[str, int], list[Any]] = {}  # the slowest register of each (design, adder levels)
    for d in designs:
        for r in d["_all_endpoints"]:
            if r[2] >= 1 and ((d["name"], r[2]) not in worst or r[1] > worst[d["name"], r[2]][1]):
                worst[d["name"], r[2]] = r
    out: dict[str, Any] = {}
    sets = (("internal", [r for r in rows if not r[7]]), ("all", rows), ("worst_per_level", list(worst.values())))
    for label, sel in sets:
        if len(sel) < 4:
            continue
        y = np.array([r[1] for r in sel])
        variants: list[tuple[str, list[int], float | None]] = [("w_max", [4], None), ("w_last", [3], None),
                                                               ("w_max+subs", [4, 8], None)]
        if carry_ns_per_bit is not None:
            variants.append(("w_max/fixed_c", [4], carry_ns_per_bit))
        for feat, cols, c_fixed in variants:
            x = np.array([[1.0, r[2], *(r[c] for c in cols)] for r in sel])
            if c_fixed is None:
                coef, *_ = np.linalg.lstsq(x, y, rcond=None)
            else:
                head, *_ = np.linalg.lstsq(x[:, :2], y - c_fixed * x[:, 2], rcond=None)
                coef = np.array([head[0], head[1], c_fixed])
            err = y - x @ coef
            out[f"{label}/{feat}"] = {"T0_ns": round(float(coef[0]), 3), "L_ns_per_adder": round(float(coef[1]), 3),
                                      "c_ns_per_bit": round(float(coef[2]), 4), "n": len(sel),
                                      "rms_ns": round(float(np.sqrt(np.mean(err ** 2))), 3),
                                      "resid_p90_ns": round(float(np.quantile(err, 0.9)), 3),
                                      "resid_max_ns": round(float(err.max()), 3)}
            if len(cols) > 1:
                out[f"{label}/{feat}"]["sub_ns"] = round(float(coef[3]), 3)
    return out


def model_ns(f: dict[str, Any], levels: int, width: int) -> float:
    return f["T0_ns"] + f["L_ns_per_adder"] * levels + f["c_ns_per_bit"] * width


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--designs", default=",".join(cases()), help="comma-separated case names (default: all)")
    ap.add_argument("--workdir", default="/tmp/nnfpga-ecp5-cal", help="one folder per design, kept")
    ap.add_argument("--reuse", action="store_true", help="read the reports already in --workdir")
    ap.add_argument("--keep", type=int, default=25, help="slowest register arrivals kept per design in the JSON")
    ap.add_argument("--timeout", type=float, default=480.0, help="seconds per tool run")
    ap.add_argument("--out", default=str(Path(__file__).parent / "data" / "ecp5_paths.json"))
    args = ap.parse_args(argv)
    from nnfpga.errors import ToolError

    all_cases = cases()
    designs = []
    for name in args.designs.split(","):
        work = Path(args.workdir) / name
        if not (args.reuse and (work / "meta.json").exists()):
            print(f"place and route {name} ...", file=sys.stderr, flush=True)
            try:
                place_and_route(name, all_cases[name], work, args.timeout)
            except ToolError as exc:  # a P&R past --timeout: no data for that design
                print(f"{name}: {str(exc).splitlines()[0]}", file=sys.stderr)
                continue
        designs.append(analyze(work, args.keep))
    el = elements(designs)
    carry = (el.get("CCU2C FCI->FCO") or {}).get("median")
    f = fit(designs, None if carry is None else carry / 2)
    best = f.get("worst_per_level/w_max/fixed_c") or f.get("all/w_max")
    print(f"{'design':16s} {'Fmax MHz':>8s} {'crit ns':>8s} {'model ns':>8s} {'err %':>6s}  levels w_max  "
          "clk-q  logic  route hops  end")
    for d in designs:
        for p in d["critical_paths"][:1]:
            c = p["cone"]  # None: the path ends at a block RAM / multiplier, not one of our registers
            m = model_ns(best, c["levels"], c["w_max"]) + p["setup_ns"] if best and c else None
            err = "-" if m is None else f"{100 * (m - p['delay_ns']) / p['delay_ns']:.1f}"
            print(f"{d['name']:16s} {d['fmax_mhz']:8.1f} {p['delay_ns']:8.3f} "
                  f"{'-' if m is None else f'{m:.3f}':>8s} {err:>6s}  {c['levels'] if c else '-':>6} "
                  f"{c['w_max'] if c else '-':>5}  {p['clk_to_q_ns']:5.2f} {p['logic_ns']:6.2f} "
                  f"{p['routing_ns']:6.2f} {p['routing_hops']:4d}  {p.get('end') or p.get('end_cell')}")
    print("\nelement delays on the critical paths (ns):")
    for k, v in el.items():
        print(f"  {k:40s} {v}")
    print("\nfits (arrival = T0 + L*levels + c*bits):")
    for k, v in f.items():
        print(f"  {k:16s} {v}")
    for d in designs:
        d.pop("_all_endpoints")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"device": "LFE5U-85F CABGA381 speed 6, nextpnr-ecp5 router2",
                                          "elements": el, "fit": f, "designs": designs}, indent=None) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
