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
# same without sharing, "operator" = Verilog ``x * W`` (the synthesizer's multipliers: DSPs, or LUTs); "auto" (the
# default) = "shared", but "csd" in a fanout-limited design (``Ctx.fanout``: DelayModel.max_fanout, ECP5's large
# designs), where per-output trees route better.
MULTIPLIERS = ("auto", "shared", "csd", "operator")
DEFAULT_MULTIPLIERS = "auto"
# Registers inside a layer: "auto" (the default) places them by the target's delay model for the clock period
# (timing-driven: nnfpga.backends.rtl.delay); an integer P puts one after every P adders (the fixed mode: measured,
# a 16x8 8-bit layer on ECP5 reaches 187 MHz with 1, 119 MHz with 2); None: none inside the layer. Image models
# (the streaming top) and recurrent layers are built in the fixed mode: "auto" means 1 for them.
AUTO = "auto"
DEFAULT_ADDERS_PER_STAGE: int | str | None = AUTO
FIXED_DEFAULT_ADDERS_PER_STAGE = 1  # what "auto" means where placement is not timing-driven yet


def node_adders_per_stage(node: Node, default: int | str | None) -> int | str | None:
    value = node.attrs.get("adders_per_stage", default)
    if value != AUTO and value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"adders_per_stage of {node.describe()} must be an integer >= 1, None (no registers "
                          f"inside the layer) or \"auto\" (placed for the clock period), got {value!r}")
    return value


def fixed_adders_per_stage(value: int | str | None) -> int | None:
    """``value`` where registers are placed in the fixed mode only ("auto": one after every adder)."""
    return FIXED_DEFAULT_ADDERS_PER_STAGE if value == AUTO else value  # type: ignore[return-value]


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
    budget: float | None = None  # timing-driven (per_stage unused): ns of logic allowed between two registers
    fanout: int | None = None  # timing-driven, fanout-limited: readers per register copy (DelayModel.fanout_for)

    def shares(self) -> bool:
        """Whether Dense products share subexpressions (``multipliers``, "auto" resolved)."""
        if self.multipliers == "auto":
            return self.fanout is None
        return self.multipliers == "shared"

    def settles_late(self, mark: tuple, vals: list[Val]) -> bool:
        return settles_late(self.ar, self.budget, mark, vals)

    def cast(self, x: Val, src_frac: int, dst: FixedType, hint: str) -> Val:
        return self.lib.cast(self.ar, x, src_frac - dst.frac, dst, f"{self.prefix}_{hint}")

    def name(self, hint: str) -> str:
        return f"{self.prefix}_{hint}"


def settles_late(ar: Arith, budget: float | None, mark: tuple, vals: list[Val]) -> bool:
    """Whether logic built since ``mark`` passes the ``budget`` (ns), and registering ``vals`` (its inputs) first
    would help (some of them are not straight from a register)."""
    return (budget is not None and ar.slowest_since(mark) > budget
            and any(v.const is None and v.top > 0 for v in vals))
