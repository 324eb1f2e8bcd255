"""The three engines on the same inputs, compared bit for bit; failing cases localized and saved.

- emulator: ``HWModel.predict`` (the reference);
- csim: the generated HLS project compiled with g++ (nnfpga's ap_types headers, or Xilinx's where ``AP_TYPES_DIR``
  points to them, as for ``hw.compile()``). Many models share one shared library: each model's own
  generated sources (``firmware/<project>.cpp`` and ``csim/bridge.cpp``, unchanged) are included in one
  translation unit inside a namespace of their own, so the ap_types headers are parsed once per group;
  groups are compiled in parallel (``jobs``);
- rtl: the Verilog design, built for the case's clock target (``FuzzCase.timing()``: clock period and delay model,
  registers placed by timing or in a fixed mode), simulated in Verilator as a trace design (every layer's output
  is compared, and the latency Verilator measures must be the one the design states); an image model through its
  streaming top with random stalls (the output compared; a mismatch localized by cutting the graph after each
  layer), then without stalls (the latency and II measured must be those stated).

A mismatch is reported with the model's seed, the first layer whose output differs (the csim localizes it by
compiling the graph cut after each layer) and the first mismatching input row.
"""

from __future__ import annotations

import copy
import ctypes
import json
import os
import re
import shutil
import subprocess
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import nnfpga
import nnfpga.emulate
from fuzz.strategies import FuzzCase
from nnfpga.backends.hls.csim import CXXFLAGS, ap_types_include, header_flags
from nnfpga.fixed import from_float, to_float
from nnfpga.ir.graph import Graph
from nnfpga.model import HWModel

LIBRARY_DIR = Path(nnfpga.__file__).parent / "backends" / "hls" / "library"
REGRESSIONS = Path(__file__).parent / "regressions"
ENGINES = ("emulator", "csim", "rtl")


@dataclass
class Mismatch:
    case: FuzzCase
    engine: str
    layer: str
    row: int
    column: int
    got: Any
    expected: Any
    x: np.ndarray
    count: int
    inputs: np.ndarray  # every input row of the case (saved with a regression case)

    def message(self) -> str:
        x = np.array2string(np.asarray(self.x).ravel(), precision=17, separator=", ", max_line_width=10_000)
        node = self.case.graph[self.layer]
        return (f"{self.case.name} ({case_settings(self.case, self.engine)}): {self.engine} differs from the "
                f"emulator; first at layer {self.layer!r} (op {node.op}, {node.types['result']}), input row "
                f"{self.row}, output {self.column}: {self.engine} mantissa {self.got}, emulator {self.expected} "
                f"({self.count} differing values). Input row: {x}")


class StatedTimingError(AssertionError):
    """A Verilog design whose measured latency (or II) is not the one it states."""


def case_settings(case: FuzzCase, engine: str = "rtl") -> str:
    """The io type and, for the rtl engine, the clock target the design was built for."""
    if engine != "rtl" or case.clock_period is None:
        return case.io_type
    return f"{case.io_type}, clock {case.clock_period:g} ns on {case.target or 'the default target'}"


def hw_model(graph: Graph, io_type: str = "io_parallel", output_dir: Path | str = "fuzz_prj",
             project: str = "fuzz") -> HWModel:
    return HWModel(graph, {}, output_dir=output_dir, io_type=io_type, project_name=project)


def cut(graph: Graph, last: str) -> Graph:
    """The graph up to (and with its output at) node ``last``: ``last`` and the nodes it depends on."""
    keep, todo = set(), [last]
    while todo:
        name = todo.pop()
        if name not in keep:
            keep.add(name)
            todo += graph[name].inputs
    g = Graph(name=graph.name)
    for node in graph:
        if node.name in keep:
            g.add(copy.deepcopy(node))
    g.outputs = [last]
    return g


# -- emulator ----------------------------------------------------------------------------------------------

def emulate(graph: Graph, x: np.ndarray, *, keep: bool = False) -> dict[str, np.ndarray]:
    """Output mantissas of the emulator: ``{output: (rows, n)}`` (every layer with ``keep``)."""
    hw = hw_model(graph)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)  # extreme inputs overflow on purpose
        res = hw.interpreter.run(x, keep=keep)
    values = res.values if keep else {graph.outputs[0]: res.outputs[0]}
    out = {}
    for name, v in values.items():
        t = graph[name].types["result"]
        out[name] = np.ldexp(v.reshape(len(x), -1), t.frac).astype(np.int64)
    return out


