"""Cycles per image of the streaming top (:mod:`~nnfpga.backends.rtl.stream`): what the design states, from a
cycle-by-cycle model of its handshakes, and what a Verilator run measures; the two agree (tests/backends/rtl).

The stated figures come from running the design's network of stream elements with the source always valid and
the sink always ready, one image after another (:data:`IMAGES`), each element modelled by its registers and its
valid/ready rules as the Verilog has them (valid never depends on a ready, so a cycle is: valids forward in
graph order, readies backward, then every register's next value):

- a window generator steps once per cycle over its image and virtual positions (:class:`Geometry`, the
  generator's documented schedule: :func:`window_schedule`), waiting for each input pixel; the window ending at a
  step is registered (valid one cycle later), a skid register takes one the sink does not take and the steps wait
  while it is full;
- a layer with ``D`` register stages inside is a ``D``-bit valid shift register that stalls as a whole;
- a kernel with ReuseFactor ``R`` takes a beat when idle or in the last of its ``R`` busy cycles (and its
  result register is free), offers the result ``R + 1`` cycles after and freezes while the result waits;
- a flatten buffer or a global pooling gathers ``pixels`` beats, gives one (valid the next cycle) and takes no
  beat until it has been taken;
- zero padding, cropping and upsampling: :mod:`~nnfpga.backends.rtl.stream_stages`'s counters (padding before
  the image's first pixel waits for it; upsampling takes a row, then gives it ``f_h * W * f_w`` beats);
- a fork is eager (a ``taken`` bit per consumer), a FIFO's valid and ready follow its count, a merge is a join.

A design whose FIFOs are too small stops in the model as in Verilator (:func:`run` returns None).
Latency: from taking an image's first input beat to giving its last output beat. Initiation interval (II):
cycles between the first output beats of the last two images run (the steady state: :func:`run`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnfpga.backends.rtl.window import Geometry
from nnfpga.errors import EmulationError

IMAGES = 8  # images the stated schedule runs through at most (it stops at a steady state, 4 images or more)


@dataclass(frozen=True)
class Stage:
    """One single-input stream element: ``kind`` "window" (``geometry``), "delay" (``cycles`` registers),
    "flatten" (``pixels`` beats gathered into one: a Flatten or a global pooling), "pad" (``plane``: the padded
    image's rows and columns, ``rows``/``cols``: padding before and after), "crop" (``plane``: the input's rows
    and columns, ``rows``/``cols``: cropped before and after), "upsample" (``plane``: the input's, ``factor``:
    rows and columns repeated) or "reuse" (a kernel with ReuseFactor ``cycles``:
    :mod:`~nnfpga.backends.rtl.stream_reuse`)."""

    kind: str
    geometry: Geometry | None = None
    cycles: int = 0
    pixels: int = 0
    plane: tuple[int, int] = (1, 1)
    rows: tuple[int, int] = (0, 0)
    cols: tuple[int, int] = (0, 0)
    factor: tuple[int, int] = (1, 1)


def window_schedule(g: Geometry) -> tuple[int, int, list[bool], list[bool]]:
    """The window generator's schedule as the model steps it: rows and columns of steps per image (virtual ones
    included), whether a step takes an input pixel per row and per column (real row/column), and whether a window
    ends there: ``(rows, cols, real_row, real_col)`` with ``g.row_hit``/``g.col_hit`` the hits. The one place to
    update when :func:`~nnfpga.backends.rtl.window.window_module` changes its schedule."""
    ny, nx = g.h + g.vy, g.w + g.vx
    return ny, nx, [y < g.h for y in range(ny)], [x < g.w for x in range(nx)]


class _Raster:
    """A row/column position counter over ``rows x cols``."""

    def __init__(self, rows: int, cols: int) -> None:
        self.rows, self.cols, self.r, self.c = rows, cols, 0, 0

    def advance(self) -> None:
        self.c += 1
        if self.c == self.cols:
            self.c, self.r = 0, (self.r + 1) % self.rows


class _Window:
    def __init__(self, g: Geometry) -> None:
        self.ny, self.nx, self.real_y, self.real_x = window_schedule(g)
        self.hit_y, self.hit_x = g.row_hit, g.col_hit
        self.pos, self.ov, self.skid = _Raster(self.ny, self.nx), False, False

    def state(self) -> Any:
        return self.pos.r, self.pos.c, self.ov, self.skid

    def valid(self, vin: list[bool]) -> list[bool]:
        return [self.ov]

    def ready(self, vin: list[bool], rout: list[bool]) -> list[bool]:
        return [not self.skid and self.real_y[self.pos.r] and self.real_x[self.pos.c]]

    def clock(self, vin: list[bool], rout: list[bool]) -> None:
        real = self.real_y[self.pos.r] and self.real_x[self.pos.c]
        step = not self.skid and (not real or vin[0])
        hit = step and self.hit_y[self.pos.r] and self.hit_x[self.pos.c]
        if not self.ov or rout[0]:
            if self.skid:
                self.skid = False
            else:
                self.ov = hit
        elif hit:
            self.skid = True
        if step:
            self.pos.advance()


class _Delay:
    """A kernel's ``cycles - 1`` free-running register stages and its output FIFO
    (:func:`~nnfpga.backends.rtl.stream_lower.stall_pipeline`): a beat is taken while ``room`` (a register: fewer
    than ``cycles + 1`` credits, beats taken and not yet given), moves one stage a cycle whatever the sink does,
    enters the FIFO after the last stage, and is offered from the cycle after (``out_valid``, a register)."""

    def __init__(self, cycles: int) -> None:
        self.vq, self.depth = [False] * (cycles - 1), cycles + 1
        self.count = self.credits = 0
        self.room, self.ov = True, False

    def state(self) -> Any:
        return tuple(self.vq), self.count, self.credits, self.room, self.ov

    def valid(self, vin: list[bool]) -> list[bool]:
        return [self.ov]

    def ready(self, vin: list[bool], rout: list[bool]) -> list[bool]:
        return [self.room]

    def clock(self, vin: list[bool], rout: list[bool]) -> None:
        take, pop = vin[0] and self.room, self.ov and rout[0]
        push = self.vq[-1] if self.vq else take
        self.count += int(push) - int(pop)
        self.credits += int(take) - int(pop)
        self.vq = [take, *self.vq[:-1]]
        self.ov, self.room = self.count != 0, self.credits < self.depth


class _Hold:
    """Flatten buffer and global pooling: ``pixels`` beats in, then one out (no beat taken while it is full)."""

    def __init__(self, pixels: int) -> None:
        self.pixels, self.count, self.full = pixels, 0, False

    def state(self) -> Any:
        return self.count, self.full

    def valid(self, vin: list[bool]) -> list[bool]:
        return [self.full]

    def ready(self, vin: list[bool], rout: list[bool]) -> list[bool]:
        return [not self.full]

    def clock(self, vin: list[bool], rout: list[bool]) -> None:
        full = self.full
        if vin[0] and not full:
            self.count += 1
            if self.count == self.pixels:
                self.count, self.full = 0, True
        if full and rout[0]:
            self.full = False


class _Reuse:
    """A kernel with ReuseFactor ``rf`` (:func:`~nnfpga.backends.rtl.stream_reuse.reuse_handshake`): it takes a
    beat when idle or in the last of its ``rf`` busy cycles, and its result register is free or taken; the result
    is offered ``rf + 1`` cycles after the take; everything freezes while the result waits for the sink."""

    def __init__(self, rf: int) -> None:
        self.rf, self.busy, self.k, self.done = rf, False, 0, False

    def state(self) -> Any:
        return self.busy, self.k, self.done

    def valid(self, vin: list[bool]) -> list[bool]:
        return [self.done]

    def ready(self, vin: list[bool], rout: list[bool]) -> list[bool]:
        return [(not self.done or rout[0]) and (not self.busy or self.k == self.rf - 1)]

    def clock(self, vin: list[bool], rout: list[bool]) -> None:
        if self.done and not rout[0]:
            return
        go = vin[0] and self.ready(vin, rout)[0]
        self.done = self.busy and self.k == self.rf - 1
        if go:
            self.busy, self.k = True, 0
        elif self.busy:
            self.busy, self.k = self.k != self.rf - 1, self.k + 1


def _inside(r: int, c: int, s: Stage) -> bool:
    (h, w), (rb, ra), (cb, ca) = s.plane, s.rows, s.cols
    return rb <= r < h - ra and cb <= c < w - ca


class _Pad:
    def __init__(self, s: Stage) -> None:
        self.s, self.pos = s, _Raster(*s.plane)

    def state(self) -> Any:
        return self.pos.r, self.pos.c

    def _early(self) -> bool:
        (rb, _), (cb, _) = self.s.rows, self.s.cols
        return self.pos.r < rb or (self.pos.r == rb and self.pos.c < cb)

    def valid(self, vin: list[bool]) -> list[bool]:
        return [vin[0] if _inside(self.pos.r, self.pos.c, self.s) or self._early() else True]

    def ready(self, vin: list[bool], rout: list[bool]) -> list[bool]:
        return [_inside(self.pos.r, self.pos.c, self.s) and rout[0]]

    def clock(self, vin: list[bool], rout: list[bool]) -> None:
        if self.valid(vin)[0] and rout[0]:
            self.pos.advance()


class _Crop:
    def __init__(self, s: Stage) -> None:
        self.s, self.pos = s, _Raster(*s.plane)

    def state(self) -> Any:
        return self.pos.r, self.pos.c

    def valid(self, vin: list[bool]) -> list[bool]:
        return [vin[0] and _inside(self.pos.r, self.pos.c, self.s)]

    def ready(self, vin: list[bool], rout: list[bool]) -> list[bool]:
        return [not _inside(self.pos.r, self.pos.c, self.s) or rout[0]]

    def clock(self, vin: list[bool], rout: list[bool]) -> None:
        if vin[0] and self.ready(vin, rout)[0]:
            self.pos.advance()


class _Upsample:
    def __init__(self, s: Stage) -> None:
        self.w, self.n_out = s.plane[1], s.plane[1] * s.factor[0] * s.factor[1]
        self.col, self.emitted, self.emit = 0, 0, False

    def state(self) -> Any:
        return self.col, self.emitted, self.emit

    def valid(self, vin: list[bool]) -> list[bool]:
        return [self.emit]

    def ready(self, vin: list[bool], rout: list[bool]) -> list[bool]:
        return [not self.emit]

    def clock(self, vin: list[bool], rout: list[bool]) -> None:
        if vin[0] and not self.emit:
            self.col += 1
            if self.col == self.w:
                self.col, self.emit = 0, True
        elif self.emit and rout[0]:
            self.emitted += 1
            if self.emitted == self.n_out:
                self.emitted, self.emit = 0, False


class Fork:
    """Eager fork to ``n`` consumers (a ``taken`` bit each)."""

    def __init__(self, n: int) -> None:
        self.taken = [False] * n

    def state(self) -> Any:
        return tuple(self.taken)

    def valid(self, vin: list[bool]) -> list[bool]:
        return [vin[0] and not t for t in self.taken]

    def ready(self, vin: list[bool], rout: list[bool]) -> list[bool]:
        return [all(t or r for t, r in zip(self.taken, rout, strict=True))]

    def clock(self, vin: list[bool], rout: list[bool]) -> None:
        if vin[0] and self.ready(vin, rout)[0]:
            self.taken = [False] * len(self.taken)
        else:
            self.taken = [t or (v and r) for t, v, r in zip(self.taken, self.valid(vin), rout, strict=True)]


class Fifo:
    def __init__(self, depth: int) -> None:
        self.depth, self.count = depth, 0

    def state(self) -> Any:
        return self.count

    def valid(self, vin: list[bool]) -> list[bool]:
        return [self.count > 0]

    def ready(self, vin: list[bool], rout: list[bool]) -> list[bool]:
        return [self.count < self.depth]

    def clock(self, vin: list[bool], rout: list[bool]) -> None:
        self.count += int(vin[0] and self.count < self.depth) - int(self.count > 0 and rout[0])


class Merge:
    """A join: the output is valid when every input is, input ``k`` is taken when the output is."""

    def state(self) -> Any:
        return ()

    def valid(self, vin: list[bool]) -> list[bool]:
        return [all(vin)]

    def ready(self, vin: list[bool], rout: list[bool]) -> list[bool]:
        return [rout[0] and all(v for j, v in enumerate(vin) if j != k) for k in range(len(vin))]

    def clock(self, vin: list[bool], rout: list[bool]) -> None:
        pass


ELEMENTS = {"window": lambda s: _Window(s.geometry), "delay": lambda s: _Delay(s.cycles),
            "flatten": lambda s: _Hold(s.pixels), "pad": _Pad, "crop": _Crop, "upsample": _Upsample,
            "reuse": lambda s: _Reuse(s.cycles)}


@dataclass
class Net:
    """Stream elements in graph order, each with its input and output stream numbers; stream 0 is the source's."""

    parts: list[tuple[Any, list[int], list[int]]] = field(default_factory=list)
    streams: int = 1

    def stream(self) -> int:
        self.streams += 1
        return self.streams - 1

    def add(self, element: Any, ins: list[int], n_out: int = 1) -> list[int]:
        """Append ``element`` reading streams ``ins``; returns its ``n_out`` new output streams."""
        outs = [self.stream() for _ in range(n_out)]
        self.parts.append((element, ins, outs))
        return outs

    def stages(self, stages: Sequence[Stage], s: int) -> int:
        """Append a chain of single-input elements on stream ``s``; returns the chain's output stream."""
        for st in stages:
            if st.kind != "delay" or st.cycles:
                (s,) = self.add(ELEMENTS[st.kind](st), [s])
        return s


