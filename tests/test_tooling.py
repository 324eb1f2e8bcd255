"""tests/tooling.py: a missing external tool fails its test unless a developer asks for a skip (never in CI)."""

from __future__ import annotations

import pytest

from tooling import require


def test_found_tools_are_returned() -> None:
    assert require("/usr/bin/x", "x", "make tools") == "/usr/bin/x"


@pytest.mark.parametrize(("ci", "skip_env"), [(None, None), ("true", None), ("true", "1"), (None, "0")])
def test_a_missing_tool_fails(monkeypatch: pytest.MonkeyPatch, ci: str | None, skip_env: str | None) -> None:
    for name, value in (("CI", ci), ("NNFPGA_SKIP_MISSING_TOOLS", skip_env)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    with pytest.raises(pytest.fail.Exception, match=r"^frob is not installed \(make tools\); every tool test runs"):
        require(None, "frob", "make tools")


def test_a_developer_may_ask_for_a_skip_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("NNFPGA_SKIP_MISSING_TOOLS", "1")
    with pytest.raises(pytest.skip.Exception, match=r"^frob is not installed \(make tools\)$"):
        require(None, "frob", "make tools")
