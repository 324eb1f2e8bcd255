"""io_stream: pixel streams between DATAFLOW stages, line-buffered conv/pool, streamed pad/crop/upsample, and the
depth of every FIFO with its reason.

Every stream carries pixels (``nnfpga::pixel<T, C>``, one pixel's channel vector; a vector ``(n,)`` is one pixel of
``n``). A conv, pool, zero-pad, crop or upsample of 1 or 2 spatial axes whose input stream carries its own pixels and
whose output has one reader is a streaming stage (``library/nnfpga_stream.h``: one pixel accepted per step); an
activation in the same position is a pixel-wise stage (its io_parallel call on one pixel at a time); every
other layer is a buffered stage, which reads its whole input tensor, runs its io_parallel call, and writes its
output pixel by pixel (Flatten -> Dense: the Dense reads the pixels into one vector).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nnfpga.backends.hls.cpp import CppFile
from nnfpga.backends.hls.lower import INDEX_TYPE, Inputs, LayerNames, Lowered, _pixels
from nnfpga.ir.graph import Node
from nnfpga.ops import OPS

if TYPE_CHECKING:
    from nnfpga.ir.graph import Graph
    from nnfpga.model import HWModel

STREAMED = ("conv", "max_pool", "avg_pool", "zero_pad", "crop", "upsample")
# value by value (softmax: over the last axis), so computed pixel by pixel with the io_parallel call on one pixel
PIXELWISE = ("linear", "relu", "leaky_relu", "hard_sigmoid", "hard_tanh", "sigmoid", "tanh", "elu", "softmax")
CHAIN_DEPTH = 2


def pixel_type(t: str, shape: tuple[int, ...]) -> str:
    return f"nnfpga::pixel<{t}, {int(shape[-1])}>"


def _geometry(node: Node, in_shape: tuple[int, ...]) -> list[str]:
    """The line buffer's constants: the padded input walked row by row (1D: one row), the window's extent."""
    win = OPS[node.op].window(node)
    spatial, out = list(in_shape[:-1]), list(node.shape[:-1])
    size, strides, dil, pads, ext = (list(win.size), list(win.strides), list(win.dilation), list(win.pads),
                                     list(win.extent()))
    if win.ndim == 1:  # one row
        spatial, out, size, strides, dil, pads, ext = ([1, *spatial], [1, *out], [1, *size], [1, *strides],
                                                        [1, *dil], [(0, 0), *pads], [1, *ext])
    vals = {"in_h": spatial[0], "in_w": spatial[1], "pad_top": pads[0][0], "pad_left": pads[1][0],
            "padded_h": spatial[0] + sum(pads[0]), "padded_w": spatial[1] + sum(pads[1]),
            "k_h": size[0], "k_w": size[1], "ext_h": ext[0], "ext_w": ext[1], "line_rows": max(ext[0] - 1, 1),
            "dil_h": dil[0], "dil_w": dil[1],
            "stride_h": strides[0], "stride_w": strides[1], "out_h": out[0], "out_w": out[1]}
    return [f"static const unsigned {k} = {int(v)};" for k, v in vals.items()]


def move_steps(node: Node, in_shape: tuple[int, ...]) -> tuple[np.ndarray, int]:
    """The step table of a zero-pad, crop or upsample (``move_stream``) and its ring's size in pixels: per output
    pixel, the input pixels up to the one it copies are read first; the ring holds every pixel still to be copied."""
    index = OPS[node.op].move(node, _pixels(in_shape)).reshape(-1) - 1
    n_in = int(np.prod(in_shape[:-1]))
    steps: list[tuple[int, int]] = []  # (read, source pixel: -1 zeros, -2 nothing)
    reads, ring = 0, 1
    for src in (int(s) for s in index):
        while reads < src:
            steps.append((1, -2))
            reads += 1
        if src >= 0 and src == reads:
            steps.append((1, src))
            reads += 1
        else:
            steps.append((0, src))
        if src >= 0:
            ring = max(ring, reads - src)
    steps += [(1, -2)] * (n_in - reads)
    codes = [2 * ((s % ring if s >= 0 else s) + 2) + r for r, s in steps]
    return np.asarray(codes, dtype=np.int64), ring


def stream_lowering(node: Node, ins: Inputs, dst: LayerNames, base: Lowered) -> Lowered:
    """The streaming stage of ``node`` (an op of :data:`STREAMED`), from its io_parallel lowering ``base``: the same
    config and constants, the line buffer's geometry instead of the window index table."""
    src_node, src = ins[0]
    in_shape = tuple(src_node.shape)
    types = f"{src.t('result')}, {dst.t('result')}, {dst.config}"
    cfg = [c for c in base.config if "reuse_factor" not in c]
    cfg.append(f"static const unsigned reuse_factor = {int(node.attrs.get('reuse_factor', 1))};")
    arrays = [a for a in base.arrays if a[0] != "index"]
    if node.op == "conv":
        w, b = (a[1] for a in arrays)
        return Lowered(config=cfg + _geometry(node, in_shape), arrays=arrays,
                       call=f"nnfpga::conv_stream<{types}>(in_s, out_s, {w}, {b});")
    if node.op in ("max_pool", "avg_pool"):
        ta = node.types["accum"]
        cfg = [c for c in cfg if not c.startswith(("static const int accum_", "static const bool accum_",
                                                    "static const bool count_pad"))]
        cfg += [f"static const bool is_max = {str(node.op == 'max_pool').lower()};",
                f"static const int accum_width = {ta.width};",
                f"static const bool accum_signed = {str(ta.signed).lower()};",
                f"static const bool count_pad = {str(bool(node.attrs.get('count_pad'))).lower()};"]
        func = "global_pool_stream" if node.attrs.get("global") else "pool_stream"
        geometry = [] if node.attrs.get("global") else _geometry(node, in_shape)
        return Lowered(config=cfg + geometry, arrays=arrays, call=f"nnfpga::{func}<{types}>(in_s, out_s);")
    steps, ring = move_steps(node, in_shape)
    name = f"idx_{dst.ident}"
    cfg += [f"static const unsigned n_steps = {len(steps)};",
            f"static const unsigned buf_pixels = {ring};  // input pixels held until copied"]
    return Lowered(config=cfg, arrays=[("index", name, steps, INDEX_TYPE)],
                   call=f"nnfpga::move_stream<{types}>(in_s, out_s, {name});")


