"""ReuseFactor ``R > 1`` in the streaming Verilog top (issue 14): conv kernels (one window per beat, or a pixel for
a pointwise conv) and Dense after a Flatten with time-multiplexed multipliers, one beat every ``R`` cycles.

The kernel is the MLP backend's folded Dense (:mod:`~nnfpga.backends.rtl.reuse`) per conv group: each of its
``K*C_in*C_out / R`` multipliers (a Verilog ``*`` of a multiplexed input and an ``R``-entry weight ROM: a DSP)
serves ``R`` inputs, the products summed per cycle into an exact accumulator started at the bias, then cast like
the fully parallel layer (the emulator's order; bit-exact). Valid ReuseFactors: the divisors of a group's inputs
(``K*C_in/groups``; a Dense's input count), each multiplier taking one input per cycle; others are refused when
the design is built (:func:`reuse_problem`) with the valid values listed.

Handshake (:func:`reuse_handshake`): the kernel takes a beat (``go``) when it is idle or in the last of its ``R``
cycles, and its output register is free; the beat's values are latched, ``R`` cycles accumulate, and the result
is offered (``done``) in the cycle after. Every register of the kernel advances only while ``en`` (the output is
free or taken): a stalled sink freezes the computation under way, nothing is lost. ``in_ready`` is low while the
kernel is busy, so the window generator (its output and skid registers) and then the stream above it wait: one
beat every ``R`` cycles, about ``R`` x the windows of an image per image.

Stated timing (:func:`reuse_schedule`, a stage of :func:`nnfpga.backends.rtl.timing.schedule`): the window
generator's steps (one per cycle, waiting for each input pixel and while two windows are waiting: its output and
skid registers) and the kernel's takes ``c[m] = max(w[m], c[m - 1] + R)``, the output ``R + 1`` cycles after the
take. The figures are exact when the sink never stalls the kernel and the layer's input beats wait for it only
when the layer is the first of the chain (the top's input port offers every pixel at once); a layer further down
that would hold its input back (the stall reaching layers whose schedule assumes a free sink) makes the design
state no timing (:class:`Unstated`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnfpga.backends.rtl.verilog import Always, If, Module, NonBlocking, literal
from nnfpga.backends.rtl.window import Geometry
from nnfpga.ir.graph import Graph, Node
from nnfpga.ops import OPS

__all__ = ["ReuseStage", "Unstated", "reuse_factor", "reuse_handshake", "reuse_problem", "reuse_schedule",
           "valid_stream_factors"]


class Unstated(Exception):
    """The stated schedule cannot model this chain (a reuse layer below the first holds its input back)."""


def reuse_factor(node: Node) -> int:
    """The node's ReuseFactor (1 for ops it does not apply to)."""
    return int(node.attrs.get("reuse_factor", 1)) if node.op in ("conv", "dense") else 1


def _inputs_per_group(graph: Graph, node: Node) -> int:
    """Inputs of one multiplier group's Dense: a conv group's window (positions x group channels), a Dense's vector."""
    if node.op == "conv":
        return OPS["conv"].reuse_shape(node)[0]  # type: ignore[attr-defined]
    return int(np.prod(graph[node.inputs[0]].shape))


def valid_stream_factors(graph: Graph, node: Node) -> list[int]:
    """ReuseFactors the streaming top builds for ``node``: those the config accepts that divide a group's inputs."""
    n_in = _inputs_per_group(graph, node)
    return [r for r in OPS[node.op].reuse_factors(node) if n_in % r == 0]


def reuse_problem(graph: Graph, node: Node) -> str | None:
    """Why the streaming top cannot build ``node`` at its ReuseFactor (None: it can, or R is 1)."""
    rf = reuse_factor(node)
    if rf == 1:
        return None
    where = node.describe()
    n_in = _inputs_per_group(graph, node)
    if n_in % rf:
        what = "window inputs per group (kernel positions x input channels per group)" if node.op == "conv" \
            else "inputs"
        valid = ", ".join(map(str, valid_stream_factors(graph, node)))
        return (f"{where}: ReuseFactor {rf} does not divide its {n_in} {what}, which the streaming Verilog top "
                f"needs (each multiplier takes one input per cycle); valid: {valid}")
    from nnfpga.backends.rtl.accumulate import reuse_problem as accum_problem

    src = graph[node.inputs[0]]
    tx = src.types["result"]
    plan = OPS[node.op].prepare(node, [tx])
    for gp in getattr(plan, "groups", None) or [plan]:
        msg = accum_problem(node, tx, gp)
        if msg:
            return f"{where}: {msg}"
    return None


