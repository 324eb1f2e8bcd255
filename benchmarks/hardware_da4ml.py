"""The jet MLP's Dense/ReLU layers through da4ml 0.6 (distributed arithmetic), combinational or pipelined to a
given latency, and the same Yosys flow as nnfpga's rows (``synth.yosys_script``: ``synth_xilinx -family xc7 -flatten``,
its coarse step without alumacc; LUT, FF, DSP).

What da4ml's pipelining means (read from da4ml 0.6.0's ``trace/pipeline.py``, ``trace/fixed_variable.py`` and
``codegen/rtl``): every op of the traced graph carries a ``latency``, the depth of its output in da4ml's delay
units. With the tracer's default hardware config (``HWConfig(1, -1, -1)``: adder_size 1, no carry model, what
``FixedVariableArray.from_kif`` uses) one two-input adder/subtractor is 1 unit whatever its width, and ReLU,
quantize, shifts and negations are 0: the unit is *one adder level*. ``to_pipeline(comb, latency_cutoff)`` puts
an op in stage ``floor(latency / cutoff)`` (registers copy values that skip stages), so ``ceil(D / cutoff)``
stages for an adder depth ``D``; then it retimes (bisects the cutoff for the most balanced split with no more
stages). ``VerilogModel(comb, ..., latency_cutoff=c)`` does exactly this; its ``metadata.json`` ``latency`` is
the number of stages ``S``. Its top module registers the input (``stage0_inp <= model_inp``), the input of every
further stage and the output (``model_out <= stage{S-1}_out``), so a result appears ``S + 1`` rising edges after
its input (da4ml's own Verilator binder also reads the output ``S + 1`` clocks after it writes the input).

nnfpga counts latency as rising edges from ``in_data`` to ``out_data`` (its input is not registered). So "da4ml
pipelined to latency L" here is its unmodified netlist with ``S = L - 1`` stages: the same rising edges, one
register layer more at the input and one logic stage fewer. The stage count is found by bisecting the cutoff
(the count falls as the cutoff grows) and checked against ``metadata.json``. ``S`` cannot pass ``D`` (one adder
per stage); a deeper request gets ``D`` stages and the report states the latency reached.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import nnfpga
from nnfpga import tools
from nnfpga.backends.rtl import synth
from nnfpga.errors import ConfigError
from nnfpga.reports import HardwareReport

DA4ML_TIMEOUT_S = 900  # 8-bit unpruned: 290-370 s here with another job on the 2 cores (16-bit: > 7 min)


def da4ml_version() -> str | None:
    try:
        import da4ml
    except ImportError:
        return None
    return getattr(da4ml, "__version__", "?")


def da4ml_trace(hw: nnfpga.HWModel) -> Any:
    """The Dense/ReLU layers of ``hw`` (its quantized weights and types, up to the first other layer: the
    softmax is left out, da4ml would need lookup tables) traced through da4ml: its ``CombLogic``."""
    from da4ml.trace import FixedVariableArray, comb_trace

    g = hw.graph
    prep = hw.interpreter.prep

    def kif(t: Any) -> tuple[int, int, int]:
        return int(t.signed), t.integer - int(t.signed), t.width - t.integer

    tin = g[g.inputs[0]].types["result"]
    k, i, f = kif(tin)
    n_in = int(np.prod(g[g.inputs[0]].shape))
    inp = FixedVariableArray.from_kif(np.full(n_in, k), np.full(n_in, i), np.full(n_in, f))
    x, tx = inp, tin
    for node in g:
        t = node.types.get("result")
        if node.op == "dense":
            p = prep[node.name]
            in_frac = tx.width - tx.integer
            w = np.asarray(p.wm, dtype=np.float64) * 2.0 ** -(p.fp - in_frac)
            b = np.asarray(p.b_acc, dtype=np.float64) * 2.0 ** -p.fp
            x = (x @ w) + b
            x = x.quantize(*[np.full(node.shape[0], v) for v in kif(t)], overflow_mode="WRAP", round_mode="TRN")
        elif node.op == "relu":
            _, i, f = kif(t)
            x = x.relu(i=np.full(node.shape[0], i), f=np.full(node.shape[0], f))
        elif node.op == "input":
            continue
        else:
            break
        tx = t
    return comb_trace(inp, x)


def adder_depth(comb: Any) -> int:
    """The deepest output of ``comb`` in da4ml's delay units (adder levels): the most stages it can take."""
    return int(np.ceil(max(comb.out_latency)))