def run(net: Net, sink: int, beats_in: int, beats_out: int, images: int = IMAGES) -> tuple[list[int], list[int]] | None:
    """Cycle of every input beat taken and every output beat given when up to ``images`` images of ``beats_in``
    beats are offered back to back and the sink (stream ``sink``) is always ready, until the last ``images``
    output images or a steady state (at least 4 images out, the last two spacings of their first beats equal);
    None when the net stops first (a deadlock: a state that repeats with no beat moving)."""
    valid, ready = [False] * net.streams, [False] * net.streams
    parts = [(e.valid, e.ready, e.clock, e.state, ins, outs) for e, ins, outs in net.parts]
    back = parts[::-1]
    in_at: list[int] = []
    out_at: list[int] = []
    firsts: list[int] = []
    idle = None
    cycle, total_in = 0, beats_in * images
    while len(out_at) < beats_out * images:
        valid[0] = len(in_at) < total_in
        for fv, _, _, _, ins, outs in parts:
            for o, v in zip(outs, fv([valid[i] for i in ins]), strict=True):
                valid[o] = v
        ready[sink] = True
        for _, fr, _, _, ins, outs in back:
            for i, r in zip(ins, fr([valid[i] for i in ins], [ready[o] for o in outs]), strict=True):
                ready[i] = r
        if valid[0] and ready[0]:
            in_at.append(cycle)
        if valid[sink]:
            if len(out_at) % beats_out == 0:
                firsts.append(cycle)
            out_at.append(cycle)
            if len(out_at) % beats_out == 0 and len(firsts) >= 4 and \
                    firsts[-1] - firsts[-2] == firsts[-2] - firsts[-3] == firsts[-3] - firsts[-4]:
                break
        moved = any(v and r for v, r in zip(valid, ready, strict=True))
        for _, _, fc, _, ins, outs in parts:
            fc([valid[i] for i in ins], [ready[o] for o in outs])
        if moved:
            idle = None
        else:
            now = tuple(st() for _, _, _, st, _, _ in parts)
            if now == idle:
                return None
            idle = now
        cycle += 1
    return in_at, out_at


