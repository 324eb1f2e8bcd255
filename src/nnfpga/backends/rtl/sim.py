"""Verilator simulation of a generated design: build once per source hash (cached), stream many vectors.

The harness (``harness/harness.cpp``, linked with ``verilator --cc --exe --build``) drives ``in_valid`` /
``in_data`` one vector per clock after a 2-cycle reset, with registers starting random, and records each
output with its cycle; latency and initiation interval come from those cycles.

Builds are cached under ``$NNFPGA_CACHE_DIR/rtl`` (default ``$XDG_CACHE_HOME/nnfpga/rtl``, else
``~/.cache/nnfpga/rtl``), one directory (sources and executable, a few MB) per hash of
the Verilog sources, the harness, the Verilator version and the flags: the same design never builds twice.
"""

from __future__ import annotations

import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nnfpga import tools
from nnfpga.backends.rtl.lower import Design, build_design, prepare_all, timing_settings
from nnfpga.backends.rtl.verilator import (  # noqa: F401  (re-exported: the toolchain layer)
    BUILD_TIMEOUT_S,
    RUN_TIMEOUT_S,
    build_sources,
    cache_root,
    pack,
    port_bytes,
    unpack,
    verilator,
    verilator_version,
)
from nnfpga.errors import BackendSupportError, EmulationError, NnfpgaError
from nnfpga.ir.graph import Graph

if TYPE_CHECKING:
    from nnfpga.model import HWModel

DRAIN_CYCLES = 8
OPTIMIZE_ROWS = 150_000  # predict() compiles with -O1 from this many rows on (where -O1 pays off)


def _harness() -> str:
    return resources.files("nnfpga.backends.rtl").joinpath("harness", "harness.cpp").read_text()


def build(design: Design, *, cache_dir: str | os.PathLike[str] | None = None, optimize: bool = False,
          timeout_s: float = BUILD_TIMEOUT_S) -> Path:
    """Verilate and compile ``design`` with the harness (once per source hash); returns the executable.
    ``optimize``: compile the model with -O1 (slower build, much faster simulation of many vectors)."""
    return build_sources(design.name, design.sources(), _harness(), cache_dir=cache_dir, optimize=optimize,
                         timeout_s=timeout_s, record=build)