def pipeline_to(comb: Any, stages: int) -> tuple[Any, float]:
    """da4ml's pipeline of ``comb`` with exactly ``stages`` stages (1 <= stages <= :func:`adder_depth`) and the
    latency cutoff that gives it, found by bisection on the cutoff."""
    from da4ml.trace.pipeline import to_pipeline

    depth = adder_depth(comb)
    if not 1 <= stages <= depth:
        raise ConfigError(f"da4ml can split this netlist (adder depth {depth}) into 1 to {depth} stages, "
                          f"not {stages}")

    def count(cutoff: float) -> tuple[int, Any]:
        pipe = to_pipeline(comb, cutoff, verbose=False)
        return len(pipe.solutions), pipe

    lo, hi = depth / (stages + 1), depth / max(stages - 1, 0.5)  # ceil(D / c) stages before retiming
    cutoff = depth / stages
    n, pipe = count(cutoff)
    for _ in range(60):
        if n == stages:
            return pipe, cutoff
        lo, hi = (cutoff, hi) if n > stages else (lo, cutoff)
        cutoff = (lo + hi) / 2
        n, pipe = count(cutoff)
    raise ConfigError(f"no da4ml latency cutoff in [{lo:g}, {hi:g}] gives {stages} stages (last: {n})")


def da4ml_verilog(hw: nnfpga.HWModel, out: Path, latency: int | None = None) -> tuple[str, list[Path], dict]:
    """Write ``hw``'s Dense/ReLU layers as da4ml Verilog under ``out``: combinational (``latency=None``) or
    pipelined so that a result takes ``latency`` rising edges (``latency - 1`` stages, see the module doc).
    Returns (top module, source files, da4ml's metadata.json plus ``stages``, ``adder_depth`` and ``cycles``)."""
    from da4ml.codegen import VerilogModel

    comb = da4ml_trace(hw)
    name = f"{hw.settings['project_name']}_da"
    period = float(hw.settings["clock_period"])
    if latency is None:
        VerilogModel(comb, name, out, print_latency=False, clock_period=period).write()
    else:
        if latency < 2:
            raise ConfigError(f"da4ml's pipelined top registers its input and its output: latency >= 2, "
                              f"not {latency}")
        stages = min(latency - 1, adder_depth(comb))
        pipe, _ = pipeline_to(comb, stages)
        VerilogModel(pipe, name, out, print_latency=False, clock_period=period).write()
    meta = json.loads((out / "metadata.json").read_text())
    meta["adder_depth"] = adder_depth(comb)
    meta["stages"] = int(meta.get("latency", 0))
    meta["cycles"] = meta["stages"] + 1 if latency is not None else 0
    if latency is not None and meta["stages"] != stages:
        raise ConfigError(f"da4ml wrote {meta['stages']} stages, {stages} were asked for")
    files = [p for p in sorted((out / "src").glob("*.v")) if p.name != f"{name}_wrapper.v"]
    files += [p for p in sorted((out / "src" / "static").glob("*.v")) if p.name != "lookup_table.v"]
    return name, files, meta


def da4ml_synth(hw: nnfpga.HWModel, latency: int | None = None, *,
                timeout_s: float = DA4ML_TIMEOUT_S) -> HardwareReport:
    """Yosys (nnfpga's xc7 flow) of :func:`da4ml_verilog` (combinational, or pipelined to
    ``latency`` rising edges, nnfpga's convention): LUT, FF (every register of the pipeline, input and output
    registers included), DSP, carry cells and the synthesis seconds in ``extra``, with da4ml's stages, cutoff
    and adder depth. ``latency_cycles`` is the latency reached (below ``latency`` only where the netlist has
    fewer adder levels than that)."""
    with tempfile.TemporaryDirectory(prefix="nnfpga-da4ml-") as tmp:
        work = Path(tmp)
        top, files, meta = da4ml_verilog(hw, work / "prj", latency)
        (work / "synth.ys").write_text(synth.yosys_script(top, "xc7", [str(p) for p in files], sv=True))
        secs = tools.run([tools.find("yosys"), "-q", "-l", "yosys.log", "-s", "synth.ys"], cwd=work,
                         log=work / "yosys.out", timeout_s=timeout_s, progress=True,
                         desc="yosys xc7 da4ml").seconds
        res = synth.resources_from_cells(synth.cell_counts(json.loads((work / "stat.json").read_text())))
        res["extra"]["synth_s"] = round(secs, 2)
        for k in ("stages", "adder_depth", "latency_cutoff", "reg_bits"):
            if k in meta:
                res["extra"][f"da4ml_{k}"] = meta[k]
        return HardwareReport(tool="da4ml 0.6 + yosys", target="xc7", clock_period_ns=hw.settings["clock_period"],
                              latency_cycles=meta["cycles"], ii=1, **res)
