"""A small C++ source builder: lines, blocks and constant arrays, with indentation handled for you.

    f = CppFile("firmware/myproject.h", guard="MYPROJECT_H_")
    f.include("defines.h")
    with f.block("void myproject(input_t x[16], result_t y[5])"):
        f.line("#pragma HLS PIPELINE")
    text = f.render()
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

INDENT = "    "
_IDENT = re.compile(r"[^A-Za-z0-9_]")
CPP_KEYWORDS = frozenset("""
alignas alignof and and_eq asm auto bitand bitor bool break case catch char char16_t char32_t class compl const
constexpr const_cast continue decltype default delete do double dynamic_cast else enum explicit export extern false
float for friend goto if inline int long mutable namespace new noexcept not not_eq nullptr operator or or_eq private
protected public register reinterpret_cast return short signed sizeof static static_assert static_cast struct switch
template this thread_local throw true try typedef typeid typename union unsigned using virtual void volatile wchar_t
while xor xor_eq main
""".split())


def identifier(name: str) -> str:
    """A valid C++ identifier for ``name`` (invalid characters become ``_``; keywords get a suffix)."""
    out = _IDENT.sub("_", name) or "_"
    if out[0].isdigit():
        out = f"n_{out}"
    if out in CPP_KEYWORDS or out.startswith("__"):
        out = f"{out}_"
    return out


class CppFile:
    def __init__(self, path: str, *, guard: str | None = None, comment: str | None = None) -> None:
        self.path = path
        self.guard = guard
        self._lines: list[str] = []
        self._depth = 0
        if comment:
            for c in comment.splitlines():
                self.line(f"// {c}".rstrip())
        if guard:
            self.line(f"#ifndef {guard}")
            self.line(f"#define {guard}")
            self.blank()

    def line(self, text: str = "") -> None:
        self._lines.append(f"{INDENT * self._depth}{text}" if text and not text.startswith("#") else text)

    def lines(self, texts: Sequence[str]) -> None:
        for t in texts:
            self.line(t)

    def blank(self) -> None:
        if self._lines and self._lines[-1] != "":
            self._lines.append("")

    def include(self, header: str, *, system: bool = False) -> None:
        self.line(f"#include <{header}>" if system else f'#include "{header}"')

    @contextmanager
    def block(self, head: str, tail: str = "}") -> Iterator[None]:
        self.line(f"{head} {{")
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            self.line(tail)

    def array(self, decl: str, values: Sequence[str], per_line: int = 8) -> None:
        """``decl = {v0, v1, ...};`` wrapped ``per_line`` values a line."""
        if not values:
            self.line(f"{decl} = {{}};")
            return
        self.line(f"{decl} = {{")
        self._depth += 1
        for i in range(0, len(values), per_line):
            chunk = ", ".join(values[i : i + per_line])
            self.line(chunk + ("," if i + per_line < len(values) else ""))
        self._depth -= 1
        self.line("};")

    def render(self) -> str:
        out = list(self._lines)
        if self.guard:
            if out and out[-1] != "":
                out.append("")
            out.append(f"#endif  // {self.guard}")
        return "\n".join(out) + "\n"
