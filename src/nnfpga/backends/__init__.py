"""Backends lower the IR's ops to HLS C++ (``hls``) or Verilog (``rtl``); they never redefine op semantics."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])


def registrar(table: dict[str, F]) -> Callable[..., Callable[[F], F]]:
    """A decorator factory filling ``table``: ``@lowering("relu", "linear")`` registers one lowering for both ops."""

    def register(*ops: str) -> Callable[[F], F]:
        def deco(fn: F) -> F:
            for op in ops:
                table[op] = fn
            return fn

        return deco

    return register
