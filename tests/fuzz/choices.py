"""Where a random model's choices come from (NumPy for the seed corpus, hypothesis for shrinking), the case that
the generator returns, and random fixed-point types: the base of :mod:`fuzz.strategies` and :mod:`fuzz.cnn`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from hypothesis import strategies as st

from nnfpga.backends.rtl.lower import check_supported
from nnfpga.errors import ConfigError
from nnfpga.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedType
from nnfpga.ir.graph import Graph

T = TypeVar("T")


class Chooser:
    """Where the random choices come from: NumPy (:class:`RngChooser`) or hypothesis (:class:`DrawChooser`)."""

    def integer(self, lo: int, hi: int) -> int:  # inclusive
        raise NotImplementedError

    def unit(self) -> float:  # in [0, 1)
        raise NotImplementedError

    def choice(self, items: Sequence[T]) -> T:
        return items[self.integer(0, len(items) - 1)]

    def chance(self, p: float) -> bool:
        return self.unit() < p

    def rng(self) -> np.random.Generator:
        """A NumPy generator for bulk values (weights, inputs), seeded by one choice."""
        return np.random.default_rng(self.integer(0, 2**32 - 1))


class RngChooser(Chooser):
    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng

    def integer(self, lo: int, hi: int) -> int:
        return int(self._rng.integers(lo, hi, endpoint=True))

    def unit(self) -> float:
        return float(self._rng.random())


class DrawChooser(Chooser):
    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        self._draw = draw

    def integer(self, lo: int, hi: int) -> int:
        return int(self._draw(st.integers(lo, hi)))

    def unit(self) -> float:
        return self.integer(0, 1023) / 1024


@dataclass
class FuzzCase:
    """A typed graph with the settings of its project and what the generator chose."""

    seed: int | None
    graph: Graph
    io_type: str = "io_parallel"
    features: list[str] = field(default_factory=list)
    clock_period: float | None = None  # rtl: ns the registers are placed for (None: build_design's default)
    target: str | None = None  # rtl: the delay model ("xcup", "xc7", "ecp5"; None: build_design's default)

    @property
    def name(self) -> str:
        return f"seed {self.seed}" if self.seed is not None else "hypothesis case"

    def timing(self) -> dict[str, Any]:
        """The keyword arguments of ``build_design`` for this case's clock target (none: its defaults)."""
        return {} if self.clock_period is None else {"clock_period": self.clock_period, "target": self.target}

    def rtl_ok(self) -> bool:
        """Whether the Verilog backend builds this model (a Dense's ReuseFactor must divide its inputs, and
        a saturating accumulator that may overflow needs ReuseFactor 1)."""
        from nnfpga.emulate import Interpreter

        try:
            check_supported(self.graph, Interpreter(self.graph).prep)
        except ConfigError:
            return False
        return True


# -- types --------------------------------------------------------------------------------------------------

def fixed_type(ch: Chooser, wlo: int, whi: int, ilo: int, ihi: int, *, modes: bool = True,
               unsigned: float = 0.0, ints: float = 0.0) -> FixedType:
    """A random type: width in ``wlo..whi``, integer bits in ``ilo..ihi`` (may exceed the width or be negative),
    every rounding and overflow mode; ``ap_int``/``ap_uint`` with probability ``ints``."""
    width = ch.integer(wlo, whi)
    signed = not ch.chance(unsigned)
    if ch.chance(ints):
        return FixedType(width, width, signed, "TRN_ZERO", "WRAP", kind="int")
    integer = ch.integer(ilo, ihi)
    if not modes:
        return FixedType(width, integer, signed)
    return FixedType(width, integer, signed, ch.choice(ROUNDING_MODES), ch.choice(OVERFLOW_MODES))


def maybe(ch: Chooser, p: float, make: Callable[[], FixedType]) -> FixedType | None:
    """A type with probability ``p``; otherwise None (the op's own type rule picks)."""
    return make() if ch.chance(p) else None
