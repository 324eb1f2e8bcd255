"""Delay models of FPGA targets: how long a value takes to settle after the last register, so that registers can be
placed where a path would pass the clock (:mod:`~nnfpga.backends.rtl.adder_graph`, :mod:`~nnfpga.backends.rtl.lower`)
and a design can state its estimated critical path and Fmax.

Every :class:`~nnfpga.backends.rtl.verilog.Val` carries ``t``, the time (ns, after the clock edge's clock-to-out)
at which its least significant bit settles, and ``top``, when its most significant bit does: out of a carry chain
bit ``i`` settles ``i * carry`` after bit 0 (a ripple); out of LUT logic all bits settle together. A tree of
ripple-carry adders overlaps its carries (bit ``i`` of the next adder waits for bit ``i`` of this one, not for
its top bit), so on a target with ``overlap`` an adder costs one ``adder`` step after its inputs' LSB times and
the carry ripple is paid once, where the value is registered or compared. A register needs its input's top bit
``clk_to_q + top + setup`` after the clock edge, before the next one.

The Xilinx figures are estimates from published primitive delays (no open place-and-route exists for Xilinx
devices); the ECP5 figures are fitted to nextpnr-ecp5's timing reports on generated designs
(``benchmarks/ecp5_calibration.py``, data in ``benchmarks/data/ecp5_paths.json``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from nnfpga.errors import ConfigError


class Val(Protocol):
    """What the model reads of a value (:class:`nnfpga.backends.rtl.verilog.Val`): a constant settles at once."""

    const: int | None
    t: float
    top: float


@dataclass(frozen=True)
class DelayModel:
    """Delays in ns of one target's primitives, each including the routing into it."""

    target: str
    clk_to_q: float  # register clock-to-out
    setup: float  # register setup, and the route into it
    level: float  # one level of LUT logic
    adder: float  # an adder's LSB after its inputs' (LUT + carry-chain entry)
    carry: float  # per bit of a carry chain
    dsp: float  # a combinational hard multiplier, inputs to product
    lut_inputs: int  # inputs of one LUT (ROM address bits decoded per level)
    overlap: bool  # consecutive carry chains overlap (see the module docstring)
    source: str
    # Where routing dominates (ECP5), a timing-driven design with at least ``spread_weights`` nonzero weights in
    # its adder graphs (the size at which the placer spreads it over the device) keeps its nets short: each input
    # of an adder graph is registered first into copies that feed at most ``max_fanout`` adders each, Dense
    # products are per-output trees (``Multipliers: auto`` = ``csd``: shared subexpressions connect every output
    # to every input), and table addresses are copied per slice of the table's bits. Smaller designs place
    # compactly as they are (the model's constants were fitted on them).
    max_fanout: int | None = None
    spread_weights: int = 0

    def budget(self, clock_period: float) -> float:
        """Combinational time available between two registers at ``clock_period`` ns."""
        return clock_period - self.clk_to_q - self.setup

    def ready(self, v: Val) -> float:
        """When every bit of ``v`` has settled."""
        return 0.0 if v.const is not None else v.top

    def latest(self, vals: tuple[Val, ...] | list[Val]) -> float:
        return max((self.ready(v) for v in vals), default=0.0)

    def add(self, vals: tuple[Val, ...] | list[Val], width: int) -> tuple[float, float]:
        """``(t, top)`` of a ``width``-bit sum (or difference) of ``vals``: a ripple from its LSB."""
        t_in = top_in = -math.inf
        for v in vals:  # (a loop: this runs for every adder of a design)
            if v.const is None:
                t_in, top_in = max(t_in, v.t), max(top_in, v.top)
        if top_in == -math.inf:
            return 0.0, 0.0
        t = (t_in if self.overlap else top_in) + self.adder
        return t, max(t + self.carry * width, top_in + self.adder)

    def compare(self, vals: tuple[Val, ...] | list[Val], width: int) -> float:
        """Time of a comparison's 1-bit result: the top of a ``width``-bit carry chain."""
        return self.add(vals, width)[1]

    def logic(self, vals: tuple[Val, ...] | list[Val], levels: int = 1, extra: float = 0.0) -> float:
        """Time of a LUT function of ``vals`` (after ``extra``, e.g. a select signal's time)."""
        return max(self.latest(vals), extra) + self.level * levels

    def multiply(self, vals: tuple[Val, ...] | list[Val], width: int) -> float:
        """A product of two variables (or a variable and a constant) as a hard multiplier; wider than one DSP
        slice, the partial products' adder comes after it."""
        return self.latest(vals) + self.dsp + (self.adder + self.carry * width if width > 43 else 0.0)

    def rom(self, addr: Val, entries: int) -> float:
        """A ROM of ``entries`` words read from address ``addr`` as LUT logic (a mux tree)."""
        bits = max((entries - 1).bit_length(), 1)
        return self.ready(addr) + self.level * max(1, math.ceil(bits / self.lut_inputs))

    def fanout_for(self, weights: int) -> int | None:
        """The fanout limit of a timing-driven design with ``weights`` nonzero weights in its adder graphs."""
        return self.max_fanout if self.max_fanout and weights >= self.spread_weights else None

    def fmax(self, critical: float) -> float:
        """MHz at a critical path (combinational ns between registers)."""
        return 1000.0 / (critical + self.clk_to_q + self.setup)


