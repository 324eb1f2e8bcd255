"""Lowering of each op to the HLS layer library: a config struct, constant arrays and one call.

Constants (weights, tables) come from the op's own ``prepare`` — the same numbers the emulator uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnfpga.backends import registrar
from nnfpga.fixed import FixedType, to_float
from nnfpga.ir.graph import Node
from nnfpga.ir.layout import broadcast_flat, channel_constants
from nnfpga.ops import OPS
from nnfpga.ops.base import Plan
from nnfpga.ops.spatial import windows


@dataclass
class Lowered:
    config: list[str] = field(default_factory=list)  # body of ``struct config_<layer>``
    arrays: list[tuple[str, str, np.ndarray, FixedType]] = field(default_factory=list)  # (slot, name, mantissas, type)
    call: str | None = None  # the statement in the top function; None: the output aliases the input


@dataclass
class LayerNames:
    """C++ spellings for one node: its variable, type names and config struct."""

    var: str
    ident: str

    def t(self, slot: str) -> str:
        return f"{self.ident}_{slot}_t"

    @property
    def config(self) -> str:
        return f"config_{self.ident}"


def raw_ctype(t: FixedType) -> str:
    """The C integer type holding a mantissa of ``t`` (constants are stored as raw mantissas)."""
    base = next(c for w, c in ((8, "char"), (16, "short"), (32, "int"), (64, "long long")) if t.width <= w)
    return f"{'signed' if t.signed else 'unsigned'} {base}" if base == "char" else \
        (base if t.signed else f"unsigned {base}")


def raw_config(arrays: list[tuple[str, str, np.ndarray, FixedType]]) -> list[str]:
    """``typedef <int> <slot>_raw_t; static const int <slot>_width = W;`` once per array slot."""
    out, seen = [], set()
    for slot, _, _, t in arrays:
        if slot not in seen:
            seen.add(slot)
            out += [f"typedef {raw_ctype(t)} {slot}_raw_t;", f"static const int {slot}_width = {t.width};"]
    return out


def literal(m: Any, t: FixedType) -> str:
    """Exact C++ double literal for mantissa ``m`` of type ``t`` (the value is a dyadic rational)."""
    v = float(to_float(np.asarray([m]), t)[0])
    text = repr(v)
    return text if ("." in text or "e" in text or "inf" in text or "nan" in text) else f"{text}.0"


Inputs = list[tuple[Node, LayerNames]]  # each producer node and its C++ names, in input order
Lowering = Callable[[Node, Inputs, LayerNames, dict[str, Any]], Lowered]
LOWERINGS: dict[str, Lowering] = {}
# Every op of nnfpga.ops.OPS has a lowering here or an entry in one of these two tables, with the reason
# (tests/ops/test_op_registry.py checks it): ops the writer builds without a lowering, and ops it refuses.
NOT_LOWERED: dict[str, str] = {
    "input": "the top function's input argument (x_in): the writer declares it, there is nothing to compute",
}
# refused when the project is written (write, compile, build), not at conversion: the emulator runs them meanwhile
REFUSED: dict[str, str] = {}
INDEX_TYPE = FixedType(32, 32, signed=True)  # index tables (flat input pixel, -1 for padding): C++ int


lowering = registrar(LOWERINGS)


def _n(node: Node) -> int:
    return int(np.prod(node.shape))


def _call(func: str, src: LayerNames, dst: LayerNames, extra: list[str] = ()) -> str:
    args = ", ".join([src.var, dst.var, *extra])
    return f"nnfpga::{func}<{src.t('result')}, {dst.t('result')}, {dst.config}>({args});"


@lowering("dense")
def _dense(node: Node, ins: Inputs, dst: LayerNames, prep: Plan) -> Lowered:
    src = ins[0][1]
    n_in, n_out = node.weights["kernel"].shape
    strategy = "STRATEGY_RESOURCE" if node.attrs.get("strategy") == "Resource" else "STRATEGY_LATENCY"
    rf = int(node.attrs.get("reuse_factor", 1))
    w, b = f"w_{dst.ident}", f"b_{dst.ident}"
    return Lowered(
        config=[f"static const unsigned n_in = {n_in};", f"static const unsigned n_out = {n_out};",
                f"static const unsigned reuse_factor = {rf};",
                f"static const nnfpga::strategy_t strategy = nnfpga::{strategy};",
                f"typedef {dst.t('weight')} weight_t;", f"typedef {dst.t('bias')} bias_t;",
                f"typedef {dst.t('accum')} accum_t;"],
        arrays=[("weight", w, np.asarray(prep.wm).reshape(-1), node.types["weight"]),
                ("bias", b, _bias_mantissas(node), node.types["bias"])],
        call=_call("dense", src, dst, [w, b]),
    )


def _pixels(in_shape: tuple[int, ...]) -> np.ndarray:
    """A one-sample, one-channel batch holding 1 + each input pixel's flat index (0 where padding appears)."""
    spatial = in_shape[:-1]
    return np.arange(1, int(np.prod(spatial)) + 1, dtype=np.int64).reshape(1, *spatial, 1)


