"""Lowering of the recurrent ops (``lstm``, ``gru``, ``simple_rnn``) to ``nnfpga_recurrent.h``, io_parallel.

The constants are the op plan's own (:class:`nnfpga.ops.recurrent.RecurrentPlan`): the two matrix products'
weight mantissas, both biases in the ``bias`` type, and the gates' tables (the same tables as the stand-alone
sigmoid / tanh) or hard_sigmoid's parameters (hard_tanh: slope 1, offset 0, lower bound -1).
Each gate gets a small config struct per input type it reads
(``act_z`` / ``rec_z`` on the ``accum`` type; ``act_c``, the LSTM's ``act(c)``, on the ``state`` type).
hls4ml's ``static`` config key (node attribute ``static``, default True as in hls4ml) picks one cell reused by
every step, or one cell per step; the bits are the same. ``ReuseFactor`` (the input product's) and
``RecurrentReuseFactor`` (the state product's) fold each product onto ``n_in * n_out / R`` multipliers, each used
``R`` times (a pipelined product of II ``R``); the static cell's II is the larger of the two.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnfpga.backends.hls.lower import Inputs, LayerNames, Lowered, literal, lowering
from nnfpga.errors import BackendSupportError
from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Node
from nnfpga.ops.dense import quantize_const
from nnfpga.ops.recurrent import RecurrentPlan
from nnfpga.ops.recurrent_arith import Gate

CELL_KIND = {"lstm": "CELL_LSTM", "gru": "CELL_GRU", "simple_rnn": "CELL_SIMPLE_RNN"}
NO_TABLE = "(const int *)0"  # the table argument of a gate without a table (hard_sigmoid, hard_tanh)
HARD_TANH_PARAM = FixedType(2, 2, signed=True)  # hard_tanh's slope 1 and offset 0, exact


def _bool(v: Any) -> str:
    return "true" if v else "false"


def _gate_struct(name: str, gate: Gate, tin: FixedType, table: FixedType) -> list[str]:
    """``struct <name>``: how the gate reads an input of type ``tin`` (table index geometry, or the clip's
    parameters) and the table type it outputs."""
    plan = gate.plan
    is_table = hasattr(plan, "table")
    lines = [f"struct {name} {{", f"    typedef {table} out_t;", f"    static const bool is_table = {_bool(is_table)};",
             f"    static const int table_width = {table.width};",
             f"    static const int in_width = {tin.width};", f"    static const bool in_signed = {_bool(tin.signed)};"]
    if is_table:
        lines += [f"    static const unsigned table_size = {plan.size};",
                  f"    static const int index_shift = {tin.frac + plan.step_log2};",
                  f"    static const long long lo_steps = {plan.lo_steps};"]
    else:  # hard_sigmoid: clip(slope * x + offset, 0, 1); hard_tanh: clip(1 * x + 0, -1, 1)
        tp = gate.probe.types.get("param", HARD_TANH_PARAM)
        consts = plan.c if gate.probe.op == "hard_sigmoid" else (1.0, 0.0)
        lo = -1 if gate.probe.op == "hard_tanh" else 0
        lines += [f"    typedef {tp} param_t;", f"    static const int lo = {lo};"]
        for pname, c in zip(("slope", "offset"), consts, strict=True):
            lines.append(f"    static param_t {pname}() {{ return param_t({literal(c, tp)}); }}")
    return [*lines, "};"]


def _one_minus_type(t: FixedType) -> FixedType:
    """A signed type holding ``1 - z`` exactly for every ``z`` of type ``t``."""
    frac = max(t.frac, 0)
    integer = max(t.integer, 1) + 2
    return FixedType(frac + integer, integer, signed=True)


def _static(node: Node) -> bool:
    v = node.attrs.get("static", True)
    if not isinstance(v, bool):
        raise BackendSupportError(f"{node.describe()}: static must be true or false, got {v!r} (set the layer's "
                                  "'static' config key to a boolean)")
    return v


@lowering("lstm", "gru", "simple_rnn")
def _recurrent(node: Node, ins: Inputs, dst: LayerNames, prep: RecurrentPlan) -> Lowered:
    src_node, src = ins[0]
    steps, feats = (int(d) for d in src_node.shape)
    units = int(node.attrs["units"])
    n_cols = int(np.shape(node.weights["kernel"])[1])
    n_h = int(np.shape(prep.h.wm)[1])
    ta, ts, tt = node.types["accum"], node.types["state"], node.types["table"]
    ident = dst.ident
    rw_m = np.asarray(prep.h.wm) if prep.hc is None else np.concatenate([prep.h.wm, prep.hc.wm], axis=1)
    arrays: list[tuple[str, str, np.ndarray, FixedType]] = [
        ("weight", f"w_{ident}", np.asarray(prep.x.wm).reshape(-1), node.types["weight"]),
        ("bias", f"b_{ident}", quantize_const(node.weights["bias"], node.types["bias"]), node.types["bias"]),
        ("recurrent_weight", f"rw_{ident}", rw_m.reshape(-1), node.types["recurrent_weight"]),
        ("bias", f"rb_{ident}", quantize_const(node.weights["recurrent_bias"], node.types["bias"]),
         node.types["bias"]),
    ]
    tables = []
    for gate, arr in ((prep.act, f"table_{ident}"), (prep.rec, f"rtable_{ident}")):
        if gate is not None and hasattr(gate.plan, "table"):
            arrays.append(("table", arr, np.asarray(gate.plan.table), tt))
            tables.append(arr)
        else:
            tables.append(NO_TABLE)
    rec = prep.rec if prep.rec is not None else prep.act
    rf, rrf = int(node.attrs.get("reuse_factor", 1)), int(node.attrs.get("recurrent_reuse_factor", 1))
    cfg = [f"static const unsigned n_steps = {steps};", f"static const unsigned n_in = {feats};",
           f"static const unsigned n_units = {units};", f"static const unsigned n_cols = {n_cols};",
           f"static const unsigned n_h_cols = {n_h};",
           f"static const nnfpga::rnn_cell_t cell_kind = nnfpga::{CELL_KIND[node.op]};",
           f"static const bool reset_after = {_bool(node.attrs.get('reset_after', True))};",
           f"static const bool return_sequences = {_bool(node.attrs.get('return_sequences'))};",
           f"static const bool go_backwards = {_bool(node.attrs.get('go_backwards'))};",
           f"static const bool flip_output = {_bool(node.attrs.get('flip_output'))};",
           f"static const bool is_static = {_bool(_static(node))};",
           f"static const unsigned reuse_factor = {rf};", f"static const unsigned recurrent_reuse_factor = {rrf};",
           f"static const unsigned cell_ii = {max(rf, rrf)};  // the static cell's",
           f"typedef {dst.t('weight')} weight_t;", f"typedef {dst.t('recurrent_weight')} recurrent_weight_t;",
           f"typedef {dst.t('bias')} bias_t;", f"typedef {dst.t('accum')} accum_t;",
           f"typedef {dst.t('state')} state_t;", f"typedef {dst.t('table')} table_t;",
           f"typedef {_one_minus_type(tt)} one_minus_t;",
           *_gate_struct("act_z", prep.act, ta, tt), *_gate_struct("rec_z", rec, ta, tt),
           *_gate_struct("act_c", prep.act, ts, tt)]
    call = (f"nnfpga::recurrent<{src.t('result')}, {dst.t('result')}, {dst.config}>({src.var}, {dst.var}, "
            f"w_{ident}, b_{ident}, rw_{ident}, rb_{ident}, {tables[0]}, {tables[1]});")
    return Lowered(config=cfg, arrays=arrays, call=call)
