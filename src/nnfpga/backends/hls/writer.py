"""Write a Vitis HLS project for a typed graph: firmware, layer library, weights, testbench, Tcl.

```
firmware/<project>.cpp/.h   top function (io_parallel arrays or io_stream pixel streams + DATAFLOW)
firmware/defines.h          sizes and one typedef per layer type slot
firmware/parameters.h       one config struct per layer
firmware/weights/*.h        weights and tables as exact constants
firmware/nnfpga/*.h         nnfpga's own layer library
<project>_test.cpp          testbench: tb_data/ inputs -> outputs, compared with the emulator's
tb_data/                    tb_input_features.dat, tb_output_predictions.dat
csim/bridge.cpp             batch entry point for nnfpga's own C simulation (hw.compile)
build_prj.tcl               csim / csynth / cosim / export / Vivado synthesis switches
fifo_depths.txt             io_stream: each FIFO's depth and its reason (stream.py)
```
All files are deterministic functions of the graph and settings.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Any

import jinja2
import numpy as np

from nnfpga.backends.hls.cpp import CppFile, identifier, project_identifier
from nnfpga.backends.hls.fifo import fifo_report
from nnfpga.backends.hls.lower import LOWERINGS, MAX_EXACT_WIDTH, REFUSED, LayerNames, raw_config, raw_ctype
from nnfpga.backends.hls.stream import streaming_stages, top_stream
from nnfpga.errors import BackendSupportError, ConfigError
from nnfpga.fixed import from_float, to_float
from nnfpga.ops import OPS
from nnfpga.ops.base import Plan

if TYPE_CHECKING:
    from nnfpga.ir.graph import Graph
    from nnfpga.model import HWModel

MAX_CSIM_WIDTH = 64
MAX_CONST_WIDTH = 53
TB_SAMPLES = 64
LIBRARY = ("nnfpga_common.h", "nnfpga_dense.h", "nnfpga_activation.h")
# headers written (and included) only for a model that uses the op
OP_LIBRARY = {"conv": "nnfpga_conv.h", **dict.fromkeys(("lstm", "gru", "simple_rnn"), "nnfpga_recurrent.h"),
              **dict.fromkeys(("max_pool", "avg_pool", "zero_pad", "crop", "upsample"), "nnfpga_pool.h")}


def library(graph: Graph, stream: bool = False) -> tuple[str, ...]:
    """The layer library headers the project of ``graph`` includes (``stream``: io_stream)."""
    return (LIBRARY + tuple(dict.fromkeys(OP_LIBRARY[n.op] for n in graph if n.op in OP_LIBRARY))
            + (("nnfpga_stream.h",) if stream else ()))


def producer(graph: Graph, name: str) -> str:
    """The node whose values ``name`` holds: itself, or for a view (flatten, reshape...) the node it views."""
    while OPS[graph[name].op].view:
        name = graph[name].inputs[0]
    return name


def check_widths(graph: Graph, prep: dict[str, Plan] | None = None) -> None:
    """Refuse types the generated C++ (and its C simulation) cannot hold, naming each one: type slots, and the
    exact intermediate value of a merge (``prep``: the graph's plans)."""
    bad = []
    for node in graph:
        for slot, t in node.types.items():
            limit = MAX_CONST_WIDTH if slot in OPS[node.op].const_slots else MAX_CSIM_WIDTH
            if t.width > limit:
                bad.append(f"{node.name}.{slot} = {t} ({t.width} bits > {limit})")
        exact = getattr((prep or {}).get(node.name), "exact", None)
        if exact is not None and exact.width > MAX_EXACT_WIDTH:
            bad.append(f"{node.name}'s exact {node.op} = {exact} ({exact.width} bits > {MAX_EXACT_WIDTH})")
    if bad:
        raise ConfigError("types too wide for the HLS backend: " + "; ".join(bad)
                          + ". Narrow them in the config (an explicit accum, or fewer input/weight bits)")


# constant arrays: <prefix>_<layer>
ARRAY_PREFIXES = ("w", "b", "s", "h", "table", "exp", "fine", "inv", "idx", "rw", "rb", "rtable")
ALL_SLOTS = ("result", "weight", "bias", "accum", "param", "table", "exp_table", "inv_table", "index",
             "recurrent_weight", "state")


def derived_names(ident: str) -> set[str]:
    """Every C++ name (and file name) the generated code derives from a layer's identifier, lower-cased."""
    names = {ident, f"{ident}_out", f"{ident}_out_s", f"{ident}_out_fan", f"config_{ident}", f"layer_{ident}",
             f"fanout_{ident}", f"weights/{ident}.h"}
    names.update(f"{p}_{ident}" for p in ARRAY_PREFIXES)
    names.update(f"{ident}_{slot}_t" for slot in ALL_SLOTS)
    return {n.lower() for n in names}


def layer_names(hw: HWModel) -> dict[str, LayerNames]:
    """C++ names per layer: unique, and no name derived from one layer (variables, types, arrays, config
    structs, weight files, which may differ only in case on some file systems) equals one derived from another
    or the top function's."""
    names: dict[str, LayerNames] = {}
    prj = project_identifier(hw.settings["project_name"])
    used = {n.lower() for n in ("x_in", "x_in_s", "y_out", "input_t", "result_t", "input_pixel_t",
                                  "result_pixel_t", prj)}
    for node in hw.graph:
        if OPS[node.op].view:
            names[node.name] = names[node.inputs[0]]
            continue
        base = identifier(node.name)
        ident, i = base, 1
        while derived_names(ident) & used:
            ident, i = f"{base}_{i}", i + 1
        used.update(derived_names(ident))
        names[node.name] = LayerNames(var="x_in" if node.op == "input" else f"{ident}_out", ident=ident)
    return names


def check_lowered(graph: Graph) -> None:
    """Refuse, naming every one, the layers whose op the HLS backend cannot build yet (``REFUSED``). Called when
    the project is written rather than at conversion, so that such a model still converts and emulates."""
    bad = [f"{n.describe()}: {REFUSED[n.op]}" for n in graph if n.op in REFUSED]
    if bad:
        raise BackendSupportError(f"the HLS backend cannot write {len(bad)} layer(s) of this model: " + "; ".join(bad)
                                  + ". Use hw.predict / hw.trace (the emulator) for them until then")


def hls_files(hw: HWModel, tb_inputs: np.ndarray | None = None) -> dict[str, bytes]:
    check_lowered(hw.graph)
    check_widths(hw.graph)
    g, s = hw.graph, hw.settings
    prj = project_identifier(s["project_name"])
    names = layer_names(hw)
    (inp,) = g.inputs
    (out,) = g.outputs
    n_in, n_out = int(np.prod(g[inp].shape)), int(np.prod(g[out].shape))
    lowered = {n.name: LOWERINGS[n.op](n, [(g[i], names[i]) for i in n.inputs], names[n.name],
                                       hw.interpreter.prep[n.name])
               for n in g if n.op != "input"}
    stream = s["io_type"] == "io_stream"
    streamed = streaming_stages(hw, names, lowered) if stream else set()
    files: dict[str, str] = {}

    # defines.h
    d = CppFile("firmware/defines.h", guard="NNFPGA_DEFINES_H_", comment="Sizes and types (generated by nnfpga).")
    d.include("ap_fixed.h")
    d.include("ap_int.h")
    d.include("nnfpga/nnfpga_common.h")
    if stream:
        d.include("nnfpga/nnfpga_stream.h")
    d.blank()
    d.line(f"#define N_INPUT {n_in}")
    d.line(f"#define N_OUTPUT {n_out}")
    if stream:  # the top function's streams carry pixels of this many values
        d.line(f"#define N_INPUT_CHAN {g[inp].shape[-1]}")
        d.line(f"#define N_OUTPUT_CHAN {g[producer(g, out)].shape[-1]}")
    d.blank()
    for node in g:
        if OPS[node.op].view:
            continue
        ln = names[node.name]
        d.comment(node.describe())
        for slot in OPS[node.op].slots:
            d.line(f"typedef {node.types[slot]} {ln.t(slot)};")
    d.blank()
    d.line(f"typedef {names[inp].t('result')} input_t;")
    d.line(f"typedef {names[out].t('result')} result_t;")
    if stream:
        d.line("typedef nnfpga::pixel<input_t, N_INPUT_CHAN> input_pixel_t;")
        d.line("typedef nnfpga::pixel<result_t, N_OUTPUT_CHAN> result_pixel_t;")
    files[d.path] = d.render()

    # weights/*.h and parameters.h
    p = CppFile("firmware/parameters.h", guard="NNFPGA_PARAMETERS_H_", comment="Layer configurations (generated).")
    p.include("defines.h")
    for h in library(g, stream):
        p.include(f"nnfpga/{h}")
    for node in g:
        low = lowered.get(node.name)
        if low is None or not low.arrays:
            continue
        ln = names[node.name]
        w = CppFile(f"firmware/weights/{ln.ident}.h", guard=f"NNFPGA_W_{ln.ident.upper()}_H_",
                    comment=f"Constants of {node.describe()} (exact values of their types).")
        w.include("../defines.h")
        for _, arr, mant, t in low.arrays:
            w.array(f"static const {raw_ctype(t)} {arr}[{len(mant)}]", [str(int(m)) for m in np.asarray(mant).ravel()],
                    per_line=16)
        files[w.path] = w.render()
        p.include(f"weights/{ln.ident}.h")
    p.blank()
    for node in g:
        low = lowered.get(node.name)
        if low is None or low.call is None:
            continue
        with p.block(f"struct {names[node.name].config}", "};"):
            p.lines(low.config + raw_config(low.arrays))
        p.blank()
    files[p.path] = p.render()

    # top function
    sig = (f"void {prj}(hls::stream<input_pixel_t> &x_in, hls::stream<result_pixel_t> &y_out)" if stream
           else f"void {prj}(input_t x_in[N_INPUT], result_t y_out[N_OUTPUT])")
    h = CppFile(f"firmware/{prj}.h", guard=f"NNFPGA_{prj.upper()}_H_", comment="Top function (generated).")
    h.include("defines.h")
    h.blank()
    h.line(sig + ";")
    files[h.path] = h.render()
    if stream:
        files[f"firmware/{prj}.cpp"], fifos = top_stream(hw, prj, sig, names, lowered, streamed)
        files["fifo_depths.txt"] = fifo_report(fifos)
    else:
        files[f"firmware/{prj}.cpp"] = _top_parallel(hw, prj, sig, names, lowered)

    for lib in library(g, stream):
        files[f"firmware/nnfpga/{lib}"] = resources.files("nnfpga.backends.hls").joinpath("library", lib).read_text()
    files.update(_testbench(hw, prj, names, tb_inputs))
    files["csim/bridge.cpp"] = _bridge(hw, prj, stream)
    files["build_prj.tcl"] = _render("build_prj.tcl.j2", project=prj, part=s["part"],
                                     clock_period=s["clock_period"])
    return {k: v.encode() for k, v in files.items()}


def _top_parallel(hw: HWModel, prj: str, sig: str, names: dict[str, LayerNames], lowered: dict[str, Any]) -> str:
    g = hw.graph
    f = CppFile(f"firmware/{prj}.cpp", comment=f"{prj}: {g.name} (generated by nnfpga, io_parallel).")
    f.include(f"{prj}.h")
    f.include("parameters.h")
    f.blank()
    with f.block(sig):
        f.line("NNFPGA_HLS(ARRAY_PARTITION variable=x_in complete dim=0)")
        f.line("NNFPGA_HLS(ARRAY_PARTITION variable=y_out complete dim=0)")
        f.line("NNFPGA_HLS(INTERFACE ap_vld port=x_in,y_out)")
        f.line("NNFPGA_HLS(PIPELINE)")
        for node in g:
            low = lowered.get(node.name)
            if low is None or low.call is None:
                continue
            ln = names[node.name]
            f.blank()
            f.comment(node.describe())
            f.line(f"{ln.t('result')} {ln.var}[{int(np.prod(node.shape))}];")
            f.line(f"NNFPGA_HLS(ARRAY_PARTITION variable={ln.var} complete dim=0)")
            f.lines(low.call.splitlines())
        last = names[g.outputs[0]]
        f.blank()
        with f.block("for (unsigned i = 0; i < N_OUTPUT; i++)"):
            f.line("NNFPGA_HLS(UNROLL)")
            f.line(f"y_out[i] = {last.var}[i];")
    return f.render()


def _testbench(hw: HWModel, prj: str, names: dict[str, LayerNames], tb_inputs: np.ndarray | None) -> dict[str, str]:
    g = hw.graph
    tin = g[g.inputs[0]].types["result"]
    if tb_inputs is None:  # deterministic inputs spanning the input type's range
        rng = np.random.default_rng(0)
        tb_inputs = rng.uniform(tin.min_value, tin.max_value, size=(TB_SAMPLES, *g[g.inputs[0]].shape))
    x = np.asarray(tb_inputs, dtype=np.float64).reshape(len(tb_inputs), -1)
    xq = to_float(from_float(x, tin)[0], tin)  # exact input values: double -> input_t is then lossless
    y = hw.interpreter.run(xq.reshape(len(x), *g[g.inputs[0]].shape)).outputs[0].reshape(len(x), -1)
    fmt = lambda row: " ".join(repr(float(v)) for v in row)  # noqa: E731 - exact round-trip doubles
    stream = hw.settings["io_type"] == "io_stream"
    f = CppFile(f"{prj}_test.cpp", comment="Testbench: runs tb_data inputs, compares with the emulator bit for bit.")
    for hdr in ("cstdio", "fstream", "sstream", "string", "vector"):
        f.include(hdr, system=True)
    f.include(f"firmware/{prj}.h")
    f.blank()
    with f.block("int main()"):
        f.line('std::ifstream fin("tb_data/tb_input_features.dat"), fpr("tb_data/tb_output_predictions.dat");')
        f.line("std::string lin, lpr;")
        f.line("int n = 0, bad = 0;")
        with f.block("while (std::getline(fin, lin) && std::getline(fpr, lpr))"):
            f.line("std::istringstream sin(lin), spr(lpr);")
            f.line("double v;")
            f.line("result_t y[N_OUTPUT];")
            if stream:
                f.line("hls::stream<input_pixel_t> xs;")
                f.line("hls::stream<result_pixel_t> ys;")
                f.line("input_pixel_t px;")
                with f.block("for (int i = 0; i < N_INPUT; i++)"):
                    f.line("sin >> v;")
                    f.line("px[i % N_INPUT_CHAN] = input_t(v);")
                    f.line("if (i % N_INPUT_CHAN == N_INPUT_CHAN - 1) xs.write(px);")
                f.line(f"{prj}(xs, ys);")
                with f.block("for (int j = 0; j < N_OUTPUT; j += N_OUTPUT_CHAN)"):
                    f.line("const result_pixel_t py = ys.read();")
                    f.line("for (int c = 0; c < N_OUTPUT_CHAN; c++) y[j + c] = py[c];")
            else:
                f.line("input_t x[N_INPUT];")
                with f.block("for (int i = 0; i < N_INPUT; i++)"):
                    f.line("sin >> v;")
                    f.line("x[i] = input_t(v);")
                f.line(f"{prj}(x, y);")
            with f.block("for (int j = 0; j < N_OUTPUT; j++)"):
                f.line("spr >> v;")
                with f.block("if (y[j].to_double() != v)"):
                    f.line('if (bad < 10) std::printf("sample %d output %d: got %.17g expected %.17g\\n", n, j, '
                           "y[j].to_double(), v);")
                    f.line("bad++;")
            f.line("n++;")
        f.line('std::printf("%d samples, %d mismatching outputs\\n", n, bad);')
        f.line("return (bad == 0 && n > 0) ? 0 : 1;")
    return {f.path: f.render(),
            "tb_data/tb_input_features.dat": "\n".join(fmt(r) for r in xq) + "\n",
            "tb_data/tb_output_predictions.dat": "\n".join(fmt(r) for r in y) + "\n"}


def _bridge(hw: HWModel, prj: str, stream: bool) -> str:
    g = hw.graph
    tin, tout = g[g.inputs[0]].types["result"], g[g.outputs[0]].types["result"]
    f = CppFile("csim/bridge.cpp", comment="Batch entry point for nnfpga's C simulation (raw mantissas in and out).")
    f.include(f"../firmware/{prj}.h")
    f.include("../firmware/nnfpga/nnfpga_common.h")
    f.blank()
    with f.block('extern "C" long nnfpga_predict(const long long *x, long long *y, long n)'):
        with f.block("for (long s = 0; s < n; s++)"):
            f.line("result_t out[N_OUTPUT];")
            if stream:
                f.line("hls::stream<input_pixel_t> xs;")
                f.line("hls::stream<result_pixel_t> ys;")
                with f.block("for (int i = 0; i < N_INPUT; i += N_INPUT_CHAN)"):
                    f.line("input_pixel_t px;")
                    with f.block("for (int c = 0; c < N_INPUT_CHAN; c++)"):
                        f.line(f"nnfpga::set_mantissa<input_t, {tin.width}>(px[c], x[s * N_INPUT + i + c]);")
                    f.line("xs.write(px);")
                f.line(f"{prj}(xs, ys);")
                with f.block("for (int j = 0; j < N_OUTPUT; j += N_OUTPUT_CHAN)"):
                    f.line("const result_pixel_t py = ys.read();")
                    f.line("for (int c = 0; c < N_OUTPUT_CHAN; c++) out[j + c] = py[c];")
            else:
                f.line("input_t in[N_INPUT];")
                with f.block("for (int i = 0; i < N_INPUT; i++)"):
                    f.line(f"nnfpga::set_mantissa<input_t, {tin.width}>(in[i], x[s * N_INPUT + i]);")
                f.line(f"{prj}(in, out);")
            with f.block("for (int j = 0; j < N_OUTPUT; j++)"):
                f.line(f"y[s * N_OUTPUT + j] = nnfpga::mantissa<result_t, {tout.width}, "
                       f"{str(tout.signed).lower()}>(out[j]);")
        f.line("return n;")
    return f.render()


def _render(template: str, **context: Any) -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("nnfpga.backends.hls", "templates"),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False,
    )
    return env.get_template(template).render(**context)
