"""The ``vitis`` backend: a Vitis HLS C++ project, its C simulation with g++ (engine ``csim``) and the Vitis HLS
build (``vitis_hls``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nnfpga import tools
from nnfpga.backends.base import RECURRENT_OPS, RECURRENT_REUSE, Backend, Engine, Knob, Prep, register
from nnfpga.backends.hls.cpp import project_identifier
from nnfpga.backends.hls.csim import CSim, compile_library
from nnfpga.backends.hls.writer import check_widths, hls_files
from nnfpga.errors import ConfigError
from nnfpga.fixed import from_float, to_float
from nnfpga.reports import HardwareReport, parse_vitis_csynth

if TYPE_CHECKING:
    from nnfpga.ir.graph import Graph
    from nnfpga.model import HWModel



def _static(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true (one recurrent cell reused by every time step) or false (one cell "
                          f"per step), got {value!r}")
    return value


# hls4ml's recurrent ``static`` attribute, under its config key (hls4ml's ConfigurableAttribute: Static)
KNOBS = (Knob("Static", "static", _static, RECURRENT_OPS), RECURRENT_REUSE)


@register
class VitisBackend(Backend):
    name = "vitis"
    description = "Vitis HLS C++ (io_parallel arrays or io_stream), C-simulated with g++"
    knobs = KNOBS

    def __init__(self) -> None:
        self.csim: CSim | None = None  # the compiled C simulation of the written project

    def validate(self, graph: Graph, settings: dict[str, Any], prep: Prep) -> None:
        check_widths(graph, prep)

    def files(self, hw: HWModel, tb_inputs: np.ndarray | None = None) -> dict[str, bytes]:
        self.csim = None  # the project changes on disk: compile again before the next C simulation
        return hls_files(hw, tb_inputs)

    def engines(self) -> dict[str, Engine]:
        return {"csim": Engine("csim", "the generated HLS C++ compiled with g++", self.predict_csim,
                               "compile() builds the HLS C simulation")}

    def compile(self, hw: HWModel, *, ap_types_dir: str | None = None, force: bool = False) -> Path:
        hw.write(force=force)
        lib = compile_library(hw.output_dir, project_identifier(hw.settings["project_name"]), ap_types_dir)
        g = hw.graph
        self.csim = CSim(lib, int(np.prod(g[g.inputs[0]].shape)), int(np.prod(g[g.outputs[0]].shape)))
        return lib

    def predict_csim(self, hw: HWModel, x: Any) -> np.ndarray:
        if self.csim is None:
            self.compile(hw)
        assert self.csim is not None
        g = hw.graph
        x = hw.interpreter.check_input(x)
        tin, tout = g[g.inputs[0]].types["result"], g[g.outputs[0]].types["result"]
        m, _ = from_float(x.reshape(len(x), -1), tin)
        y = self.csim.run(np.asarray(m, dtype=np.int64))
        return to_float(y, tout).reshape((len(x), *g[g.outputs[0]].shape))

    def estimate(self, hw: HWModel, target: str) -> Any:
        """An HLS-style estimate, labelled as such: the resources of the Verilog backend's design of the same
        typed graph (what nnfpga counts without Vitis HLS), with that design's latency and II, not the HLS
        design's (``hw.build()`` reports those). Raises ``BackendSupportError`` where the Verilog backend cannot
        build the graph."""
        from nnfpga.backends.rtl.estimate import HLS_STYLE, estimate

        out = estimate(hw, target)
        out.style = HLS_STYLE
        return out

    def build(self, hw: HWModel, *, options: dict[str, bool], timeout_s: float) -> HardwareReport:
        exe = tools.find("vitis_hls")
        prj = hw.write(force=True)
        args = " ".join(f"{k}={int(v)}" for k, v in options.items())
        tools.run([exe, "-f", "build_prj.tcl", args], cwd=prj, timeout_s=timeout_s, name="vitis_hls")
        name = project_identifier(hw.settings["project_name"])
        return parse_vitis_csynth(prj / f"{name}_prj" / "solution1" / "syn" / "report" / "csynth.xml")
