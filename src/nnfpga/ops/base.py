"""What an op is: its category, its type slots, its type rule and its two NumPy kernels.

Every op in :data:`OPS` owns, in one class:
- ``infer_shape``: the per-sample output shape (channels-last, :mod:`nnfpga.ir.layout`) from the inputs';
- ``infer_types``: fills the node's type slots the config left open (``None`` or ``"auto"``);
- ``prepare``: a typed :class:`Plan` of constants derived once per graph (what every backend also emits);
- ``run_fixed``: the bit-exact kernel on mantissas (:class:`QArray`);
- ``run_float``: the float reference kernel.
Backends lower ops; they never redefine these semantics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from nnfpga.errors import GraphError
from nnfpga.fixed import FixedType, Overflow, requantize, to_float
from nnfpga.ir.graph import Node
from nnfpga.ops import cast_jit


@dataclass
class QArray:
    """Fixed-point array: integer mantissas ``m`` (storage per :func:`nnfpga.fixed.storage_dtype`) of type ``t``."""

    m: np.ndarray
    t: FixedType

    def values(self) -> np.ndarray:
        return to_float(self.m, self.t)


@dataclass
class Plan:
    """What an op derives once per graph from its node and input types (quantized constants, tables, how to
    compute): the emulator's kernels and every backend's lowering read the same plan. Ops subclass it."""

    def reference(self) -> Plan:
        """The plan for the op's literal semantics, without fast paths (the emulator's reference mode)."""
        return self


@dataclass
class Context:
    """What the model-wide defaults are, when type rules need them."""

    default: FixedType


@dataclass
class RunStats:
    """Overflow tallies of one run, per node and type slot (``"result"``, ``"accum"``...)."""

    overflow: dict[tuple[str, str], Overflow] = field(default_factory=dict)
    #: node -> the values cast into its ``result`` type (before rounding and overflow), one array per chunk; kept
    #: only when not ``None`` (``Interpreter.run(..., precast=True)``: profiling)
    precast: dict[str, list[np.ndarray]] | None = None

    def record(self, node: str, slot: str, ov: Overflow) -> None:
        self.overflow.setdefault((node, slot), Overflow()).add(ov)

    def observe(self, node: str, values: QArray | np.ndarray) -> None:
        """Keep the values about to be cast into ``node``'s result type, when this run keeps them."""
        if self.precast is not None:
            self.precast.setdefault(node, []).append(values.values() if isinstance(values, QArray) else
                                                     np.asarray(values, dtype=np.float64))


