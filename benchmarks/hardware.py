"""Hardware cost of the jet-tagging MLP (16-64-32-32-5 + softmax) through the Verilog backend and Yosys.

Rows: precision ap_fixed<16,6> / <8,3> / <6,2> (every layer, ``granularity="name"``), 0 % and 75 % of each
Dense kernel pruned (smallest magnitudes set to zero in the Keras model), ReuseFactor 1, 2 and 4; and the
issue's Fmax check, one 16x8 8-bit layer placed and routed on ECP5.
Columns: Yosys ``synth_xilinx -family xc7 -flatten`` cell counts (LUT = LUT1..6, FF, DSP48E1, CARRY4), the
design's latency (cycles and ns at the project clock) and II, and Fmax from nextpnr-ecp5 place and route
where the design fits an LFE5U-85F (156 MULT18X18D; the notes measured ECP5 synthesis of the full MLP at
26 min, so only designs with few multipliers are tried).
With da4ml 0.6 installed, the same quantized weights also go through da4ml (distributed arithmetic: one
shift-add graph per layer, combinational; the four Dense layers without the softmax) and the same Yosys
flow, side by side.

Each result is cached in ``benchmarks/.hardware-cache/<row>.json`` so that a rerun only does what is missing
(``--fresh`` to redo all).   Run: .venv/bin/python benchmarks/hardware.py [--quick] [--fresh]
(``--quick``: 8-bit only). Then the CNN rows (``benchmarks/hardware_cnn.py``; alone: ``hardware.py cnn``). The LSTM
rows: ``hardware.py lstm`` (``benchmarks/hardware_lstm.py``).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")

import nnfpga
from nnfpga import tools
from nnfpga.backends.rtl import synth
from nnfpga.backends.rtl.lower import DEFAULT_ADDERS_PER_STAGE, build_design
from nnfpga.examples import load_example, prune_dense
from nnfpga.model import format_table
from nnfpga.reports import HardwareReport

PRECISIONS = {16: "ap_fixed<16,6>", 8: "ap_fixed<8,3>", 6: "ap_fixed<6,2>"}
PRUNING = (0.0, 0.75)
# (ReuseFactor, adders between registers inside a layer): the default pipelining, the adder graphs with only a
# register per layer (the latency closest to da4ml's combinational netlist), and time-multiplexed multipliers
VARIANTS = ((1, DEFAULT_ADDERS_PER_STAGE), (1, None), (2, DEFAULT_ADDERS_PER_STAGE), (4, DEFAULT_ADDERS_PER_STAGE))
VERSION = "v4"  # of the Verilog lowering: cached nnfpga rows of an older lowering are not reused
ECP5_MAX_DSP = 120  # try ECP5 P&R only below this many xc7 DSPs (the 85k has 156 MULT18X18D)
ECP5_MAX_LUT = 20_000
DA4ML_TIMEOUT_S = 420  # the 16-bit unpruned da4ml netlist was still in yosys after 7 min here
CACHE = Path(__file__).with_name(".hardware-cache")


def cached(key: str, fn) -> HardwareReport | str:
    """The report (or the reason there is none) of ``key``, computed once."""
    path = CACHE / f"{key}.json"
    if path.is_file():
        data = json.loads(path.read_text())
        return data["error"] if "error" in data else HardwareReport.from_dict(data)
    t = time.perf_counter()
    try:
        r = fn()
    except nnfpga.NnfpgaError as exc:  # ToolError, ToolNotFoundError: a row says why
        r = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    CACHE.mkdir(exist_ok=True)
    path.write_text(json.dumps({"error": r}) if isinstance(r, str) else r.to_json())
    print(f"  {key}: {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
    return r


# -- da4ml ----------------------------------------------------------------------------------------------------
def da4ml_version() -> str | None:
    try:
        import da4ml
    except ImportError:
        return None
    return getattr(da4ml, "__version__", "?")


def da4ml_verilog(hw: nnfpga.HWModel, out: Path) -> tuple[str, list[Path]]:
    """The Dense/ReLU layers of ``hw`` (its quantized weights and types) traced through da4ml and written as
    combinational Verilog; returns (top module, source files)."""
    from da4ml.codegen import VerilogModel
    from da4ml.trace import FixedVariableArray, comb_trace

    g = hw.graph
    prep = hw.interpreter.prep

    def kif(t):
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
            w = np.asarray(p["wm"], dtype=np.float64) * 2.0 ** -(p["fp"] - in_frac)
            b = np.asarray(p["b_acc"], dtype=np.float64) * 2.0 ** -p["fp"]
            x = (x @ w) + b
            x = x.quantize(*[np.full(node.shape[0], v) for v in kif(t)], overflow_mode="WRAP", round_mode="TRN")
        elif node.op == "relu":
            _, i, f = kif(t)
            x = x.relu(i=np.full(node.shape[0], i), f=np.full(node.shape[0], f))
        elif node.op == "input":
            continue
        else:  # softmax: left out (da4ml would need lookup tables)
            break
        tx = t
    comb = comb_trace(inp, x)
    name = f"{hw.settings['project_name']}_da"
    VerilogModel(comb, name, out, print_latency=False).write()
    files = [out / "src" / f"{name}.v"]
    files += [p for p in sorted((out / "src" / "static").glob("*.v")) if p.name != "lookup_table.v"]
    return name, files


def da4ml_synth(hw: nnfpga.HWModel) -> HardwareReport:
    with tempfile.TemporaryDirectory(prefix="nnfpga-da4ml-") as tmp:
        work = Path(tmp)
        top, files = da4ml_verilog(hw, work / "prj")
        script = "".join(f"read_verilog -sv {p}\n" for p in files)
        script += (f"hierarchy -check -top {top}\nsynth_xilinx -family xc7 -flatten -top {top}\n"
                   "tee -q -o stat.json stat -json\n")
        (work / "synth.ys").write_text(script)
        secs = tools.run([tools.find("yosys"), "-q", "-l", "yosys.log", "-s", "synth.ys"], cwd=work,
                         log=work / "yosys.out", timeout_s=DA4ML_TIMEOUT_S, progress=True,
                         desc="yosys xc7 da4ml").seconds
        res = synth.resources_from_cells(synth.cell_counts(json.loads((work / "stat.json").read_text())))
        res["extra"]["synth_s"] = round(secs, 2)
        return HardwareReport(tool="da4ml 0.6 + yosys", target="xc7", clock_period_ns=hw.settings["clock_period"],
                              latency_cycles=0, ii=1, **res)


# -- table ----------------------------------------------------------------------------------------------------
def cost(r: HardwareReport) -> int:
    return r.lut + 55 * r.dsp


def dense8_fmax() -> list[tuple[str, ...]]:
    """The issue's Fmax target: one 16x8 8-bit Dense+ReLU layer with the default pipelining, ECP5 P&R."""
    import keras

    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(8, activation="relu", name="fc")], name="d8")
    cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision="ap_fixed<8,3>")
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog", project_name="dense8",
                                         output_dir=tempfile.mkdtemp(prefix="nnfpga-bench-"))
    r = cached(f"{VERSION}_dense8_ecp5", lambda: hw.synthesize("ecp5", save=False))
    if isinstance(r, str):
        return [("nnfpga 16x8 8-bit layer (ECP5)", r, "", "", "", "", "", "", "", "", "")]
    return [("nnfpga 16x8 8-bit layer (ECP5)", str(r.lut), str(r.ff), str(r.dsp), "", "", f"{r.fmax_mhz:.1f}",
             f"{r.latency_cycles} / {r.latency_ns:g}", str(r.ii), f"{r.extra.get('synth_s', 0):.0f}", "")]


