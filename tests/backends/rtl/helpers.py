"""Helpers of the Verilog backend tests: the emulator in mantissa form and input mixes with extremes."""

from __future__ import annotations

import warnings

import numpy as np

import nnfpga
from nnfpga.fixed import FixedType, from_float, to_float
from nnfpga.ir.graph import Graph


def in_out_types(graph: Graph) -> tuple[FixedType, FixedType]:
    return graph[graph.inputs[0]].types["result"], graph[graph.outputs[0]].types["result"]


def emulate_mantissas(hw: nnfpga.HWModel, m: np.ndarray) -> np.ndarray:
    """The emulator's output mantissas for input mantissas ``m`` (batch, n_in)."""
    tin, tout = in_out_types(hw.graph)
    assert tin.width <= 53 and tout.width <= 53
    x = to_float(m, tin).reshape((len(m), *hw.graph[hw.graph.inputs[0]].shape))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)  # extreme inputs overflow on purpose
        y = hw.predict(x)
    return np.ldexp(y, tout.frac).astype(np.int64).reshape(len(m), -1)


def mixed_mantissas(x_real: np.ndarray, t: FixedType, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rows of input mantissas: the quantized ``x_real`` rows (as many as fit in half), uniformly random
    mantissas over the whole type (they overflow the layers' types), and rows of extremes (min, max, 0, +-1,
    alternating min/max)."""
    n_feat = x_real.shape[1]
    real, _ = from_float(x_real[: n // 2], t)
    lo, hi = t.min_mantissa, t.max_mantissa
    extremes = np.array([[lo] * n_feat, [hi] * n_feat, [0] * n_feat, [1] * n_feat, [max(lo, -1)] * n_feat,
                         [lo if i % 2 else hi for i in range(n_feat)], [hi if i % 2 else lo for i in range(n_feat)]])
    corners = rng.choice([lo, hi, 0], size=(200, n_feat))
    rest = n - len(real) - len(extremes) - len(corners)
    uniform = rng.integers(lo, hi, size=(rest, n_feat), endpoint=True)
    return np.concatenate([np.asarray(real, dtype=np.int64), extremes, corners, uniform]).astype(np.int64)