def _window_index(node: Node, in_shape: tuple[int, ...]) -> np.ndarray:
    """Per output pixel and window position (row-major): the flat input pixel it reads, -1 for padding."""
    return windows(_pixels(in_shape), OPS[node.op].window(node)).reshape(-1) - 1


def _pixel_config(node: Node, in_shape: tuple[int, ...]) -> list[str]:
    return [f"static const unsigned n_pixels_in = {int(np.prod(in_shape[:-1]))};",
            f"static const unsigned n_chan = {in_shape[-1]};",
            f"static const unsigned n_pixels = {_n(node) // in_shape[-1]};"]


@lowering("max_pool", "avg_pool")
def _pool(node: Node, ins: Inputs, dst: LayerNames, prep: Plan) -> Lowered:
    """Per output pixel and channel, a fold over the window's real positions (nnfpga_pool.h)."""
    src_node, src = ins[0]
    in_shape = tuple(src_node.shape)
    ta, idx = node.types["accum"], f"idx_{dst.ident}"
    cfg = [*_pixel_config(node, in_shape), f"static const unsigned n_pos = {OPS[node.op].window(node).positions()};",
           f"typedef {dst.t('accum')} accum_t;"]
    if node.op == "avg_pool":
        cfg += [f"static const int accum_width = {ta.width};",
                f"static const bool accum_signed = {str(ta.signed).lower()};",
                f"static const bool count_pad = {str(bool(node.attrs.get('count_pad'))).lower()};"]
    return Lowered(config=cfg, arrays=[("index", idx, _window_index(node, in_shape), INDEX_TYPE)],
                   call=_call(node.op, src, dst, [idx]))


@lowering("zero_pad", "crop", "upsample")
def _move(node: Node, ins: Inputs, dst: LayerNames, prep: Plan) -> Lowered:
    """Each output pixel copies one input pixel (or zeros): the op's own move of the pixel numbers."""
    src_node, src = ins[0]
    in_shape = tuple(src_node.shape)
    idx = f"idx_{dst.ident}"
    index = OPS[node.op].move(node, _pixels(in_shape)).reshape(-1) - 1
    return Lowered(config=_pixel_config(node, in_shape), arrays=[("index", idx, index, INDEX_TYPE)],
                   call=_call("move_pixels", src, dst, [idx]))


