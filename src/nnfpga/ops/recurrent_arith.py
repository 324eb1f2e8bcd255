"""Exact fixed-point helpers of the recurrent cells (:mod:`nnfpga.ops.recurrent`): products, sums and ``1 - z``
of :class:`QArray` values without any rounding, in the storage dtype their width needs, and the gate activations
(the same ops, tables and constants as the stand-alone activation layers, run on a probe node)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nnfpga.errors import ConfigError
from nnfpga.fixed import FixedType
from nnfpga.fixed.arith import as_storage
from nnfpga.ir.graph import Node
from nnfpga.ops.activations import PARAM_WIDTH
from nnfpga.ops.base import OPS, Plan, QArray, RunStats
from nnfpga.ops.dense import weight_type

# The gate activations a recurrent node may name -> (the op computing it, its attributes). hard_sigmoid is
# Keras 3's (relu6(x + 3) / 6, also torch's Hardsigmoid); hard_sigmoid_keras2 Keras 2's clip(0.2 x + 0.5, 0, 1)
# (0.2 in the clip's param type, as the stand-alone layer's); hard_sigmoid_qkeras QKeras's clip(0.5 x + 0.5, 0, 1);
# hard_tanh clip(x, -1, 1) (QKeras's quantized_tanh without use_real_tanh, its own hard_tanh).
GATE_ACTIVATIONS: dict[str, tuple[str, dict[str, float]]] = {
    "sigmoid": ("sigmoid", {}),
    "tanh": ("tanh", {}),
    "hard_sigmoid": ("hard_sigmoid", {"slope": 1 / 6, "offset": 0.5}),
    "hard_sigmoid_keras2": ("hard_sigmoid", {"slope": 0.2, "offset": 0.5}),
    "hard_sigmoid_qkeras": ("hard_sigmoid", {"slope": 0.5, "offset": 0.5}),
    "hard_tanh": ("hard_tanh", {}),
}


def exact_type(bits: int, frac: int) -> FixedType:
    """A signed ``bits``-bit type with ``frac`` fractional bits (the type of an exact intermediate value)."""
    return FixedType(bits, bits - frac, signed=True)


def _scale(m: np.ndarray, k: int) -> np.ndarray:
    """``m * 2**k`` (``k >= 0``), exact in ``m``'s dtype (the caller chose a wide enough one)."""
    if k == 0:
        return m
    return m * 2.0**k if m.dtype == np.float64 else m * (1 << k)


def mul(a: QArray, b: QArray) -> QArray:
    """``a * b`` exactly (elementwise, broadcasting)."""
    bits = a.t.width + b.t.width + 1
    return QArray(as_storage(np.asarray(a.m), bits) * as_storage(np.asarray(b.m), bits),
                  exact_type(bits, a.t.frac + b.t.frac))


def add(*terms: QArray) -> QArray:
    """The exact sum of ``terms`` (elementwise, broadcasting), on the finest of their grids."""
    f = max(t.t.frac for t in terms)
    bits = max(t.t.width + f - t.t.frac for t in terms) + len(terms)
    total = None
    for t in terms:
        m = _scale(as_storage(np.asarray(t.m), bits), f - t.t.frac)
        total = m if total is None else total + m
    return QArray(total, exact_type(bits, f))


def one_minus(z: QArray) -> QArray:
    """``1 - z`` exactly."""
    if z.t.frac < 0:  # an LSB above 1 cannot hold 1: add on the integer grid
        return add(QArray(np.asarray(1.0), exact_type(2, 0)), negate(z))
    bits = max(z.t.width, z.t.frac + 2) + 2
    one = as_storage(np.asarray(1 << z.t.frac), bits)
    return QArray(one - as_storage(np.asarray(z.m), bits), exact_type(bits, z.t.frac))


def negate(z: QArray) -> QArray:
    bits = z.t.width + 1
    return QArray(-as_storage(np.asarray(z.m), bits), exact_type(bits, z.t.frac))


def zeros(shape: tuple[int, ...], t: FixedType) -> QArray:
    """A zero state of type ``t``."""
    return QArray(as_storage(np.zeros(shape), t.width), t)


@dataclass
class Gate:
    """A gate activation: the op (:data:`GATE_ACTIVATIONS`) on a probe node typed to output the ``table`` type."""

    name: str
    probe: Node
    plan: Plan

    @staticmethod
    def build(node: Node, which: str, table: FixedType, in_type: FixedType) -> Gate:
        key = node.attrs.get(which)
        if key not in GATE_ACTIVATIONS:
            raise ConfigError(f"{node.describe()}: {which} {key!r} is not supported in a recurrent cell; supported: "
                              f"{', '.join(GATE_ACTIVATIONS)} (change the layer's {which})")
        op, attrs = GATE_ACTIVATIONS[key]
        attrs = dict(attrs)
        for a in ("table_size", "table_range"):
            if a in node.attrs:
                attrs[a] = node.attrs[a]
        types: dict[str, Any] = {"result": table}
        if OPS[op].category == "table":
            types["table"] = table
        elif "slope" in attrs:
            types["param"] = weight_type(np.array([attrs["slope"], attrs["offset"], 1.0]), PARAM_WIDTH)
        probe = Node(f"{node.name}.{which}", op, [], node.shape, attrs, types=types, source=node.source)
        return Gate(key, probe, OPS[op].prepare(probe, [in_type]))

    def __call__(self, x: QArray) -> QArray:
        """The activation of ``x`` in the table type (a table lookup, or hard_sigmoid's / hard_tanh's exact clip
        then cast)."""
        return OPS[self.probe.op].run_fixed(self.probe, [x], self.plan, RunStats())
