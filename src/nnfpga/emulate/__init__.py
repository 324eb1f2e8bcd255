"""Emulation: an interpreter over the graph runs every op's fixed-point or float kernel."""

from nnfpga.emulate.interpreter import Interpreter, RunResult

__all__ = ["Interpreter", "RunResult"]