@lowering("conv")
def _conv(node: Node, ins: Inputs, dst: LayerNames, prep: Plan) -> Lowered:
    """Dense per output pixel and group over the gathered window (nnfpga_conv.h), the group plans' weights."""
    src_node, src = ins[0]
    in_shape = tuple(src_node.shape)
    kernel = np.shape(node.weights["kernel"])
    groups = len(prep.groups)
    n_in, n_out = int(np.prod(kernel[:-2])) * kernel[-2], kernel[-1] // groups
    strategy = "STRATEGY_RESOURCE" if node.attrs.get("strategy") == "Resource" else "STRATEGY_LATENCY"
    rf = int(node.attrs.get("reuse_factor", 1))
    w, b, idx = f"w_{dst.ident}", f"b_{dst.ident}", f"idx_{dst.ident}"
    return Lowered(
        config=[f"static const unsigned n_pixels_in = {int(np.prod(in_shape[:-1]))};",
                f"static const unsigned n_chan = {in_shape[-1]};",
                f"static const unsigned n_pixels = {int(np.prod(node.shape[:-1]))};",
                f"static const unsigned n_filt = {node.shape[-1]};",
                f"static const unsigned n_pos = {int(np.prod(kernel[:-2]))};",
                f"static const unsigned n_groups = {groups};",
                f"static const unsigned n_in = {n_in};  // per group: window positions x group channels",
                f"static const unsigned n_out = {n_out};  // per group",
                f"static const unsigned reuse_factor = {rf};",
                f"static const nnfpga::strategy_t strategy = nnfpga::{strategy};",
                f"typedef {dst.t('weight')} weight_t;", f"typedef {dst.t('bias')} bias_t;",
                f"typedef {dst.t('accum')} accum_t;"],
        arrays=[("weight", w, np.concatenate([np.asarray(g.wm).reshape(-1) for g in prep.groups]),
                 node.types["weight"]),
                ("bias", b, _bias_mantissas(node), node.types["bias"]),
                ("index", idx, _window_index(node, in_shape), INDEX_TYPE)],
        call=_call("conv", src, dst, [idx, w, b]),
    )


def _bias_mantissas(node: Node) -> np.ndarray:
    from nnfpga.ops.dense import quantize_const

    return quantize_const(node.weights["bias"], node.types["bias"])


@lowering("scale_shift")
def _scale_shift(node: Node, ins: Inputs, dst: LayerNames, prep: Plan) -> Lowered:
    src = ins[0][1]
    s, h = f"s_{dst.ident}", f"h_{dst.ident}"
    scale, n_chan = channel_constants(prep.sm, node.shape)
    shift, n_shift = channel_constants(prep.bm, node.shape)
    if n_shift != n_chan:  # one broadcast per element for both
        scale, shift, n_chan = broadcast_flat(prep.sm, node.shape), broadcast_flat(prep.bm, node.shape), _n(node)
    return Lowered(
        config=[f"static const unsigned n_in = {_n(node)};", f"static const unsigned n_chan = {n_chan};",
                f"typedef {dst.t('weight')} weight_t;", f"typedef {dst.t('bias')} bias_t;"],
        arrays=[("weight", s, scale, node.types["weight"]), ("bias", h, shift, node.types["bias"])],
        call=_call("scale_shift", src, dst, [s, h]),
    )


@lowering("linear", "hard_tanh")
def _plain(node: Node, ins: Inputs, dst: LayerNames, prep: Plan) -> Lowered:
    src = ins[0][1]
    return Lowered(config=[f"static const unsigned n_in = {_n(node)};"], call=_call(node.op, src, dst))


@lowering("relu")
def _relu(node: Node, ins: Inputs, dst: LayerNames, prep: Plan) -> Lowered:
    src_node, src = ins[0]
    tin = src_node.types["result"]
    cfg = [f"static const unsigned n_in = {_n(node)};"]
    mv = node.attrs.get("max_value")
    cap = int(np.floor(np.ldexp(mv, tin.frac))) if mv is not None else None
    has_cap = cap is not None and cap <= tin.max_mantissa
    cfg.append(f"static const bool has_cap = {'true' if has_cap else 'false'};")
    cap_lit = literal(max(cap, 0), tin) if has_cap else "0"
    cfg.append(f"static {src.t('result')} cap() {{ return {src.t('result')}({cap_lit}); }}")
    return Lowered(config=cfg, call=_call("relu", src, dst))