class OpDef:
    """Base of all op definitions. Subclasses set ``name``, ``category``, ``slots``."""

    name: ClassVar[str]  # the IR's op name (the key of OPS)
    config_name: ClassVar[str]  # its hls4ml config type name (LayerType key), e.g. "Dense"
    #: every LayerType name that selects nodes of this op, when there are several (``config_type`` picks a node's;
    #: e.g. conv: Conv1D, Conv2D, DepthwiseConv1D, DepthwiseConv2D); empty: only ``config_name``
    config_names: ClassVar[tuple[str, ...]] = ()
    category: ClassVar[str]  # "io", "linear", "pool", "activation", "table", "shape", "merge"
    slots: ClassVar[tuple[str, ...]] = ("result",)  # its fixed-point types, by config Precision key
    default_slots: ClassVar[tuple[str, ...]] = ()  # slots a default config chooses (the others are "auto")
    const_slots: ClassVar[tuple[str, ...]] = ()  # slots that type constants (weights, tables), not signals
    weights: ClassVar[tuple[str, ...]] = ()  # the float constant arrays a node of this op carries
    min_inputs: ClassVar[int] = 1  # how many producers a node of this op reads (category "merge": several)
    max_inputs: ClassVar[int | None] = 1
    view: ClassVar[bool] = False  # the output is the input's values in the same flat order (no logic)
    reuse: ClassVar[bool] = False  # ReuseFactor applies (see reuse_factors)
    pipeline_stages: ClassVar[int] = 0  # registers after the layer in a pipelined backend, by default

    def config_type(self, node: Node) -> str:
        """The hls4ml config type name (LayerType key) of this node: ``config_name`` unless the op has several."""
        return self.config_name

    def reuse_shape(self, node: Node) -> tuple[int, int]:
        """(inputs, outputs) of the multiplications ReuseFactor shares (ops with ``reuse``)."""
        raise NotImplementedError

    def reuse_factors(self, node: Node) -> list[int]:
        """The ReuseFactors a node of this op can be built with: each of the ``n_in * n_out / R`` multipliers is
        used exactly ``R`` times, so ``R`` divides ``n_in * n_out`` (ops without ``reuse``: only 1)."""
        if not self.reuse:
            return [1]
        n_in, n_out = self.reuse_shape(node)
        total = n_in * n_out
        return [r for r in range(1, total + 1) if total % r == 0]

    # -- shape rule ----------------------------------------------------------------------------
    def infer_shape(self, node: Node, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        """The per-sample output shape from the inputs' (default: the first input's, elementwise ops); raises
        ShapeError when the inputs or the node's constants do not fit."""
        return in_shapes[0]

    # -- type rule -----------------------------------------------------------------------------
    def infer_types(self, node: Node, in_types: list[FixedType], ctx: Context) -> None:
        """Default rule: the result keeps the input's type (exact)."""
        set_default(node, "result", in_types[0])

    # -- kernels -------------------------------------------------------------------------------
    def prepare(self, node: Node, in_types: list[FixedType]) -> Plan:
        """The node's :class:`Plan`: constants derived once per graph (quantized weights, tables...)."""
        return Plan()

    def run_fixed(self, node: Node, xs: list[QArray], prep: Any, stats: RunStats) -> QArray:
        raise NotImplementedError

    def run_float(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError


OPS: dict[str, OpDef] = {}


def register(cls: type[OpDef]) -> type[OpDef]:
    """Add an op record to :data:`OPS`, refusing an incomplete one (a programming error, caught at import)."""
    missing = [a for a in ("name", "config_name", "category") if not isinstance(getattr(cls, a, None), str)]
    bad = [s for s in (*cls.default_slots, *cls.const_slots) if s not in cls.slots]
    if missing or bad or "result" not in cls.slots:
        raise TypeError(f"op record {cls.__name__} is incomplete: missing {missing}, slots {bad} not in its slots "
                        f"{cls.slots} (which must hold 'result')")
    OPS[cls.name] = cls()
    return cls


def check_arity(op: OpDef, node: Node, n: int) -> None:
    """GraphError unless ``node`` reads as many producers as ``op`` takes."""
    lo, hi = op.min_inputs, op.max_inputs
    if n < lo or (hi is not None and n > hi):
        want = str(lo) if hi == lo else f"at least {lo}" if hi is None else f"{lo} to {hi}"
        raise GraphError(f"{node.describe()} has {n} input(s); {op.name} takes {want}")


def set_default(node: Node, slot: str, t: FixedType) -> None:
    """Give ``slot`` the type ``t`` unless the config already chose one."""
    if node.types.get(slot) is None:
        node.types[slot] = t


def cast(node: Node, x: QArray, slot: str, stats: RunStats) -> QArray:
    """Convert ``x`` to the node's ``slot`` type, recording overflow under (node, slot)."""
    dst = node.types[slot]
    if slot == "result":
        stats.observe(node.name, x)
    if dst == x.t:
        stats.record(node.name, slot, Overflow(0, int(np.size(x.m))))
        return x
    if x.m.dtype == np.float64 and cast_jit.usable(x.t, dst):  # one compiled pass, the same integers
        m, ov = cast_jit.cast(x.m, x.t, dst)
    else:
        m, ov = requantize(x.m, x.t.frac, x.t.width, dst)
    stats.record(node.name, slot, ov)
    return QArray(m, dst)
