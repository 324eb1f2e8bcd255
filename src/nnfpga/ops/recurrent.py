"""Recurrent layers: LSTM, GRU (both ``reset_after`` conventions) and SimpleRNN, over a sequence ``(T, F)``.

Constants (Keras layout): ``kernel`` ``(F, G*u)``, ``recurrent_kernel`` ``(u, G*u)``, ``bias`` and
``recurrent_bias`` ``(G*u,)`` (zero where the framework has one bias), ``G`` gate blocks of ``u`` columns in
Keras's order: LSTM ``i, f, c, o``; GRU ``z, r, h``; SimpleRNN one block. Attributes: ``units``,
``return_sequences``, ``go_backwards`` (process the steps last to first; the outputs stay in processing order, as
Keras's), ``flip_output`` (reverse the output sequence: a Bidirectional's backward layer), ``activation`` and
``recurrent_activation`` (:data:`~nnfpga.ops.recurrent_arith.GATE_ACTIVATIONS`), ``reset_after`` (GRU),
``table_size`` / ``table_range`` (the gates' tables; default: each activation's own).

Fixed-point semantics (types by config slot; ``(t) v`` is a cast of the exact value ``v`` to type ``t``; every
product and every sum without a cast is exact; ``act`` / ``rec`` are the activation and recurrent activation: the
same tables (sigmoid, tanh) or exact clip (hard_sigmoid, hard_tanh) as the stand-alone activation layers, their output
in the ``table`` type). The state ``h`` (and the LSTM's cell ``c``) start at zero, in the ``state`` type. Per step,
with ``x`` the step's input in its producer's type:

1. ``zx = Dense(x; kernel, bias)`` and ``zh = Dense(h; recurrent_kernel, recurrent_bias)``, each with Dense's exact
   contract (:mod:`nnfpga.ops.dense`): weights in ``weight`` resp. ``recurrent_weight``, biases in ``bias``,
   ``acc = (accum) bias; acc = (accum)(acc + (accum)(in[i] * w[i, j]))`` input by input; ``zx`` of every step is
   computed before the loop (it does not depend on the state);
2. LSTM: ``z = (accum)(zx + zh)``; ``i, f, o = rec(z_i), rec(z_f), rec(z_o)``, ``g = act(z_c)``;
   ``c = (state)(f * c + i * g)``; ``h = (state)(o * act(c))`` (``act(c)`` reads ``c`` in the ``state`` type);
   GRU, ``reset_after=True`` (Keras 3's default, PyTorch's): ``zh`` over all three blocks,
   ``z, r = rec((accum)(zx_z + zh_z)), rec((accum)(zx_r + zh_r))``, ``n = act((accum)(zx_h + (accum)(r * zh_h)))``;
   GRU, ``reset_after=False``: ``zh`` over the ``z, r`` blocks only, then ``n = act((accum)(zx_h +
   Dense((state)(r * h); recurrent_kernel_h, recurrent_bias_h)))``; both: ``h = (state)(z * h + (1 - z) * n)``;
   SimpleRNN: ``h = (state) act((accum)(zx + zh))``;
3. the output of the step is ``(result) h``; the layer outputs every step's (``return_sequences``) or the last.

The default ``accum`` holds ``zx``, ``zh`` and their sum exactly (so with it step 1 and the sums of step 2 never
round or overflow); ``weight``, ``recurrent_weight`` and ``bias`` take the default width with integer bits for
their values, ``state`` the default precision, ``table`` two bits wider than it with 2 integer bits (signed: one
type for sigmoid and tanh), ``result`` the state's type (an identity cast).

The emulator runs the batch at once; the time steps are its only sequential loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nnfpga.errors import ConfigError, ShapeError
from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Node
from nnfpga.ops import recurrent_jit
from nnfpga.ops.base import Context, OpDef, Plan, QArray, RunStats, cast, register, set_default
from nnfpga.ops.dense import Dense, DensePlan, type_for_mantissa_range, weight_type
from nnfpga.ops.recurrent_arith import GATE_ACTIVATIONS, Gate, add, mul, one_minus, zeros
from nnfpga.ops.tables import TABLE_EXTRA_BITS

DENSE = Dense()
Fn = Callable[[np.ndarray], np.ndarray]


def _dense_probe(node: Node, kernel: np.ndarray, bias: np.ndarray, weight_slot: str) -> Node:
    """The Dense that one of the cell's matrix products is (same name: its overflow counts under ``accum``)."""
    return Node(node.name, "dense", [], (kernel.shape[1],), weights={"kernel": kernel, "bias": bias},
                types={"weight": node.types[weight_slot], "bias": node.types["bias"],
                       "accum": node.types["accum"], "result": node.types["accum"]})