@lowering("leaky_relu", "hard_sigmoid")
def _affine(node: Node, ins: Inputs, dst: LayerNames, prep: Plan) -> Lowered:
    src = ins[0][1]
    tp = node.types["param"]
    names = ["alpha"] if node.op == "leaky_relu" else ["slope", "offset"]
    cfg = [f"static const unsigned n_in = {_n(node)};", f"typedef {dst.t('param')} param_t;"]
    for name, c in zip(names, prep.c, strict=True):
        cfg.append(f"static param_t {name}() {{ return param_t({literal(c, tp)}); }}")
    return Lowered(config=cfg, call=_call(node.op, src, dst))


@lowering("sigmoid", "tanh", "elu")
def _table(node: Node, ins: Inputs, dst: LayerNames, prep: Plan) -> Lowered:
    src_node, src = ins[0]
    tin = src_node.types["result"]
    table = f"table_{dst.ident}"
    cfg = [f"static const unsigned n_in = {_n(node)};", f"typedef {dst.t('table')} table_t;",
           f"static const unsigned table_size = {prep.size};",
           f"static const int in_width = {tin.width};", f"static const bool in_signed = {str(tin.signed).lower()};",
           f"static const int index_shift = {tin.frac + prep.step_log2};",
           f"static const long long lo_steps = {prep.lo_steps};"]
    func = "elu" if node.op == "elu" else "table_activation"
    return Lowered(config=cfg, arrays=[("table", table, prep.table, node.types["table"])],
                   call=_call(func, src, dst, [table]))


@lowering("softmax")
def _softmax(node: Node, ins: Inputs, dst: LayerNames, prep: Plan) -> Lowered:
    src_node, src = ins[0]
    tin, te = src_node.types["result"], node.types["exp_table"]
    n = int(node.shape[-1])  # softmax over the last axis, row by row
    nb = n.bit_length()
    sum_t = FixedType(te.width + nb, te.integer + nb, signed=False)
    names = [f"exp_{dst.ident}", f"fine_{dst.ident}", f"inv_{dst.ident}"]
    cfg = [f"static const unsigned n_in = {n};", f"static const unsigned n_rows = {_n(node) // n};",
           f"typedef {dst.t('exp_table')} exp_table_t;",
           f"typedef {dst.t('inv_table')} inv_table_t;", f"typedef {sum_t} sum_t;",
           f"static const int sum_width = {sum_t.width};",
           f"static const unsigned table_size = {prep.size};",
           f"static const unsigned fine_size = {len(prep.fine)};",
           f"static const int in_width = {tin.width};", f"static const bool in_signed = {str(tin.signed).lower()};",
           f"static const int coarse_shift = {tin.frac + prep.step_log2};",
           f"static const int fine_shift = {tin.frac + prep.fine_log2};",
           f"static const int inv_shift = {te.frac + prep.inv_step_log2};"]
    arrays = [("exp_table", names[0], prep.exp, te), ("exp_table", names[1], prep.fine, te),
              ("inv_table", names[2], prep.inv, node.types["inv_table"])]
    return Lowered(config=cfg, arrays=arrays, call=_call("softmax", src, dst, names))


@lowering("flatten", "reshape", "dropout")
def _alias(node: Node, ins: Inputs, dst: LayerNames, prep: Plan) -> Lowered:
    return Lowered(call=None)  # arrays are flat in C++: the output is the input


# -- several inputs and index maps: loops written out in the top function ---------------------------------

def _loop(n: int, body: str) -> str:
    return f"for (unsigned i = 0; i < {n}; i++) {{\n    NNFPGA_HLS(UNROLL)\n    {body}\n}}"


MAX_EXACT_WIDTH = 128  # widest intermediate ap_fixed value nnfpga's own headers compute (checked at conversion)


