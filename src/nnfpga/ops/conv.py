"""Convolution (Conv1D/2D, depthwise, grouped): a Dense applied to every window.

A ``conv`` node reads a channels-last tensor ``(*spatial, C_in)`` and carries ``kernel`` ``(*k, C_in / groups,
C_out)`` and ``bias`` ``(C_out,)``; attributes ``strides``, ``dilation``, ``pads`` (see :mod:`nnfpga.ops.spatial`)
and ``groups`` (1; ``C_in`` for a depthwise convolution with depth multiplier ``m = C_out / C_in``, where output
channel ``c * m + j`` reads input channel ``c``, Keras's order). ``depthwise: true`` only names the node's config
type (``DepthwiseConv1D``/``DepthwiseConv2D``; else ``Conv1D``/``Conv2D``, by the number of spatial axes).

Semantics, per output pixel and output channel: exactly :mod:`nnfpga.ops.dense`'s contract over the window's
inputs of its group, in the window's row-major order with the channel last (``(k1, k2, c)``: hls4ml's im2col
order and the flattened kernel's)::

    acc = (accum_t) bias
    for each input x of the window, in that order:  acc = (accum_t)(acc + (accum_t)(x * w))
    y = (result_t) acc

Padding positions are zeros: their products add nothing (``acc + 0`` is ``acc``), so they change no bit, with any
accumulator. The order matters only for an accumulator that rounds products and saturates; it is hls4ml 1.3's
``conv_1d/2d_latency_cl`` (products of the im2col row cast to ``accum_t``, then ``acc[o] += mult[i][o]`` input by
input) and ``depthwise_conv_*_latency_cl`` (the window's positions in order, per channel). hls4ml's Resource
strategy accumulates in another order: with an exact (the default) or a wrapping accumulator the bits agree
anyway (a wrapping sum is a sum modulo 2**W, :mod:`nnfpga.ops.accumulate`).

Where every group's Dense plan sums exactly (the ``matmul`` path, or ``products`` with a rounding that is a floor
plus a constant: TRN, RND, RND_MIN_INF, RND_CONV) within int64 and float64, the compiled kernel of
:mod:`nnfpga.ops.conv_jit` computes those sums straight from the padded input (no im2col copy), and the
accumulator's cast and overflow count follow Dense's rules (the ``Direct`` plan). Otherwise, and with
``NNFPGA_NUMBA=0``, the emulator builds the windows as a strided view (:func:`nnfpga.ops.spatial.windows`), copies
one step of them at a time into an im2col matrix (at most ``2**18`` values: bounded memory, cache-sized) and runs
each group's Dense plan on it (:class:`~nnfpga.ops.dense.DensePlan`, with every fast path of Dense and its proofs).
Both give the same bits and counts (tests/ops/test_conv_jit.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnfpga.errors import ShapeError
from nnfpga.fixed import FixedType, Overflow, requantize
from nnfpga.fixed.arith import as_storage
from nnfpga.ir.graph import Node
from nnfpga.ops import cast_jit, conv_jit
from nnfpga.ops.accumulate import sat_bounds
from nnfpga.ops.base import Context, OpDef, Plan, QArray, RunStats, cast, register
from nnfpga.ops.dense import Dense, DensePlan, infer_linear_types
from nnfpga.ops.merge import union_type
from nnfpga.ops.pool import MaxPool, holds
from nnfpga.ops.spatial import Window, check_fits, node_window, pad_spatial, rows_per_step, spatial_input, windows

DENSE, MAX_POOL = Dense(), MaxPool()


@dataclass
class Direct:
    """The compiled kernel's arguments (:mod:`nnfpga.ops.conv_jit`): the kernel's mantissas ``(*window, C_in /
    groups, C_out)``, the bias in accumulator units, ``mode``, ``k``, ``h``, the sums' width ``bits``; how each
    output channel's accumulator overflow counts (``final``: the final sums that wrapped, else only a bias that
    overflowed, ``bias_overflow`` per pixel over those channels' groups: Dense's rule per group)."""

    w: np.ndarray
    bias: np.ndarray
    mode: int
    k: int
    h: int
    bits: int
    final: np.ndarray
    bias_overflow: int
    lane: np.dtype = conv_jit.INT64  # the kernel's integers: int32 where they fit (conv_jit.lanes)
    memo: dict = field(default_factory=dict)  # what each call would derive again from the node: its window, the
    # result cast's constants, the fused poolings' windows, the counted casts per pixel, the weights in lanes

    def get(self, key: object, make: Callable[[], Any]) -> Any:
        """``memo[key]``, made by ``make()`` on first use (the plan lives as long as its node's types)."""
        if key not in self.memo:
            self.memo[key] = make()
        return self.memo[key]


@dataclass
class ConvPlan(Plan):
    """One Dense plan per group (inputs: the window's positions x the group's input channels, in order), and the
    compiled kernel's arguments where it applies (``direct``)."""

    groups: list[DensePlan] = field(default_factory=list)
    direct: Direct | None = None

    def reference(self) -> ConvPlan:
        return ConvPlan([g.reference() for g in self.groups])


def direct_plan(node: Node, plans: list[DensePlan], tx: FixedType) -> Direct | None:
    """The compiled kernel's arguments when every group sums by the same exact rule (``matmul``: products shifted
    left; ``products`` with the split rounding: ``(p + h) >> k``) within int64 and float64, else None (the im2col
    path, which also serves the ``guarded`` and ``sequential`` paths)."""
    if len(np.shape(node.weights["kernel"])) > 4 or not plans:
        return None
    rules, bits, pbits = set(), 0, 0
    for p in plans:
        if p.path == "matmul":
            rules.add((conv_jit.SHIFT, p.shift, 0))
            bits, pbits = max(bits, p.bits), max(pbits, p.pbits + p.shift)
        elif p.path == "products" and p.products is not None and p.products.split:
            ps = p.products
            rules.add((conv_jit.TIES_EVEN if ps.conv else conv_jit.FLOOR, ps.k, ps.offset))
            bits, pbits = max(bits, ps.bits), max(pbits, ps.pbits + 1)
        else:
            return None
    if len(rules) != 1 or not conv_jit.usable(pbits, bits, next(iter(rules))[1]):
        return None
    ((mode, k, h),) = rules
    kshape = np.shape(node.weights["kernel"])
    w = np.concatenate([as_storage(p.wm, 62).reshape(*kshape[:-1], -1) for p in plans], axis=-1)
    bias = np.concatenate([as_storage(np.asarray(p.b_acc), 62) for p in plans])
    final = np.concatenate([np.full(p.wm.shape[1], p.counts == "final") for p in plans])
    return Direct(w=w.astype(np.int64), bias=bias.astype(np.int64), mode=mode, k=k, h=h, bits=bits, final=final,
                  bias_overflow=sum(p.bias_overflow for p in plans if p.counts == "sequential"),
                  lane=conv_jit.lanes(mode, tx.width + 1, pbits, bits, k))  # + 1: unsigned


def groups_of(node: Node) -> int:
    g = node.attrs.get("groups", 1)
    if isinstance(g, bool) or not isinstance(g, (int, np.integer)) or g < 1:
        raise ShapeError(f"{node.describe()}: groups must be an integer >= 1, got {g!r}")
    return int(g)


def group_layers(node: Node) -> list[Node]:
    """Each group as a Dense node (same name and types): kernel (window positions x group inputs, group outputs)."""
    kernel, bias = node.weights["kernel"], node.weights["bias"]
    g = groups_of(node)
    n = kernel.shape[-1] // g
    return [Node(node.name, "dense", [], (n,), weights={"kernel": kernel[..., j * n:(j + 1) * n].reshape(-1, n),
                                                        "bias": bias[j * n:(j + 1) * n]}, types=dict(node.types))
            for j in range(g)]


@register
class Conv(OpDef):
    name = "conv"
    config_name = "Conv2D"
    config_names = ("Conv1D", "Conv2D", "DepthwiseConv1D", "DepthwiseConv2D")
    category = "linear"
    slots = ("weight", "bias", "accum", "result")
    default_slots = ("weight", "bias", "result")
    const_slots = ("weight", "bias")
    weights = ("kernel", "bias")
    reuse = True
    pipeline_stages = 1

    def config_type(self, node: Node) -> str:
        nd = max(np.ndim(node.weights.get("kernel")) - 2, 1)
        return f"{'DepthwiseConv' if node.attrs.get('depthwise') else 'Conv'}{nd}D"

    def reuse_shape(self, node: Node) -> tuple[int, int]:
        """One group's Dense (the HLS kernel's unit, per output pixel): window inputs x the group's outputs."""
        k = np.shape(node.weights["kernel"])
        return int(np.prod(k[:-1])), int(k[-1]) // groups_of(node)

    def window(self, node: Node) -> Window:
        return node_window(node, np.shape(node.weights["kernel"])[:-2])

    def infer_shape(self, node: Node, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        k = np.shape(node.weights.get("kernel"))
        if len(k) < 3:
            raise ShapeError(f"{node.describe()}: kernel of shape {k}; a convolution's kernel is (*window, "
                             "input channels / groups, output channels), e.g. (3, 3, 1, 8)")
        spatial = spatial_input(node, in_shapes[0], len(k) - 2)
        g, c_in = groups_of(node), in_shapes[0][-1]
        if k[-2] * g != c_in or k[-1] % g:
            raise ShapeError(f"{node.describe()}: a kernel of shape {k} with groups={g} reads {k[-2] * g} input "
                             f"channels and needs output channels divisible by {g}; the input has {c_in} channels")
        if np.shape(node.weights.get("bias")) != (k[-1],):
            raise ShapeError(f"{node.describe()}: bias of shape {np.shape(node.weights.get('bias'))}, expected "
                             f"({k[-1]},) (one per output channel)")
        return (*check_fits(node, self.window(node), spatial), int(k[-1]))

    def infer_types(self, node: Node, in_types: list[FixedType], ctx: Context) -> None:
        infer_linear_types(self, node, in_types[0], ctx)

    def exact_accum(self, node: Node, tx: FixedType) -> FixedType:
        """The narrowest accumulator holding every partial sum of every group exactly (Dense's rule per group)."""
        return union_type([DENSE.exact_accum(layer, tx) for layer in group_layers(node)])

    def prepare(self, node: Node, in_types: list[FixedType]) -> ConvPlan:
        plans = [DENSE.prepare(layer, in_types) for layer in group_layers(node)]
        return ConvPlan(plans, direct_plan(node, plans, in_types[0]))

    def _im2col(self, node: Node, x: np.ndarray, groups: int) -> Iterator[tuple[tuple[int, ...], list[np.ndarray]]]:
        """Per step of the batch: the output's leading shape ``(b, *out)`` and, per group, its im2col matrix
        (one row per output pixel, the window's inputs of the group in order), each step bounded in size."""
        win = self.window(node)
        nd, cg = win.ndim, x.shape[-1] // groups
        per_sample = int(np.prod(win.out_spatial(x.shape[1:-1]))) * win.positions() * x.shape[-1]
        step = rows_per_step(per_sample)
        for a in range(0, max(x.shape[0], 1), step):
            v = windows(x[a:a + step], win)  # (b, *out, *window, C)
            lead = v.shape[:1 + nd]
            rows = int(np.prod(lead))
            yield lead, [v[..., j * cg:(j + 1) * cg].reshape(rows, win.positions() * cg) for j in range(groups)]

    def pool_window(self, node: Node, pool: Node, tr: FixedType | None = None) -> tuple[int, int] | None:
        """The window ``(ph, pw)`` (a 1D one as ``(1, p)``) of the max pooling ``pool`` of ``node``'s result (or of
        the values of type ``tr`` the nodes fused after it give: :mod:`nnfpga.ops.conv_fused`) where the kernel's
        epilogue can pool as it casts: a max pooling of ``node``'s spatial rank, its strides its window, no
        padding, its ``accum`` type holding ``tr`` and its ``result`` type ``tr``'s grid holding it (both casts
        then change no value, no mantissa and overflow nothing); else None."""
        if pool.op != "max_pool":
            return None
        win, tr = MAX_POOL.window(pool), tr or node.types["result"]
        if (win.ndim != self.window(node).ndim or win.ndim not in (1, 2) or win.size != win.strides
                or any(b or a for b, a in win.pads) or not holds(pool.types["accum"], tr)
                or not holds(pool.types["result"], tr) or pool.types["result"].frac != tr.frac):
            return None
        return (1, *win.size) if win.ndim == 1 else (win.size[0], win.size[1])

    def run_fixed(self, node: Node, xs: list[QArray], prep: ConvPlan, stats: RunStats) -> QArray:
        x, ta = xs[0], node.types["accum"]
        if prep.direct is not None and conv_jit.usable(0, 0):
            tr = node.types["result"]
            acc = self._run_direct(node, x, prep.direct, ta, stats, self._result_cast(node, prep.direct, stats))
            if isinstance(acc, tuple):  # the kernel cast the sums to the result type: its count is the cast's
                stats.record(node.name, "result", acc[1])
                return QArray(acc[0], tr)
            return cast(node, acc, "result", stats)
        outs = []
        for lead, cols in self._im2col(node, x.m, len(prep.groups)):
            parts = [DENSE.accumulate(node.name, QArray(c, x.t), plan, ta, stats).m
                     for c, plan in zip(cols, prep.groups, strict=True)]
            outs.append(np.concatenate(parts, axis=1).reshape(*lead, node.shape[-1]))
        return cast(node, QArray(np.concatenate(outs), ta), "result", stats)

    @staticmethod
    def _result_cast(node: Node, d: Direct, stats: RunStats) -> np.ndarray | None:
        """The kernel's ``rc`` for the result's cast in its epilogue (a new array of ``conv_jit.RC_SIZE``: the
        caller sets the fused nodes' entries), or None where it does not apply or the precast values are kept (the
        cast runs apart)."""
        ta, tr = node.types["accum"], node.types["result"]
        rc = d.get("rc", lambda: cast_jit.result_cast_args(ta, tr) if tr != ta else None)
        if rc is None or stats.precast is not None:
            return None
        out = np.zeros(conv_jit.RC_SIZE)
        out[:rc.size] = rc
        out[16] = 1.0  # no batch-norm's wrap span yet (no division by 0)
        return out

    def _run_direct(self, node: Node, x: QArray, d: Direct, ta: FixedType, stats: RunStats,
                    rc: np.ndarray | None = None, window: tuple[int, int] | None = None,
                    sb: np.ndarray | None = None) -> QArray | tuple[np.ndarray, Overflow, Overflow]:
        """The accumulator after the bias and every input, by the compiled kernel; overflow as Dense counts it.
        With ``rc`` (:meth:`_result_cast`): where no sum leaves the accumulator's range (its cast is then the
        identity), the result's mantissas the kernel cast and their overflow instead, then a fused batch-norm's
        (``sb``: :func:`nnfpga.ops.conv_jit.conv_sum`) and its overflow, max pooled over ``window`` when given
        (:meth:`pool_window`)."""
        win = d.get("window", lambda: self.window(node))
        xp = pad_spatial(x.m, win.pads, 0)
        lift = win.ndim == 1  # a 1D convolution is a 2D one of height 1
        out = (1, *node.shape[:-1]) if lift else tuple(node.shape[:-1])
        w, bias = d.get("lanes", lambda: (np.ascontiguousarray(d.w[None] if lift else d.w, dtype=d.lane),
                                          np.ascontiguousarray(d.bias, dtype=d.lane)))
        s, lo, hi, n_cast, n_bn = conv_jit.conv_sum(xp[:, None] if lift else xp, w, bias, out,
                              (1, *win.strides) if lift else win.strides, (1, *win.dilation) if lift else win.dilation,
                              d.get("groups", lambda: groups_of(node)), d.mode, d.k, d.h, d.lane, rc, window, sb)
        n = x.m.shape[0] * d.get("size", lambda: int(np.prod(node.shape)))  # the sums
        s = s.reshape(x.m.shape[0], *node.shape) if rc is None or window is None else s
        low, high = sat_bounds(ta)
        if rc is not None and (not n or (low <= lo and hi <= high)):
            stats.record(node.name, "accum", Overflow(d.bias_overflow * (n // node.shape[-1]), self._counted(
                node, d, n)))
            return s, Overflow(n_cast, n), Overflow(n_bn, n)
        if rc is not None:  # a sum left the accumulator's range: the sums again, then both casts
            return self._run_direct(node, x, d, ta, stats)
        if not s.size or (low <= lo and hi <= high):  # the accumulator's cast changes nothing
            acc_m, wrapped = as_storage(s, ta.width), 0
        else:
            acc_m, ov = requantize(s, ta.frac, d.bits, ta)
            sf = s[..., d.final]
            wrapped = ov.count if d.final.all() else int(np.count_nonzero((sf < low) | (sf > high)))
        rows = acc_m.size // node.shape[-1]
        stats.record(node.name, "accum", Overflow(d.bias_overflow * rows + wrapped, self._counted(node, d, acc_m.size)))
        return QArray(acc_m, ta)

    @staticmethod
    def _counted(node: Node, d: Direct, size: int) -> int:
        """How many accumulator casts Dense's count covers for ``size`` sums: per pixel, a bias, then a product and
        a sum per input for the channels counted input by input; one final cast for the others."""
        def per_pixel() -> int:
            n_final, n_in = int(np.count_nonzero(d.final)), int(np.prod(np.shape(d.w)[:-1]))
            return (node.shape[-1] - n_final) * (1 + 2 * n_in) + n_final

        return size // node.shape[-1] * d.get("counted", per_pixel)

    def run_float(self, node: Node, xs: list[np.ndarray]) -> np.ndarray:
        layers = group_layers(node)
        outs = []
        for lead, cols in self._im2col(node, np.asarray(xs[0], dtype=np.float64), len(layers)):
            parts = [c @ layer.weights["kernel"].astype(np.float64) + layer.weights["bias"].astype(np.float64)
                     for c, layer in zip(cols, layers, strict=True)]
            outs.append(np.concatenate(parts, axis=1).reshape(*lead, node.shape[-1]))
        return np.concatenate(outs)