@dataclass
class RecurrentPlan(Plan):
    """The cell's matrix products (``x``: input; ``h``: state; ``hc``: the GRU ``reset_after=False`` candidate's
    product with ``r * h``), and its gate activations; ``fused``: the LSTM's compiled time loop
    (:mod:`nnfpga.ops.recurrent_jit`) where it applies, never in the reference plan."""

    x: DensePlan
    h: DensePlan
    hc: DensePlan | None
    act: Gate
    rec: Gate | None
    fused: recurrent_jit.LstmKernel | None = None

    def reference(self) -> RecurrentPlan:
        return RecurrentPlan(x=self.x.reference(), h=self.h.reference(),
                             hc=self.hc.reference() if self.hc is not None else None, act=self.act, rec=self.rec)


class Recurrent(OpDef):
    """What LSTM, GRU and SimpleRNN share: slots, shapes, the type rule, the products and the time loop."""

    category = "recurrent"
    slots = ("weight", "recurrent_weight", "bias", "accum", "state", "table", "result")
    default_slots = ("weight", "recurrent_weight", "bias", "state", "result")
    const_slots = ("weight", "recurrent_weight", "bias", "table")
    weights = ("kernel", "recurrent_kernel", "bias", "recurrent_bias")
    reuse = True  # ReuseFactor: the input product's; RecurrentReuseFactor: the state product's (as in hls4ml)
    gates: int = 1

    def units(self, node: Node) -> int:
        return int(node.attrs["units"])

    def reuse_shape(self, node: Node) -> tuple[int, int]:
        """The input product, ``x_t`` (features) times the kernel (gates x units columns)."""
        k = np.shape(node.weights["kernel"])
        return int(k[0]), int(k[1])

    def recurrent_reuse_shape(self, node: Node) -> tuple[int, int]:
        """The state product, ``h`` (units) times the recurrent kernel (gates x units columns)."""
        k = np.shape(node.weights["recurrent_kernel"])
        return int(k[0]), int(k[1])

    def constants_by_slot(self, node: Node) -> list[tuple[str, np.ndarray]]:
        """The float constants each constant slot types (both biases are in ``bias``), for the profiling plots."""
        w = node.weights
        return [("weight", w["kernel"]), ("recurrent_weight", w["recurrent_kernel"]),
                ("bias", np.concatenate([w["bias"], w["recurrent_bias"]]))]

    def infer_shape(self, node: Node, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        u = int(node.attrs.get("units", 0))
        k, rk = np.shape(node.weights.get("kernel")), np.shape(node.weights.get("recurrent_kernel"))
        b, rb = np.shape(node.weights.get("bias")), np.shape(node.weights.get("recurrent_bias"))
        n = self.gates * u
        if len(in_shapes[0]) != 2:
            raise ShapeError(f"{node.describe()}: a recurrent layer reads a sequence of per-sample shape (steps, "
                             f"features), got {in_shapes[0]}")
        if u < 1 or k != (in_shapes[0][1], n) or rk != (u, n) or b != (n,) or rb != (n,):
            raise ShapeError(f"{node.describe()}: constants kernel {k}, recurrent_kernel {rk}, bias {b}, "
                             f"recurrent_bias {rb} do not fit {u} units of {self.gates} gate(s) on "
                             f"{in_shapes[0][1]} features")
        return (in_shapes[0][0], u) if node.attrs.get("return_sequences") else (u,)

    def infer_types(self, node: Node, in_types: list[FixedType], ctx: Context) -> None:
        width = ctx.default.width
        set_default(node, "weight", weight_type(node.weights["kernel"], width))
        set_default(node, "recurrent_weight", weight_type(node.weights["recurrent_kernel"], width))
        set_default(node, "bias", weight_type(np.concatenate([node.weights["bias"], node.weights["recurrent_bias"]]),
                                              width))
        set_default(node, "state", ctx.default)
        set_default(node, "table", FixedType(width + TABLE_EXTRA_BITS, 2, signed=True))
        set_default(node, "result", node.types["state"])
        if node.types.get("accum") is None:
            node.types["accum"] = self.exact_accum(node, in_types[0])

    def exact_accum(self, node: Node, tx: FixedType) -> FixedType:
        """A type holding ``zx``, ``zh`` and ``zx + zh`` exactly, whatever the input and the state."""
        ts = node.types["state"]
        parts = []
        for kernel, bias, slot, t_in in ((node.weights["kernel"], node.weights["bias"], "weight", tx),
                                         (node.weights["recurrent_kernel"], node.weights["recurrent_bias"],
                                          "recurrent_weight", ts)):
            probe = Node(node.name, "dense", [], (kernel.shape[1],), weights={"kernel": kernel, "bias": bias},
                         types={"weight": node.types[slot], "bias": node.types["bias"]})
            parts.append(DENSE.exact_accum(probe, t_in))
        f = max(p.frac for p in parts)
        lo = sum(p.min_mantissa << (f - p.frac) for p in parts)
        hi = sum(p.max_mantissa << (f - p.frac) for p in parts)
        return type_for_mantissa_range(min(lo, 0), max(hi, 0), f)

    def h_columns(self, node: Node) -> slice:
        """The state product's columns (all of them but for the GRU ``reset_after=False``)."""
        return slice(None)

    def prepare(self, node: Node, in_types: list[FixedType]) -> RecurrentPlan:
        ts, ta, tt = node.types["state"], node.types["accum"], node.types["table"]
        w = node.weights
        cols = self.h_columns(node)
        x = DENSE.prepare(_dense_probe(node, w["kernel"], w["bias"], "weight"), [in_types[0]])
        h = DENSE.prepare(_dense_probe(node, w["recurrent_kernel"][:, cols], w["recurrent_bias"][cols],
                                       "recurrent_weight"), [ts])
        hc = None
        if cols != slice(None):
            rest = slice(cols.stop, None)
            hc = DENSE.prepare(_dense_probe(node, w["recurrent_kernel"][:, rest], w["recurrent_bias"][rest],
                                            "recurrent_weight"), [ts])
        rec = Gate.build(node, "recurrent_activation", tt, ta) if self.gates > 1 else None
        return RecurrentPlan(x=x, h=h, hc=hc, act=Gate.build(node, "activation", tt, ta), rec=rec)

    # -- kernels -------------------------------------------------------------------------------
    def run_fixed(self, node: Node, xs: list[QArray], prep: RecurrentPlan, stats: RunStats) -> QArray:
        x, ta, ts = xs[0], node.types["accum"], node.types["state"]
        b, steps, feats = x.m.shape
        if prep.fused is not None:
            return self.run_fused(node, x, prep.fused, stats)
        zx_all = DENSE.accumulate(node.name, QArray(x.m.reshape(b * steps, feats), x.t), prep.x, ta, stats)
        zx_all = QArray(zx_all.m.reshape(b, steps, -1), ta)
        u = self.units(node)
        state = {"h": zeros((b, u), ts), "c": zeros((b, u), ts)}
        outs = []
        for t in self.order(node, steps):
            zx = QArray(zx_all.m[:, t, :], ta)
            self.step(node, zx, state, prep, stats)
            outs.append(state["h"])
        return self.output(node, [o.m for o in outs], ts, stats)

    def run_fused(self, node: Node, x: QArray, fused: recurrent_jit.LstmKernel, stats: RunStats) -> QArray:
        """The layer by the compiled kernel: the states and overflow tallies the products and :meth:`step` give."""
        steps = x.m.shape[1]
        keep_all = bool(node.attrs.get("return_sequences"))
        hs, acc, state = fused.run(x, self.order(node, steps), keep_all)
        stats.record(node.name, "accum", acc)
        stats.record(node.name, "state", state)
        return self.output(node, [hs[:, s, :] for s in range(hs.shape[1])], node.types["state"], stats)

    def step(self, node: Node, zx: QArray, state: dict[str, QArray], prep: RecurrentPlan, stats: RunStats) -> None:
        raise NotImplementedError

    def order(self, node: Node, steps: int) -> range:
        return range(steps - 1, -1, -1) if node.attrs.get("go_backwards") else range(steps)

    def output(self, node: Node, hs: list[np.ndarray], t: FixedType, stats: RunStats) -> QArray:
        if not node.attrs.get("return_sequences"):
            return cast(node, QArray(hs[-1], t), "result", stats)
        if node.attrs.get("flip_output"):
            hs = hs[::-1]
        return cast(node, QArray(np.stack(hs, axis=1), t), "result", stats)

    def run_float(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        x = np.asarray(xs[0], dtype=np.float64)
        w = {k: np.asarray(v, dtype=np.float64) for k, v in node.weights.items()}
        b, steps, _ = x.shape
        u = self.units(node)
        zx_all = x @ w["kernel"] + w["bias"]
        state = {"h": np.zeros((b, u)), "c": np.zeros((b, u))}
        act = _float_act(node, "activation")
        rec = _float_act(node, "recurrent_activation") if self.gates > 1 else act
        hs = []
        for t in self.order(node, steps):
            self.step_float(node, zx_all[:, t, :], state, w, act, rec)
            hs.append(state["h"])
        if not node.attrs.get("return_sequences"):
            return hs[-1]
        return np.stack(hs[::-1] if node.attrs.get("flip_output") else hs, axis=1)

    def step_float(self, node: Node, zx: np.ndarray, state: dict[str, np.ndarray], w: dict[str, np.ndarray],
                   act: Fn, rec: Fn) -> None:
        raise NotImplementedError


def _float_act(node: Node, which: str) -> Callable[[np.ndarray], np.ndarray]:
    """The float function of the node's ``activation`` or ``recurrent_activation``."""
    name = node.attrs.get(which)
    if name not in GATE_ACTIVATIONS:
        raise ConfigError(f"{node.describe()}: {which} {name!r} is not supported in a recurrent cell; supported: "
                          f"{', '.join(GATE_ACTIVATIONS)} (change the layer's {which})")
    if name == "sigmoid":
        return lambda v: 0.5 * (1.0 + np.tanh(0.5 * v))
    if name == "tanh":
        return np.tanh
    op, attrs = GATE_ACTIVATIONS[name]
    if op == "hard_tanh":
        return lambda v: np.clip(v, -1.0, 1.0)
    slope, offset = attrs["slope"], attrs["offset"]
    return lambda v: np.clip(slope * v + offset, 0.0, 1.0)


def _acc(node: Node, v: QArray, stats: RunStats) -> QArray:
    """``(accum) v``, counting overflow under (node, ``accum``)."""
    return cast(node, v, "accum", stats)


def _state(node: Node, v: QArray, stats: RunStats) -> QArray:
    return cast(node, v, "state", stats)


def _cols(v: QArray, k: int, u: int) -> QArray:
    return QArray(v.m[:, k * u:(k + 1) * u], v.t)


@register
class SimpleRNN(Recurrent):
    name = "simple_rnn"
    config_name = "SimpleRNN"
    gates = 1

    def step(self, node: Node, zx: QArray, state: dict[str, QArray], prep: RecurrentPlan, stats: RunStats) -> None:
        zh = DENSE.accumulate(node.name, state["h"], prep.h, node.types["accum"], stats)
        state["h"] = _state(node, prep.act(_acc(node, add(zx, zh), stats)), stats)

    def step_float(self, node: Node, zx: np.ndarray, state: dict[str, np.ndarray], w: dict[str, np.ndarray],
                   act: Fn, rec: Fn) -> None:
        state["h"] = act(zx + state["h"] @ w["recurrent_kernel"] + w["recurrent_bias"])


@register
class LSTM(Recurrent):
    name = "lstm"
    config_name = "LSTM"
    gates = 4

    def prepare(self, node: Node, in_types: list[FixedType]) -> RecurrentPlan:
        plan = super().prepare(node, in_types)
        plan.fused = recurrent_jit.plan(node, in_types[0], plan.x, plan.h, plan.rec, plan.act)
        return plan

    def step(self, node: Node, zx: QArray, state: dict[str, QArray], prep: RecurrentPlan, stats: RunStats) -> None:
        u = self.units(node)
        zh = DENSE.accumulate(node.name, state["h"], prep.h, node.types["accum"], stats)
        z = _acc(node, add(zx, zh), stats)
        i, f, o = prep.rec(_cols(z, 0, u)), prep.rec(_cols(z, 1, u)), prep.rec(_cols(z, 3, u))
        g = prep.act(_cols(z, 2, u))
        state["c"] = c = _state(node, add(mul(f, state["c"]), mul(i, g)), stats)
        state["h"] = _state(node, mul(o, prep.act(c)), stats)

    def step_float(self, node: Node, zx: np.ndarray, state: dict[str, np.ndarray], w: dict[str, np.ndarray],
                   act: Fn, rec: Fn) -> None:
        u = self.units(node)
        z = zx + state["h"] @ w["recurrent_kernel"] + w["recurrent_bias"]
        i, f, g, o = rec(z[:, :u]), rec(z[:, u:2 * u]), act(z[:, 2 * u:3 * u]), rec(z[:, 3 * u:])
        state["c"] = f * state["c"] + i * g
        state["h"] = o * act(state["c"])


@register
class GRU(Recurrent):
    name = "gru"
    config_name = "GRU"
    gates = 3

    def h_columns(self, node: Node) -> slice:
        return slice(None) if node.attrs.get("reset_after", True) else slice(0, 2 * self.units(node))

    def step(self, node: Node, zx: QArray, state: dict[str, QArray], prep: RecurrentPlan, stats: RunStats) -> None:
        u, ta, h = self.units(node), node.types["accum"], state["h"]
        zh = DENSE.accumulate(node.name, h, prep.h, ta, stats)
        z = prep.rec(_acc(node, add(_cols(zx, 0, u), _cols(zh, 0, u)), stats))
        r = prep.rec(_acc(node, add(_cols(zx, 1, u), _cols(zh, 1, u)), stats))
        if prep.hc is None:  # reset_after: r scales the state's product
            hh = _acc(node, mul(r, _cols(zh, 2, u)), stats)
        else:  # reset before: the state is scaled, then multiplied
            hh = DENSE.accumulate(node.name, _state(node, mul(r, h), stats), prep.hc, ta, stats)
        n = prep.act(_acc(node, add(_cols(zx, 2, u), hh), stats))
        state["h"] = _state(node, add(mul(z, h), mul(one_minus(z), n)), stats)

    def step_float(self, node: Node, zx: np.ndarray, state: dict[str, np.ndarray], w: dict[str, np.ndarray],
                   act: Fn, rec: Fn) -> None:
        u, h = self.units(node), state["h"]
        rk, rb = w["recurrent_kernel"], w["recurrent_bias"]
        zh = h @ rk[:, :2 * u] + rb[:2 * u]
        z, r = rec(zx[:, :u] + zh[:, :u]), rec(zx[:, u:2 * u] + zh[:, u:])
        if node.attrs.get("reset_after", True):
            hh = r * (h @ rk[:, 2 * u:] + rb[2 * u:])
        else:
            hh = (r * h) @ rk[:, 2 * u:] + rb[2 * u:]
        n = act(zx[:, 2 * u:] + hh)
        state["h"] = z * h + (1.0 - z) * n
