"""What pruning saves in hardware, read from a converted model: per Dense layer, its weights, the nonzero ones
after quantization (a weight that quantizes to zero is pruned too), and the multipliers and adders they cost.

- Multipliers: one per nonzero weight at ReuseFactor 1 (the HLS C++ writes no multiply for a zero weight; the
  Verilog backend's ``Multipliers: operator`` neither); at ReuseFactor R > 1, the Verilog backend's count (nonzero
  weights packed R to a multiplier, :mod:`nnfpga.backends.rtl.reuse`).
- Adders (``adders=True``, ReuseFactor 1 only): the two-input adders of the Verilog backend's shift-and-add graph
  (:mod:`nnfpga.backends.rtl.cmvm`), the cost Yosys then maps to LUTs; a cheap stand-in for a synthesis run
  (about a second for the 16-bit jet MLP; a Yosys run takes minutes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from nnfpga.model import HWModel


@dataclass(frozen=True)
class DenseCost:
    layer: str
    weights: int
    nonzero: int
    reuse_factor: int
    multipliers: int
    adders: int | None = None

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzero / self.weights if self.weights else 0.0


def dense_costs(hw: HWModel, *, adders: bool = False) -> list[DenseCost]:
    """One :class:`DenseCost` per Dense layer of ``hw``, in graph order."""
    from nnfpga.backends.rtl import cmvm, reuse

    out = []
    for node in hw.graph:
        if node.op != "dense":
            continue
        wm = np.asarray(hw.interpreter.prep[node.name].wm)
        rf = int(node.attrs.get("reuse_factor", 1))
        nonzero = int(np.count_nonzero(wm))
        ints = [[int(v) for v in row] for row in wm.tolist()]
        mults = nonzero if rf == 1 else sum(len(s) for s in reuse.plan(ints, rf))
        n_add = cmvm.plan(ints).n_adders if adders and rf == 1 else None
        out.append(DenseCost(node.name, int(wm.size), nonzero, rf, mults, n_add))
    return out


def multipliers(hw: HWModel) -> int:
    """The multipliers of all Dense layers of ``hw`` (see the module docstring)."""
    return sum(c.multipliers for c in dense_costs(hw))


def cost_table(hw: HWModel, *, adders: bool = False) -> str:
    """:func:`dense_costs` as a text table, with a total row."""
    from nnfpga.model import format_table

    costs = dense_costs(hw, adders=adders)
    rows = [("layer", "weights", "nonzero", "sparsity", "reuse", "multipliers", *(("adders",) if adders else ()))]
    for c in [*costs, DenseCost("total", sum(c.weights for c in costs), sum(c.nonzero for c in costs), 0,
                                sum(c.multipliers for c in costs),
                                sum(c.adders or 0 for c in costs) if adders else None)]:
        rows.append((c.layer, str(c.weights), str(c.nonzero), f"{c.sparsity:.1%}",
                     str(c.reuse_factor) if c.reuse_factor else "", str(c.multipliers),
                     *((str(c.adders) if c.adders is not None else "-",) if adders else ())))
    return format_table(rows)
