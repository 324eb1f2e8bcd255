"""The LSTM's time loop in one compiled kernel (numba), for the common case: the same integers and the same
overflow counts as :meth:`nnfpga.ops.recurrent.LSTM.step`, run step by step in NumPy.

The NumPy loop makes, per time step, a dozen passes over the batch (the state's matrix product, two accumulator
casts, five table lookups, the cell's products, sums and two state casts), each a Python call with its own
temporaries: on the 20-step, 20-unit LSTM of ``benchmarks/emulate.py`` that per-step overhead was most of the
run (about 19,500 samples/s). The kernel takes one sample at a time through all of its steps with the state in
registers and cache, computing exactly what the documented semantics computes (:mod:`nnfpga.ops.recurrent`):

* ``zh = h @ W * 2**shift + b`` in float64 (``W`` pre-scaled by ``2**shift``): every product and partial sum an
  integer below ``2**52`` (the Dense plan's bound, ``DensePlan.bits``), so exact; then its cast to ``accum``
  (on the accumulator's grid already: only the overflow mode acts), counted as the Dense's ``accum`` cast;
* ``z = (accum)(zx + zh)``, the gates' table lookups ``table[clip(floor(z / 2**(frac + step)) - lo, 0, N-1)]``
  (the sigmoid's and tanh's own tables), ``c = (state)(f*c + i*g)`` and ``h = (state)(o * tanh(c))`` with the
  products and the sum exact (aligned to the finest grid as :func:`~nnfpga.ops.recurrent_arith.add` aligns);
* each cast as :mod:`nnfpga.ops.cast_jit`'s float kernel casts: ``floor((v + h) * 2**-k)`` (TRN, RND,
  RND_MIN_INF; RND_CONV one less on a tie whose result is odd), then WRAP modulo ``2**W``, SAT / SAT_SYM clip,
  SAT_ZERO 0, each value that left the range counted once.

It applies (:func:`plan`) when numba is on (``NNFPGA_NUMBA`` not 0), both gate activations are tables (sigmoid,
tanh: hard_sigmoid runs the NumPy step), the state's product takes the Dense plan's ``matmul`` path (no product
rounds), every rounding and overflow mode is one of those above, and every value, sum and shifted value above
stays below ``2**52``; otherwise the NumPy step runs. The reference plan never uses it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnfpga.fixed import FixedType, Overflow
from nnfpga.ir.graph import Node
from nnfpga.ops import accumulate_jit, recurrent_kernels
from nnfpga.ops.accumulate import sat_bounds
from nnfpga.ops.base import QArray
from nnfpga.ops.dense import DensePlan
from nnfpga.ops.recurrent_arith import Gate, add, mul
from nnfpga.ops.tables import TablePlan

ROUNDINGS = {"TRN": 0, "RND": 1, "RND_MIN_INF": 2, "RND_CONV": 3}
OVERFLOWS = {"WRAP": 0, "SAT": 1, "SAT_SYM": 1, "SAT_ZERO": 2}
EXACT_BITS = 52  # every value the kernel holds is an integer below 2**52 in magnitude: float64 is exact


def cast_consts(src: FixedType, dst: FixedType, bound: int | None = None) -> tuple[float, ...] | None:
    """:func:`_cast1`'s constants for a cast from ``src`` to ``dst`` (``2**-k``, the rounding's ``h``, the range,
    the overflow mode, the wrap's low end and span, RND_CONV, ``2**k``, and 1 where it is the identity: the same
    grid and every value within ``bound`` in magnitude, inside the range), or None where the kernel cannot cast
    it exactly (a mode it does not know, a value or shifted value not below ``2**52``)."""
    if dst.rounding not in ROUNDINGS or dst.overflow not in OVERFLOWS:
        return None
    k = src.frac - dst.frac
    if src.width + 1 + max(-k, 0) > EXACT_BITS or dst.width + 1 > EXACT_BITS or k > 1000:
        return None
    mode = ROUNDINGS[dst.rounding]
    h = 0 if k <= 0 or mode == 0 else (1 << (k - 1)) - (mode == 2)
    lo, hi = sat_bounds(dst)
    identity = k == 0 and bound is not None and lo <= -bound and bound <= hi
    return tuple(float(v) for v in (2.0**-k, h, lo, hi, OVERFLOWS[dst.overflow], dst.min_mantissa,
                                     2.0**dst.width, mode == 3 and k > 0, 2.0**k, identity))


def _geometry(gate: Gate, frac: int) -> tuple[tuple[float, float, float], np.ndarray]:
    p: TablePlan = gate.plan
    return ((2.0 ** -(frac + p.step_log2), float(p.lo_steps), float(p.size)),
            np.ascontiguousarray(p.table, dtype=np.float64))


def _dense_counts(d: DensePlan, c: int, rows: int, inputs: int) -> Overflow:
    """The ``accum`` tally :meth:`~nnfpga.ops.dense.Dense.accumulate` records for ``rows`` rows of ``inputs``
    inputs by the plan ``d``, ``c`` being how many final sums its cast changed."""
    g = d.b_acc.shape[0]
    if d.counts == "final":
        return Overflow(c, rows * g)
    return Overflow(d.bias_overflow * rows, rows * g * (1 + 2 * inputs))


@dataclass
class LstmKernel:
    """The kernel's constants for one LSTM node (see :func:`plan`): the input's and the state's products (``wx``,
    ``bx``, ``w``, ``b``, their plans ``dx``, ``dh``), the casts' constants, the product alignment, the tables."""

    wx: np.ndarray
    bx: np.ndarray
    w: np.ndarray
    b: np.ndarray
    cz: tuple[tuple[float, ...], ...]
    align: tuple[float, float]
    rec: np.ndarray
    act: np.ndarray
    grec: tuple[float, float, float]
    gz: tuple[float, float, float]
    gc: tuple[float, float, float]
    dx: DensePlan
    dh: DensePlan

    def run(self, x: QArray, order: range, keep_all: bool) -> tuple[np.ndarray, Overflow, Overflow]:
        """(the states, samples x steps (or 1) x units; the ``accum`` and ``state`` tallies the NumPy steps record)."""
        n, steps, feats = x.m.shape
        u = self.w.shape[0]
        hs = np.empty((n, len(order) if keep_all else 1, u), dtype=np.float64)
        counts = np.zeros(5, dtype=np.int64)
        xm, order_m = np.ascontiguousarray(x.m, dtype=np.float64), np.asarray(order, dtype=np.int64)
        consts = (self.wx, self.bx, self.w, self.b, self.cz, self.align, self.rec, self.act, self.grec, self.gz,
                  self.gc)
        accumulate_jit.call("lstm", xm, order_m, *consts, hs, counts)
        acc = _dense_counts(self.dx, int(counts[4]), n * steps, feats)
        acc.add(_dense_counts(self.dh, int(counts[0]), n * steps, u))
        acc.add(Overflow(int(counts[1]), n * steps * 4 * u))
        return hs, acc, Overflow(int(counts[2] + counts[3]), 2 * n * u * steps)


