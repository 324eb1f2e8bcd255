"""LSTM, GRU (both reset_after conventions) and SimpleRNN against a slow reference of the semantics documented in
:mod:`nnfpga.ops.recurrent`: per sample, per step, in Python ints and Fractions (``tests/fxref.py``), with its own
table lookups and hard sigmoid. Random small cases with random types (rounding and overflow modes included) and
inputs at the extremes of their type; the batched emulator (and its reference mode) must give the same bits."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import numpy as np
import pytest

import fxref
from nnfpga.emulate import Interpreter
from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Graph, Node
from nnfpga.passes import infer_types

ROUNDINGS = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
OVERFLOWS = ("WRAP", "SAT", "SAT_ZERO")
GATES = {"lstm": 4, "gru": 3, "simple_rnn": 1}
FLOAT_F = {"sigmoid": lambda v: 0.5 * (1.0 + np.tanh(0.5 * v)), "tanh": np.tanh}
DEFAULT_RANGE = {"sigmoid": 8.0, "tanh": 4.0}


def rtype(rng: np.random.Generator, wmin: int, wmax: int, *, imin: int = -1, imax: int = 4,
          overflow: str | None = None) -> FixedType:
    width = int(rng.integers(wmin, wmax + 1))
    integer = int(rng.integers(imin, imax + 1))
    return FixedType(width, integer, True, ROUNDINGS[int(rng.integers(len(ROUNDINGS)))],
                     overflow or OVERFLOWS[int(rng.integers(len(OVERFLOWS)))])


def make_case(seed: int, op: str) -> tuple[Graph, list[list[list[int]]], FixedType]:
    rng = np.random.default_rng(seed)
    steps, feats, u = int(rng.integers(2, 5)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
    n = GATES[op] * u
    scale = float(rng.choice([0.5, 1.0, 3.0]))
    weights = {"kernel": rng.uniform(-scale, scale, (feats, n)), "recurrent_kernel": rng.uniform(-scale, scale, (u, n)),
               "bias": rng.uniform(-1, 1, n), "recurrent_bias": rng.uniform(-1, 1, n) * (seed % 2)}
    acts = ("sigmoid", "tanh", "hard_sigmoid")
    attrs = {"units": u, "return_sequences": bool(seed % 3), "go_backwards": bool(seed % 4 == 1),
             "flip_output": bool(seed % 5 == 2), "activation": acts[seed % 3 if op == "simple_rnn" else 1],
             "recurrent_activation": acts[(seed // 3) % 3 if op != "simple_rnn" else 0],
             "reset_after": bool(seed % 2), "table_size": int(rng.choice([32, 64, 128]))}
    if seed % 4 == 3:
        attrs["table_range"] = float(rng.choice([2.0, 4.0]))
    tx = rtype(rng, 3, 9, imin=1)
    types = {"weight": rtype(rng, 3, 8, imin=0, imax=3), "recurrent_weight": rtype(rng, 3, 8, imin=0, imax=3),
             "bias": rtype(rng, 3, 8, imin=0, imax=2), "state": rtype(rng, 6, 12, imin=1, imax=4),
             "table": rtype(rng, 6, 12, imin=1, imax=2, overflow="SAT"), "result": rtype(rng, 5, 12, imin=0)}
    if seed % 3:  # a narrow accumulator (rounds and overflows); otherwise the exact default
        types["accum"] = rtype(rng, 5, 12, imin=1, imax=5)
    g = Graph(name="rnn")
    g.add(Node("x", "input", [], (steps, feats), types={"result": tx}))
    node = Node("cell", op, ["x"], (), attrs, weights, types=types)
    from nnfpga.ops import OPS

    node.shape = OPS[op].infer_shape(node, [(steps, feats)])
    g.add(node)
    g.outputs = ["cell"]
    infer_types(g, FixedType(10, 4))
    lo, hi = fxref.mantissa_range(tx)
    py = random.Random(seed)
    xm = [[[py.choice((lo, hi, 0)) if py.random() < 0.3 else py.randint(lo, hi) for _ in range(feats)]
           for _ in range(steps)] for _ in range(6)]
    return g, xm, tx


# -- the reference ---------------------------------------------------------------------------------------------

class Ref:
    """The documented semantics for one node, one sample at a time (values: Fractions on each type's grid)."""

    def __init__(self, node: Node, tx: FixedType) -> None:
        self.node, self.tx, self.t = node, tx, node.types
        self.events: dict[str, int] = {}  # overflowing casts per slot
        self.u = int(node.attrs["units"])
        tw, trw, tb = self.t["weight"], self.t["recurrent_weight"], self.t["bias"]
        q = fxref.quantize_const
        self.w = [[fxref.value(q(float(v), tw), tw) for v in row] for row in node.weights["kernel"]]
        self.rw = [[fxref.value(q(float(v), trw), trw) for v in row] for row in node.weights["recurrent_kernel"]]
        self.b = [fxref.value(q(float(v), tb), tb) for v in node.weights["bias"]]
        self.rb = [fxref.value(q(float(v), tb), tb) for v in node.weights["recurrent_bias"]]

    def c(self, v: Fraction, slot: str) -> Fraction:
        self.events[slot] = self.events.get(slot, 0) + fxref.overflows(v, self.t[slot])
        return fxref.value(fxref.cast(v, self.t[slot]), self.t[slot])

    def dense(self, x: list[Fraction], w: list[list[Fraction]], b: list[Fraction], cols: range) -> list[Fraction]:
        out = []
        for j in cols:
            acc = self.c(b[j], "accum")
            for i, xi in enumerate(x):
                acc = self.c(acc + self.c(xi * w[i][j], "accum"), "accum")
            out.append(acc)
        return out

    def act(self, v: Fraction, which: str) -> Fraction:
        name, tt = self.node.attrs[which], self.t["table"]
        if name == "hard_sigmoid":
            tp = FixedType(18, 2)  # the op's type rule for slope 1/6, offset 1/2 and 1.0: 18 bits, 2 integer
            slope = fxref.value(fxref.quantize_const(1 / 6, tp), tp)
            offset = fxref.value(fxref.quantize_const(0.5, tp), tp)
            return self.c(min(max(v * slope + offset, Fraction(0)), Fraction(1)), "table")
        size = int(self.node.attrs["table_size"])
        r = Fraction(self.node.attrs.get("table_range", DEFAULT_RANGE[name]))
        step = 2 * r / size
        idx = min(max(math.floor((v + r) / step), 0), size - 1)
        mid = -r + (idx + Fraction(1, 2)) * step
        return fxref.value(fxref.quantize_const(float(FLOAT_F[name](float(mid))), tt), tt)

    def run(self, xm: list[list[int]]) -> list[list[int]] | list[int]:
        u, op = self.u, self.node.op
        steps = range(len(xm) - 1, -1, -1) if self.node.attrs["go_backwards"] else range(len(xm))
        h, c = [Fraction(0)] * u, [Fraction(0)] * u
        outs = []
        for t in steps:
            x = [fxref.value(m, self.tx) for m in xm[t]]
            zx = self.dense(x, self.w, self.b, range(len(self.b)))
            if op == "simple_rnn":
                zh = self.dense(h, self.rw, self.rb, range(u))
                z = [self.c(a + b, "accum") for a, b in zip(zx, zh, strict=True)]
                h = [self.c(self.act(v, "activation"), "state") for v in z]
            elif op == "lstm":
                zh = self.dense(h, self.rw, self.rb, range(4 * u))
                z = [self.c(a + b, "accum") for a, b in zip(zx, zh, strict=True)]
                i = [self.act(v, "recurrent_activation") for v in z[:u]]
                f = [self.act(v, "recurrent_activation") for v in z[u:2 * u]]
                g = [self.act(v, "activation") for v in z[2 * u:3 * u]]
                o = [self.act(v, "recurrent_activation") for v in z[3 * u:]]
                c = [self.c(f[k] * c[k] + i[k] * g[k], "state") for k in range(u)]
                h = [self.c(o[k] * self.act(c[k], "activation"), "state") for k in range(u)]
            else:
                after = self.node.attrs["reset_after"]
                zh = self.dense(h, self.rw, self.rb, range(3 * u if after else 2 * u))
                z = [self.act(self.c(zx[k] + zh[k], "accum"), "recurrent_activation") for k in range(u)]
                r = [self.act(self.c(zx[u + k] + zh[u + k], "accum"), "recurrent_activation") for k in range(u)]
                if after:
                    hh = [self.c(r[k] * zh[2 * u + k], "accum") for k in range(u)]
                else:
                    rh = [self.c(r[k] * h[k], "state") for k in range(u)]
                    hh = self.dense(rh, self.rw, self.rb, range(2 * u, 3 * u))
                n = [self.act(self.c(zx[2 * u + k] + hh[k], "accum"), "activation") for k in range(u)]
                h = [self.c(z[k] * h[k] + (1 - z[k]) * n[k], "state") for k in range(u)]
            outs.append([fxref.cast(v, self.t["result"]) for v in h])
            if self.node.attrs["return_sequences"] or t == steps[-1]:
                self.events["result"] = self.events.get("result", 0) + sum(fxref.overflows(v, self.t["result"])
                                                                           for v in h)
        if not self.node.attrs["return_sequences"]:
            return outs[-1]
        return outs[::-1] if self.node.attrs["flip_output"] else outs


def mantissas(values: np.ndarray, t: FixedType) -> list:
    return np.round(np.ldexp(values, t.frac)).astype(np.int64).tolist()


@pytest.mark.parametrize("op", sorted(GATES))
@pytest.mark.parametrize("seed", range(14))
def test_recurrent_equals_reference(op: str, seed: int) -> None:
    g, xm, tx = make_case(seed, op)
    node = g["cell"]
    x = np.ldexp(np.array(xm, dtype=np.float64), -tx.frac)
    ref = Ref(node, tx)
    want = [ref.run(sample) for sample in xm]
    for reference in (False, True):
        res = Interpreter(g, reference=reference).run(x)
        got = mantissas(res.outputs[0], node.types["result"])
        assert got == want, f"{op} seed {seed} reference={reference}: types {node.types}, attrs {node.attrs}"
        for slot in ("state", "result"):  # every overflowing cast counted (the accumulator's: Dense's own rule)
            assert res.stats.overflow[("cell", slot)].count == ref.events.get(slot, 0), slot


@pytest.mark.parametrize("op", sorted(GATES))
def test_wide_types_follow_the_float_cell(op: str) -> None:
    """With wide types and fine tables the bit-exact cell is within table resolution of the float one."""
    g, _, _ = make_case(3, op)
    node = g["cell"]
    for slot in ("weight", "recurrent_weight", "bias"):
        node.types[slot] = FixedType(32, 6)
    node.types.update(state=FixedType(32, 8), result=FixedType(32, 8), table=FixedType(32, 2), accum=None)
    node.attrs.update(table_size=1 << 16, activation="tanh", table_range=8.0)
    node.attrs.pop("recurrent_activation") if op == "simple_rnn" else node.attrs.update(recurrent_activation="sigmoid")
    g["x"].types["result"] = FixedType(32, 8)
    infer_types(g, FixedType(32, 8))
    x = np.random.default_rng(0).uniform(-2, 2, (50, *g["x"].shape))
    interp = Interpreter(g)
    fixed, flt = interp.run(x).outputs[0], interp.run(x, mode="float").outputs[0]
    assert np.max(np.abs(fixed - flt)) < 2e-3
    assert np.max(np.abs(flt)) > 0.05  # not a trivially zero output
