"""Verilator, the one toolchain layer of the RTL simulations: finding it, building Verilog sources with a C++
harness into a cached executable, packing rows of mantissas into port images and back, and running a streaming
(valid/ready) harness over a batch. Used by :mod:`~nnfpga.backends.rtl.sim` (the MLP top),
:mod:`~nnfpga.backends.rtl.stream` (image models) and :mod:`~nnfpga.backends.rtl.window` (the window generator)."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from nnfpga import tools
from nnfpga.errors import ToolError
from nnfpga.fixed import FixedType

BUILD_FLAGS = ("--cc", "--exe", "--build", "-j", "1", "--prefix", "Vtop", "--x-assign", "unique",
               "--x-initial", "unique", "-Wno-fatal")
# C++ optimization of the verilated model: -O0 builds twice as fast, -O1 simulates 30x faster. Jet MLP
# (4256 multipliers) on 2 shared cores: build 20 s / 39 s; 10k vectors 1.6 s / 0.05 s; 100k 15.8 s / 0.5 s.
OPT_FLAGS = {False: "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0", True: "OPT_FAST=-O1 OPT_SLOW=-O0 OPT_GLOBAL=-O1"}
BUILD_TIMEOUT_S = 900
RUN_TIMEOUT_S = 600


def verilator() -> str:
    return tools.find("verilator")


def verilator_version(exe: str | None = None) -> str:
    return tools.version(exe or verilator())


def port_bytes(width: int) -> int:
    """Bytes of Verilator's C++ type for a ``width``-bit port (CData, SData, IData, QData or VlWide)."""
    for limit, size in ((8, 1), (16, 2), (32, 4), (64, 8)):
        if width <= limit:
            return size
    return 4 * ((width + 31) // 32)


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    base = os.environ.get("NNFPGA_CACHE_DIR")
    if base:
        return Path(base) / "rtl"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "nnfpga" / "rtl"


def build_sources(name: str, sources: dict[str, str], harness: str, *,
                  cache_dir: str | os.PathLike[str] | None = None, optimize: bool = False,
                  timeout_s: float = BUILD_TIMEOUT_S, record: Any = None) -> Path:
    """Verilate Verilog ``sources`` (file name -> text; top module ``name``) with the C++ ``harness`` into an
    executable, once per hash of them all (cached); ``record`` (a function) gets ``last_seconds`` and ``cached``."""
    exe = verilator()
    flags = (*BUILD_FLAGS, "-MAKEFLAGS", OPT_FLAGS[bool(optimize)])
    record = record if record is not None else build_sources
    h = hashlib.sha256()
    for part in (verilator_version(exe), " ".join(flags), name, harness,
                 *(f"{k}\0{v}" for k, v in sorted(sources.items()))):
        h.update(part.encode())
        h.update(b"\0")
    root = cache_root(cache_dir)
    final = root / f"{name}-{h.hexdigest()[:24]}"
    binary = final / "Vtop"
    record.last_seconds = 0.0  # type: ignore[attr-defined]
    record.cached = binary.is_file()  # type: ignore[attr-defined]
    if record.cached:  # type: ignore[attr-defined]
        return binary
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    try:
        for file, text in sources.items():
            (work / file).write_text(text)
        (work / "harness.cpp").write_text(harness)
        cmd = [exe, *flags, "--top-module", name, "-Mdir", "obj", "-o", "Vtop", "harness.cpp",
               *sources]
        # a failed build stays in ``work`` for inspection
        ran = tools.run(cmd, cwd=work, timeout_s=timeout_s, name="verilator")
        if not (work / "obj" / "Vtop").is_file():
            raise ToolError(f"verilator built no executable obj/Vtop; its last lines:\n{tools.tail(ran.output)}\n"
                            f"command: {tools.command_line(cmd, work)}")
        record.last_seconds = ran.seconds  # type: ignore[attr-defined]
        (work / "obj" / "Vtop").replace(work / "Vtop")
        shutil.rmtree(work / "obj")
        try:
            work.rename(final)
        except OSError:  # built concurrently by another process: keep theirs
            if not binary.is_file():
                raise
            shutil.rmtree(work, ignore_errors=True)
    except ToolError:
        raise
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return binary


CHUNK_ROWS = 1 << 15


def pack(m: np.ndarray, t: FixedType, stride: int) -> bytes:
    """Rows of mantissas -> the port images (element 0 in the low bits), ``stride`` bytes per row."""
    n, count = m.shape
    if t.width > 62 or m.dtype == object:
        mask, out = (1 << t.width) - 1, bytearray()
        for row in m.tolist():
            out += sum((int(x) & mask) << (i * t.width) for i, x in enumerate(row)).to_bytes(stride, "little")
        return bytes(out)
    shifts = np.arange(t.width, dtype=np.int64)
    parts = []
    for start in range(0, n, CHUNK_ROWS):
        mm = m[start:start + CHUNK_ROWS].astype(np.int64)
        bits = ((mm[:, :, None] >> shifts) & 1).astype(np.uint8).reshape(len(mm), count * t.width)
        bits = np.pad(bits, ((0, 0), (0, stride * 8 - count * t.width)))
        parts.append(np.packbits(bits, axis=1, bitorder="little").tobytes())
    return b"".join(parts)


def unpack(data: bytes, n: int, count: int, t: FixedType, stride: int) -> np.ndarray:
    """Port images -> rows of ``count`` mantissas of type ``t`` (int64, or Python ints beyond 62 bits)."""
    if t.width > 62:
        mask, sign, rows = (1 << t.width) - 1, 1 << (t.width - 1), []
        for r in range(n):
            v = int.from_bytes(data[r * stride:(r + 1) * stride], "little")
            vals = [(v >> (i * t.width)) & mask for i in range(count)]
            rows.append([x - 2 * (x & sign) if t.signed else x for x in vals])
        return np.array(rows, dtype=object).reshape(n, count)
    raw = np.frombuffer(data, dtype=np.uint8).reshape(n, stride)
    weights = np.left_shift(np.int64(1), np.arange(t.width, dtype=np.int64))
    out = np.empty((n, count), dtype=np.int64)
    for start in range(0, n, CHUNK_ROWS):
        bits = np.unpackbits(raw[start:start + CHUNK_ROWS], axis=1, bitorder="little")[:, : count * t.width]
        v = bits.reshape(-1, count, t.width).astype(np.int64) @ weights
        if t.signed:
            v = v - (bits.reshape(-1, count, t.width)[:, :, -1].astype(np.int64) << t.width)
        out[start:start + CHUNK_ROWS] = v
    return out


def stream_harness() -> str:
    return resources.files("nnfpga.backends.rtl").joinpath("harness", "stream_harness.cpp").read_text()


def run_stream(binary: Path, rows: np.ndarray, t_in: FixedType, in_stride: int, n_out: int, count_out: int,
               t_out: FixedType, out_stride: int, *, seed: int, max_cycles: int, drain: int) -> tuple[np.ndarray, int]:
    """Run a :func:`stream_harness` executable: ``rows`` (one input beat each, mantissas of ``t_in``) in, ``n_out``
    output beats of ``count_out`` mantissas of ``t_out`` out (``seed`` != 0: random input stalls and output
    backpressure). Returns the output rows and the cycles the run took."""
    y, cycles, _ = run_stream_timed(binary, rows, t_in, in_stride, n_out, count_out, t_out, out_stride, seed=seed,
                                    max_cycles=max_cycles, drain=drain)
    return y, cycles


def run_stream_timed(binary: Path, rows: np.ndarray, t_in: FixedType, in_stride: int, n_out: int, count_out: int,
                     t_out: FixedType, out_stride: int, *, seed: int, max_cycles: int,
                     drain: int) -> tuple[np.ndarray, int, tuple[np.ndarray, np.ndarray]]:
    """:func:`run_stream`, also returning the cycle each input beat was taken and each output beat given."""
    n_in = len(rows)
    with tempfile.TemporaryDirectory(prefix="nnfpga-stream-") as tmp:
        fin, fout = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        fin.write_bytes(pack(rows.astype(np.int64), t_in, in_stride))
        cmd = [str(binary), str(fin), str(fout), str(n_in), str(n_out), str(in_stride), str(out_stride),
               str(seed), str(max_cycles), str(drain)]
        tools.run(cmd, cwd=tmp, timeout_s=RUN_TIMEOUT_S, name="the Verilator simulation")
        data = fout.read_bytes()
    y = unpack(data[: n_out * out_stride], n_out, count_out, t_out, out_stride)
    stamps = np.frombuffer(data[n_out * out_stride:], dtype=np.int64)
    return y, int(stamps[0]), (stamps[1:1 + n_in].copy(), stamps[1 + n_in:1 + n_in + n_out].copy())