def main() -> None:
    if sys.argv[1:2] == ["cnn"]:  # the CNN rows only (benchmarks/hardware_cnn.py)
        import hardware_cnn

        hardware_cnn.main(sys.argv[2:])
        return
    if sys.argv[1:2] == ["lstm"]:  # the LSTM rows only (benchmarks/hardware_lstm.py)
        import hardware_lstm

        hardware_lstm.main(sys.argv[2:], cached)
        return
    import argparse

    ap = argparse.ArgumentParser(prog="hardware.py", description="Yosys/nextpnr figures of nnfpga's Verilog beside "
                                 "the peers'; 'hardware.py cnn --help' and 'hardware.py lstm --help' for the CNN "
                                 "and LSTM rows.")
    ap.add_argument("--quick", action="store_true", help="the 8-bit rows only")
    ap.add_argument("--fresh", action="store_true", help="redo every row even where a cached result exists")
    args = ap.parse_args(sys.argv[1:])
    quick, fresh = args.quick, args.fresh
    if fresh and CACHE.is_dir():
        for p in CACHE.glob("*.json"):
            p.unlink()
    bits_list = (8,) if quick else tuple(PRECISIONS)
    da_version = da4ml_version()
    rows = [("design", "LUT", "FF", "DSP", "carry", "LUT+55*DSP", "Fmax ECP5 [MHz]", "latency [cyc / ns]", "II",
             "synth [s]", "cost / da4ml")]
    notes = []
    for bits in bits_list:
        for frac in PRUNING:
            model, _, _ = load_example()
            prune_dense(model, frac)
            base = None
            key0 = f"jet{bits}_p{int(frac * 100)}"
            if da_version is not None:
                cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision=PRECISIONS[bits])
                hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog", project_name="jet",
                                                     output_dir=tempfile.mkdtemp(prefix="nnfpga-bench-"))
                d = cached(f"{key0}_da4ml_xc7", lambda hw=hw: da4ml_synth(hw))
                dlabel = f"da4ml {bits}-bit, {int(frac * 100)}% pruned"
                if isinstance(d, str):
                    rows.append((dlabel, d.splitlines()[0][:60], *[""] * 9))
                else:
                    base = cost(d)
                    rows.append((dlabel, str(d.lut), str(d.ff), str(d.dsp), str(int(d.extra.get("carry", 0))),
                                 str(base), "-", "0 (comb.)", "1", f"{d.extra.get('synth_s', 0):.0f}", "1.00"))
            for rf, per_stage in VARIANTS:
                if per_stage is None and bits == 16:
                    continue  # 8-9 min of synthesis each; the 8- and 6-bit rows show the comparison
                cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision=PRECISIONS[bits],
                                                     default_reuse_factor=rf)
                hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog", project_name="jet",
                                                     output_dir=tempfile.mkdtemp(prefix="nnfpga-bench-"))
                design = build_design(hw.graph, "jet", prep=hw.interpreter.prep, adders_per_stage=per_stage)
                key = f"{VERSION}_{key0}_rf{rf}" + ("_comb" if per_stage is None else "")
                r = cached(f"{key}_xc7", lambda hw=hw, d=design: hw.synthesize("xc7", save=False, design=d))
                label = f"nnfpga {bits}-bit, {int(frac * 100)}% pruned, RF {rf}" + (
                    ", 1 register per layer" if per_stage is None else "")
                if isinstance(r, str):
                    rows.append((label, r.splitlines()[0][:60], *[""] * 9))
                    continue
                if per_stage is None:
                    fmax = "-"  # one register per layer: not the configuration to clock fast
                elif r.dsp <= ECP5_MAX_DSP and r.lut <= ECP5_MAX_LUT:
                    e = cached(f"{key}_ecp5", lambda hw=hw, d=design: hw.synthesize("ecp5", save=False, design=d))
                    fmax = e if isinstance(e, str) else f"{e.fmax_mhz:.1f}"
                    if isinstance(e, str):
                        notes.append(f"{label} ECP5: {e}")
                        fmax = "failed (note)"
                else:
                    fmax = f"n/a ({r.dsp} DSP / {r.lut} LUT)"
                ratio = f"{cost(r) / base:.2f}" if base else "-"
                rows.append((label, str(r.lut), str(r.ff), str(r.dsp), str(int(r.extra.get("carry", 0))),
                             str(cost(r)), fmax, f"{r.latency_cycles} / {r.latency_ns:g}", str(r.ii),
                             f"{r.extra.get('synth_s', 0):.0f}", ratio))
    rows += dense8_fmax()
    print(f"jet MLP 16-64-32-32-5 (+softmax); {tools.version(tools.find('yosys'), '-V')} synth_xilinx -family xc7 "
          f"-flatten; clock 5 ns. RF 1: shared-subexpression adder graphs, a register after every "
          f"{DEFAULT_ADDERS_PER_STAGE} adder(s) (or only per layer); "
          f"RF > 1: time-multiplexed multipliers with weight ROMs (II = RF)")
    print(format_table(rows))
    if da_version is None:
        print("da4ml: not installed (pip install da4ml==0.6.0) - no side-by-side rows")
    else:
        print(f"da4ml {da_version}: the four Dense+ReLU layers without the softmax, combinational (no registers)")
    for n in notes:
        print(n)
    print()
    import hardware_cnn  # the CNN rows (cached; slow cases time out: see its doc)

    hardware_cnn.main(["--fresh"] if fresh else [])


if __name__ == "__main__":
    main()