def run(binary: Path, design: Design, x_mantissas: np.ndarray, *, idle_seed: int = 0,
        timeout_s: float = RUN_TIMEOUT_S) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stream the rows of ``x_mantissas`` through the built design. Returns (output mantissas, input cycles,
    output cycles)."""
    x = np.asarray(x_mantissas)
    n = len(x)
    in_stride, out_stride = port_bytes(design.in_width), port_bytes(design.out_width)
    with tempfile.TemporaryDirectory(prefix="nnfpga-rtl-") as tmp:
        fin, fout = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        fin.write_bytes(pack(x.reshape(n, design.n_in), design.in_type, in_stride))
        max_cycles = 2 * n * design.ii + design.latency + 100
        cmd = [str(binary), str(fin), str(fout), str(n), str(in_stride), str(out_stride), str(idle_seed),
               str(max_cycles), str(DRAIN_CYCLES + design.latency), str(design.ii)]
        ran = tools.run(cmd, cwd=tmp, timeout_s=timeout_s, name="the Verilator simulation")
        run.last_seconds = ran.seconds  # type: ignore[attr-defined]
        data = fout.read_bytes()
    in_cycles = np.frombuffer(data[: 8 * n], dtype=np.int64)
    out_cycles = np.frombuffer(data[8 * n: 16 * n], dtype=np.int64)
    y = unpack(data[16 * n:], n, design.n_out, design.out_type, out_stride)
    return y, in_cycles, out_cycles


def design_of(hw_or_graph: HWModel | Graph, *, project: str | None = None,
              pipeline_stages: dict[str, int] | None = None) -> Design:
    if isinstance(hw_or_graph, Graph):
        return build_design(hw_or_graph, project or hw_or_graph.name, prep=prepare_all(hw_or_graph),
                            pipeline_stages=pipeline_stages)
    return build_design(hw_or_graph.graph, project or hw_or_graph.settings["project_name"],
                        prep=hw_or_graph.interpreter.prep, pipeline_stages=pipeline_stages,
                        **timing_settings(hw_or_graph.settings))


def simulate(hw_or_graph: HWModel | Graph | Design, x_mantissas: Any, *, project: str | None = None,
             pipeline_stages: dict[str, int] | None = None, cache_dir: str | os.PathLike[str] | None = None,
             idle_seed: int = 0, optimize: bool = False, build_timeout_s: float = BUILD_TIMEOUT_S,
             run_timeout_s: float = RUN_TIMEOUT_S) -> tuple[np.ndarray, int, int]:
    """Run the generated Verilog in Verilator on integer input mantissas ``x_mantissas`` (batch, n_in...).
    ``hw_or_graph`` may also be a built :class:`Design` (then ``project`` and ``pipeline_stages`` are unused).

    Returns ``(output mantissas (batch, n_out), latency in cycles, initiation interval)``, latency and II as
    measured: cycles from ``in_valid`` to ``out_valid`` of each vector, and the closest spacing of inputs fed
    as fast as the design allows (``Design.ii`` cycles apart), plus any stall of the outputs. ``idle_seed``
    (nonzero) leaves about 1 cycle in 8 idle; ``optimize`` trades build time for simulation speed (see
    :data:`OPT_FLAGS`); ``cache_dir`` overrides the build cache. Raises ToolNotFoundError without Verilator and
    ToolError (with Verilator's last output lines and the command) when it fails."""
    design = hw_or_graph if isinstance(hw_or_graph, Design) else \
        design_of(hw_or_graph, project=project, pipeline_stages=pipeline_stages)
    if design.streaming:
        raise BackendSupportError(f"{design.name} is a streaming image-model design: simulate it with "
                                  f"nnfpga.backends.rtl.stream.simulate_stream or hw.predict(x, engine='rtl')")
    x = np.asarray(x_mantissas)
    if x.ndim < 1 or int(np.prod(x.shape[1:])) != design.n_in:
        raise EmulationError(f"x_mantissas must have shape (batch, ...) with {design.n_in} values per row, "
                             f"got {x.shape}")
    lo, hi = design.in_type.min_mantissa, design.in_type.max_mantissa
    if x.size and (np.any(x < lo) or np.any(x > hi)):
        raise EmulationError(f"input mantissas must lie in {lo}..{hi} ({design.in_type})")
    binary = build(design, cache_dir=cache_dir, optimize=optimize, timeout_s=build_timeout_s)
    y, cin, cout = run(binary, design, x.reshape(len(x), design.n_in), idle_seed=idle_seed,
                       timeout_s=run_timeout_s)
    lat = cout - cin
    if len(lat) and np.any(lat != lat[0]):
        raise NnfpgaError(f"the simulated latency varies between {lat.min()} and {lat.max()} cycles")
    latency = int(lat[0]) if len(lat) else design.latency
    # II: the closest input spacing the run used (the design's, inputs fed as fast as allowed), plus any stall
    ii = int(np.min(np.diff(cin)) + np.max(np.diff(cout) - np.diff(cin))) if len(lat) > 1 else design.ii
    return y, latency, ii


def predict(hw: HWModel, x: Any, **kwargs: Any) -> np.ndarray:
    """``hw.predict(x, engine="rtl")``: float inputs quantized to the input type, run in Verilator, outputs as
    float values of the output type (shaped like the emulator's). Keyword arguments go to :func:`simulate`;
    ``optimize`` defaults to True from :data:`OPTIMIZE_ROWS` rows on."""
    from nnfpga.backends.rtl.lower import is_image_model
    from nnfpga.fixed import from_float, to_float

    g = hw.graph
    if is_image_model(g):
        from nnfpga.backends.rtl import stream

        return stream.predict(hw, x, **{k: v for k, v in kwargs.items() if k in ("seed", "cache_dir")})
    x = hw.interpreter.check_input(x)
    tin, tout = g[g.inputs[0]].types["result"], g[g.outputs[0]].types["result"]
    m, _ = from_float(x.reshape(len(x), -1), tin)
    kwargs.setdefault("optimize", len(x) >= OPTIMIZE_ROWS)
    y, _, _ = simulate(hw, np.asarray(m, dtype=np.int64 if tin.width <= 62 else object), **kwargs)
    return to_float(y, tout).reshape((len(x), *g[g.outputs[0]].shape))