def figures(times: tuple[list[int], list[int]], beats_out: int) -> tuple[int, int]:
    """(latency, II) from a run's beat cycles, ``beats_out`` output beats per image (see the module doc)."""
    in_at, out_at = times
    n = len(out_at) // beats_out
    return out_at[beats_out - 1] - in_at[0], out_at[(n - 1) * beats_out] - out_at[(n - 2) * beats_out]


def _chain(stages: Sequence[Stage], beats_in: int, images: int) -> tuple[tuple[list[int], list[int]], int]:
    net = Net()
    sink = net.stages(stages, 0)
    beats_out = beats_in
    for st in stages:
        beats_out = _beats_out(st, beats_out)
    times = run(net, sink, beats_in, beats_out, images)
    assert times is not None  # a chain cannot deadlock
    return times, beats_out


def schedule(stages: Sequence[Stage], beats_in: int, images: int = IMAGES) -> list[int]:
    """Cycle of every output beat of a chain of ``stages`` through ``images`` images of ``beats_in`` beats offered
    back to back (the first taken in cycle 0)."""
    (in_at, out_at), _ = _chain(stages, beats_in, images)
    return [t - in_at[0] for t in out_at]


def _beats_out(s: Stage, beats_in: int) -> int:
    if s.kind == "window":
        assert s.geometry is not None
        return sum(s.geometry.row_hit) * sum(s.geometry.col_hit)
    if s.kind == "flatten":
        return beats_in // s.pixels
    (h, w), (rb, ra), (cb, ca) = s.plane, s.rows, s.cols
    if s.kind == "pad":
        return h * w
    if s.kind == "crop":
        return (h - rb - ra) * (w - cb - ca)
    if s.kind == "upsample":
        return beats_in * s.factor[0] * s.factor[1]
    return beats_in


def stated(stages: Sequence[Stage], beats_in: int) -> tuple[int, int]:
    """(latency, II) of the chain ``stages`` in cycles (see the module doc)."""
    return figures(*_chain(stages, beats_in, IMAGES))


def measured(in_at: np.ndarray, out_at: np.ndarray, images: int) -> tuple[int, int]:
    """(latency, II) of a run without stalls from the cycle stamps of its beats: the first image's latency, and
    the spacing of the images' first output beats over the second half of the run (EmulationError when it is
    not constant there: no steady state)."""
    if images < 4 or len(in_at) % images or len(out_at) % images:
        raise EmulationError(f"measuring cycles per image needs >= 4 whole images, got {images} images with "
                             f"{len(in_at)} input and {len(out_at)} output beats")
    per_out = len(out_at) // images
    firsts = out_at[::per_out]
    gaps = np.diff(firsts[images // 2:])
    if len(set(gaps.tolist())) != 1:
        raise EmulationError(f"no steady state: image spacing in the second half of the run varies: {gaps.tolist()}")
    return int(out_at[per_out - 1] - in_at[0]), int(gaps[0])