def _streamable(node: Node, g: Graph, names: dict[str, LayerNames], chan: dict[str, int], n_readers: int) -> bool:
    if node.op not in STREAMED + PIXELWISE or len(node.inputs) != 1 or n_readers != 1:
        return False
    in_shape = tuple(g[node.inputs[0]].shape)
    if node.op in PIXELWISE:  # the producer's pixels are this layer's
        return chan[names[node.inputs[0]].var] == in_shape[-1] == node.shape[-1]
    if len(in_shape) not in (2, 3) or chan[names[node.inputs[0]].var] != in_shape[-1]:
        return False  # not 1D/2D, or the producer's pixels are not this layer's (a Reshape between them)
    if node.op == "conv":
        return len(np.shape(node.weights["kernel"])) in (3, 4)
    return True


@dataclass
class Fifo:
    name: str
    producer: str
    reader: str
    pixels: int
    depth: int
    reason: str


def _depth(pixels: int, index: int, n_inputs: int) -> tuple[int, str]:
    """A FIFO's depth (in pixels) and its reason, from the reader's schedule (see :func:`fifo_report`)."""
    if n_inputs > 1 and index > 0:
        return pixels, (f"depth = pixels = {pixels}: input {index} of a {n_inputs}-input stage that reads its inputs "
                        "one after the other; all of it may be written before its first pixel is read")
    return CHAIN_DEPTH, (f"depth {CHAIN_DEPTH}: the reader takes each pixel as it comes; pixel k+1 is written while "
                         "pixel k is read")


