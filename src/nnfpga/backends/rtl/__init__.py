"""Verilog RTL backend: a fully pipelined, bit-exact Verilog-2005 design per typed graph, and its Verilator
simulation.

- :func:`build_design` (``lower.py``): typed graph -> :class:`Design` (modules, port types, latency).
- :func:`rtl_files` (``writer.py``): the ``rtl/`` files of a project.
- :func:`simulate` / :func:`predict` (``sim.py``): run the design in Verilator, bit-exact with the emulator.
"""

from nnfpga.backends.rtl import recurrent as _recurrent  # noqa: F401 - registers lstm, gru, simple_rnn
from nnfpga.backends.rtl.lower import Design, build_design
from nnfpga.backends.rtl.sim import predict, simulate
from nnfpga.backends.rtl.writer import rtl_files

__all__ = ["Design", "build_design", "predict", "rtl_files", "simulate"]
