"""rtl-mode draws made after the rest of a model (so that a seed keeps naming the model it named before the
Verilog backend took them): narrow accumulators and the clock target the design is built for."""

from __future__ import annotations

from dataclasses import replace

from fuzz.choices import Chooser, FuzzCase, fixed_type
from nnfpga.backends.rtl.delay import model_for

# rtl mode: the clock target the Verilog design is built for (build_design's clock_period and target)
CLOCK_PERIODS = (1.5, 12.0)  # ns, log-uniform (as many periods below 4.2 ns as above: where registers matter)
TARGETS = ("xcup", "xc7", "ecp5")
FIXED_MODES: tuple[int | None, ...] = (1, 2, 3, None)  # adders_per_stage besides "auto"


def narrow_accumulators(ch: Chooser, case: FuzzCase) -> FuzzCase:
    """rtl mode: narrow explicit accumulators (every rounding and overflow mode: products rounded, sums wrapped
    or saturated) on some Dense layers, drawn after the rest of the model so that a seed keeps naming the model
    it named before the Verilog backend built these. A saturating one that the backend refuses (a chain at
    ReuseFactor > 1) wraps instead."""
    for node in case.graph:
        if node.op != "dense" or not ch.chance(0.3):
            continue
        exact = node.types["accum"]
        ta = fixed_type(ch, 6, 32, 2, 14)
        node.types["accum"] = ta
        if not case.rtl_ok():
            node.types["accum"] = replace(ta, overflow="WRAP")
        if not case.rtl_ok():  # (not expected: WRAP never needs a chain)
            node.types["accum"] = exact
            continue
        case.features.append("narrow-accum")
    return case


def draw_timing(ch: Chooser, case: FuzzCase) -> FuzzCase:
    """rtl mode: where the registers go and the clock they are placed for, drawn after the rest of the model (a
    seed keeps naming the model it named before; only its registers move). Each Dense (and convolution) places its
    registers by the delay model ("auto", set or left to the default) most of the time, else in a fixed mode (1, 2
    or 3 adders per stage, or none inside it: the one the MLP generator drew); a softmax now and then takes a fixed
    mode (the layers after a knob follow its mode). Then a clock period log-uniform in :data:`CLOCK_PERIODS` (to
    the ps) and a delay model from :data:`TARGETS`. (The streaming top of an image model places registers in the
    fixed mode only, "auto" as 1, and takes no clock yet.)"""
    for node in case.graph:
        if node.op in ("dense", "conv"):
            u = ch.unit()
            if u < 0.6:
                node.attrs["adders_per_stage"] = "auto"
            elif u < 0.75:
                node.attrs.pop("adders_per_stage", None)  # build_design's default ("auto")
            elif "adders_per_stage" not in node.attrs:
                node.attrs["adders_per_stage"] = ch.choice(FIXED_MODES)
        elif node.op == "softmax" and ch.chance(0.25):
            node.attrs["adders_per_stage"] = ch.choice(FIXED_MODES)
    lo, hi = CLOCK_PERIODS
    case.clock_period = round(lo * (hi / lo) ** ch.unit(), 3)
    case.target = ch.choice(TARGETS)
    # a period shorter than the target's register overhead is refused (a ConfigError): keep 0.5 ns of logic
    model = model_for(case.target)
    case.clock_period = max(case.clock_period, round(model.clk_to_q + model.setup + 0.5, 3))
    return case