def top_stream(hw: HWModel, prj: str, sig: str, names: dict[str, LayerNames], lowered: dict[str, Lowered],
               streamed: dict[str, str]) -> tuple[str, list[Fifo]]:
    """The top function: one function per layer between pixel streams, under DATAFLOW. A stream has one reader: a
    layer whose output feeds several layers (or an input read by several) writes one stream per reader, pixel by
    pixel. Returns the C++ file and the FIFOs it declares."""
    g = hw.graph
    f = CppFile(f"firmware/{prj}.cpp", comment=f"{prj}: {g.name} (generated by nnfpga, io_stream).")
    f.include(f"{prj}.h")
    f.include("parameters.h")
    f.blank()
    layers = [n for n in g if n.name in lowered and lowered[n.name].call is not None]
    inp = names[g.inputs[0]]
    in_shape = tuple(g[g.inputs[0]].shape)
    sizes, chans = {inp.var: int(np.prod(in_shape))}, {inp.var: int(in_shape[-1])}
    types = {inp.var: inp.t("result")}
    reads: dict[str, list[str]] = {inp.var: []}  # producer variable -> its readers (layer variables, "y_out")
    srcs_of = {}
    for node in layers:
        ln = names[node.name]
        sizes[ln.var], chans[ln.var], types[ln.var], reads[ln.var] = (int(np.prod(node.shape)), int(node.shape[-1]),
                                                                      ln.t("result"), [])
        srcs_of[ln.var] = list(dict.fromkeys(names[i].var for i in node.inputs))
        for var in srcs_of[ln.var]:
            reads[var].append(ln.var)
    reads[names[g.outputs[0]].var].append("y_out")
    ptype = {v: f"nnfpga::pixel<{types[v]}, {chans[v]}>" for v in types}

    def stream(var: str, reader: str) -> str:
        rs = reads[var]
        if reader == "y_out":
            return "y_out"
        if var == inp.var and len(rs) == 1:
            return "x_in"
        return f"{var}_s" if len(rs) == 1 else f"{var}_s{rs.index(reader)}"

    def write_out(var: str, outs: list[str]) -> None:
        with f.block(f"for (unsigned p = 0; p < {sizes[var] // chans[var]}; p++)"):
            f.line("NNFPGA_HLS(PIPELINE)")
            f.line(f"{ptype[var]} px;")
            with f.block(f"for (unsigned c = 0; c < {chans[var]}; c++)"):
                f.line("NNFPGA_HLS(UNROLL)")
                f.line(f"px[c] = {var}[p * {chans[var]} + c];")
            for o in outs:
                f.line(f"{o}.write(px);")

    split = len(reads[inp.var]) > 1
    if split:  # the input, read by several layers: copied to one stream each
        outs = [f"x_in_s{j}" for j in range(len(reads[inp.var]))]
        params = ", ".join(f"hls::stream<{ptype[inp.var]}> &{o}" for o in outs)
        with f.block(f"static void split_input(hls::stream<{ptype[inp.var]}> &x_in, {params})"):
            with f.block(f"for (unsigned p = 0; p < {sizes[inp.var] // chans[inp.var]}; p++)"):
                f.line("NNFPGA_HLS(PIPELINE)")
                f.line(f"const {ptype[inp.var]} px = x_in.read();")
                for o in outs:
                    f.line(f"{o}.write(px);")
        f.blank()
    for node in layers:
        ln = names[node.name]
        srcs = srcs_of[ln.var]
        n_out = len(reads[ln.var])
        if node.name in streamed:
            src, kind = srcs[0], streamed[node.name]
            f.comment(f"{node.describe()}: {'streaming' if kind == 'stream' else 'pixel-wise'} (one pixel per step)")
            params = f"hls::stream<{ptype[src]}> &in_s, hls::stream<{ptype[ln.var]}> &out_s"
            with f.block(f"static void layer_{ln.ident}({params})"):
                if kind == "stream":
                    f.lines(lowered[node.name].call.splitlines())
                else:
                    with f.block(f"for (unsigned p = 0; p < {sizes[src] // chans[src]}; p++)"):
                        f.line("NNFPGA_HLS(PIPELINE)")
                        f.line(f"const {ptype[src]} a = in_s.read();")
                        f.line(f"{types[src]} {src}[{chans[src]}];")
                        f.line(f"{types[ln.var]} {ln.var}[{chans[ln.var]}];")
                        f.line(f"for (unsigned c = 0; c < {chans[src]}; c++) {src}[c] = a[c];")
                        f.lines(lowered[node.name].call.splitlines())
                        f.line(f"{ptype[ln.var]} px;")
                        f.line(f"for (unsigned c = 0; c < {chans[ln.var]}; c++) px[c] = {ln.var}[c];")
                        f.line("out_s.write(px);")
            f.blank()
            continue
        outs = ["out_s"] if n_out == 1 else [f"out{j}_s" for j in range(n_out)]
        params = [f"hls::stream<{ptype[v]}> &{v}_s" for v in srcs] + [f"hls::stream<{ptype[ln.var]}> &{o}"
                                                                      for o in outs]
        f.comment(f"{node.describe()}: buffered (reads its whole input, then writes its output)")
        with f.block(f"static void layer_{ln.ident}({', '.join(params)})"):
            for v in srcs:
                f.line(f"{types[v]} {v}[{sizes[v]}];")
            f.line(f"{types[ln.var]} {ln.var}[{sizes[ln.var]}];")
            for v in srcs:
                f.line(f"nnfpga::read_pixels<{types[v]}, {chans[v]}, {sizes[v]}>({v}_s, {v});")
            f.lines(lowered[node.name].call.splitlines())
            write_out(ln.var, outs)
        f.blank()
    fifos: list[Fifo] = []
    with f.block(sig):
        f.line("NNFPGA_HLS(INTERFACE axis port=x_in)")
        f.line("NNFPGA_HLS(INTERFACE axis port=y_out)")
        f.line("NNFPGA_HLS(DATAFLOW)")
        declared = {"x_in", "y_out"}

        def declare(var: str, name: str, reader: str) -> str:
            if name not in declared:
                declared.add(name)
                srcs = srcs_of.get(reader, [var])
                pixels = sizes[var] // chans[var]
                depth, reason = _depth(pixels, srcs.index(var), len(srcs))
                fifos.append(Fifo(name, var, reader, pixels, depth, reason))
                f.line(f'hls::stream<{ptype[var]}> {name}("{name}");')
                f.line(f"// {name}: {var} -> {reader}, {pixels} pixel(s): {reason}")
                f.line(f"NNFPGA_HLS(STREAM variable={name} depth={depth})")
            return name

        if split:
            outs = [declare(inp.var, f"x_in_s{j}", r) for j, r in enumerate(reads[inp.var])]
            f.line(f"split_input(x_in, {', '.join(outs)});")
        for node in layers:
            ln = names[node.name]
            args = [declare(v, stream(v, ln.var), ln.var) for v in srcs_of[ln.var]]
            args += [declare(ln.var, stream(ln.var, r), r) for r in reads[ln.var]]
            f.line(f"layer_{ln.ident}({', '.join(args)});")
        if names[g.outputs[0]].var == inp.var:  # the output is the input itself
            f.line(f"for (unsigned p = 0; p < {sizes[inp.var] // chans[inp.var]}; p++) y_out.write(x_in.read());")
    return f.render(), fifos


