"""tests/tooling.py: a missing external tool fails its test, whatever the environment says."""

from __future__ import annotations

import pytest

from tooling import require


def test_found_tools_are_returned() -> None:
    assert require("/usr/bin/x", "x", "make tools") == "/usr/bin/x"


@pytest.mark.parametrize(("ci", "skip_env"), [(None, None), ("true", None), ("true", "1"), (None, "1")])
def test_a_missing_tool_fails(monkeypatch: pytest.MonkeyPatch, ci: str | None, skip_env: str | None) -> None:
    """Also with the old skip switch NNFPGA_SKIP_MISSING_TOOLS=1 set: a skipped tool test would prove nothing."""
    for name, value in (("CI", ci), ("NNFPGA_SKIP_MISSING_TOOLS", skip_env)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    with pytest.raises(pytest.fail.Exception, match=r"^frob is not installed \(make tools\); every tool test runs"):
        require(None, "frob", "make tools")