def _empty(t: FixedType) -> QArray:
    return QArray(np.zeros(0), t)


def _product(d: DensePlan, t_in: FixedType) -> tuple[np.ndarray, np.ndarray] | None:
    """A Dense plan's weights pre-scaled to the accumulator's grid and its bias, float64, where every sum of the
    product is exact in float64 (the ``matmul`` path, below ``2**52``), else None."""
    if (d.path != "matmul" or d.products is not None or d.shift < 0 or d.bits > EXACT_BITS
            or t_in.width > EXACT_BITS):
        return None
    return (np.ascontiguousarray(np.asarray(d.wm, dtype=np.float64) * 2.0**d.shift),
            np.asarray(d.b_acc, dtype=np.float64).copy())


def plan(node: Node, tx: FixedType, dx: DensePlan, dh: DensePlan, rec: Gate | None, act: Gate) -> LstmKernel | None:
    """The kernel's constants for an LSTM node with input type ``tx``, the input's and the state's product plans
    ``dx`` / ``dh`` and the gates ``rec`` / ``act``, or None where the kernel does not apply (module docstring)."""
    ta, ts, tt = node.types["accum"], node.types["state"], node.types["table"]
    if (rec is None or not accumulate_jit.enabled() or not isinstance(rec.plan, TablePlan)
            or not isinstance(act.plan, TablePlan) or tt.width + 1 > EXACT_BITS):
        return None
    px, ph = _product(dx, tx), _product(dh, ts)
    if px is None or ph is None:
        return None
    z_t = add(_empty(ta), _empty(ta)).t
    fc, ig = mul(_empty(tt), _empty(ts)).t, mul(_empty(tt), _empty(tt)).t
    c_t = add(QArray(np.zeros(0), fc), QArray(np.zeros(0), ig)).t
    h_t = mul(_empty(tt), _empty(tt)).t
    lo, hi = sat_bounds(ta)
    bx, bh = 1 << (dx.bits - 1), 1 << (dh.bits - 1)  # |sum| < 2**(bits - 1) (DensePlan.bits)
    bz = min(bx, max(-lo, hi)) + min(bh, max(-lo, hi))
    consts = [cast_consts(FixedType(dh.bits, dh.bits - ta.frac), ta, bh), cast_consts(z_t, ta, bz),
              cast_consts(c_t, ts), cast_consts(h_t, ts), cast_consts(FixedType(dx.bits, dx.bits - ta.frac), ta, bx)]
    if any(cc is None for cc in consts) or c_t.width > EXACT_BITS:
        return None
    recurrent_kernels.compile_helpers()
    grec, rec_tab = _geometry(rec, ta.frac)
    gz, act_tab = _geometry(act, ta.frac)
    gc, _ = _geometry(act, ts.frac)
    return LstmKernel(wx=px[0], bx=px[1], w=ph[0], b=ph[1], cz=tuple(consts),
                      align=(2.0 ** (c_t.frac - fc.frac), 2.0 ** (c_t.frac - ig.frac)), rec=rec_tab,
                      act=act_tab, grec=grec, gz=gz, gc=gc, dx=dx, dh=dh)
