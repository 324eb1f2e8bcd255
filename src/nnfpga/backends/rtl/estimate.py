"""Resource and latency estimate of the Verilog backend's designs without running any tool (``hw.estimate()``,
``nnfpga estimate PROJECT``).

The design is built as ``hw.synthesize`` builds it; its latency and II are the ones it states (exact: the
registers are placed by the lowering). Its resources come from what each layer's logic is made of
(:mod:`~nnfpga.backends.rtl.netlist_features`: adder carry bits, mux bits, tables, multipliers, register bits)
through a small linear model per target:

- LUT = ``add_bits`` x carry bits of the adders of two variables + ``adders`` x their number (negative: an
  adder's lowest bit and its sign bit fold into neighbouring LUTs) + ``cmp_bits`` x comparator bits (a max-pool's
  comparisons: with its multiplexers and the pixel logic around it, about 4 LUTs a compared bit) + ``rom_bits`` x
  bits of the weight tables of more than two entries + ``sel_bits`` x multiplexer inputs + ``lut_mul`` x the LUT
  measure of the multipliers Yosys leaves to LUTs (:func:`dsp_count`) + ``skid_bits`` x the bits of a window
  generator's output register (loaded from the window or its skid register; what the kernel reads of it) + a LUT
  per bit of the read multiplexer of a LUT RAM deeper than 32; the other counts (additions of a constant, the
  adders after a DSP's product, muxes, the stream elements' counters) came out at 0 in the fit: Yosys merges them
  into the LUTs around them or into the DSP;
- FF = ``reg`` x register bits + ``stream_reg`` x the register bits of the stream elements (window generators,
  FIFOs; below 1: the window bits a pruned kernel does not read are removed);
- DSP: one DSP48 per multiplier Yosys maps to one (``synth_xilinx``'s ``mul2dsp``: both operands >= 2 bits and
  the product >= 9 bits; a product wider than 25 x 18 takes ``ceil(a / 25) x ceil(b / 18)``);
- BRAM and LUT RAM (:func:`memory_cost`, ``Resources.lutram``: RAM32M/RAM64M cells, which Yosys's LUT count
  leaves out): the streaming top's memories as ``memory_libmap`` maps them. A line buffer row under 512 bits is a
  shift register (SRL cells: neither LUT nor FF), a longer one a RAM read synchronously: LUT RAM, or block RAM
  from 15 LUT RAM cells on; the FIFOs are LUT RAM. The non-streaming designs have none (their tables are LUTs).

The coefficients were fitted (least squares on relative errors, every coefficient but ``adders`` >= 0) on the
even half of the Yosys results stored in ``benchmarks/data/estimator_yosys.json``
(``benchmarks/estimator_validation.py --fit``): first every LUT term on the 72 MLPs (Dense, ReLU; 4-16 bits,
ReuseFactor 1-8, 0-90 % sparsity), then the terms only the streaming top has (``cmp_bits``, ``skid_bits``, the
counters' ``count_bits``; ``stream_reg``) on the 18 streaming CNNs (3x3 convs, 2x2 max-pools, a Dense after the
Flatten; 4-16 bits, ReuseFactor 1, 2, 4, 0-90 % sparsity; line buffers in SRLs, LUT RAM and block RAM) with the
others held. LUT + 55 x DSP, median error / 90th percentile: all 90 designs 5.9 % / 16.9 % (held-out half 7.5 % /
16.9 %); the MLPs 6.1 % / 16.8 % (7.8 % / 16.7 %), the CNNs 5.6 % / 14.6 % (5.0 % / 11.7 %). Block RAMs: as
Yosys's on every design (2 CNNs have one); LUT RAM cells: as Yosys's but on one 90 %-pruned CNN (46 vs 37: a
line buffer row no kernel reads). Other layers are counted by the same rules, unvalidated. Other targets are
refused (:class:`~nnfpga.errors.ConfigError`).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from nnfpga.backends.rtl.counts import Counts
from nnfpga.backends.rtl.netlist_features import design_counts
from nnfpga.errors import ConfigError
from nnfpga.reports.hardware import DSP_LUTS

if TYPE_CHECKING:
    from nnfpga.backends.rtl.design import Design
    from nnfpga.model import HWModel

LUT_TERMS = ("add_bits", "adders", "const_add_bits", "ext_bits", "dsp_add_bits", "mux_bits", "cmp_bits", "rom_bits",
             "sel_bits", "lut_mul", "dsp", "skid_bits", "count_bits")
# fitted on benchmarks/data/estimator_yosys.json (training half): see the module doc
COEFFICIENTS: dict[str, dict[str, float]] = {
    "xc7": {"add_bits": 0.9691, "adders": -1.4716, "const_add_bits": 0.0, "ext_bits": 0.0, "dsp_add_bits": 0.0,
            "mux_bits": 0.0, "cmp_bits": 4.2362, "rom_bits": 0.1081, "sel_bits": 0.7214, "lut_mul": 0.8818, "dsp": 0.0,
            "skid_bits": 0.8948, "count_bits": 0.0, "reg": 0.8143, "stream_reg": 0.6449},
}
DSP_SHAPE = {"xc7": (25, 18)}
BRAM18_SHAPES = ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1))  # (depth, width) of a RAMB18E1
BRAM_MIN_CELLS = 15  # LUT RAM cells from which Yosys takes a block RAM for a memory read synchronously
TARGETS = tuple(COEFFICIENTS)
VERILOG_STYLE = "Verilog backend, from the lowered design (no tool run)"
HLS_STYLE = ("HLS-style: the Verilog backend's design of this graph, not Vitis HLS's; latency and II are that "
             "design's (hw.build() reports the HLS ones)")


@dataclass
class Resources:
    """One layer's (or the design's) estimate."""

    name: str
    op: str = ""
    lut: float = 0.0
    ff: float = 0.0
    dsp: int = 0
    bram_18k: int = 0
    latency_cycles: int | None = None
    lutram: int = 0  # LUT RAM cells (RAM32M, RAM64M) of the streaming top's memories: not in ``lut``

    @property
    def cost(self) -> float:
        """LUT + 55 x DSP."""
        return self.lut + DSP_LUTS * self.dsp


@dataclass
class Estimate:
    """The estimate of a design: per layer and in total, latency (cycles) and II as the design states them."""

    design: str
    target: str
    layers: list[Resources]
    total: Resources
    latency_cycles: int | None
    ii: int | None
    counts: dict[str, Counts] = field(default_factory=dict)
    seconds: float = 0.0
    style: str = VERILOG_STYLE

    @property
    def cost(self) -> float:
        return self.total.cost

    def features(self) -> dict[str, Any]:
        """The raw counts per layer (what the cost model reads), JSON-ready."""
        return {"layers": {k: c.to_dict() for k, c in self.counts.items()}}

    def to_dict(self) -> dict[str, Any]:
        return {"design": self.design, "target": self.target, "style": self.style,
                "latency_cycles": self.latency_cycles, "ii": self.ii, "total": asdict(self.total),
                "layers": [asdict(r) for r in self.layers], "seconds": round(self.seconds, 4)}

    def table(self) -> str:
        from nnfpga.model import format_table

        rows = [("layer", "op", "LUT", "FF", "DSP", "BRAM18", "LUTRAM", "cycles")]
        for r in [*self.layers, self.total]:
            rows.append((r.name, r.op, f"{r.lut:.0f}", f"{r.ff:.0f}", str(r.dsp), str(r.bram_18k), str(r.lutram),
                         "" if r.latency_cycles is None else str(r.latency_cycles)))
        head = (f"Estimate of {self.design} for {self.target} ({self.style}): latency {self.latency_cycles} "
                f"cycle(s), II {self.ii}, LUT + 55 x DSP = {self.cost:.0f}")
        return head + "\n" + format_table(rows)


def check_target(target: str) -> None:
    if target not in COEFFICIENTS:
        raise ConfigError(f"unknown estimate target {target!r}; expected one of {', '.join(TARGETS)}")


def dsp_count(muls: list[tuple[int, ...]], target: str = "xc7") -> tuple[int, float]:
    """(DSPs, the LUT measure of the multipliers left to LUTs) of ``muls`` ((wider, narrower, product) widths and
    the select bits of their weight table). A small product whose wider operand and table select bits number 5
    or fewer is one LUT per product bit (the table merges into it), else three (an empirical step, seen on the 4-
    and 6-bit designs of the validation sweep)."""
    amax, bmax = DSP_SHAPE[target]
    dsp, lut_area = 0, 0.0
    for a, b, y, k in muls:
        if b >= 2 and y >= 9:
            dsp += math.ceil(a / amax) * math.ceil(b / bmax) if a > amax or b > bmax else 1
        else:
            lut_area += y if a + k <= 5 else 3 * y
    return dsp, lut_area


def memory_cost(c: Counts, target: str = "xc7") -> tuple[int, int, int]:
    """(LUT RAM cells, 18 kb block RAMs, LUTs of the LUT RAMs' read multiplexers) of the memories of ``c``
    (``mems``: a streaming top's line buffers of 512 bits a row or more, its FIFOs), as ``synth_xilinx``
    (``memory_libmap``, Yosys 0.23) maps them, measured on single memories: in LUT RAM, the fewer of RAM32M (32
    deep, 6 bits: a write port and 3 read ports of 2 bits) and RAM64M (64 deep, 3 bits) cells, stacked in depth
    behind a read multiplexer of a LUT per bit; a memory read synchronously that would take 15 or more such
    cells goes to RAMB18E1s instead (512 x 36, 1K x 18, 2K x 9, 4K x 4, 8K x 2, 16K x 1: the narrowest that holds
    the depth; measured: 160 x 15 and 96 x 27 one RAMB18E1, 128 x 21 14 RAM64M, 96 x 24 12 RAM32M)."""
    check_target(target)
    lutram = bram = mux = 0
    for width, depth, sync in c.mems:
        cells = min(math.ceil(depth / 32) * math.ceil(width / 6), math.ceil(depth / 64) * math.ceil(width / 3))
        if sync and cells >= BRAM_MIN_CELLS:
            deep, bits = next((s for s in BRAM18_SHAPES if depth <= s[0]), BRAM18_SHAPES[-1])
            bram += math.ceil(width / bits) * math.ceil(depth / deep)
        else:
            lutram += cells
            mux += width if depth > 32 else 0
    return lutram, bram, mux


def terms(c: Counts, target: str = "xc7") -> dict[str, float]:
    """The model's inputs of one layer's counts (and its memories' LUT RAM cells and block RAMs)."""
    dsp, lut_mul = dsp_count(c.muls, target)
    lutram, bram, ram_mux = memory_cost(c, target)
    return {"add_bits": c.add_bits, "adders": c.adders, "const_add_bits": c.const_add_bits, "ext_bits": c.ext_bits,
            "dsp_add_bits": c.dsp_add_bits, "mux_bits": c.mux_bits,
            "cmp_bits": c.cmp_bits, "rom_bits": c.rom_bits, "sel_bits": c.sel_bits, "lut_mul": lut_mul,
            "dsp": dsp, "skid_bits": c.skid_bits, "count_bits": c.count_bits, "reg": c.reg_bits,
            "stream_reg": c.stream_reg_bits, "ram_mux": ram_mux, "lutram": lutram, "bram": bram}


def layer_cost(c: Counts, target: str = "xc7") -> tuple[float, float, int, int, int]:
    """(LUT, FF, DSP, 18 kb block RAMs, LUT RAM cells) of one layer's counts."""
    k = COEFFICIENTS[target]
    t = terms(c, target)
    lut = max(sum(k[n] * t[n] for n in LUT_TERMS), 0.0) + t["ram_mux"]  # the adder-count term is negative
    return (round(lut, 1), round(k["reg"] * t["reg"] + k["stream_reg"] * t["stream_reg"], 1), int(t["dsp"]),
            int(t["bram"]), int(t["lutram"]))


def cost_from_features(features: dict[str, Any], target: str = "xc7") -> dict[str, float]:
    """Total LUT, FF, DSP, BRAM of stored :meth:`Estimate.features` (the validation reads these)."""
    check_target(target)
    lut = ff = 0.0
    dsp = lutram = bram = 0
    for d in features["layers"].values():
        lut_i, ff_i, dsp_i, bram_i, lutram_i = layer_cost(Counts.from_dict(d), target)
        lut, ff, dsp, lutram, bram = lut + lut_i, ff + ff_i, dsp + dsp_i, lutram + lutram_i, bram + bram_i
    return {"lut": lut, "ff": ff, "dsp": dsp, "bram_18k": bram, "lutram": lutram}


def fit(features: list[dict[str, Any]], yosys: list[dict[str, Any]], target: str = "xc7",
        free: tuple[str, ...] = LUT_TERMS) -> dict[str, float]:
    """Coefficients fitted on designs' features and their Yosys results: the LUT terms of ``free`` by least squares
    on relative errors of LUT + 55 x DSP (DSPs by the rule; every coefficient but ``adders`` >= 0; the other terms
    held at their values in :data:`COEFFICIENTS`), FF by median ratios: ``reg`` on the designs without stream
    elements, ``stream_reg`` on the others (what ``reg`` leaves)."""
    k = COEFFICIENTS[target]
    rows, rhs, regs, ffs = [], [], [], []
    for f, y in zip(features, yosys, strict=True):
        t: dict[str, float] = {}
        for d in f["layers"].values():
            for n, v in terms(Counts.from_dict(d), target).items():
                t[n] = t.get(n, 0.0) + v
        held = sum(k[n] * t[n] for n in LUT_TERMS if n not in free)
        scale = 1.0 / max(y["lut"] + DSP_LUTS * y["dsp"], 1)
        rows.append([t[n] * scale for n in free])
        rhs.append((y["lut"] - t["ram_mux"] - held + DSP_LUTS * (y["dsp"] - t["dsp"])) * scale)
        regs.append((t["reg"], t["stream_reg"]))
        ffs.append(y["ff"])
    from scipy.optimize import lsq_linear

    lower = [-np.inf if n == "adders" else 0.0 for n in free]
    coef = lsq_linear(np.array(rows), np.array(rhs), bounds=(lower, np.inf)).x
    out = {n: k[n] for n in LUT_TERMS} | {n: round(float(v), 4) for n, v in zip(free, coef, strict=True)}
    plain = [ff / max(r, 1) for (r, s), ff in zip(regs, ffs, strict=True) if not s]
    out["reg"] = round(float(np.median(plain)), 4) if plain else k["reg"]
    stream = [(ff - out["reg"] * r) / s for (r, s), ff in zip(regs, ffs, strict=True) if s]
    out["stream_reg"] = round(float(np.median(stream)), 4) if stream else k["stream_reg"]
    return out


def estimate_design(design: Design, ops: dict[str, str], target: str = "xc7",
                    latency: tuple[int | None, int | None] | None = None) -> Estimate:
    """The estimate of a built ``design`` (``ops``: layer name -> op, in graph order)."""
    check_target(target)
    t0 = time.perf_counter()
    counts = design_counts(design.modules, list(ops))
    layers = []
    for name in [*ops, ""]:
        if name not in counts:
            continue
        lut, ff, dsp, bram, lutram = layer_cost(counts[name], target)
        cycles = None if design.streaming or not name else design.stages.get(name, 0) + design.inner.get(name, 0)
        layers.append(Resources(name or "(control)", ops.get(name, "valid pipeline"), lut, ff, dsp, bram, cycles,
                                lutram))
    lat, ii = latency if latency is not None else (design.latency, design.ii)
    total = Resources("total", "", sum(r.lut for r in layers), sum(r.ff for r in layers),
                      sum(r.dsp for r in layers), sum(r.bram_18k for r in layers), lat,
                      sum(r.lutram for r in layers))
    return Estimate(design.name, target, layers, total, lat, ii, counts, time.perf_counter() - t0)


def estimate(hw: HWModel, target: str = "xc7", *, design: Design | None = None) -> Estimate:
    """Estimate ``hw``'s Verilog design for ``target`` (see the module doc). Raises
    :class:`~nnfpga.errors.ConfigError` for an unknown target."""
    from nnfpga.backends.rtl.lower import build_design, timing_settings
    from nnfpga.backends.rtl.stream_timing import stream_timing

    check_target(target)
    t0 = time.perf_counter()
    if design is None:  # as hw.synthesize builds it
        design = build_design(hw.graph, hw.settings["project_name"], prep=hw.interpreter.prep,
                              **timing_settings(hw.settings))
    latency: tuple[int | None, int | None] = (design.latency, design.ii)
    if design.streaming:
        timing = stream_timing(hw.graph, design)
        latency = (timing.latency, timing.cycles_per_image) if timing.stated else (None, None)
    out = estimate_design(design, {n.name: n.op for n in hw.graph}, target, latency)
    out.seconds = time.perf_counter() - t0
    return out


__all__ = [
    "COEFFICIENTS",
    "DSP_LUTS",
    "HLS_STYLE",
    "TARGETS",
    "VERILOG_STYLE",
    "Estimate",
    "Resources",
    "cost_from_features",
    "dsp_count",
    "estimate",
    "estimate_design",
    "fit",
]
