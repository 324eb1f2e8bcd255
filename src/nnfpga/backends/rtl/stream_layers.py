"""The layers of the streaming Verilog top (:mod:`~nnfpga.backends.rtl.stream`) beyond its first increment's conv
and max pooling: what each becomes on a stream of pixels, bit-exact with :mod:`nnfpga.ops`.

- Grouped and depthwise conv (any depth multiplier; separable = depthwise + pointwise 1x1): the window vector of
  the generator split by group, each group's Dense plan lowered like a Dense (:func:`conv_kernel`); a pointwise
  conv (1x1, stride 1, no padding) is that Dense on each pixel, without a window generator (:func:`per_pixel`).
- Average pooling over windows (:func:`avg_kernel`): per channel the window's positions summed in the
  emulator's order (one exact sum where no partial sum can round or overflow, else each partial sum cast to the
  accumulator), then the division by the number of real positions truncated toward zero (an arithmetic shift
  with a sign correction when it is a power of two, else a Verilog constant division); padded windows count
  fewer positions, so the divisor follows the output position (a row and column counter on the window
  generator's output handshake).
- Elementwise ops (activations, tables, softmax over the channels, per-channel batch-norm scale/shift) on each
  pixel: the MLP lowerings of :data:`~nnfpga.backends.rtl.ops.LOWERINGS` on one pixel's channels
  (:func:`elementwise`).
- Global pooling, zero padding, cropping and nearest upsampling: stream stages with their own handshake
  (:mod:`~nnfpga.backends.rtl.stream_stages`, registered in :data:`STAGES`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from nnfpga.backends.rtl.adder_graph import Pipeline, Timed, adder_tree
from nnfpga.backends.rtl.context import Ctx
from nnfpga.backends.rtl.ops import LOWERINGS
from nnfpga.backends.rtl.stream_stages import STAGES, divide_const, position_counter, stage_key
from nnfpga.backends.rtl.verilog import Val
from nnfpga.backends.rtl.window import as_2d
from nnfpga.errors import GraphError
from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Graph, Node
from nnfpga.ops import OPS
from nnfpga.ops.pool import AvgPool
from nnfpga.ops.spatial import Window

WINDOW_OPS = ("conv", "max_pool", "avg_pool")
RESIZE_OPS = ("zero_pad", "crop", "upsample")
ELEMENTWISE = ("relu", "linear", "leaky_relu", "hard_sigmoid", "hard_tanh", "sigmoid", "tanh", "elu", "softmax",
               "scale_shift", "dropout")
MERGE_OPS = ("add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate")  # stream_graph's joins
STREAM_OPS = ("input", *WINDOW_OPS, *RESIZE_OPS, "flatten", "dense", *ELEMENTWISE, *MERGE_OPS)

__all__ = ["ELEMENTWISE", "MERGE_OPS", "RESIZE_OPS", "STAGES", "STREAM_OPS", "WINDOW_OPS", "avg_kernel",
           "conv_kernel", "cycles_bound", "elementwise", "is_global", "layer_problem", "per_pixel", "stage_key"]


def is_global(node: Node) -> bool:
    """A global pooling (one output beat per image: a stream stage, not a window layer)."""
    return node.op in ("max_pool", "avg_pool") and bool(node.attrs.get("global"))


def layer_problem(graph: Graph, node: Node, flat: bool) -> str | None:
    """Why the streaming top cannot build ``node`` (None: it can); ``flat``: an earlier layer (Flatten, global
    pooling) already turned the pixel stream into one vector per image."""
    where = node.describe()
    if node.op not in STREAM_OPS:
        return (f"{where}: op {node.op!r} is not lowered by the streaming Verilog top yet (supported: "
                f"{', '.join(STREAM_OPS[1:])}); the emulator (hw.predict) and the HLS backend run it")
    if node.op == "input":
        return None
    if len(node.inputs) != 1:
        return f"{where}: the streaming Verilog top needs one input per layer except merges"
    src = graph[node.inputs[0]]
    if node.op in ("conv", "dense") and int(node.attrs.get("reuse_factor", 1)) != 1:
        from nnfpga.backends.rtl.stream_reuse import reuse_problem

        problem = reuse_problem(graph, node)
        if problem:
            return problem
    if node.op in WINDOW_OPS or node.op in RESIZE_OPS:
        if flat:
            return f"{where}: a spatial layer after Flatten or a global pooling (the stream holds one vector there)"
        if len(src.shape) not in (2, 3):
            return (f"{where}: input of per-sample shape {tuple(src.shape)}; the streaming top builds 1D (L, C) and "
                    f"2D (H, W, C) image layers")
    if node.op == "dense" and not flat:
        return f"{where}: Dense on a pixel stream (the streaming top needs a Flatten or a global pooling before it)"
    if node.op == "scale_shift" and not flat and len(src.shape) > 1:
        c = int(src.shape[-1])
        for key in ("scale", "shift"):
            shape = np.shape(node.weights.get(key))
            if any(d != 1 for d in shape[:-1]) or (shape and shape[-1] not in (1, c)):
                return (f"{where}: {key} of shape {shape} varies across pixels; the streaming top applies one "
                        f"per-channel scale/shift to every pixel (shape ({c},))")
    return None


def cycles_bound(graph: Graph) -> int:
    """A bound on the cycles one image takes through the streaming top without stalls: the sum over layers of
    their input and output beats (no layer takes more than that per image, and they overlap at best)."""
    return sum(int(np.prod(graph[n.inputs[0]].shape[:-1])) + int(np.prod(n.shape[:-1])) + 1
               for n in graph if n.op != "input" and n.inputs)


def per_pixel(node: Node) -> bool:
    """A pointwise convolution (1x1 window, stride 1, no padding): a Dense on each pixel, no window generator."""
    if node.op != "conv":
        return False
    win = OPS["conv"].window(node)  # type: ignore[attr-defined]
    return set(win.size) == {1} and set(win.strides) == {1} and not any(b or a for b, a in win.pads)


def elementwise(c: Ctx, node: Node, xs: list[Val], tx: FixedType, prep: Any) -> list[Val]:
    """An MLP lowering (or a pointwise convolution) applied to one beat: on a pixel stream, to one pixel's
    channels (the node seen with per-sample shape ``(C,)``: per-channel constants, softmax over the channels)."""
    if per_pixel(node):
        return conv_kernel(c, node, xs, len(xs), tx, prep)
    if node.op not in LOWERINGS:
        raise GraphError(f"{node.describe()}: no lowering for op {node.op!r} in the streaming Verilog top")
    view = replace(node, shape=(int(node.shape[-1]),)) if len(node.shape) > 1 else node
    return LOWERINGS[node.op](c, view, xs, tx, prep)


def conv_kernel(c: Ctx, node: Node, xs: list[Val], ch: int, tx: FixedType, plan: Any) -> list[Val]:
    """A convolution's output pixel from its window ``xs`` (im2col order: positions, then ``ch`` channels): each
    group's Dense plan on the group's channels of every position, the groups' outputs in order."""
    groups = plan.groups
    cg = ch // len(groups)
    positions = len(xs) // ch
    done: list[tuple[list[Val], int]] = []
    for j, gp in enumerate(groups):
        sub = [xs[p * ch + j * cg + i] for p in range(positions) for i in range(cg)]
        gc = replace(c, prefix=f"{c.prefix}_g{j}", cycles=0) if len(groups) > 1 else c
        done.append((LOWERINGS["dense"](gc, node, sub, tx, gp), gc.cycles))
    c.cycles = max(cycles for _, cycles in done)
    # groups with fewer register stages inside (a shallower adder graph) are delayed to the deepest one's cycle
    pipe = Pipeline(c.ar, f"{c.prefix}_align", c.per_stage)
    out = [pipe.at(Timed(v, cycle=cycles), c.cycles).val for vals, cycles in done for v in vals]
    pipe.finish()
    return out