@lowering("add", "subtract", "multiply", "average", "maximum", "minimum")
def _merge(node: Node, ins: Inputs, dst: LayerNames, prep: Plan) -> Lowered:
    """The exact expression of the inputs (ap_fixed operators keep every bit), cast once to the result."""
    xs = [f"{src.var}[i]" for _, src in ins]
    cfg = [f"static const unsigned n_in = {_n(node)};", f"typedef {prep.exact} exact_t;"]
    if node.op in ("maximum", "minimum"):  # compared in exact_t, which holds every input
        expr = xs[0]
        for x in xs[1:]:
            expr = f"nnfpga::{node.op}<{dst.config}::exact_t>({expr}, {x})"
    elif node.op == "average":  # the sum times 2^-k, an exact ap_ufixed<1, 1-k>
        k = len(xs).bit_length() - 1
        cfg += [f"typedef ap_ufixed<1, {1 - k}> scale_t;",
                f"static scale_t scale() {{ return scale_t({literal(1, FixedType(1, 1 - k, signed=False))}); }}"]
        expr = f"({' + '.join(xs)}) * {dst.config}::scale()"
    else:
        expr = {"add": " + ", "subtract": " - ", "multiply": " * "}[node.op].join(xs)
    return Lowered(config=cfg, call=_loop(_n(node), f"{dst.var}[i] = ({dst.t('result')})({expr});"))


@lowering("concatenate")
def _concatenate(node: Node, ins: Inputs, dst: LayerNames, prep: Plan) -> Lowered:
    """Each input's elements, cast to the result, at their place in the output (channels-last, C order)."""
    ax = node.attrs["axis"]
    outer = int(np.prod(node.shape[:ax], dtype=np.int64))
    total = int(np.prod(node.shape[ax:], dtype=np.int64))
    lines, offset = [], 0
    for src_node, src in ins:
        inner = int(np.prod(src_node.shape[ax:], dtype=np.int64))
        lines.append(f"for (unsigned o = 0; o < {outer}; o++) {{\n    NNFPGA_HLS(UNROLL)\n"
                     f"    for (unsigned i = 0; i < {inner}; i++) {{\n        NNFPGA_HLS(UNROLL)\n"
                     f"        {dst.var}[o * {total} + {offset} + i] = ({dst.t('result')}){src.var}[o * {inner} + i];"
                     "\n    }\n}")
        offset += inner
    return Lowered(config=[f"static const unsigned n_in = {_n(node)};"], call="\n".join(lines))


@lowering("transpose")
def _transpose(node: Node, ins: Inputs, dst: LayerNames, prep: Plan) -> Lowered:
    """Output element ``(i_0, ..., i_k)`` reads input element ``i_j`` on axis ``perm[j]``: nested unrolled loops."""
    src_node, src = ins[0]
    in_shape, perm = tuple(src_node.shape), node.attrs["perm"]
    strides = [int(np.prod(in_shape[a + 1:], dtype=np.int64)) for a in range(len(in_shape))]
    lines, ind = [], ""
    for j, d in enumerate(node.shape):
        lines += [f"{ind}for (unsigned i{j} = 0; i{j} < {d}; i{j}++) {{", f"{ind}    NNFPGA_HLS(UNROLL)"]
        ind += "    "
    out_idx = "0"
    for j, d in enumerate(node.shape):
        out_idx = f"i{j}" if out_idx == "0" else f"({out_idx}) * {d} + i{j}"
    in_idx = " + ".join(f"i{j} * {strides[a]}" for j, a in enumerate(perm))
    lines.append(f"{ind}{dst.var}[{out_idx}] = {src.var}[{in_idx}];")
    for _ in node.shape:
        ind = ind[:-4]
        lines.append(f"{ind}}}")
    return Lowered(config=[f"static const unsigned n_in = {_n(node)};"], call="\n".join(lines))

