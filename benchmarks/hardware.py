"""Hardware cost of the jet-tagging MLP (16-64-32-32-5 + softmax) through the Verilog backend and Yosys.

Rows: precision ap_fixed<16,6> / <8,3> / <6,2> (every layer, ``granularity="name"``), 0 % and 75 % of each
Dense kernel pruned (smallest magnitudes set to zero in the Keras model), ReuseFactor 1, 2 and 4, built for
``--clock-period`` (ns, default 5: the converter's ``clock_period``); and the issue's Fmax check, one 16x8 8-bit
layer placed and routed on ECP5.
Columns: the design's latency in clock cycles and in ns (cycles x clock period) and II; Yosys
``synth_xilinx -family xc7 -flatten`` cell counts (LUT = LUT1..6, FF, DSP48E1, CARRY4); the cost LUT+55*DSP and,
so that registers are not free, LUT+FF/2+55*DSP; Fmax from nextpnr-ecp5 place and route where the design fits
an LFE5U-85F (156 MULT18X18D; the notes measured ECP5 synthesis of the full MLP at 26 min, so only designs with
few multipliers are tried).
With da4ml 0.6 installed, the same quantized weights also go through da4ml (``hardware_da4ml.py``: distributed
arithmetic, the four Dense+ReLU layers without the softmax) and the same Yosys flow: combinational, and
pipelined to each II = 1 nnfpga row's latency (same rising edges from input to output, same clock); the last
column is the nnfpga row's LUT+FF/2+55*DSP over that da4ml row's. hls4ml's published rows (the tutorial, Vitis,
200 MHz: part 1 and part 4) are printed beside, FF unpublished ("-").

Each result is cached in ``benchmarks/.hardware-cache/<row>.json`` (keys: precision, pruning, ReuseFactor,
pipelining, clock period, latency) so that a rerun only does what is missing (``--fresh`` to redo all).
Run: .venv/bin/python benchmarks/hardware.py [--quick] [--fresh] [--clock-period NS] [--no-cnn]
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

os.environ.setdefault("KERAS_BACKEND", "torch")

from hardware_da4ml import da4ml_synth, da4ml_version

import nnfpga
from nnfpga import tools
from nnfpga.backends.rtl.lower import DEFAULT_ADDERS_PER_STAGE
from nnfpga.examples import load_example, prune_dense
from nnfpga.model import format_table
from nnfpga.reports import HardwareReport

PRECISIONS = {16: "ap_fixed<16,6>", 8: "ap_fixed<8,3>", 6: "ap_fixed<6,2>"}
PRUNING = (0.0, 0.75)
DEFAULT = "default"  # the backend's own register placement (no AddersPerStage in the config)
# (ReuseFactor, AddersPerStage): the default pipelining, the adder graphs with only a register per layer
# (AddersPerStage null: the latency closest to da4ml's combinational netlist), and time-multiplexed multipliers
VARIANTS: tuple[tuple[int, int | str | None], ...] = ((1, DEFAULT), (1, None), (2, DEFAULT), (4, DEFAULT))
VERSION = "v6"  # of the Verilog lowering and synthesis script: cached nnfpga rows of an older lowering are not reused
SCRIPT = "s2"  # of the Yosys script alone (synth.yosys_script): cached da4ml rows of an older one are not reused
ECP5_MAX_DSP = 120  # try ECP5 P&R only below this many xc7 DSPs (the 85k has 156 MULT18X18D)
ECP5_MAX_LUT = 20_000
CACHE = Path(__file__).with_name(".hardware-cache")
# hls4ml's published jet-MLP figures (the hls4ml tutorial, Vitis HLS, 5 ns clock, RF 1), as issue 16 quotes
# them: bits -> (label, latency cycles, LUT, DSP); FF not published
HLS4ML_PUBLISHED = {
    16: ("hls4ml tutorial part 1 (ap_fixed<16,6>, RF 1)", 14, 101_839, 1_502),
    6: ("hls4ml tutorial part 4 (QKeras 6-bit, 75% pruned, RF 1)", 12, 42_160, 34),
}
HLS4ML_CLOCK_NS = 5.0
HEADER = ("design", "latency [cyc]", "latency [ns]", "II", "LUT", "FF", "DSP", "carry", "LUT+55*DSP",
          "LUT+FF/2+55*DSP", "Fmax ECP5 [MHz]", "synth [s]", "vs da4ml same lat.")


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


# -- table ----------------------------------------------------------------------------------------------------
def cost(r: HardwareReport) -> int:
    """LUT + 55 * DSP (a DSP48 counted as the LUTs of the multiplier it replaces)."""
    return (r.lut or 0) + 55 * (r.dsp or 0)


def cost_ff(r: HardwareReport) -> float:
    """LUT + FF / 2 + 55 * DSP: registers are not free (two flip-flops per slice LUT)."""
    return cost(r) + (r.ff or 0) / 2


def row(label: str, r: HardwareReport | str, fmax: str = "-", ratio: str = "-") -> tuple[str, ...]:
    if isinstance(r, str):
        return (label, r.splitlines()[0][:60], *[""] * (len(HEADER) - 2))
    lat = r.latency_cycles
    comb = "0 (comb.)" if lat == 0 else str(lat)
    ns = f"{r.latency_ns:g}" if r.latency_ns is not None else "-"
    return (label, comb, ns, str(r.ii), str(r.lut), str(r.ff), str(r.dsp), str(int(r.extra.get("carry", 0))),
            str(cost(r)), f"{cost_ff(r):.0f}", fmax, f"{r.extra.get('synth_s', 0):.0f}", ratio)


def published_row(bits: int) -> tuple[str, ...]:
    label, cycles, lut, dsp = HLS4ML_PUBLISHED[bits]
    return (label, str(cycles), f"{cycles * HLS4ML_CLOCK_NS:g}", "1", str(lut), "-", str(dsp), "-",
            str(lut + 55 * dsp), "-", "-", "-", "-")


def dense8_fmax(clock_period: float) -> list[tuple[str, ...]]:
    """The issue's Fmax target: one 16x8 8-bit Dense+ReLU layer with the default pipelining, ECP5 P&R."""
    import keras

    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(8, activation="relu", name="fc")], name="d8")
    cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision="ap_fixed<8,3>")
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog", project_name="dense8",
                                         output_dir=tempfile.mkdtemp(prefix="nnfpga-bench-"),
                                         clock_period=clock_period)
    r = cached(f"{VERSION}_dense8_cp{clock_period:g}_ecp5", lambda: hw.synthesize("ecp5", save=False))
    fmax = "-" if isinstance(r, str) or r.fmax_mhz is None else f"{r.fmax_mhz:.1f}"
    return [row("nnfpga 16x8 8-bit layer (ECP5)", r, fmax)]


