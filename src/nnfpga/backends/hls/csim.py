"""C simulation with g++: the generated firmware built into a shared library and run on whole batches.

The ap_types headers are nnfpga's own (``backends/hls/include``), or Xilinx's when ``AP_TYPES_DIR`` (or the
``ap_types_dir`` argument) points to a directory with ``ap_fixed.h`` — e.g. a Vitis install.
"""

from __future__ import annotations

import ctypes
import os
from importlib import resources
from pathlib import Path

import numpy as np

from nnfpga import tools
from nnfpga.errors import ToolNotFoundError
from nnfpga.project import write_file_atomic

# -O3 -march=native: the library runs on the machine that builds it (small CNN 24.7k -> 29.9k samples/s, SVHN-style
# CNN 1.40k -> 1.61k, CPU time, compile time unchanged: benchmarks/emulate.py cnn); -ffp-contract=off keeps the
# headers' float conversions free of fused multiply-adds, so the bits are those of any other build.
CXXFLAGS = ("-std=c++14", "-O3", "-march=native", "-ffp-contract=off", "-fPIC", "-shared", "-w")
COMPILE_TIMEOUT_S = 600

def own_include_dir() -> Path:
    return Path(str(resources.files("nnfpga.backends.hls").joinpath("include")))


def ap_types_include(ap_types_dir: str | os.PathLike[str] | None = None) -> Path:
    chosen = ap_types_dir or os.environ.get("AP_TYPES_DIR")
    path = Path(chosen) if chosen else own_include_dir()
    if not (path / "ap_fixed.h").is_file():
        raise ToolNotFoundError(f"no ap_fixed.h in {str(path)!r} (from {'AP_TYPES_DIR' if chosen else 'nnfpga'})")
    return path


def header_flags(include: Path) -> tuple[str, ...]:
    """``-DNDEBUG`` with Xilinx's headers, none with nnfpga's. Xilinx's ``ap_fixed_base::operator=`` reads the
    source bit ``F2 - F - 1`` for rounding even when it lies above the source's MSB (a cast that drops every
    source bit, e.g. ``ap_fixed<9,4>`` to ``ap_fixed<4,9,AP_RND>``), which trips ap_private's ``assert(i <
    _AP_W)`` and aborts the whole Python process; the bit is not used then (``tests/fixed/test_ap_headers.py``)."""
    return () if include.resolve() == own_include_dir().resolve() else ("-DNDEBUG",)


def compile_library(project_dir: Path, project: str, ap_types_dir: str | os.PathLike[str] | None = None) -> Path:
    """Build ``<project_dir>/build/lib<project>.so``; returns its path. Raises ToolError with g++'s output."""
    gxx = tools.find("g++")
    include = ap_types_include(ap_types_dir)
    project_dir = Path(project_dir).resolve()  # g++ runs inside it: a relative path would resolve twice
    build = project_dir / "build"
    build.mkdir(exist_ok=True)
    cmd = [gxx, *CXXFLAGS, *header_flags(include), f"-I{include}", f"-I{project_dir / 'firmware'}",
           str(project_dir / "csim" / "bridge.cpp"), str(project_dir / "firmware" / f"{project}.cpp"), "-o"]
    runs = []  # g++ writes a temporary file, renamed into place: a half-written library never stays behind
    lib = write_file_atomic(build / f"lib{project}.so", lambda tmp: runs.append(
        tools.run([*cmd, tmp], cwd=project_dir, timeout_s=COMPILE_TIMEOUT_S, name="g++")))
    compile_library.last_seconds = runs[0].seconds  # type: ignore[attr-defined]
    return lib


class CSim:
    """A compiled project: ``run(mantissas) -> mantissas`` over whole batches in one call."""

    def __init__(self, lib_path: Path, n_in: int, n_out: int) -> None:
        self.lib = ctypes.CDLL(str(lib_path))
        self.fn = self.lib.nnfpga_predict
        self.fn.argtypes = [ctypes.POINTER(ctypes.c_longlong), ctypes.POINTER(ctypes.c_longlong), ctypes.c_long]
        self.fn.restype = ctypes.c_long
        self.n_in, self.n_out = n_in, n_out

    def run(self, x_mantissas: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x_mantissas.reshape(len(x_mantissas), self.n_in), dtype=np.int64)
        y = np.zeros((len(x), self.n_out), dtype=np.int64)
        ptr = ctypes.POINTER(ctypes.c_longlong)
        self.fn(x.ctypes.data_as(ptr), y.ctypes.data_as(ptr), len(x))
        return y
