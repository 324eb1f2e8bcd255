"""Sliding-window generator for streaming image models in Verilog (first part of issue 14).

:func:`window_module` writes a module that takes an image as a stream of pixels (raster order, one pixel's
``C`` channels per beat, channel 0 in the low bits) under a valid/ready handshake and gives every window of a
:class:`~nnfpga.ops.spatial.Window` as one beat, in the emulator's im2col order (:func:`nnfpga.ops.spatial.windows`:
window positions row-major, then the channel; element 0 in the low bits), output positions in raster order.
Padding is generated at the borders (not stored); strides and dilation are supported. A 1D window over ``(L, C)``
is the 2D case with one row.

Storage: ``E_h - 1`` line buffer rows (``E_h = (K_h - 1) * d_h + 1``, the window's extent) and an ``E_h x E_w``
shift-register window. A row of fewer than :data:`RAM_THRESHOLD_BITS` bits is a shift register (the pixel leaving
it is the one a row up in this column: no read multiplexer); a longer one is a plainly inferred RAM that Yosys maps
to block or distributed RAM, read synchronously a step ahead at an address from registers only, the read enabled
by the step (the step's handshake reaches no address logic). Schedule: one step per clock over the image
plus the virtual positions right/bottom padding needs (``vx`` columns per row, ``vy`` rows: a step without an
input pixel); each step shifts the window and registers the window ending there, so the generator takes a pixel
every cycle while it emits windows: ``(H + vy) * (W + vx)`` cycles per image without stalls (``H * W`` without
right/bottom padding), and a window leaves one cycle after the pixel that completes it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nnfpga.backends.rtl.verilator import build_sources, port_bytes, run_stream_timed, stream_harness
from nnfpga.errors import BackendSupportError, EmulationError
from nnfpga.fixed import FixedType
from nnfpga.ops.spatial import Window

DRAIN_CYCLES = 8


def as_2d(spatial: Sequence[int], win: Window) -> tuple[tuple[int, int], Window]:
    """A 1D window over ``(L,)`` as a 2D one over ``(1, L)``; 2D unchanged; BackendSupportError otherwise."""
    if win.ndim == 1 and len(spatial) == 1:
        return (1, int(spatial[0])), Window(size=(1, *win.size), strides=(1, *win.strides),
                                            dilation=(1, *win.dilation), pads=((0, 0), *win.pads))
    if win.ndim == 2 and len(spatial) == 2:
        return (int(spatial[0]), int(spatial[1])), win
    raise BackendSupportError(f"the Verilog window generator handles 1D and 2D windows over as many spatial axes; "
                              f"got a {win.ndim}D window over spatial shape {tuple(spatial)}")


RAM_THRESHOLD_BITS = 512  # a line buffer row of fewer bits (W * C * width) is kept in registers, else inferred RAM


@dataclass(frozen=True)
class Geometry:
    """The schedule of :func:`window_module` over an ``h`` x ``w`` image: it steps through ``(h + vy)`` rows of
    ``(w + vx)`` positions, the ``vx`` / ``vy`` virtual ones (right / bottom padding that ends a window) taking
    a cycle without an input pixel; ``row_hit`` / ``col_hit``: the positions where a window ends (emitted)."""

    h: int
    w: int
    vy: int
    vx: int
    row_hit: tuple[bool, ...]
    col_hit: tuple[bool, ...]

    @property
    def steps(self) -> int:
        return (self.h + self.vy) * (self.w + self.vx)


def geometry(spatial: Sequence[int], win: Window) -> Geometry:
    (h, w), win = as_2d(spatial, win)
    ho, wo = win.out_spatial((h, w))
    (pt, _), (pl, _) = win.pads
    eh, ew = win.extent()
    ends_y = [k * win.strides[0] - pt + eh - 1 for k in range(ho)]
    ends_x = [k * win.strides[1] - pl + ew - 1 for k in range(wo)]
    vy, vx = max(0, ends_y[-1] - (h - 1)), max(0, ends_x[-1] - (w - 1))
    return Geometry(h, w, vy, vx, tuple(y in ends_y for y in range(h + vy)), tuple(x in ends_x for x in range(w + vx)))


def _lt(var: str, bits: int, n: int) -> str:
    return "1'b1" if n >= 1 << bits else f"{var} < {bits}'d{n}"


def _bits(flags: Sequence[bool]) -> str:
    return f"{len(flags)}'b" + "".join("1" if f else "0" for f in reversed(flags))


def window_module(name: str, spatial: Sequence[int], channels: int, win: Window, width: int,
                  fill: int = 0) -> str:
    """Verilog text of module ``name``: the windows of an image of ``spatial`` shape and ``channels`` channels of
    ``width``-bit values; padding positions hold the ``width``-bit two's complement of ``fill``.

    Ports: ``clk``, ``rst`` (synchronous, active high), ``in_valid``, ``in_ready``, ``in_data[C*width]``,
    ``out_valid``, ``out_ready``, ``out_data[K_h*K_w*C*width]``."""
    (h, w), win = as_2d(spatial, win)
    kh, kw = win.size
    dh, dw = win.dilation
    eh, ew = win.extent()
    ho, wo = win.out_spatial((h, w))
    if ho < 1 or wo < 1:
        raise BackendSupportError(f"{name}: a window spanning {(eh, ew)} does not fit the spatial shape {(h, w)} "
                                  f"padded by {[list(p) for p in win.pads]}")
    if any(b >= e or a >= e for (b, a), e in zip(win.pads, (eh, ew), strict=True)):
        raise BackendSupportError(f"{name}: padding {[list(p) for p in win.pads]} as wide as the window's extent "
                                  f"{(eh, ew)} (windows of padding only) is not supported by the Verilog backend")
    if channels < 1 or width < 1:
        raise BackendSupportError(f"{name}: needs channels >= 1 and width >= 1, got {channels} and {width}")
    g = geometry((h, w), win)
    pw = channels * width
    n_win = kh * kw * channels
    mask = (1 << width) - 1
    pix = f"{pw}'d0" if fill == 0 else "{" + f"{channels}{{{width}'d{fill & mask}}}" + "}"
    ny, nx = h + g.vy, w + g.vx
    yb, xb = max(1, (ny - 1).bit_length()), max(1, (nx - 1).bit_length())
    ab = max(1, (w - 1).bit_length())  # line buffer address bits
    ram = w > 1 and w * pw >= RAM_THRESHOLD_BITS
    store = "inferred RAM, synchronous read" if ram else f"shift registers: under {RAM_THRESHOLD_BITS} bits a row"
    lines = [
        f"// Sliding-window generator (generated by nnfpga): {h}x{w}x{channels} image, window {kh}x{kw}, strides",
        f"// {win.strides[0]}x{win.strides[1]}, dilation {dh}x{dw}, pads {[list(p) for p in win.pads]} -> {ho}x{wo} "
        f"windows of {n_win} values,",
        f"// each {width} bits. In: one pixel per beat, raster order, channel 0 in the low bits. Out: one window per",
        "// beat, raster order, values in im2col order ((row, column, channel), row-major; element 0 in the low bits).",
        "// Handshake: a beat moves when valid and ready are both high at a rising clock edge.",
        f"// Storage: {eh - 1} line buffer row(s) of {w} pixels ({store}) and a {eh}x{ew} pixel shift-register window.",
        f"// Schedule: one step per cycle over {ny} rows of {nx} positions ({g.vy} virtual row(s), {g.vx} virtual "
        "column(s) per row:",
        "// right/bottom padding, no input pixel); a step takes the pixel, shifts the window and registers the window",
        "// that ends there (out_valid one cycle later). A skid register behind the output register takes a window",
        "// the sink does not; steps wait while it is full, so in_ready depends on registers only (no combinational",
        f"// path from out_ready). Cycles per image without stalls: (H + vy) * (W + vx) = {g.steps}.",
        f"module {name} (",
        "    input wire clk,",
        "    input wire rst,",
        "    input wire in_valid,",
        "    output wire in_ready,",
        f"    input wire [{pw - 1}:0] in_data,",
        "    output reg out_valid,",
        "    input wire out_ready,",
        f"    output reg [{n_win * width - 1}:0] out_data",
        ");",
        f"    localparam [{ny - 1}:0] ROW_HIT = {_bits(g.row_hit)};",
        f"    localparam [{nx - 1}:0] COL_HIT = {_bits(g.col_hit)};",
    ]
    # a window tap at row i (column j) reads input row y - (eh-1) + i*dh: padding outside the image
    for i in range(kh):
        lines.append(f"    localparam [{ny - 1}:0] ROW_OK{i} = "
                     f"{_bits([0 <= y - (eh - 1) + i * dh < h for y in range(ny)])};")
    for j in range(kw):
        lines.append(f"    localparam [{nx - 1}:0] COL_OK{j} = "
                     f"{_bits([0 <= x - (ew - 1) + j * dw < w for x in range(nx)])};")
    lines += [
        f"    reg [{yb - 1}:0] y;  // the step's row (>= {h}: virtual)",
        f"    reg [{xb - 1}:0] x;  // the step's column (>= {w}: virtual)",
        f"    wire real_pix = {_lt('y', yb, h)} && {_lt('x', xb, w)};",
        f"    reg [{n_win * width - 1}:0] skid;  // a window the sink did not take while the next step ran",
        "    reg skid_valid;",
        "    wire slot = !skid_valid;",
        "    wire step = !rst && slot && (!real_pix || in_valid);",
        "    assign in_ready = !rst && slot && real_pix;",
        f"    wire last_x = x == {nx - 1};",
        f"    wire [{xb - 1}:0] next_x = last_x ? {xb}'d0 : x + {xb}'d1;",
        f"    reg [{pw - 1}:0] win [0:{eh * ew - 1}];  // win[r*{ew} + c]: row y-{eh - 1}+r, column x-{ew}+c "
        "(before this step)",
        f"    wire [{pw - 1}:0] col [0:{eh - 1}];  // the column entering the window: rows y-{eh - 1}..y at x",
        f"    assign col[{eh - 1}] = in_data;",
    ]
    if eh > 1 and not ram:  # a shift register per row: the pixel leaving it is this column's, one row up
        for k in range(eh - 1):
            lines += [f"    reg [{w * pw - 1}:0] lb{k};  // line buffer: row y-{eh - 1 - k}, oldest pixel on top",
                      f"    assign col[{k}] = lb{k}[{w * pw - 1}:{(w - 1) * pw}];"]
    elif eh > 1:  # read a step ahead: the address from registers only, the read enabled by the step
        lines.append(f"    wire [{ab - 1}:0] rd = {_lt('next_x', xb, w)} ? next_x[{ab - 1}:0] : {ab}'d0;")
        for k in range(eh - 1):
            lines += [f"    reg [{pw - 1}:0] lb{k} [0:{w - 1}];  // line buffer: row y-{eh - 1 - k}",
                      f"    reg [{pw - 1}:0] lb{k}_q;",
                      f"    always @(posedge clk) if (step) lb{k}_q <= lb{k}[rd];",
                      f"    assign col[{k}] = lb{k}_q;"]
    lines.append("    wire hit = ROW_HIT[y] && COL_HIT[x];  // a window ends at this step")
    lines.append(f"    wire [{n_win * width - 1}:0] taps;  // the window ending at this step, padding filled")
    for i in range(kh):
        for j in range(kw):
            r, c = i * dh, j * dw
            src = f"col[{r}]" if c == ew - 1 else f"win[{r * ew + c + 1}]"
            ok = f"ROW_OK{i}[y] && COL_OK{j}[x]"
            lines.append(f"    assign taps[{(i * kw + j) * pw} +: {pw}] = {ok} ? {src} : {pix};")
    lines += [
        "    always @(posedge clk) begin",
        "        if (rst) begin",
        f"            y <= {yb}'d0;",
        f"            x <= {xb}'d0;",
        "            out_valid <= 1'b0;",
        "            skid_valid <= 1'b0;",
        "        end else begin",
        "            if (!out_valid || out_ready) begin  // the output register is free after this cycle",
        "                if (skid_valid) begin",
        "                    out_data <= skid;",
        "                    skid_valid <= 1'b0;",
        "                end else begin",
        "                    out_valid <= step && hit;",
        "                    out_data <= taps;",
        "                end",
        "            end else if (step && hit) begin",
        "                skid <= taps;",
        "                skid_valid <= 1'b1;",
        "            end",
        "        end",
        "        if (step) begin",
        "            x <= next_x;",
        f"            if (last_x) y <= y == {ny - 1} ? {yb}'d0 : y + {yb}'d1;",
        *(f"            win[{k}] <= {f'col[{k // ew}]' if k % ew == ew - 1 else f'win[{k + 1}]'};"
          for k in range(eh * ew)),
    ]
    if eh > 1:
        upd = [f"lb{k}[x[{ab - 1}:0]] <= col[{k + 1}];" if ram else
               f"lb{k} <= {{lb{k}[{(w - 1) * pw - 1}:0], col[{k + 1}]}};" if w > 1 else f"lb{k} <= col[{k + 1}];"
               for k in range(eh - 1)]
        lines += [f"            if ({_lt('x', xb, w)}) begin", *(f"                {u}" for u in upd),
                  "            end"]
    lines += [
        "        end",
        "    end",
        "endmodule",
        "",
    ]
    return "\n".join(lines)


def cycles_per_image(spatial: Sequence[int], win: Window) -> int:
    """Cycles one image takes through :func:`window_module` with no stalls on either side."""
    return geometry(spatial, win).steps


def simulate_windows(x_mantissas: np.ndarray, win: Window, t: FixedType, *, seed: int = 0, fill: int = 0,
                     cache_dir: str | os.PathLike[str] | None = None) -> tuple[np.ndarray, int]:
    """Stream images ``x_mantissas`` ``(B, *spatial, C)`` (mantissas of type ``t``) through :func:`window_module`
    in Verilator, ``seed`` != 0 with random input stalls and output backpressure. Returns the windows as
    :func:`nnfpga.ops.spatial.windows` shapes them, ``(B, *out, *size, C)``, and the cycles the run took."""
    y, cycles, _ = simulate_windows_timed(x_mantissas, win, t, seed=seed, fill=fill, cache_dir=cache_dir)
    return y, cycles


def simulate_windows_timed(x_mantissas: np.ndarray, win: Window, t: FixedType, *, seed: int = 0, fill: int = 0,
                           cache_dir: str | os.PathLike[str] | None = None
                           ) -> tuple[np.ndarray, int, tuple[np.ndarray, np.ndarray]]:
    """:func:`simulate_windows`, also returning the cycle each input beat was taken and each window given."""
    x = np.asarray(x_mantissas)
    if x.ndim != win.ndim + 2:
        raise EmulationError(f"x_mantissas must have shape (batch, *spatial, channels) with {win.ndim} spatial "
                             f"axes, got {x.shape}")
    if x.size and (np.any(x < t.min_mantissa) or np.any(x > t.max_mantissa)):
        raise EmulationError(f"input mantissas must lie in {t.min_mantissa}..{t.max_mantissa} ({t})")
    b, spatial, c = len(x), x.shape[1:-1], x.shape[-1]
    name = "nnfpga_window"
    binary = build_sources(name, {f"{name}.v": window_module(name, spatial, c, win, t.width, fill)},
                           stream_harness(), cache_dir=cache_dir)
    out = win.out_spatial(spatial)
    n_in, n_out = b * int(np.prod(spatial)), b * int(np.prod(out))
    k = win.positions() * c
    y, cycles, stamps = run_stream_timed(binary, x.reshape(n_in, c), t, port_bytes(c * t.width), n_out, k, t,
                                         port_bytes(k * t.width), seed=seed,
                                         max_cycles=4 * b * cycles_per_image(spatial, win) + 100, drain=DRAIN_CYCLES)
    return y.reshape(b, *out, *win.size, c), cycles, stamps


def inputs_before_outputs(spatial: Sequence[int], win: Window) -> np.ndarray:
    """For each window :func:`window_module` emits (raster order), how many pixels of the image it must have
    received first: it emits the window that ends at step ``(y, x)`` of its :class:`Geometry` after taking that
    step's pixel, so the real positions up to that step in raster order (every pixel of the image for a window
    ending in the bottom padding). The streaming graph top sizes its FIFOs from this
    (:mod:`~nnfpga.backends.rtl.stream_graph`): keep it true to the generator's schedule."""
    g = geometry(spatial, win)
    ys = np.array([y for y in range(g.h + g.vy) if g.row_hit[y]], dtype=np.int64)
    xs = np.array([x for x in range(g.w + g.vx) if g.col_hit[x]], dtype=np.int64)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    return (np.minimum(yy, g.h) * g.w + np.where(yy < g.h, np.minimum(xx + 1, g.w), 0)).reshape(-1)
