"""What a lowering sees of its layer: the module being built, its inputs (latency-balanced), the knobs that apply,
and the valid bit at its input. Shared by the per-op lowerings (:mod:`~nnfpga.backends.rtl.ops`) and the Dense
accumulation (:mod:`~nnfpga.backends.rtl.accumulate`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from nnfpga.backends.rtl.cast import Library
from nnfpga.backends.rtl.verilog import Arith, Val
from nnfpga.errors import ConfigError
from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Node

# Dense constant multiplications: "shared" = CSD shift-and-add with shared subexpressions (cmvm), "csd" = the
# same without sharing, "operator" = Verilog ``x * W`` (the synthesizer's multipliers: DSPs, or LUTs).
MULTIPLIERS = ("shared", "csd", "operator")
DEFAULT_MULTIPLIERS = "shared"
DEFAULT_ADDERS_PER_STAGE = 1  # measured: a 16x8 8-bit layer on ECP5 reaches 187 MHz (1), 119 MHz (2)


def node_adders_per_stage(node: Node, default: int | None) -> int | None:
    value = node.attrs.get("adders_per_stage", default)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"adders_per_stage of {node.describe()} must be an integer >= 1 or None (no registers "
                          f"inside the layer), got {value!r}")
    return value


@dataclass
class In:
    """One input of a layer: its values (in flat C order), type and per-sample shape."""

    vals: list[Val]
    type: FixedType
    shape: tuple[int, ...]


@dataclass
class Ctx:
    ar: Arith
    lib: Library
    prefix: str
    per_stage: int | None = None  # at most this many adders between registers inside the layer (None: no limit)
    multipliers: str = DEFAULT_MULTIPLIERS
    go: str = "in_valid"  # 1-bit expression: the valid bit at this layer's input
    ins: list[In] = field(default_factory=list)  # every input, latency-balanced
    cycles: int = 0  # set by a lowering: registers it placed inside the layer, on every path

    def cast(self, x: Val, src_frac: int, dst: FixedType, hint: str) -> Val:
        return self.lib.cast(self.ar, x, src_frac - dst.frac, dst, f"{self.prefix}_{hint}")

    def name(self, hint: str) -> str:
        return f"{self.prefix}_{hint}"
