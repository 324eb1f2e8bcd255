"""The ``verilog`` backend: a pipelined Verilog design (``rtl/``), its Verilator simulation (engine ``rtl``) and
its synthesis with Yosys / nextpnr.

Its config keys (Model, LayerType or LayerName level) set the node attributes the lowering reads
(:mod:`nnfpga.backends.rtl.lower`): ``PipelineStages`` (registers after a layer, integer >= 0),
``AddersPerStage`` (``auto``, the default: registers placed for the clock period by the target's delay model; an
integer >= 1: a register after every that many adders inside a Dense/Softmax; null: no register inside) and
``Multipliers`` (Dense: ``auto``, the default: ``shared``, or ``csd`` in ECP5's large timing-driven designs;
``shared``, ``csd`` or ``operator``). The top-level ``ClockPeriod`` (``clock_period``) and
``Part`` choose the clock and the delay model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from nnfpga.backends.base import RECURRENT_REUSE, Backend, Engine, Knob, Prep, register
from nnfpga.backends.rtl.lower import (
    AUTO,
    DEFAULT_ADDERS_PER_STAGE,
    MULTIPLIERS,
    check_supported,
    node_adders_per_stage,
    node_stages,
)
from nnfpga.errors import ConfigError

if TYPE_CHECKING:
    from nnfpga.backends.rtl.estimate import Estimate
    from nnfpga.ir.graph import Graph
    from nnfpga.model import HWModel
    from nnfpga.reports import HardwareReport


def _stages(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where} must be an integer >= 0 (registers after the layer), got {value!r}")
    return value


def _adders(value: Any, where: str) -> int | str | None:
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return AUTO
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{where} must be \"auto\" (registers placed for the clock period), an integer >= 1 "
                          f"(adders between registers inside the layer), or null (no register inside the layer), "
                          f"got {value!r}")
    return value


def _multipliers(value: Any, where: str) -> str:
    for m in MULTIPLIERS:
        if isinstance(value, str) and value.strip().lower() == m:
            return m
    raise ConfigError(f"{where} must be one of {', '.join(MULTIPLIERS)}, got {value!r}")


KNOBS = (
    Knob("PipelineStages", "pipeline_stages", _stages),
    Knob("AddersPerStage", "adders_per_stage", _adders, ("dense", "softmax", "lstm", "gru", "simple_rnn")),
    Knob("Multipliers", "multipliers", _multipliers, ("dense", "lstm", "gru", "simple_rnn")),
    RECURRENT_REUSE,
)


@register
class VerilogBackend(Backend):
    name = "verilog"
    description = "pipelined Verilog RTL, simulated with Verilator, synthesized with Yosys"
    knobs = KNOBS

    def validate(self, graph: Graph, settings: dict[str, Any], prep: Prep) -> None:
        check_supported(graph, prep)
        for node in graph:  # the attributes the lowering reads, checked now rather than at write()
            node_stages(node)
            node_adders_per_stage(node, DEFAULT_ADDERS_PER_STAGE)
            if node.attrs.get("multipliers", MULTIPLIERS[0]) not in MULTIPLIERS:
                _multipliers(node.attrs["multipliers"], f"multipliers of {node.describe()}")

    def files(self, hw: HWModel, tb_inputs: np.ndarray | None = None) -> dict[str, bytes]:
        from nnfpga.backends.rtl.writer import rtl_files

        return rtl_files(hw)

    def engines(self) -> dict[str, Engine]:
        return {"rtl": Engine("rtl", "the generated Verilog simulated with Verilator", _predict_rtl,
                              "engine 'rtl' simulates the Verilog design")}

    def synthesize(self, hw: HWModel, target: str, **kw: Any) -> HardwareReport:
        from nnfpga.backends.rtl.synth import synthesize

        return synthesize(hw, target, **kw)

    def estimate(self, hw: HWModel, target: str) -> Estimate:
        from nnfpga.backends.rtl.estimate import estimate

        return estimate(hw, target)


def _predict_rtl(hw: HWModel, x: Any) -> np.ndarray:
    from nnfpga.backends.rtl.sim import predict

    return predict(hw, x)
