"""Apply a parsed :class:`Config` to a graph: explicit types and per-layer attributes, then type inference."""

from __future__ import annotations

import difflib
import warnings
from typing import Any

from nnfpga.backends.base import all_knobs
from nnfpga.config.hls4ml_keys import SLOT_ALIASES, slot_ignored
from nnfpga.config.schema import Config, LayerConfig
from nnfpga.errors import ConfigError, Hls4mlKeyWarning
from nnfpga.fixed import FixedType
from nnfpga.ir.checks import check_weights
from nnfpga.ir.graph import Graph, Node
from nnfpga.ops import OPS
from nnfpga.passes import run_pipeline, typed_pipeline

TYPE_NAMES = {name: op.config_name for name, op in OPS.items()}  # op -> hls4ml config type (the op records')
# every LayerType name some node may have (ops with several: OpDef.config_names)
ALL_TYPE_NAMES = frozenset(n for op in OPS.values() for n in (op.config_name, *op.config_names))
ACTIVATION_TYPE = "Activation"  # LayerType key matching every activation and table op


def type_name(node: Node) -> str:
    return OPS[node.op].config_type(node)


def pinned_types(node: Node) -> dict[str, FixedType]:
    """The types a quantization-aware frontend fixed for ``node`` (``attrs["qtypes"]``: slot -> type string).

    They are what the model was trained with: they override Model and LayerType precisions, and only an
    explicit LayerName precision for that slot changes them."""
    return {slot: FixedType.parse(t) for slot, t in node.attrs.get("qtypes", {}).items()}


def apply_config(graph: Graph, config: Config) -> Graph:
    """Return a copy of ``graph`` with each node's explicit types and attributes set (LayerName over LayerType
    over Model), validated against the graph, and every type left open inferred."""
    check_weights(graph)
    graph = graph.copy()
    _check_names(graph, config)
    valid_types = set(ALL_TYPE_NAMES) | {ACTIVATION_TYPE}
    for tname in config.layer_type:
        if tname not in valid_types:
            close = difflib.get_close_matches(tname, sorted(valid_types), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"LayerType.{tname}: unknown layer type{hint}; "
                              f"known types: {', '.join(sorted(valid_types))}")
    for node in graph:
        entries = []
        if OPS[node.op].category in ("activation", "table") and ACTIVATION_TYPE in config.layer_type:
            entries.append((f"LayerType.{ACTIVATION_TYPE}", config.layer_type[ACTIVATION_TYPE]))
        if type_name(node) in config.layer_type:
            entries.append((f"LayerType.{type_name(node)}", config.layer_type[type_name(node)]))
        if node.name in config.layer_name:
            entries.append((f"LayerName.{node.name}", config.layer_name[node.name]))
        node.types = {}
        node.attrs.update(reuse_factor=config.reuse_factor, strategy=config.strategy, trace=config.trace)
        _apply_knobs(node, config.knobs, "Model", explicit=False)
        reuse_from = "Model"
        for where, lc in entries:
            if where.startswith("LayerName"):
                node.types.update(pinned_types(node))  # training's quantizers beat LayerType, not LayerName
            _apply_layer(node, lc, where, explicit=where.startswith("LayerName"))
            if lc.reuse_factor is not None:
                reuse_from = where
        if node.name not in config.layer_name:
            node.types.update(pinned_types(node))
        else:
            _warn_replaced_quantizers(node)
        _check_reuse(node, reuse_from)
    pinned = [name for name, lc in config.layer_name.items() if lc.precision.get("result") is not None]
    run_pipeline(graph, typed_pipeline(config.default, pinned), typed=True)
    return graph


def _warn_replaced_quantizers(node: Node) -> None:
    """An explicit LayerName precision that replaces a type a quantizer was trained with is allowed, but said."""
    for slot, trained in pinned_types(node).items():
        chosen = node.types.get(slot)
        if chosen is not None and chosen != trained:
            warnings.warn(f"LayerName.{node.name}.Precision.{slot} = {chosen} replaces {trained}, the type "
                          f"{node.source or node.name} was trained with (its quantizer): the firmware's outputs "
                          "then differ from the trained model's quantized inference", stacklevel=4)