def pixelwise_lowering(node: Node, base: Lowered) -> Lowered:
    """The io_parallel lowering of an activation, sized for one pixel (``n_in``: the channels; softmax: one row)."""
    c = int(node.shape[-1])
    cfg = [f"static const unsigned n_in = {c};" if line.startswith("static const unsigned n_in =")
           else "static const unsigned n_rows = 1;" if line.startswith("static const unsigned n_rows =") else line
           for line in base.config]
    return Lowered(config=cfg, arrays=base.arrays, call=base.call)


def streaming_stages(hw: HWModel, names: dict[str, LayerNames], lowered: dict[str, Lowered]) -> dict[str, str]:
    """Replace, in ``lowered``, the io_parallel lowering of every layer that streams by its streaming stage or its
    pixel-wise call; returns their names, each with ``"stream"`` or ``"pixel"``."""
    g = hw.graph
    chan = {names[n.name].var: int(n.shape[-1]) for n in g if not OPS[n.op].view}
    readers: dict[str, int] = {}
    for n in g:
        if n.op != "input" and lowered[n.name].call is not None:
            for v in dict.fromkeys(names[i].var for i in n.inputs):
                readers[v] = readers.get(v, 0) + 1
    out_var = names[g.outputs[0]].var
    readers[out_var] = readers.get(out_var, 0) + 1
    streamed = {}
    for n in g:
        if not _streamable(n, g, names, chan, readers.get(names[n.name].var, 0)):
            continue
        if n.op in PIXELWISE:
            lowered[n.name], streamed[n.name] = pixelwise_lowering(n, lowered[n.name]), "pixel"
        else:
            lowered[n.name] = stream_lowering(n, [(g[i], names[i]) for i in n.inputs], names[n.name], lowered[n.name])
            streamed[n.name] = "stream"
    return streamed


def fifo_report(fifos: list[Fifo]) -> str:
    """The project's ``fifo_depths.txt``."""
    lines = [
        "# FIFO depths of this io_stream design (generated by nnfpga), in pixels (one element = one pixel).",
        "# Rule, from the schedule of the reader: a reader whose only input is this stream (a streaming stage, which",
        "# takes one pixel per step, or a buffered one, which reads its whole input first) never makes its producer",
        "# wait for anything but itself: depth 2 (one pixel read while the next is written). A stage with n > 1",
        "# inputs reads input 0 in full, then input 1, ...: the producers of inputs 1..n-1 (branches of one fork",
        "# upstream) may write their whole tensor before it reads any, and would stall the fork (a deadlock) if the",
        "# FIFO could not hold it: depth = the tensor's pixels.",
        "# stream\tproducer -> reader\tpixels\tdepth\treason", ""]
    for q in fifos:
        lines.append(f"{q.name}\t{q.producer} -> {q.reader}\tpixels={q.pixels}\tdepth={q.depth}\t{q.reason}")
    return "\n".join(lines) + "\n"
