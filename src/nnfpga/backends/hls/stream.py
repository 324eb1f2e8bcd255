"""io_stream: pixel streams between DATAFLOW stages, line-buffered conv/pool, streamed pad/crop/upsample, and the
depth of every FIFO with its reason.

Every stream carries pixels (``nnfpga::pixel<T, C>``, one pixel's channel vector; a vector ``(n,)`` is one pixel of
``n``). A conv, pool, zero-pad, crop or upsample of 1 or 2 spatial axes whose input stream carries its own pixels is
a streaming stage (``library/nnfpga_stream.h``: one pixel accepted per step; with several readers, a ``fanout_``
stage copies each pixel to each); an activation or a merge whose inputs carry its own pixels is a pixel-wise stage
(its io_parallel call on one pixel at a time, each output pixel written to every reader); every other layer is a
buffered stage, which reads its whole input tensor, runs its io_parallel call, and writes its output pixel by
pixel (Flatten -> Dense: the Dense reads the pixels into one vector). FIFO depths: ``fifo.py``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from nnfpga.backends.hls.cpp import CppFile
from nnfpga.backends.hls.fifo import CHAIN_DEPTH, Fifo, Schedule
from nnfpga.backends.hls.lower import INDEX_TYPE, LOWERINGS, Inputs, LayerNames, Lowered, _pixels
from nnfpga.ir.graph import Node
from nnfpga.ops import OPS
from nnfpga.ops.base import Plan

if TYPE_CHECKING:
    from nnfpga.ir.graph import Graph
    from nnfpga.model import HWModel

STREAMED = ("conv", "max_pool", "avg_pool", "zero_pad", "crop", "upsample")
# value by value (softmax: over the last axis; merges: of their inputs' same values), so computed pixel by pixel
# with the io_parallel call on one pixel
MERGES = ("add", "subtract", "multiply", "average", "maximum", "minimum")
PIXELWISE = ("linear", "relu", "leaky_relu", "hard_sigmoid", "hard_tanh", "sigmoid", "tanh", "elu", "softmax", *MERGES)


def geometry(node: Node, in_shape: tuple[int, ...]) -> dict[str, int]:
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
    return {k: int(v) for k, v in vals.items()}


def _geometry(node: Node, in_shape: tuple[int, ...]) -> list[str]:
    return [f"static const unsigned {k} = {v};" for k, v in geometry(node, in_shape).items()]


def read_schedule(node: Node, in_shape: tuple[int, ...], kind: str) -> np.ndarray:
    """Per output pixel k, how many input pixels the stage has read when it writes k (``kind``: "stream", "pixel" or
    "buffered"), as ``nnfpga_stream.h`` runs it."""
    n_in, n_out = int(np.prod(in_shape[:-1])), int(np.prod(node.shape[:-1]))
    if kind == "pixel":
        return np.arange(1, n_out + 1)
    if kind == "buffered" or node.attrs.get("global"):
        return np.full(n_out, n_in)
    if node.op in ("zero_pad", "crop", "upsample"):
        steps, _ = move_steps(node, in_shape)
        reads = np.cumsum(steps & 1)
        return reads[steps // 2 - 2 != -2]
    v = geometry(node, in_shape)
    r, c = np.meshgrid(np.arange(v["padded_h"]), np.arange(v["padded_w"]), indexing="ij")
    real = ((r >= v["pad_top"]) & (r < v["pad_top"] + v["in_h"]) & (c >= v["pad_left"])
            & (c < v["pad_left"] + v["in_w"]))
    r0, c0 = r + 1 - v["ext_h"], c + 1 - v["ext_w"]
    emits = ((r0 >= 0) & (c0 >= 0) & (r0 % v["stride_h"] == 0) & (c0 % v["stride_w"] == 0)
             & (r0 // v["stride_h"] < v["out_h"]) & (c0 // v["stride_w"] < v["out_w"]))
    return np.cumsum(real.ravel())[emits.ravel()]


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


def _streamable(node: Node, g: Graph, names: dict[str, LayerNames], chan: dict[str, int]) -> bool:
    """Whether ``node`` is a streaming or pixel-wise stage (``chan``: the pixel width of each stream variable)."""
    if node.op not in STREAMED + PIXELWISE or (len(node.inputs) != 1 and node.op not in MERGES):
        return False
    in_shape = tuple(g[node.inputs[0]].shape)
    if node.op in PIXELWISE:  # the producers' pixels are this layer's
        return all(chan[names[i].var] == g[i].shape[-1] == node.shape[-1] and g[i].shape == node.shape
                   for i in node.inputs)
    if len(in_shape) not in (2, 3) or chan[names[node.inputs[0]].var] != in_shape[-1]:
        return False  # not 1D/2D, or the producer's pixels are not this layer's (a Reshape between them)
    if node.op == "conv":
        return len(np.shape(node.weights["kernel"])) in (3, 4)
    return True


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
    kinds = {names[n.name].var: streamed.get(n.name, "buffered") for n in layers}
    sched = Schedule(inp.var, srcs_of, kinds, {names[n.name].var: read_schedule(n, tuple(g[n.inputs[0]].shape),
                                                                                kinds[names[n.name].var])
                                               for n in layers if kinds[names[n.name].var] == "stream"},
                     {v: sizes[v] // chans[v] for v in sizes})

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
        if node.name in streamed and streamed[node.name] == "stream":
            f.comment(f"{node.describe()}: streaming (one pixel per step)")
            params = f"hls::stream<{ptype[srcs[0]]}> &in_s, hls::stream<{ptype[ln.var]}> &out_s"
            with f.block(f"static void layer_{ln.ident}({params})"):
                f.lines(lowered[node.name].call.splitlines())
            f.blank()
            if n_out > 1:  # its own stage copies each pixel to every reader
                outs = ", ".join(f"hls::stream<{ptype[ln.var]}> &out{j}_s" for j in range(n_out))
                with f.block(f"static void fanout_{ln.ident}(hls::stream<{ptype[ln.var]}> &in_s, {outs})"):
                    with f.block(f"for (unsigned p = 0; p < {sizes[ln.var] // chans[ln.var]}; p++)"):
                        f.line("NNFPGA_HLS(PIPELINE)")
                        f.line(f"const {ptype[ln.var]} px = in_s.read();")
                        for j in range(n_out):
                            f.line(f"out{j}_s.write(px);")
                f.blank()
            continue
        if node.name in streamed:
            f.comment(f"{node.describe()}: pixel-wise (one pixel per step)")
            outs = ["out_s"] if n_out == 1 else [f"out{j}_s" for j in range(n_out)]
            params = [f"hls::stream<{ptype[v]}> &{v}_s" for v in srcs] + [f"hls::stream<{ptype[ln.var]}> &{o}"
                                                                          for o in outs]
            with f.block(f"static void layer_{ln.ident}({', '.join(params)})"):
                with f.block(f"for (unsigned p = 0; p < {sizes[ln.var] // chans[ln.var]}; p++)"):
                    f.line("NNFPGA_HLS(PIPELINE)")
                    for v in srcs:
                        f.line(f"{types[v]} {v}[{chans[v]}];")
                        with f.block(""):
                            f.line(f"const {ptype[v]} a = {v}_s.read();")
                            f.line(f"for (unsigned c = 0; c < {chans[v]}; c++) {v}[c] = a[c];")
                    f.line(f"{types[ln.var]} {ln.var}[{chans[ln.var]}];")
                    f.lines(lowered[node.name].call.splitlines())
                    f.line(f"{ptype[ln.var]} px;")
                    f.line(f"for (unsigned c = 0; c < {chans[ln.var]}; c++) px[c] = {ln.var}[c];")
                    for o in outs:
                        f.line(f"{o}.write(px);")
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
                pixels = sizes[var] // chans[var]
                depth, reason = sched.depth(var, reader) if reader != "fanout" else (
                    CHAIN_DEPTH, f"depth {CHAIN_DEPTH}: its one reader, the fan-out copy, takes each pixel as it comes")
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
            outs = [declare(ln.var, stream(ln.var, r), r) for r in reads[ln.var]]
            if streamed.get(node.name) == "stream" and len(outs) > 1:
                fan = declare(ln.var, f"{ln.var}_fan", "fanout")
                f.line(f"layer_{ln.ident}({', '.join(args)}, {fan});")
                f.line(f"fanout_{ln.ident}({fan}, {', '.join(outs)});")
            else:
                f.line(f"layer_{ln.ident}({', '.join([*args, *outs])});")
        if names[g.outputs[0]].var == inp.var:  # the output is the input itself
            f.line(f"for (unsigned p = 0; p < {sizes[inp.var] // chans[inp.var]}; p++) y_out.write(x_in.read());")
    return f.render(), fifos


def pixelwise_lowering(node: Node, ins: Inputs, dst: LayerNames, base: Lowered, prep: Plan) -> Lowered:
    """The io_parallel lowering of an activation or a merge, sized for one pixel (``n_in``: the channels; softmax:
    one row; a merge: its loop over one pixel)."""
    c = int(node.shape[-1])
    if node.op in MERGES:
        return LOWERINGS[node.op](replace(node, shape=(c,)), ins, dst, prep)
    cfg = [f"static const unsigned n_in = {c};" if line.startswith("static const unsigned n_in =")
           else "static const unsigned n_rows = 1;" if line.startswith("static const unsigned n_rows =") else line
           for line in base.config]
    return Lowered(config=cfg, arrays=base.arrays, call=base.call)


def streaming_stages(hw: HWModel, names: dict[str, LayerNames], lowered: dict[str, Lowered]) -> dict[str, str]:
    """Replace, in ``lowered``, the io_parallel lowering of every layer that streams by its streaming stage or its
    pixel-wise call; returns their names, each with ``"stream"`` or ``"pixel"``."""
    g = hw.graph
    chan = {names[n.name].var: int(n.shape[-1]) for n in g if not OPS[n.op].view}
    streamed = {}
    for n in g:
        if not _streamable(n, g, names, chan):
            continue
        ins = [(g[i], names[i]) for i in n.inputs]
        if n.op in PIXELWISE:
            lowered[n.name] = pixelwise_lowering(n, ins, names[n.name], lowered[n.name], hw.interpreter.prep[n.name])
            streamed[n.name] = "pixel"
        else:
            lowered[n.name] = stream_lowering(n, ins, names[n.name], lowered[n.name])
            streamed[n.name] = "stream"
    return streamed