# Figures per target, ns. Sources: Project X-Ray's 7-series timing database (Artix-7 speed -1, equal to Vivado's
# reports where both exist), Vivado UltraScale+ (-1) reports and FloPoCo's Virtex UltraScale+ (-2) model, the
# prjtrellis database nextpnr-ecp5 reads (speed 6); each LUT level and carry entry with a typical routed net
# (xc7 0.5, UltraScale+ 0.35; ECP5: fitted). Setup includes 0.1 ns of clock uncertainty.
XC7 = DelayModel("xc7", clk_to_q=0.46, setup=0.15, level=0.62, adder=0.95, carry=0.0285, dsp=4.3, lut_inputs=6,
                 overlap=True, source="estimate: 7-series speed -1 primitive delays (Project X-Ray / Vivado) plus "
                                      "0.5 ns per routed net; no open place-and-route exists for it")
XCUP = DelayModel("xcup", clk_to_q=0.15, setup=0.13, level=0.50, adder=0.60, carry=0.0065, dsp=2.3, lut_inputs=6,
                  overlap=True, source="estimate: UltraScale+ primitive delays (Vivado -1 reports, FloPoCo's -2 "
                                       "model) plus 0.35 ns per routed net; no open place-and-route exists for it")
# ECP5: nextpnr-ecp5's critical paths on generated 16x8 8-bit layers (AddersPerStage 1-4) fitted as
# clk-to-q + setup + levels * adder + carry * bits (the routing hops, 55-75 % of every path, are in the constants:
# median 1.44 ns a hop, more with fanout; "setup" holds the hops into the first adder and into the register).
# Measured (benchmarks/ecp5_timing.py, the 8-bit 75 %-pruned jet MLP, 1,064 nonzero weights, at 10 ns): shared
# subexpressions 82.2 MHz, per-output trees without copies 71.7 MHz (nets of 3-9 ns across the device), with
# input copies of fanout <= 4 113.4 MHz. The 16x8 layer (128 weights) meets 10 and 6.7 ns either way, and the
# model's estimate of it is closer without (+4.2 / +0.3 % against +22 / +10.5 %): its nets are short anyway.
ECP5 = DelayModel("ecp5", clk_to_q=0.53, setup=1.74, level=1.75, adder=2.79, carry=0.0355, dsp=5.4, lut_inputs=4,
                  overlap=True, source="LFE5U-85F speed 6: prjtrellis primitive delays, routing fitted to "
                                       "nextpnr-ecp5's timing reports on generated designs",
                  max_fanout=4, spread_weights=512)
MODELS: dict[str, DelayModel] = {"xc7": XC7, "xcup": XCUP, "ecp5": ECP5}


def model_for(target: str | None = None, part: str | None = None) -> DelayModel:
    """The delay model of a synthesis ``target`` ("xc7", "xcup", "ecp5"), else of a device ``part`` name: Lattice
    ``LFE5U``/``LFE5UM`` parts use ECP5's, Xilinx 7-series parts (``xc7...``) the 7-series model, and every other
    part UltraScale+'s (hls4ml's default part, xcvu13p, is one)."""
    if target is not None:
        if target not in MODELS:
            raise ConfigError(f"no delay model for target {target!r}; known: {', '.join(MODELS)}")
        return MODELS[target]
    p = (part or "").strip().lower()
    if p.startswith("lfe5"):
        return ECP5
    if p.startswith("xc7"):
        return XC7
    return XCUP
