"""The converted model: bit-exact ``predict``, per-layer ``trace``, summaries, and the project on disk."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnfpga.backends.base import Backend, Engine, backend_class, backend_names, get_backend
from nnfpga.config.apply import pinned_types
from nnfpga.emulate import Interpreter
from nnfpga.emulate.interpreter import RunResult
from nnfpga.errors import ConfigError, OverflowWarning
from nnfpga.fixed import FixedType
from nnfpga.ir.checks import check_weights
from nnfpga.ir.graph import Graph
from nnfpga.ops import OPS, RunStats
from nnfpga.project import project_files, write_atomic
from nnfpga.reports import HardwareReport

IO_TYPES = ("io_parallel", "io_stream")
EMULATOR = "emulator"  # the engine of every backend: the bit-exact NumPy emulator
PART_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")  # goes into build_prj.tcl: nothing Tcl could expand


@dataclass
class LayerTrace:
    """One layer's bit-exact output beside the float reference of the same graph, and ``precast``: the values the
    bit-exact run cast into the layer's result type (before its rounding and overflow; ``None`` for a layer that
    casts nothing, such as a reshape)."""

    name: str
    op: str
    type: FixedType
    fixed: np.ndarray
    float: np.ndarray
    overflow: int
    precast: np.ndarray | None = None

    @property
    def max_abs_error(self) -> float:
        return float(np.max(np.abs(self.fixed - self.float))) if self.fixed.size else 0.0


class Trace(dict[str, LayerTrace]):
    """Layer name -> :class:`LayerTrace`, in graph order."""

    def table(self) -> str:
        rows = [("layer", "op", "type", "max |fixed - float|", "overflow")]
        rows += [(t.name, t.op, str(t.type), f"{t.max_abs_error:.3g}", str(t.overflow)) for t in self.values()]
        return format_table(rows)


class HWModel:
    """A model converted to a typed fixed-point graph, with the conversion settings of its project and the
    :class:`~nnfpga.backends.base.Backend` that generates its code (it checks the graph here, at conversion)."""

    def __init__(self, graph: Graph, config: dict[str, Any], *, output_dir: str | Path = "nnfpga_prj",
                 backend: str = "vitis", io_type: str = "io_parallel", project_name: str = "myproject",
                 part: str = "xcvu13p-flga2577-2-e", clock_period: float = 5.0) -> None:
        self.backend: Backend = get_backend(backend)
        if io_type not in IO_TYPES:
            raise ConfigError(f"unknown io_type {io_type!r}; expected one of {', '.join(IO_TYPES)}")
        if isinstance(clock_period, bool) or not isinstance(clock_period, (int, float)) or not 0 < clock_period < 1e6:
            raise ConfigError(f"clock_period must be a positive number of ns, got {clock_period!r}")
        if not isinstance(part, str) or not PART_PATTERN.fullmatch(part):
            raise ConfigError(f"part must be an FPGA part name like 'xcvu13p-flga2577-2-e' (letters, digits, '_', "
                              f"'-', '.'), got {part!r}")
        if not isinstance(project_name, str) or not project_name.strip():
            raise ConfigError(f"project_name must be a non-empty string, got {project_name!r}")
        if not isinstance(output_dir, (str, os.PathLike)) or not str(output_dir).strip():
            raise ConfigError(f"output_dir must be a directory path (a non-empty str or os.PathLike), got "
                              f"{output_dir!r}; leave it out for the default 'nnfpga_prj'")
        check_weights(graph)
        self.graph = graph
        self.config = config
        self.output_dir = Path(output_dir)
        self.settings = {"backend": self.backend.name, "io_type": io_type, "project_name": project_name, "part": part,
                         "clock_period": float(clock_period)}
        self.interpreter = Interpreter(graph)
        self.last_stats: RunStats | None = None
        self.last_report: HardwareReport | None = None  # of the last synthesize() or build()
        self.backend.validate(graph, self.settings, self.interpreter.prep)

    # -- emulation -----------------------------------------------------------------------------
    def predict(self, x: Any, *, engine: str = EMULATOR, progress: bool | None = None) -> np.ndarray:
        """Bit-exact outputs (as float values) for a batch. Warns with :class:`OverflowWarning` per overflow.
        ``engine``: ``"emulator"`` (NumPy), or one of the backend's (``"csim"``: the HLS C++ compiled with g++;
        ``"rtl"``: the Verilog simulated with Verilator)."""
        if engine != EMULATOR:
            return self._engine(engine).predict(self, x)
        res = self.interpreter.run(x, progress=progress)
        self._after_run(res)
        return res.outputs[0]

    def _engine(self, engine: str) -> Engine:
        mine = self.backend.engines()
        if engine in mine:
            return mine[engine]
        owners = {e: (n, eng) for n in backend_names() for e, eng in backend_class(n)().engines().items()}
        if engine not in owners:
            raise ConfigError(f"unknown engine {engine!r}; available here: {', '.join([EMULATOR, *owners])}")
        owner, eng = owners[engine]
        raise ConfigError(f"{eng.requires}; this project's backend is {self.backend.name!r}: convert with "
                          f"backend={owner!r}")

    def predict_float(self, x: Any) -> np.ndarray:
        """The float reference of the same graph (batch-norm folded, no quantization)."""
        return self.interpreter.run(x, mode="float").outputs[0]

    def trace(self, x: Any) -> Trace:
        """Each layer's bit-exact output with the float reference beside it: the layers with ``Trace: true`` in
        the config (``Model.TraceOutput: true``: all of them) when any has it, else every layer."""
        fixed = self.interpreter.run(x, keep=True, precast=True)
        ref = self.interpreter.run(x, mode="float", keep=True)
        self._after_run(fixed)
        out = Trace()
        chosen = [n for n in self.graph if n.attrs.get("trace")] or list(self.graph)
        for node in chosen:
            ov = sum(o.count for (n, _), o in fixed.stats.overflow.items() if n == node.name)
            out[node.name] = LayerTrace(node.name, node.op, node.types["result"], fixed.values[node.name],
                                        ref.values[node.name], ov, fixed.precast.get(node.name))
        return out

    def _after_run(self, res: RunResult) -> None:
        self.last_stats = res.stats
        # A type pinned by quantization-aware training saturates or wraps by design, as the quantizer did: the
        # overflow table still counts it, but it is not a surprise worth a warning.
        bad = [(n, s, o) for (n, s), o in res.stats.overflow.items()
               if o.count and pinned_types(self.graph[n]).get(s) != self.graph[n].types[s]]
        if bad:
            lines = "; ".join(f"{n}.{s}: {o.count} of {o.total} values ({self.graph[n].types[s]}, "
                              f"{self.graph[n].types[s].overflow})" for n, s, o in bad)
            warnings.warn(f"fixed-point overflow: {lines}. Widen those types (more integer bits) or pass "
                          "calibration data to config_from_<framework>_model", OverflowWarning, stacklevel=3)

    # -- reports -------------------------------------------------------------------------------
    def overflow_table(self, stats: RunStats | None = None) -> str:
        stats = stats or self.last_stats or RunStats()
        rows = [("layer", "slot", "type", "overflowed", "of")]
        for (n, s), o in stats.overflow.items():
            rows.append((n, s, str(self.graph[n].types[s]), str(o.count), str(o.total)))
        return format_table(rows)

    def summary(self) -> str:
        rows = [("layer", "op", "shape", "precisions", "reuse")]
        for n in self.graph:
            prec = ", ".join(f"{s}={n.types[s]}" for s in OPS[n.op].slots)
            rf = str(n.attrs.get("reuse_factor", "")) if OPS[n.op].reuse else ""
            rows.append((n.name, n.op, "x".join(map(str, n.shape)), prec, rf))
        return format_table(rows)

    def report_html(self, path: str | Path, X: Any = None, *, figures: Any = None, model: Any = None,
                    hardware: HardwareReport | list[HardwareReport] | None = None, force: bool = False) -> Path:
        """Write one self-contained HTML file (no external resources): the layer graph, every layer's types,
        ReuseFactor and Strategy, and the resources and latency of the last synthesis (``hardware``, else this
        session's and the project's saved reports). With inputs ``X``: the overflow table and the per-layer
        trace error of a bit-exact run on them, and figures: the trace error, then ``figures`` (matplotlib
        figures; ``None`` asks ``nnfpga.profiling.numerical(model, self, X)`` when that module exists).
        Written atomically; an existing file that is not an nnfpga report is replaced only with ``force``."""
        from nnfpga.reports.html import report_html

        return report_html(self, path, X, figures=figures, model=model, hardware=hardware, force=force)

    # -- project -------------------------------------------------------------------------------
    def write(self, *, force: bool = False, tb_inputs: Any = None) -> Path:
        """Write the project directory atomically (see :func:`nnfpga.project.write_atomic`): the typed graph and
        the backend's files (for ``backend="vitis"``, testbench data from ``tb_inputs`` when given)."""
        files = project_files(self.graph, self.config, self.settings)
        files.update(self.backend.files(self, None if tb_inputs is None else self.interpreter.check_input(tb_inputs)))
        return write_atomic(self.output_dir, files, force=force)

    def compile(self, *, ap_types_dir: str | None = None, force: bool = False) -> Path:
        """Write the project and build its C simulation library with g++ (nnfpga's ap_types headers, or
        Xilinx's from ``ap_types_dir`` / ``AP_TYPES_DIR``). Returns the library path. HLS backend only."""
        return self._method("compile", "compile() builds the HLS C simulation")(
            self, ap_types_dir=ap_types_dir, force=force)

    def build(self, *, csim: bool = True, synth: bool = True, cosim: bool = False, export: bool = False,
              vsynth: bool = False, timeout_s: float = 24 * 3600) -> HardwareReport:
        """Run Vitis HLS on the written project (``vitis_hls -f build_prj.tcl``) and return its csynth report.
        Vitis is not open source: without ``vitis_hls`` on PATH this raises ToolNotFoundError, never pretends."""
        opts = {"reset": True, "csim": csim, "synth": synth, "cosim": cosim, "export": export, "vsynth": vsynth}
        self.last_report = self._method("build", "build() runs Vitis HLS")(self, options=opts, timeout_s=timeout_s)
        return self.last_report

    def synthesize(self, target: str = "xc7", **kw: Any) -> HardwareReport:
        """Synthesize the Verilog design with Yosys (and nextpnr-ecp5 for ``target="ecp5"``): resources, latency,
        II and, for ECP5, Fmax. See :func:`nnfpga.backends.rtl.synth.synthesize` for the targets and options."""
        synth = self._method("synthesize", "synthesize() runs Yosys on the Verilog design")
        self.last_report = synth(self, target, **kw)
        return self.last_report

    def estimate(self, target: str = "xc7") -> Any:
        """Estimate the Verilog design's LUT, FF, DSP, BRAM per layer and in total, with its exact latency (cycles)
        and II, without running any tool: an :class:`~nnfpga.backends.rtl.estimate.Estimate` (``.table()``,
        ``.to_dict()``). See :mod:`nnfpga.backends.rtl.estimate` for the model and its validation."""
        return self._method("estimate", "estimate() reads the Verilog design")(self, target)

    def _method(self, name: str, what: str) -> Callable[..., Any]:
        """The backend's ``name`` method; a ConfigError naming the backend that has one when this one has not."""
        fn = getattr(self.backend, name, None)
        if fn is None:
            owners = [n for n in backend_names() if hasattr(backend_class(n), name)]
            raise ConfigError(f"{what}; this project's backend is {self.backend.name!r}: convert with "
                              f"backend={owners[0]!r}")
        return fn


def format_table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
