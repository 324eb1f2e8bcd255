"""Default configurations that are never silently wrong.

- Weights and biases get the default width with integer bits derived from their values (nothing clips).
- Accumulators are exact (``auto``), so no sum rounds or overflows.
- With calibration data, the result types of inputs, Dense and batch-norm layers get their integer bits
  from the observed float ranges, then are widened one bit at a time wherever the bit-exact emulation
  still overflows on that data; softmax table ranges follow the observed spread of their inputs.
- Types a quantization-aware frontend pinned (``attrs["qtypes"]``) are kept as trained.
- Everything else (ReLU, tables...) is ``auto``: its exact or natural type from the op's rule.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnfpga.config.apply import TYPE_NAMES, apply_config, pinned_types, type_name
from nnfpga.config.schema import Config, parse_config
from nnfpga.emulate import Interpreter
from nnfpga.errors import ConfigError
from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Graph
from nnfpga.ops import OPS
from nnfpga.ops.softmax import pow2_ceil
from nnfpga.passes.fold import FOLDED

GRANULARITIES = ("model", "type", "name")
MAX_ROUNDS = 8
MAX_CALIBRATION_ROWS = 100_000


def default_config(
    graph: Graph,
    granularity: str = "model",
    default_precision: str = "ap_fixed<16,6>",
    default_reuse_factor: int = 1,
    calibration_data: Any = None,
) -> dict[str, Any]:
    """An hls4ml-style config dict for ``graph`` (untyped, after the optimization passes)."""
    if granularity not in GRANULARITIES:
        raise ConfigError(f"granularity must be one of {', '.join(GRANULARITIES)}, got {granularity!r}")
    model = {"Precision": default_precision, "ReuseFactor": default_reuse_factor, "Strategy": "Latency",
             "TraceOutput": False}
    base = parse_config({"Model": model})  # validates the precision string
    model["Precision"] = str(base.default)
    if granularity == "model" and calibration_data is None:
        return {"Model": model}
    if granularity == "type" and calibration_data is None:
        types: dict[str, Any] = {}
        for node in graph:
            slots = OPS[node.op].slots
            types[type_name(node)] = {"Precision": {s: "auto" for s in slots}}
            if "result" in OPS[node.op].default_slots:
                types[type_name(node)]["Precision"]["result"] = model["Precision"]
        return {"Model": model, "LayerType": types}
    typed = apply_config(graph, base)
    owners = result_owners(typed)
    choices: dict[str, dict[str, FixedType]] = {}
    for n in typed:
        if not OPS[n.op].default_slots:
            continue
        chosen = {s: n.types[s] for s in OPS[n.op].default_slots if s not in n.attrs.get("qtypes", {})
                  and not (s == "result" and n.attrs.get("exact_result"))}
        if "result" in chosen and owners.get(n.name, n.name) != n.name:  # a folded batch-norm's result
            choices[owners[n.name]] = {"result": chosen.pop("result")}
        choices[n.name] = chosen
    tables: dict[str, float] = {}
    if calibration_data is not None:
        _calibrate(graph, typed, base, choices, tables, np.asarray(calibration_data)[:MAX_CALIBRATION_ROWS])
    layers: dict[str, Any] = {}
    for node in graph:  # the untyped graph: batch-norms folded with this config are listed too
        prec = {s: "auto" for s in OPS[node.op].slots}
        prec.update({s: str(t) for s, t in choices.get(node.name, {}).items()})
        prec.update({s: str(t) for s, t in pinned_types(node).items()})  # what training used
        entry: dict[str, Any] = {"Precision": prec}
        if OPS[node.op].reuse:
            entry["ReuseFactor"] = default_reuse_factor
        if OPS[node.op].category in ("table", "recurrent"):
            entry["TableSize"] = int(node.attrs.get("table_size", 1024))
            if node.name in tables:
                entry["TableRange"] = tables[node.name]
        entry["Trace"] = False
        layers[node.name] = entry
    return {"Model": model, "LayerName": layers}


def result_owners(typed: Graph) -> dict[str, str]:
    """Dense layers that absorbed batch-norms -> the config entry that sets their result type (the last
    batch-norm's: pinning the Dense's own result would keep the batch-norm unfolded)."""
    return {n.name: n.attrs[FOLDED][-1] for n in typed if n.attrs.get(FOLDED)}


def _calibrate(graph: Graph, typed: Graph, base: Config, choices: dict[str, dict[str, FixedType]],
               tables: dict[str, float], x: np.ndarray) -> None:
    """Set result integer bits from float ranges, then widen until the fixed-point run has no overflow."""
    ref = Interpreter(typed).run(x, mode="float", keep=True)
    owners = result_owners(typed)
    nodes = {owner: name for name, owner in owners.items()}  # config entry -> the typed node it types
    width = base.default.width
    modes = {"rounding": base.default.rounding, "overflow": base.default.overflow}
    for name, slots in choices.items():
        if "result" not in slots:
            continue  # pinned by training
        v = ref.values[nodes.get(name, name)]
        lo, hi = float(v.min()), float(v.max())
        slots["result"] = FixedType.for_range(min(lo, 0.0), max(hi, 0.0), width, signed=True, **modes)
    for node in typed:
        if node.op == "softmax":
            v = ref.values[node.inputs[0]]
            spread = float((v.max(axis=-1) - v.min(axis=-1)).max()) if v.size else 1.0
            tables[node.name] = max(pow2_ceil(spread), 1.0)
    for _ in range(MAX_ROUNDS):
        cfg = {"Model": {"Precision": str(base.default)},
               "LayerName": {n: {"Precision": {s: str(t) for s, t in c.items()}} for n, c in choices.items()}}
        for n, r in tables.items():
            cfg["LayerName"][n] = {"TableRange": r}
        trial = apply_config(graph, parse_config(cfg))
        stats = Interpreter(trial).run(x).stats
        bumped = False
        for (node_name, slot), ov in stats.overflow.items():
            name = owners.get(node_name, node_name)
            if ov.count and slot == "result" and "result" in choices.get(name, {}):
                t = choices[name]["result"]
                choices[name]["result"] = t.with_(integer=t.integer + 1)
                bumped = True
        if not bumped:
            return


__all__ = ["GRANULARITIES", "TYPE_NAMES", "default_config"]