def _apply_layer(node: Node, lc: LayerConfig, where: str, *, explicit: bool) -> None:
    op = OPS[node.op]
    for key, t in lc.precision.items():
        slot = SLOT_ALIASES.get(type_name(node), {}).get(key, key)
        if slot not in op.slots:
            if lc.precision_from_string or where == f"LayerType.{ACTIVATION_TYPE}":
                continue  # a string, or the catch-all Activation type: slots an op lacks do not apply
            note = slot_ignored(type_name(node), op.category, slot, t)
            if note == "unknown":
                raise ConfigError(f"{where}.Precision: {type_name(node)} layer {node.name!r} has no {slot!r} "
                                  f"precision; valid keys: {', '.join(op.slots)}")
            if note is not None:
                warnings.warn(f"hls4ml config key that nnfpga ignores: {where}.{note}", Hls4mlKeyWarning,
                              stacklevel=5)
            continue
        node.types[slot] = t
    if lc.reuse_factor is not None:
        node.attrs["reuse_factor"] = lc.reuse_factor
    if lc.strategy is not None:
        node.attrs["strategy"] = lc.strategy
    if lc.trace is not None:
        node.attrs["trace"] = lc.trace
    _apply_knobs(node, lc.knobs, where, explicit=explicit)
    for key, value in (("table_size", lc.table_size), ("table_range", lc.table_range)):
        if value is None:
            continue
        if op.category not in ("table", "recurrent"):  # a recurrent cell's gates are tables
            # hls4ml writes TableSize on every activation (and Dropout); the ones without a table ignore it there
            if explicit and op.category not in ("activation", "shape"):
                raise ConfigError(f"{where}: {type_name(node)} layer {node.name!r} has no lookup table; "
                                  "TableSize/TableRange apply to Sigmoid, Tanh, ELU, Softmax, LSTM, GRU and SimpleRNN "
                                  "layers")
            continue
        node.attrs[key] = value


def _apply_knobs(node: Node, knobs: dict[str, Any], where: str, *, explicit: bool) -> None:
    """Set the backend knobs' node attributes where they apply (Model and LayerType entries pass other ops by;
    a LayerName entry for an op without that knob is an error)."""
    by_attr = {k.attr: k for k in all_knobs().values()}
    for attr, value in knobs.items():
        knob = by_attr[attr]
        if not knob.applies_to(node.op):
            if explicit:
                ops = ", ".join(TYPE_NAMES[op] for op in knob.ops or ())
                raise ConfigError(f"{where}.{knob.key}: {type_name(node)} layer {node.name!r} has no {knob.key} "
                                  f"setting; it applies to {ops} layers")
            continue
        node.attrs[attr] = value


def _check_reuse(node: Node, where: str) -> None:
    op = OPS[node.op]
    if not op.reuse:
        return
    _check_divides("ReuseFactor", node.attrs["reuse_factor"], f" (from {where})", node, op.reuse_shape(node),
                   ("inputs", "outputs"))
    if "recurrent_reuse_factor" in node.attrs:  # a recurrent layer's state product
        _check_divides("RecurrentReuseFactor", node.attrs["recurrent_reuse_factor"], "", node,
                       op.recurrent_reuse_shape(node), ("state values", "gate outputs"))


def _check_divides(key: str, rf: int, origin: str, node: Node, shape: tuple[int, int], what: tuple[str, str]) -> None:
    """Each of the ``n_in * n_out / R`` multipliers is used exactly ``R`` times: ``R`` divides ``n_in * n_out``."""
    n_in, n_out = shape
    total = n_in * n_out
    if total % rf:
        valid = [r for r in range(1, total + 1) if total % r == 0]
        raise ConfigError(
            f"{key} {rf}{origin} is not valid for {type_name(node)} layer {node.name!r} with {n_in} {what[0]} x "
            f"{n_out} {what[1]} = {total} multiplications: it must divide {total}. "
            f"Valid values: {', '.join(map(str, valid))}")


def _check_names(graph: Graph, config: Config) -> None:
    for name in config.layer_name:
        if name in graph:
            continue
        if name in graph.removed:
            warnings.warn(f"LayerName.{name} has no effect: {graph.removed[name]}", stacklevel=3)
            continue
        close = difflib.get_close_matches(name, list(graph.nodes), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"LayerName.{name}: no layer of that name{hint}; layers: {', '.join(graph.nodes)}")