def jet_hw(model, bits: int, rf: int, adders: int | str | None, clock_period: float) -> nnfpga.HWModel:
    """The jet MLP at ``bits`` bits, ReuseFactor ``rf``, AddersPerStage ``adders`` (DEFAULT: not set)."""
    cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision=PRECISIONS[bits],
                                         default_reuse_factor=rf)
    if adders != DEFAULT:
        cfg["Model"]["AddersPerStage"] = adders
    return nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog", project_name="jet",
                                           output_dir=tempfile.mkdtemp(prefix="nnfpga-bench-"),
                                           clock_period=clock_period)


def jet_rows(bits: int, frac: float, clock_period: float, notes: list[str]) -> list[tuple[str, ...]]:
    """The rows of one precision and pruning: da4ml combinational, then each nnfpga variant, each II = 1 one
    followed by da4ml pipelined to its latency."""
    model, _, _ = load_example()
    prune_dense(model, frac)
    key0 = f"jet{bits}_p{int(frac * 100)}"
    what = f"{bits}-bit, {int(frac * 100)}% pruned"
    cp = f"cp{clock_period:g}"
    # the 16-bit unpruned da4ml netlist was still in yosys after 7 min here: left out
    has_da = da4ml_version() is not None and not (bits == 16 and frac == 0)
    rows = []
    if has_da:
        hw = jet_hw(model, bits, 1, DEFAULT, clock_period)
        rows.append(row(f"da4ml {what}, combinational", cached(f"{SCRIPT}_{key0}_da4ml_xc7", lambda: da4ml_synth(hw))))
    for rf, adders in VARIANTS:
        if adders is None and bits == 16:
            continue  # 8-9 min of synthesis each; the 8- and 6-bit rows show the comparison
        hw = jet_hw(model, bits, rf, adders, clock_period)
        key = f"{VERSION}_{key0}_rf{rf}" + ("_comb" if adders is None else "") + f"_{cp}"
        r = cached(f"{key}_xc7", lambda hw=hw: hw.synthesize("xc7", save=False))
        label = f"nnfpga {what}, RF {rf}" + (", 1 register per layer" if adders is None else "")
        if isinstance(r, str):
            rows.append(row(label, r))
            continue
        if adders is None:
            fmax = "-"  # one register per layer: not the configuration to clock fast
        elif r.dsp <= ECP5_MAX_DSP and r.lut <= ECP5_MAX_LUT:
            e = cached(f"{key}_ecp5", lambda hw=hw: hw.synthesize("ecp5", save=False))
            fmax = "failed (note)" if isinstance(e, str) or e.fmax_mhz is None else f"{e.fmax_mhz:.1f}"
            if isinstance(e, str):
                notes.append(f"{label} ECP5: {e}")
        else:
            fmax = f"n/a ({r.dsp} DSP / {r.lut} LUT)"
        d = None
        if has_da and r.ii == 1 and (r.latency_cycles or 0) >= 2:
            lat = r.latency_cycles
            d = cached(f"{SCRIPT}_{key0}_da4ml_L{lat}_{cp}_xc7", lambda hw=hw, lat=lat: da4ml_synth(hw, latency=lat))
        ratio = f"{cost_ff(r) / cost_ff(d):.2f}" if isinstance(d, HardwareReport) and cost_ff(d) else "-"
        rows.append(row(label, r, fmax, ratio))
        if d is not None:
            st = f" ({int(d.extra['da4ml_stages'])} stages)" if isinstance(d, HardwareReport) else ""
            rows.append(row(f"  da4ml {what}, pipelined{st}", d))
    return rows


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
    ap.add_argument("--bits", type=int, nargs="+", choices=sorted(PRECISIONS), help="only these precisions")
    ap.add_argument("--clock-period", type=float, default=5.0, metavar="NS",
                    help="the clock target the designs are built for, ns (default 5)")
    ap.add_argument("--no-cnn", action="store_true", help="leave out the CNN rows (hardware_cnn.py)")
    ap.add_argument("--fresh", action="store_true", help="redo every row even where a cached result exists")
    args = ap.parse_args(sys.argv[1:])
    if not args.clock_period > 0:
        ap.error(f"--clock-period must be a positive number of ns, got {args.clock_period:g}")
    if args.fresh and CACHE.is_dir():
        for p in CACHE.glob("*.json"):
            p.unlink()
    bits_list = tuple(args.bits) if args.bits else (8,) if args.quick else tuple(PRECISIONS)
    rows: list[tuple[str, ...]] = [HEADER]
    notes: list[str] = []
    for bits in bits_list:
        for frac in PRUNING:
            rows += jet_rows(bits, frac, args.clock_period, notes)
        if bits in HLS4ML_PUBLISHED:
            rows.append(published_row(bits))
    rows += dense8_fmax(args.clock_period)
    print(f"jet MLP 16-64-32-32-5 (+softmax); {tools.version(tools.find('yosys'), '-V')} synth_xilinx -family xc7 "
          f"-flatten; clock target {args.clock_period:g} ns. RF 1: shared-subexpression adder graphs, registers "
          f"placed by the backend (default; AddersPerStage {DEFAULT_ADDERS_PER_STAGE} before timing-driven "
          f"placement) or only one per layer; RF > 1: time-multiplexed multipliers with weight ROMs (II = RF)")
    print(format_table(rows))
    da_version = da4ml_version()
    if da_version is None:
        print("da4ml: not installed (pip install da4ml==0.6.0) - no side-by-side rows")
    else:
        print(f"da4ml {da_version}: the four Dense+ReLU layers without the softmax; 'pipelined': its own latency "
              f"cutoff (adder levels per stage) chosen so that its top (input, stage and output registers) takes "
              f"the nnfpga row's cycles (benchmarks/hardware_da4ml.py); the 16-bit unpruned one is skipped "
              f"(yosys > 7 min)")
    print("hls4ml: published figures (tutorial, Vitis HLS, 200 MHz); FF not published (-), so no LUT+FF/2 cost")
    for n in notes:
        print(n)
    print()
    if not args.no_cnn:
        import hardware_cnn  # the CNN rows (cached; slow cases time out: see its doc)

        hardware_cnn.main(["--fresh"] if args.fresh else [])


if __name__ == "__main__":
    main()