def input_mantissas(graph: Graph, x: np.ndarray) -> np.ndarray:
    tin = graph[graph.inputs[0]].types["result"]
    m, _ = from_float(x.reshape(len(x), -1), tin)
    return np.asarray(m, dtype=np.int64)


# -- csim, many models per shared library ------------------------------------------------------------------

def _unity_source(dirs: list[Path], tag: str) -> str:
    lines = ['#include "ap_fixed.h"', '#include "ap_int.h"', '#include "hls_stream.h"',
             '#include "nnfpga_common.h"', '#include "nnfpga_dense.h"', '#include "nnfpga_activation.h"',
             '#include "nnfpga_conv.h"', '#include "nnfpga_pool.h"', '#include "nnfpga_stream.h"',
             ""]  # once, outside the models' namespaces
    for i, d in enumerate(dirs):
        guards = set()
        for p in sorted((d / "firmware").rglob("*.h")):
            if "nnfpga" not in p.parent.name:
                guards.update(re.findall(r"^#ifndef (\w+)$", p.read_text(), flags=re.M))
        lines += [f"namespace {tag}_{i} {{", f"#define nnfpga_predict {tag}_predict_{i}",
                  f'#include "{d / "firmware" / "fuzz.cpp"}"', f'#include "{d / "csim" / "bridge.cpp"}"',
                  "#undef nnfpga_predict", "}", "#undef N_INPUT", "#undef N_OUTPUT",
                  "#undef N_INPUT_CHAN", "#undef N_OUTPUT_CHAN",
                  *(f"#undef {g}" for g in sorted(guards)), ""]
    return "\n".join(lines)