def axis_counts(n: int, k: int, s: int, d: int, before: int, out: int) -> list[int]:
    """Per output position along one axis, the real (not padding) input positions its window covers."""
    return [sum(0 <= o * s - before + i * d < n for i in range(k)) for o in range(out)]


def avg_kernel(c: Ctx, node: Node, xs: list[Val], ch: int, tx: FixedType, spatial: tuple[int, ...],
               win: Window, advance: str) -> list[Val]:
    """Average pooling of one window ``xs`` (positions x ``ch`` channels) as :class:`nnfpga.ops.pool.AvgPool`
    computes it; ``advance``: the 1-bit expression true when the window generator hands on a window (the output
    position counter, needed only when padded windows have different divisors)."""
    ta, tr = node.types["accum"], node.types["result"]
    n = len(xs) // ch
    exact = AvgPool._exact(tx, ta, n)
    f = max(ta.frac, tx.frac)
    divide = _divider(c, node, spatial, win, advance)
    out = []
    for k in range(ch):
        col = xs[k::ch]
        if exact:  # no partial sum rounds or leaves the accumulator: one sum (the emulator's exact path)
            s = adder_tree(c.ar, [c.ar.shl(x, ta.frac - tx.frac, c.name(f"x{k}_{i}")) for i, x in enumerate(col)],
                           c.name(f"s{k}"))
            acc = c.cast(s, ta.frac, ta, f"a{k}")
        else:  # position by position, each partial sum cast (padding adds zeros: the cast changes nothing)
            acc = Val.constant(0)
            for i, x in enumerate(col):
                v = c.ar.add(c.ar.shl(acc, f - ta.frac, c.name(f"p{k}_{i}")),
                             c.ar.shl(x, f - tx.frac, c.name(f"x{k}_{i}")), c.name(f"s{k}_{i}"))
                acc = c.cast(v, f, ta, f"a{k}_{i}")
        out.append(c.cast(divide(acc, f"q{k}"), ta.frac, tr, f"y{k}"))
    return out