def reuse_handshake(top: Module, pre: str, en: str, go: str, first: int, rf: int, valid: str,
                    ready: str) -> tuple[str, str]:
    """Tie the kernel a lowering placed (clocked blocks from ``top.items[first]`` on, started by ``go``) to the
    stream: declares ``go`` (a beat taken) and ``en`` (the kernel's registers advance), drives the input ``ready``;
    returns the output (valid, ready). See the module docstring."""
    for item in top.items[first:]:
        if isinstance(item, Always) and item.clock:
            item.body = [If(en, item.body)]
    kw = max((rf - 1).bit_length(), 1)
    busy, k = top.reg(f"{pre}_busy", 1), top.reg(f"{pre}_k", kw)
    done, out_ready = top.reg(f"{pre}_done", 1), top.wire(f"{pre}_oready", 1)
    last = f"{k} == {literal(rf - 1, kw)}"
    top.comment(f"ReuseFactor {rf}: one beat every {rf} cycles; the result is offered in the cycle after the last")
    top.always([If("rst", [NonBlocking(busy, "1'b0"), NonBlocking(done, "1'b0"), NonBlocking(k, literal(0, kw))], [
        If(en, [NonBlocking(done, f"{busy} && {last}"),
                If(go, [NonBlocking(busy, "1'b1"), NonBlocking(k, literal(0, kw))], [
                    If(busy, [If(last, [NonBlocking(busy, "1'b0")]), NonBlocking(k, f"{k} + {literal(1, kw)}")])])])])],
               clock="clk")
    top.assign(en, f"!{done} || {out_ready}")
    top.assign(ready, f"{en} && (!{busy} || {last})")
    top.assign(go, f"({valid}) && {ready}")
    return done, out_ready


@dataclass(frozen=True)
class ReuseStage:
    """What :func:`reuse_schedule` needs of a reuse layer: ``rf``; ``geometry`` of its window generator (None: the
    kernel takes the layer's input beats directly); ``head``: the first stage of the chain."""

    rf: int
    geometry: Geometry | None = None


def _windows(arrivals: list[int], g: Geometry, rf: int, head: bool) -> list[int]:
    """Output cycles of a window generator feeding a kernel that takes a window every ``rf`` cycles (``u``: the
    step's cycle without the kernel holding it back, for telling a held-back input pixel)."""
    takes: list[int] = []  # the kernel's take of each window
    t, u, n = -1, -1, 0
    while n < len(arrivals):
        for y in range(g.h + g.vy):
            for x in range(g.w + g.vx):
                t, u = t + 1, u + 1
                if len(takes) >= 2:  # output and skid registers full until the older window is taken
                    t = max(t, takes[-2] + 1)
                if y < g.h and x < g.w:
                    if not head and t > max(u, arrivals[n]):
                        raise Unstated("a reuse layer below the first holds its input pixels back")
                    t, u = max(t, arrivals[n]), max(u, arrivals[n])
                    n += 1
                if g.row_hit[y] and g.col_hit[x]:  # presented the cycle after; taken when the kernel is free
                    takes.append(max(t + 1, takes[-1] + rf) if takes else t + 1)
    return [c + rf + 1 for c in takes]


def reuse_schedule(arrivals: list[int], stage: ReuseStage, head: bool) -> list[int]:
    """Cycle of every output beat of the reuse layer ``stage`` whose input beats arrive at ``arrivals``
    (:class:`Unstated` where this model does not hold; see the module docstring)."""
    if stage.geometry is not None:
        return _windows(arrivals, stage.geometry, stage.rf, head)
    out, prev = [], None
    for a in arrivals:
        c = a if prev is None else max(a, prev + stage.rf)
        if c > a and not head:
            raise Unstated("a reuse layer below the first holds its input beats back")
        out.append(c + stage.rf + 1)
        prev = c
    return out