def _compile(src: Path, lib: Path) -> None:
    include = ap_types_include()
    cmd = [os.environ.get("CXX", "g++"), *CXXFLAGS, *header_flags(include), f"-I{include}", f"-I{LIBRARY_DIR}",
           str(src), "-o", str(lib)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if res.returncode != 0:
        tail = "\n".join(res.stderr.splitlines()[-30:])
        raise AssertionError(f"g++ failed on {src} (exit {res.returncode}):\n{tail}\ncommand: {' '.join(cmd)}")


def csim_outputs(cases: list[FuzzCase], xs: list[np.ndarray], workdir: Path, *, jobs: int = 2,
                 group: int = 8) -> list[np.ndarray]:
    """Each case's output mantissas from its generated C++ (see the module docstring)."""
    workdir.mkdir(parents=True, exist_ok=True)
    dirs = []
    for i, case in enumerate(cases):
        d = workdir / f"m{i}"
        hw_model(case.graph, case.io_type, d).write(force=True)
        dirs.append(d)
    groups = [list(range(s, min(s + group, len(cases)))) for s in range(0, len(cases), group)]

    def build(gi: int) -> Path:
        src, lib = workdir / f"group{gi}.cpp", workdir / f"libgroup{gi}.so"
        src.write_text(_unity_source([dirs[i] for i in groups[gi]], f"fz{gi}"))
        _compile(src, lib)
        return lib

    with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
        libs = list(pool.map(build, range(len(groups))))
    outs: list[np.ndarray] = []
    for gi, members in enumerate(groups):
        lib = ctypes.CDLL(str(libs[gi]))
        for k, i in enumerate(members):
            outs.append(_run(getattr(lib, f"fz{gi}_predict_{k}"), cases[i].graph, xs[i]))
    return outs


def _run(fn: Any, graph: Graph, x: np.ndarray) -> np.ndarray:
    ptr = ctypes.POINTER(ctypes.c_longlong)
    fn.argtypes = [ptr, ptr, ctypes.c_long]
    fn.restype = ctypes.c_long
    m = np.ascontiguousarray(input_mantissas(graph, x))
    n_out = int(np.prod(graph[graph.outputs[0]].shape))
    y = np.zeros((len(m), n_out), dtype=np.int64)
    fn(m.ctypes.data_as(ptr), y.ctypes.data_as(ptr), len(m))
    return y


def csim_single(graph: Graph, io_type: str, x: np.ndarray, workdir: Path) -> np.ndarray:
    """Output mantissas through the public path (``hw.compile()`` and ``predict(engine="csim")``)."""
    hw = hw_model(graph, io_type, workdir)
    hw.compile(force=True)
    tout = graph[graph.outputs[0]].types["result"]
    return np.ldexp(hw.predict(x, engine="csim").reshape(len(x), -1), tout.frac).astype(np.int64)


# -- rtl ---------------------------------------------------------------------------------------------------

def rtl_layers(case: FuzzCase, x: np.ndarray, cache: Path) -> dict[str, np.ndarray]:
    """Every layer's output mantissas from the Verilog design in Verilator (a trace design)."""
    from nnfpga.backends.rtl import sim
    from nnfpga.backends.rtl.lower import build_design
    from nnfpga.emulate import Interpreter

    g = case.graph
    design = build_design(g, "fuzz", prep=Interpreter(g).prep, trace=True, **case.timing())
    y, latency, _ = sim.simulate(design, input_mantissas(g, x), cache_dir=cache)
    if latency != design.latency:
        raise StatedTimingError(f"{case.name} ({case_settings(case)}): the design states latency {design.latency} "
                                f"cycle(s), Verilator measured {latency}")
    out, col = {}, 0
    for name, count in design.trace or []:
        out[name] = np.asarray(y[:, col:col + count], dtype=np.int64)
        col += count
    return out


# -- comparing ---------------------------------------------------------------------------------------------

def first_difference(case: FuzzCase, engine: str, layer: str, got: np.ndarray, expected: np.ndarray,
                     x: np.ndarray) -> Mismatch | None:
    bad = np.argwhere(got != expected)
    if bad.size == 0:
        return None
    r, c = (int(v) for v in bad[0])
    return Mismatch(case, engine, layer, r, c, int(got[r, c]), int(expected[r, c]), x[r], len(bad), x)


def localize_csim(case: FuzzCase, x: np.ndarray, workdir: Path) -> Mismatch | None:
    """The first layer whose csim output differs (each graph prefix compiled on its own)."""
    rows = x
    ref = emulate(case.graph, rows, keep=True)
    for node in case.graph:
        if node.op in ("input", "flatten", "reshape", "dropout"):
            continue
        sub = cut(case.graph, node.name)
        got = csim_single(sub, case.io_type, rows, workdir / f"cut_{node.name}")
        found = first_difference(case, "csim", node.name, got, ref[node.name], rows)
        if found:
            return found
    return None


def check_csim(cases: list[FuzzCase], xs: list[np.ndarray], workdir: Path, *, jobs: int = 2,
               group: int = 8) -> list[Mismatch]:
    outs = csim_outputs(cases, xs, workdir, jobs=jobs, group=group)
    found = []
    for i, (case, x, y) in enumerate(zip(cases, xs, outs, strict=True)):
        out = case.graph.outputs[0]
        ref = emulate(case.graph, x)[out]
        mm = first_difference(case, "csim", out, y, ref, x)
        if mm is not None:
            bad_rows = np.flatnonzero(np.any(y != ref, axis=1))
            local = localize_csim(case, x[bad_rows], workdir / f"localize{i}")
            if local is not None:
                local.row, local.count, local.inputs = int(bad_rows[local.row]), mm.count, x
                mm = local
            found.append(mm)
    return found


def check_emulator(case: FuzzCase, x: np.ndarray) -> Mismatch | None:
    """The emulator's fast paths against its literal input-by-input semantics (``reference=True``), every layer."""
    g = case.graph
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        fast = nnfpga.emulate.Interpreter(g).run(x, keep=True).values
        ref = nnfpga.emulate.Interpreter(g, reference=True).run(x, keep=True).values
    for node in g:
        t = node.types["result"]
        a, b = (np.ldexp(v[node.name].reshape(len(x), -1), t.frac).astype(np.int64) for v in (fast, ref))
        mm = first_difference(case, "emulator", node.name, a, b, x)
        if mm:
            return mm
    return None


def rtl_stream_output(graph: Graph, x: np.ndarray, cache: Path, seed: int,
                      timing: dict[str, Any] | None = None) -> np.ndarray:
    """The output mantissas ``(rows, n)`` of an image model's streaming Verilog top in Verilator (``seed`` != 0:
    random input stalls and output backpressure); ``timing``: ``build_design``'s clock target arguments."""
    from nnfpga.backends.rtl import stream
    from nnfpga.backends.rtl.lower import build_design
    from nnfpga.emulate import Interpreter

    design = build_design(graph, "fuzz", prep=Interpreter(graph).prep, **(timing or {}))
    m = input_mantissas(graph, x).reshape(len(x), *graph[graph.inputs[0]].shape)
    y, _ = stream.simulate_stream(design, m, stream.output_beats(graph), seed=seed, cache_dir=cache)
    return np.asarray(y, dtype=np.int64)


STATED_IMAGES = 8  # images streamed without stalls to measure a streaming top's latency and II


def check_stream_timing(case: FuzzCase, x: np.ndarray, cache: Path) -> None:
    """A streaming top that states its latency and II (cycles per image): the first images streamed without
    stalls (the same build) must take those (StatedTimingError otherwise)."""
    from nnfpga.backends.rtl import stream
    from nnfpga.backends.rtl.lower import build_design
    from nnfpga.backends.rtl.timing import measured
    from nnfpga.emulate import Interpreter

    g = case.graph
    design = build_design(g, "fuzz", prep=Interpreter(g).prep, **case.timing())
    rows = x[:STATED_IMAGES]
    if design.latency <= 0 or design.ii <= 0 or len(rows) < 4:
        return
    m = input_mantissas(g, rows).reshape(len(rows), *g[g.inputs[0]].shape)
    _, _, (in_at, out_at) = stream.simulate_stream_timed(design, m, stream.output_beats(g), cache_dir=cache)
    got = measured(in_at, out_at, len(rows))
    if got != (design.latency, design.ii):
        raise StatedTimingError(f"{case.name} ({case_settings(case)}): the streaming design states latency "
                                f"{design.latency}, II {design.ii}; Verilator measured latency {got[0]}, II {got[1]}")


def check_rtl_stream(case: FuzzCase, x: np.ndarray, cache: Path, seed: int = 1) -> Mismatch | None:
    """An image model (no trace design for the streaming top): its output with random stalls; on a mismatch, the
    first layer whose output differs (the graph cut after each layer, built and streamed on its own)."""
    g = case.graph
    out = g.outputs[0]
    mm = first_difference(case, "rtl", out, rtl_stream_output(g, x, cache, seed, case.timing()),
                          emulate(g, x)[out], x)
    if mm is None:
        check_stream_timing(case, x, cache)
        return None
    rows = x[[mm.row]]
    ref = emulate(g, rows, keep=True)
    for node in g:
        if node.op in ("input", "flatten") or node.name == out:
            continue
        local = first_difference(case, "rtl", node.name,
                                 rtl_stream_output(cut(g, node.name), rows, cache, seed, case.timing()),
                                 ref[node.name], rows)
        if local is not None:
            mm.layer, mm.column, mm.got, mm.expected = local.layer, local.column, local.got, local.expected
            break
    return mm


def check_rtl(case: FuzzCase, x: np.ndarray, cache: Path) -> Mismatch | None:
    from nnfpga.backends.rtl.lower import is_image_model

    if is_image_model(case.graph):
        return check_rtl_stream(case, x, cache)
    got = rtl_layers(case, x, cache)
    ref = emulate(case.graph, x, keep=True)
    for name, y in got.items():
        mm = first_difference(case, "rtl", name, y, ref[name], x)
        if mm:
            return mm
    return None


# -- regression cases --------------------------------------------------------------------------------------

def save_regression(mm: Mismatch, directory: Path = REGRESSIONS) -> Path:
    """Save a failing case as ``<name>.json`` (graph description, settings, what failed) and ``<name>.npz``
    (weights and the inputs), which ``test_regressions.py`` replays."""
    directory.mkdir(parents=True, exist_ok=True)
    case = mm.case
    stem = f"{mm.engine}_seed{case.seed}" if case.seed is not None else f"{mm.engine}_case"
    desc, arrays = case.graph.to_dict()
    meta = {"seed": case.seed, "engine": mm.engine, "io_type": case.io_type, "features": case.features,
            "clock_period": case.clock_period, "target": case.target, "failure": mm.message(), "graph": desc}
    (directory / f"{stem}.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    np.savez_compressed(directory / f"{stem}.npz", **{f"w/{k}": v for k, v in arrays.items()}, inputs=mm.inputs)
    return directory / f"{stem}.json"


def load_regression(path: Path) -> tuple[FuzzCase, str, np.ndarray]:
    meta = json.loads(path.read_text())
    with np.load(path.with_suffix(".npz")) as z:
        arrays = {k[2:]: z[k] for k in z.files if k.startswith("w/")}
        x = z["inputs"]
    graph = Graph.from_dict(meta["graph"], arrays)
    case = FuzzCase(meta["seed"], graph, meta["io_type"], list(meta["features"]),
                    meta.get("clock_period"), meta.get("target"))  # (cases saved before clock targets: None)
    return case, meta["engine"], x


def replay(path: Path, workdir: Path, cache: Path) -> Mismatch | None:
    case, engine, x = load_regression(path)
    if engine == "rtl":
        return check_rtl(case, x, cache)
    if engine == "emulator":
        return check_emulator(case, x)
    found = check_csim([case], [x], workdir, jobs=1)
    return found[0] if found else None


def to_float_rows(graph: Graph, m: np.ndarray) -> np.ndarray:
    return to_float(m, graph[graph.inputs[0]].types["result"])


def gxx_available() -> bool:
    return shutil.which(os.environ.get("CXX", "g++")) is not None
