"""Resource and latency estimate of the Verilog backend's designs without running any tool (``hw.estimate()``,
``nnfpga estimate PROJECT``).

The design is built as ``hw.synthesize`` builds it; its latency and II are the ones it states (exact: the
registers are placed by the lowering). Its resources come from what each layer's logic is made of
(:mod:`~nnfpga.backends.rtl.netlist_features`: adder carry bits, mux bits, tables, multipliers, register bits)
through a small linear model per target:

- LUT = ``add_bits`` x carry bits of the adders of two variables + ``adders`` x their number (negative: an
  adder's lowest bit and its sign bit fold into neighbouring LUTs) + ``cmp_bits`` x comparator bits +
  ``rom_bits`` x bits of the weight tables of more than two entries + ``sel_bits`` x multiplexer inputs +
  ``lut_mul`` x the LUT measure of the multipliers Yosys leaves to LUTs (:func:`dsp_count`); the other counts
  (additions of a constant, the adders after a DSP's product, muxes) came out at 0 in the fit: Yosys merges them
  into the LUTs around them or into the DSP;
- FF = ``reg`` x register bits;
- DSP: one DSP48 per multiplier Yosys maps to one (``synth_xilinx``'s ``mul2dsp``: both operands >= 2 bits and
  the product >= 9 bits; a product wider than 25 x 18 takes ``ceil(a / 25) x ceil(b / 18)``);
- BRAM: 0 (the non-streaming designs are synthesized with their tables in LUTs).

The coefficients were fitted (least squares on relative errors, every coefficient but ``adders`` >= 0) on the
even half of the 72 Yosys results stored in ``benchmarks/data/estimator_yosys.json``
(``benchmarks/estimator_validation.py --fit``); on all 72, LUT + 55 x DSP: median error 6.1 %, 90th percentile
16.8 % (held-out half: 7.8 %, 16.7 %). The validated designs are MLPs (Dense, ReLU); other layers are counted
by the same rules, unvalidated, and a streaming image model's line buffers (block RAM) are not counted yet. Other
targets are refused (:class:`~nnfpga.errors.ConfigError`).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from nnfpga.backends.rtl.netlist_features import Counts, design_counts
from nnfpga.errors import ConfigError
from nnfpga.reports.hardware import DSP_LUTS

if TYPE_CHECKING:
    from nnfpga.backends.rtl.design import Design
    from nnfpga.model import HWModel

LUT_TERMS = ("add_bits", "adders", "const_add_bits", "ext_bits", "dsp_add_bits", "mux_bits", "cmp_bits", "rom_bits",
             "sel_bits", "lut_mul", "dsp")
# fitted on benchmarks/data/estimator_yosys.json (training half): see the module doc
COEFFICIENTS: dict[str, dict[str, float]] = {
    "xc7": {"add_bits": 0.9691, "adders": -1.4716, "const_add_bits": 0.0, "ext_bits": 0.0, "dsp_add_bits": 0.0,
            "mux_bits": 0.0, "cmp_bits": 0.1, "rom_bits": 0.1081, "sel_bits": 0.7214, "lut_mul": 0.8818, "dsp": 0.0,
            "reg": 0.8143},
}
DSP_SHAPE = {"xc7": (25, 18)}
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

        rows = [("layer", "op", "LUT", "FF", "DSP", "BRAM18", "cycles")]
        for r in [*self.layers, self.total]:
            rows.append((r.name, r.op, f"{r.lut:.0f}", f"{r.ff:.0f}", str(r.dsp), str(r.bram_18k),
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


def terms(c: Counts, target: str = "xc7") -> dict[str, float]:
    """The model's inputs of one layer's counts."""
    dsp, lut_mul = dsp_count(c.muls, target)
    return {"add_bits": c.add_bits, "adders": c.adders, "const_add_bits": c.const_add_bits, "ext_bits": c.ext_bits,
            "dsp_add_bits": c.dsp_add_bits, "mux_bits": c.mux_bits,
            "cmp_bits": c.cmp_bits, "rom_bits": c.rom_bits, "sel_bits": c.sel_bits, "lut_mul": lut_mul,
            "dsp": dsp, "reg": c.reg_bits}


def layer_cost(c: Counts, target: str = "xc7") -> tuple[float, float, int]:
    """(LUT, FF, DSP) of one layer's counts."""
    k = COEFFICIENTS[target]
    t = terms(c, target)
    lut = max(sum(k[n] * t[n] for n in LUT_TERMS), 0.0)  # the adder-count term is negative
    return round(lut, 1), round(k["reg"] * t["reg"], 1), int(t["dsp"])


def cost_from_features(features: dict[str, Any], target: str = "xc7") -> dict[str, float]:
    """Total LUT, FF, DSP, BRAM of stored :meth:`Estimate.features` (the validation reads these)."""
    check_target(target)
    lut = ff = 0.0
    dsp = 0
    for d in features["layers"].values():
        lut_i, ff_i, dsp_i = layer_cost(Counts.from_dict(d), target)
        lut, ff, dsp = lut + lut_i, ff + ff_i, dsp + dsp_i
    return {"lut": lut, "ff": ff, "dsp": dsp, "bram_18k": 0}


def fit(features: list[dict[str, Any]], yosys: list[dict[str, Any]], target: str = "xc7") -> dict[str, float]:
    """Coefficients fitted on designs' features and their Yosys results: LUT terms by least squares on relative
    errors of LUT + 55 x DSP (DSPs by the rule; every coefficient but ``adders`` >= 0), FF by the median ratio."""
    rows, rhs, regs, ffs = [], [], [], []
    for f, y in zip(features, yosys, strict=True):
        t = {n: 0.0 for n in (*LUT_TERMS, "reg")}
        for d in f["layers"].values():
            for n, v in terms(Counts.from_dict(d), target).items():
                t[n] += v
        scale = 1.0 / max(y["lut"] + DSP_LUTS * y["dsp"], 1)
        rows.append([t[n] * scale for n in LUT_TERMS])
        rhs.append((y["lut"] + DSP_LUTS * (y["dsp"] - t["dsp"])) * scale)
        regs.append(t["reg"])
        ffs.append(y["ff"])
    from scipy.optimize import lsq_linear

    lower = [-np.inf if n == "adders" else 0.0 for n in LUT_TERMS]
    coef = lsq_linear(np.array(rows), np.array(rhs), bounds=(lower, np.inf)).x
    out = {n: round(float(v), 4) for n, v in zip(LUT_TERMS, coef, strict=True)}
    out["reg"] = round(float(np.median(np.array(ffs) / np.maximum(regs, 1))), 4)
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
        lut, ff, dsp = layer_cost(counts[name], target)
        cycles = None if design.streaming or not name else design.stages.get(name, 0) + design.inner.get(name, 0)
        layers.append(Resources(name or "(control)", ops.get(name, "valid pipeline"), lut, ff, dsp, 0, cycles))
    lat, ii = latency if latency is not None else (design.latency, design.ii)
    total = Resources("total", "", sum(r.lut for r in layers), sum(r.ff for r in layers),
                      sum(r.dsp for r in layers), 0, lat)
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
