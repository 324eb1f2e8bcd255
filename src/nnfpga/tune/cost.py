"""A cheap hardware cost model for the precision search: estimated LUTs of the Verilog backend's Dense layers.

Yosys synthesis of the jet MLP takes minutes; the search needs a cost for each of hundreds of candidate
configs. This model reads the typed graph and the quantized weights the backends use (the emulator's plans),
in milliseconds:

- **ReuseFactor 1** (the Verilog backend's adder graphs, :mod:`nnfpga.backends.rtl.cmvm`): every weight is
  written in canonical signed digits (CSD), and each nonzero digit is one shifted copy of the layer's input
  added into the output's sum. A two-input adder costs about one LUT per bit on Xilinx (LUT + carry chain), and
  each addend is as wide as the input type, so a Dense costs ``input width x (CSD digits of its quantized
  weights + nonzero biases)`` LUTs. Fewer fractional weight bits remove digits; a narrower input (the previous
  layer's result) narrows every adder. The backend's subexpression sharing removes a part of the adders that
  this count keeps: the figure is an upper-bound-like estimate meant for comparing configs of one model, not
  a synthesis result (``benchmarks/tune_precision.py`` puts it beside Yosys).
- **ReuseFactor R > 1**: ``ceil(nonzero weights / R)`` multipliers of ``input width x weight width`` bits, each
  ``min(input width x weight width / 2, 55)`` (a LUT array multiplier, or one DSP counted as 55 LUTs, whichever
  is cheaper: the ``LUT + 55 x DSP`` figure of ``benchmarks/hardware.py``).

Other layers (ReLU, casts, the softmax's ROMs) are not counted: their cost changes little with the precisions
the search chooses (a cast that truncates and wraps is wiring).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nnfpga.reports.hardware import DSP_LUTS

if TYPE_CHECKING:
    from nnfpga.model import HWModel



@dataclass(frozen=True)
class LayerCost:
    """The estimate of one Dense layer: its input width, nonzero weights, CSD digits (ReuseFactor 1) or
    multipliers (ReuseFactor > 1), and the estimated LUTs."""

    name: str
    input_width: int
    weight_width: int
    nonzero_weights: int
    csd_digits: int
    reuse_factor: int
    luts: float


def csd_digits(mantissas: np.ndarray) -> np.ndarray:
    """Nonzero digits of each integer's canonical signed-digit form (elementwise): ``popcount(n ^ 3n)`` of
    ``|n|``, the count :func:`nnfpga.backends.rtl.cmvm.csd` produces one digit at a time."""
    m = np.asarray(mantissas)
    if m.dtype != object and m.size and int(np.abs(m).max()) < (1 << 60):
        a = np.abs(m.astype(np.int64))
        return np.bitwise_count(a ^ (3 * a)).astype(np.int64)
    flat = [abs(int(v)) for v in m.ravel()]  # Python ints: any width
    return np.array([(v ^ (3 * v)).bit_count() for v in flat], dtype=np.int64).reshape(m.shape)


def layer_costs(hw: HWModel) -> list[LayerCost]:
    """The estimate of every Dense layer of ``hw`` (see the module docstring)."""
    out = []
    for node in hw.graph:
        if node.op != "dense":
            continue
        plan = hw.interpreter.prep[node.name]
        wx = hw.graph[node.inputs[0]].types["result"].width
        ww = node.types["weight"].width
        wm = np.asarray(plan.wm)
        nonzero = int(np.count_nonzero(wm))
        digits = int(csd_digits(wm).sum())
        rf = int(node.attrs.get("reuse_factor", 1))
        if rf == 1:
            luts = float(wx * (digits + int(np.count_nonzero(np.asarray(plan.b_acc)))))
        else:
            luts = math.ceil(nonzero / rf) * min(wx * ww / 2, DSP_LUTS)
        out.append(LayerCost(node.name, wx, ww, nonzero, digits, rf, luts))
    return out


def estimate_cost(hw: HWModel) -> float:
    """Estimated LUTs (DSPs as 55 LUTs) of ``hw``'s Dense layers: the precision search's cost."""
    return float(sum(c.luts for c in layer_costs(hw)))


__all__ = ["DSP_LUTS", "LayerCost", "csd_digits", "estimate_cost", "layer_costs"]