def _divider(c: Ctx, node: Node, spatial: tuple[int, ...], win: Window, advance: str) -> Any:
    """``divide(acc, hint)``: ``acc`` divided by its window's divisor, truncated toward zero (C's integer
    division, as the emulator). One constant divisor unless padded windows cover fewer real positions
    (``count_pad`` false, Keras's rule): then the divisor is chosen by the output row and column."""
    (h, w), win2 = as_2d(spatial, win)
    (kh, kw), (sh, sw), (dh, dw) = win2.size, win2.strides, win2.dilation
    (pt, _), (pl, _) = win2.pads
    ho, wo = win2.out_spatial((h, w))
    if node.attrs.get("count_pad"):
        rows, cols = [kh] * ho, [kw] * wo
    else:
        rows, cols = axis_counts(h, kh, sh, dh, pt, ho), axis_counts(w, kw, sw, dw, pl, wo)
    if len(set(rows)) == 1 and len(set(cols)) == 1:
        d = rows[0] * cols[0]
        return lambda acc, hint: divide_const(c, acc, d, hint)
    r, q = position_counter(c.ar.m, c.name("opos"), advance, ho, wo)

    def members(counter: str, counts: list[int], value: int) -> str:
        hit = [i for i, v in enumerate(counts) if v == value]
        miss = [i for i, v in enumerate(counts) if v != value]
        if not miss:
            return "1'b1"
        if len(hit) <= len(miss):
            return "(" + " || ".join(f"{counter} == {i}" for i in hit) + ")"
        return "!(" + " || ".join(f"{counter} == {i}" for i in miss) + ")"

    # divisor -> the condition selecting it; the most frequent divisor is the default (no condition)
    freq: dict[int, int] = {}
    conds: dict[int, list[str]] = {}
    for a in sorted(set(rows)):
        for b in sorted(set(cols)):
            freq[a * b] = freq.get(a * b, 0) + rows.count(a) * cols.count(b)
            conds.setdefault(a * b, []).append(f"({members(r, rows, a)} && {members(q, cols, b)})")
    default = max(freq, key=lambda d: (freq[d], d))

    def divide(acc: Val, hint: str) -> Val:
        y = divide_const(c, acc, default, f"{hint}_d{default}")
        for d in sorted(freq):
            if d != default:
                y = c.ar.mux(" || ".join(conds[d]), divide_const(c, acc, d, f"{hint}_d{d}"), y, c.name(f"{hint}_m{d}"))
        return y

    return divide
