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

from nnfpga.backends.names import ascii_name

INDENT = "    "
CPP_KEYWORDS = frozenset("""
alignas alignof and and_eq asm auto bitand bitor bool break case catch char char16_t char32_t class compl const
constexpr const_cast continue decltype default delete do double dynamic_cast else enum explicit export extern false
float for friend goto if inline int long mutable namespace new noexcept not not_eq nullptr operator or or_eq private
protected public register reinterpret_cast return short signed sizeof static static_assert static_cast struct switch
template this thread_local throw true try typedef typeid typename union unsigned using virtual void volatile wchar_t
while xor xor_eq main
char8_t concept consteval constexpr constinit co_await co_return co_yield requires import module final override
""".split())
# Names of the generated code, its headers and the C library that a project's top function must not take: the
# namespaces, macros and typedefs every file sees, and the locals of the testbench and the csim bridge.
RESERVED = frozenset("""
nnfpga hls std ap_fixed ap_ufixed ap_int ap_uint ap_fixed_base ap_int_base N_INPUT N_OUTPUT NNFPGA_HLS NNFPGA_PRAGMA
input_t result_t x_in y_out nnfpga_predict x y n s i j v in out xs ys fin fpr lin lpr bad sin spr
input_pixel_t result_pixel_t N_INPUT_CHAN N_OUTPUT_CHAN in_s out_s px py p c a
errno assert stdin stdout stderr EOF NULL offsetof setjmp va_arg va_start va_end printf exit abort
""".split())


def identifier(name: str) -> str:
    """A valid C++ identifier for ``name``: invalid characters become ``_`` (non-ASCII ones ``u<hex>``), a
    leading digit or underscore gets a prefix, runs of underscores (reserved in C++) shrink to one, keywords and
    the generated code's own names (:data:`RESERVED`) get a suffix, long names are cut (with a hash)."""
    out = re.sub(r"__+", "_", ascii_name(name)) or "_"
    if out[0].isdigit() or out[0] == "_":
        out = f"n{out}" if out[0] == "_" else f"n_{out}"
    if out in CPP_KEYWORDS or out in RESERVED:
        out = f"{out}_"
    return out


# Header guards of the generated files are NNFPGA_<NAME>_H_; the top header's must not be one of these.
_GUARDED = ("DEFINES", "PARAMETERS", "COMMON", "DENSE", "ACTIVATION")


def project_identifier(name: str) -> str:
    """The C++ name of a project's top function (and of its files ``firmware/<name>.cpp/.h``): an
    :func:`identifier` that is also no other generated file's name or header guard, whatever the case."""
    out = identifier(name)
    if out.upper() in _GUARDED:
        out = f"{out}_top"
    elif out.upper().startswith("W_"):  # NNFPGA_W_<layer>_H_ guards the weights headers
        out = f"top_{out}"
    return out


def comment_text(text: str) -> str:
    """``text`` made safe inside a ``//`` comment line: printable ASCII only (any other character, the backslash
    included, is spelled ``<U+XXXX>``: a trailing backslash would continue the comment onto the next line) and no
    trigraph (``??/`` is a backslash too)."""
    out = "".join(c if " " <= c <= "~" and c != "\\" else f"<U+{ord(c):04X}>" for c in text)
    while "??" in out:
        out = out.replace("??", "? ?")
    return out.rstrip()


class CppFile:
    def __init__(self, path: str, *, guard: str | None = None, comment: str | None = None) -> None:
        self.path = path
        self.guard = guard
        self._lines: list[str] = []
        self._depth = 0
        if comment:
            for c in comment.splitlines():
                self.comment(c)
        if guard:
            self.line(f"#ifndef {guard}")
            self.line(f"#define {guard}")
            self.blank()

    def line(self, text: str = "") -> None:
        self._lines.append(f"{INDENT * self._depth}{text}" if text and not text.startswith("#") else text)

    def comment(self, text: str) -> None:
        """One ``//`` comment line per line of ``text`` (see :func:`comment_text`)."""
        for c in text.splitlines() or [""]:
            self.line(f"// {comment_text(c)}".rstrip())

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
        self.line(f"{head} {{" if head else "{")  # no head: a plain scope
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
