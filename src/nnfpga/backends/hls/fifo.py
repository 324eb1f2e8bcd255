"""FIFO depths of an io_stream design, from the schedule of its stages (``stream.py``, ``nnfpga_stream.h``).

Each stage has a read schedule: for its output pixel k, how many pixels of its input it has read when it writes k
(a line buffer: the window's last pixel, e.g. one row and two pixels later for a 3x3 `same` convolution; a
pixel-wise stage: k + 1; a buffered stage: all of them). A FIFO only needs room for the pixels its producer writes
while its reader waits for something else:

- a reader with one input never waits for anything but that stream: depth 2 (pixel k+1 written while k is read);
- a pixel-wise stage with several inputs (a merge) reads pixel k of all of them together. Relative to the stream
  they fork from, ``need_i(k)`` is how many fork pixels input i needs before its pixel k exists (the read
  schedules composed along its path); while the stage waits for pixel k of the others, input j's producer writes
  ``written_j(k) = #{m : need_j(m) <= max_{i != j} need_i(k)}`` pixels, k of them already read. So
  ``depth_j = max(2, max_k (written_j(k) - k))``: a residual skip beside a 3x3 `same` convolution over W-wide rows
  gets W + 2. A smaller FIFO would stall the fork, and the branch it feeds: a deadlock;
- a buffered stage with several inputs reads input 0 in full, then input 1...: inputs 1.. hold their whole tensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHAIN_DEPTH = 2


@dataclass
class Fifo:
    name: str
    producer: str
    reader: str
    pixels: int
    depth: int
    reason: str


@dataclass
class Schedule:
    """The stages of a design in order: each output variable's input variables, kind ("stream", "pixel",
    "buffered"), read schedule (single-input streaming stages) and pixel count; ``source``: the input."""

    source: str
    srcs: dict[str, list[str]]
    kind: dict[str, str]
    reads: dict[str, np.ndarray]
    pixels: dict[str, int]

    def ancestors(self, var: str) -> set[str]:
        out, todo = set(), [var]
        while todo:
            v = todo.pop()
            if v not in out:
                out.add(v)
                todo += self.srcs.get(v, [])
        return out

    def needs(self, fork: str) -> dict[str, np.ndarray | None]:
        """Per variable downstream of ``fork`` only, its need relative to ``fork`` (None: depends on another path)."""
        need: dict[str, np.ndarray | None] = {fork: np.arange(1, self.pixels[fork] + 1)}
        for v, srcs in self.srcs.items():  # in order
            if v in need:
                continue
            ins = [need.get(s) for s in srcs]
            if any(x is None for x in ins):
                need[v] = None
            elif self.kind[v] == "buffered":
                need[v] = np.full(self.pixels[v], max(int(x[-1]) for x in ins))
            elif self.kind[v] == "pixel":
                need[v] = np.max(np.stack(ins), axis=0)
            else:
                r = self.reads[v]
                need[v] = np.where(r > 0, ins[0][np.maximum(r - 1, 0)], 0)
        return need

    def depth(self, var: str, reader: str) -> tuple[int, str]:
        """The depth of the FIFO from ``var`` to ``reader`` and its reason."""
        srcs = self.srcs.get(reader, [var])
        j, n, pixels = srcs.index(var), len(srcs), self.pixels[var]
        if n > 1 and self.kind[reader] == "buffered":
            if j == 0:
                return CHAIN_DEPTH, f"depth {CHAIN_DEPTH}: input 0 of a buffered stage, read first and in full"
            return pixels, (f"depth = pixels = {pixels}: input {j} of a buffered stage that reads its inputs one "
                            "after the other; all of it may be written before its first pixel is read")
        if n == 1:
            return CHAIN_DEPTH, (f"depth {CHAIN_DEPTH}: the reader takes each pixel as it comes; pixel k+1 is "
                                 "written while pixel k is read")
        order = list(self.srcs)
        common = set.intersection(*(self.ancestors(s) for s in srcs))
        fork = max(common, key=lambda v: order.index(v) if v in self.srcs else -1)
        need = self.needs(fork)
        if any(need[s] is None for s in srcs):
            return pixels, (f"depth = pixels = {pixels}: input {j} of a pixel-wise stage whose inputs do not all "
                            f"come from one fork only; the whole tensor, to be safe")
        others = np.max(np.stack([need[s] for i, s in enumerate(srcs) if i != j]), axis=0)
        written = np.searchsorted(need[var], others, side="right")
        depth = max(CHAIN_DEPTH, int((written - np.arange(pixels)).max()))
        return depth, (f"depth {depth} = max over pixels k of the pixels of input {j} written, less k read, while the "
                       f"stage waits for pixel k of its other input(s) (read schedules composed since the fork "
                       f"{fork})")


def fifo_report(fifos: list[Fifo]) -> str:
    """The project's ``fifo_depths.txt``."""
    lines = ["# FIFO depths of this io_stream design (generated by nnfpga), in pixels (one element = one pixel).",
             "# Rule (src/nnfpga/backends/hls/fifo.py): from the read schedule of each stage; a one-input reader: 2;",
             "# input j of a pixel-wise merge: max(2, max_k #{m : need_j(m) <= max_{i != j} need_i(k)} - k), need_i(k)",
             "# being the pixels of the fork input i needs for its pixel k; input j > 0 of a buffered stage with",
             "# several inputs (read one after the other): its whole tensor.",
             "# stream\tproducer -> reader\tpixels\tdepth\treason", ""]
    for q in fifos:
        lines.append(f"{q.name}\t{q.producer} -> {q.reader}\tpixels={q.pixels}\tdepth={q.depth}\t{q.reason}")
    return "\n".join(lines) + "\n"
