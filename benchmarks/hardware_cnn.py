"""CNN rows of ``benchmarks/hardware.py``: streaming Verilog designs of two CNNs through Yosys, beside the figures
hls4ml's CNN tutorial publishes.

Cases (``benchmarks/cnn_cases.py``, random weights, batch-norms folded by nnfpga): issue 14's small Conv2D
(16x16x1: conv 8 3x3 + ReLU, max-pool 2, conv 16 3x3 + ReLU, Flatten, Dense 10; also ``smallrf16``: at 16 bits with
ReuseFactors 3, 8 and 100, i.e. 24 + 144 + 40 time-multiplexed multipliers) and the SVHN-style CNN with the
hls4ml tutorial's shape (32x32x3, three conv 16/16/24 + BN + ReLU + max-pool blocks, Dense 42, 64, 10), each at
16 bits (every type ``ap_fixed<16,6>``) and 6 bits (every type ``ap_fixed<6,3>``: the tutorial's QKeras model
has 6-bit weights and activations), ``config_from_keras_model(granularity="name", default_precision=...)``.
Columns: Yosys ``synth_xilinx -family xc7 -flatten`` cells (LUT, FF, DSP48E1, BRAM in 18 kb units), LUT + 55*DSP,
cycles per image (the II) and latency of one image (:func:`nnfpga.backends.rtl.stream_timing.stream_timing`: the
Design's own when it states them, else the window generator's documented schedule), the seconds spent writing
the Verilog and in Yosys, and the goal (fewer LUT + 55*DSP than hls4ml at the same precision, no more cycles per
image).

Each case runs in a child process under a time limit (``--timeout``, default 1200 s: Yosys on the larger designs
takes long) and, while it writes the Verilog, a memory limit (6 GB more than the process had); a case that runs out
prints "not run (...)" with the phase it was in and is tried again on the next run. Finished cases are cached in
``benchmarks/.hardware-cache/cnn_<VERSION>_<case><bits>.json`` (``--fresh`` redoes them; bump ``VERSION`` when
the lowering changes). Run: .venv/bin/python benchmarks/hardware.py cnn [--timeout S] [--fresh] [--layers] [CASE ...]
(CASE: small16, small6, smallrf16, svhnp16, svhnp6, svhn16, svhn6; default all; ``svhnp``: the SVHN-style CNN
pruned to 50 % with the tutorial's types, the equal-precision, equal-sparsity twin of hls4ml's rows, see
``cnn_cases``).
``--layers``: no synthesis; where the LUTs go, per layer: nonzero weights, adders and adder/register bits counted
in the written Verilog (:func:`layer_bits`; within 2-4 % of Yosys's LUT and FF counts on the small Conv2D).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

from nnfpga.model import format_table
from nnfpga.reports import HardwareReport

# v2: the pipelined window generator, registers inside kernels, the new subexpression search
VERSION = "v2"  # of the streaming lowering: cached rows of an older one are not reused
PRECISIONS = {16: "ap_fixed<16,6>", 6: "ap_fixed<6,3>"}
CASES = {"small": "small Conv2D 16x16x1", "svhn": "SVHN-style CNN 32x32x3, unpruned",
         "svhnp": "SVHN-style CNN, 50% pruned, tutorial's types",
         "smallrf": "small Conv2D 16x16x1, ReuseFactor c1 3, c2 8, Dense 100"}
# cases built with ReuseFactors (backends/rtl/stream_reuse.py): (the cnn_cases model, ReuseFactor per layer).
# smallrf16 measured (Yosys 0.23, 1,882 s on a loaded machine): 36,071 LUT, 20,788 FF, 210 DSP48E1 (208 multipliers
# + 2 of the flatten buffer's index), 618 cycles/image, latency 745 (small16 at ReuseFactor 1: 256 cycles/image),
# on branch streamreuse; after its merge with the free-running kernels the design states II 618, latency 747
REUSE = {"smallrf": ("small", {"c1": 3, "c2": 8, "out": 100})}
ORDER = ("small6", "svhnp6", "svhn6", "small16", "smallrf16", "svhnp16", "svhn16")
DEFAULT_TIMEOUT_S = 1200.0
DEFAULT_MAX_MEM_GB = 6.0
NOT_RUN_STATUS = 3  # the child's exit status when a limit stopped it (the reason in its phase file)
CACHE = Path(__file__).with_name(".hardware-cache")
# hls4ml's CNN tutorial (part 6, SVHN; Vivado HLS for an Alveo U250 at 5 ns, io_stream, Strategy Latency,
# ReuseFactor 1), as published (its vivado_synth.rpt and csynth.rpt): both models pruned to 50 % (every conv and
# dense kernel but the output layer's), the 16-bit one and the QKeras 6-bit one; latency 1,044 cycles (5.22 us), II
# 1,028 cycles. (name, LUT, DSP, FF, BRAM18 = 2 x its 36 kb Block RAM tiles)
HLS4ML = {16: ("hls4ml tutorial SVHN 16-bit, pruned (Vivado, U250)", 123_948, 5_386, 43_435, 84),
          6: ("hls4ml tutorial SVHN QKeras 6-bit, pruned (Vivado, U250)", 118_931, 353, 30_702, 68)}
HLS4ML_LATENCY, HLS4ML_II = 1_044, 1_028


def cache_path(key: str) -> Path:
    return CACHE / f"cnn_{VERSION}_{key}.json"


class NotRun(Exception):
    """A case stopped by a limit of this script (its reason is the row's)."""


@contextlib.contextmanager
def memory_limit(gb: float, what: str) -> Iterator[None]:
    """At most ``gb`` GiB more address space while the block runs (the 16-bit small CNN's subexpression search
    grew past 10 GB in 11 min on this 24 GB machine shared with other jobs); NotRun when it is exceeded."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    now = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (now + int(gb * 2**30), hard))
    try:
        yield
    except MemoryError:
        raise NotRun(f"{what} needed more than {gb:g} GB") from None
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def convert(key: str) -> Any:
    """The HWModel (Verilog backend) of case ``key`` (e.g. ``"small16"``)."""
    import keras

    import nnfpga

    sys.path.insert(0, str(Path(__file__).parent))
    import cnn_cases

    case, bits = key.rstrip("0123456789"), int(key.lstrip("abcdefghijklmnopqrstuvwxyz"))
    base, rfs = REUSE.get(case, (case, {}))
    model = getattr(cnn_cases, f"{base}_cnn")(keras)
    cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision=PRECISIONS[bits])
    for name, rf in rfs.items():
        cfg["LayerName"][name]["ReuseFactor"] = rf
    if case == "svhnp":  # hls4ml's published models: pruned, with the tutorial's types
        cfg = cnn_cases.tutorial_config(cfg, bits)
    return nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog", project_name=key,
                                           output_dir=tempfile.mkdtemp(prefix="nnfpga-bench-"))


def run_case(key: str, phase_file: Path, max_mem_gb: float = DEFAULT_MAX_MEM_GB,
             timeout_s: float = DEFAULT_TIMEOUT_S) -> dict:
    """Convert, write the Verilog (timed) and synthesize case ``key`` (e.g. ``"small16"``) for xc7."""
    from nnfpga.backends.rtl.lower import build_design
    from nnfpga.backends.rtl.stream_timing import stream_timing

    hw = convert(key)
    phase_file.write_text("writing the Verilog")
    t = time.perf_counter()
    with memory_limit(max_mem_gb, "writing the Verilog"):
        design = build_design(hw.graph, key, prep=hw.interpreter.prep)
    write_s = time.perf_counter() - t
    timing = stream_timing(hw.graph, design)
    phase_file.write_text(f"Yosys (Verilog written in {write_s:.0f} s)")
    r = hw.synthesize("xc7", save=False, design=design, progress=False, timeout_s=timeout_s)  # not its 3,600 s
    peak_kb = max(resource.getrusage(w).ru_maxrss for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return {"report": json.loads(r.to_json()), "write_s": round(write_s, 1), "stated": timing.stated,
            "peak_gb": round(peak_kb / 2**20, 2), "nonzero": nonzero_weights(hw)}


ARITH = re.compile(r" [+-] ")  # Arith's adders and subtractors (index arithmetic is inside brackets)


def layer_bits(design: Any) -> dict[str, list[int]]:
    """[adders, adder bits, register bits] of each layer of a streaming top, counted in its Verilog: the layer's
    items follow the comment that names it; a wire whose expression adds or subtracts is one adder of its width,
    a reg is a register of its width. Measured against Yosys synth_xilinx on the small Conv2D (this lowering):
    adder bits 0.96-0.98x its LUTs, register bits 0.96-0.97x its FFs (the window generators, other modules, are
    left out)."""
    from nnfpga.backends.rtl.verilog import Comment, Reg, Wire

    out: dict[str, list[int]] = {}
    layer = "(ports)"
    for item in design.modules[0].items:
        if isinstance(item, Comment) and (m := re.match(r"\w+ '([^']+)' \(from ", item.text)):
            layer = m.group(1)
        elif isinstance(item, Reg):
            out.setdefault(layer, [0, 0, 0])[2] += item.width
        elif isinstance(item, Wire) and item.expr and ARITH.search(re.sub(r"\[[^\]]*\]", "", item.expr)):
            row = out.setdefault(layer, [0, 0, 0])
            row[0] += 1
            row[1] += item.width
    return out


def layers_table(key: str) -> list[tuple[str, ...]]:
    """Where the LUTs go: per layer of case ``key``, its nonzero weights, adders and adder/register bits."""
    from nnfpga.backends.rtl.lower import build_design

    hw = convert(key)
    with memory_limit(DEFAULT_MAX_MEM_GB, "writing the Verilog"):
        design = build_design(hw.graph, key, prep=hw.interpreter.prep)
    bits = layer_bits(design)
    weights = {n.name: nonzero_weights(hw, [n.name]) for n in hw.graph if n.op in ("conv", "dense")}
    total = [sum(v[i] for v in bits.values()) for i in range(3)]
    out = [("layer", "nonzero weights", "adders", "adder bits (~LUT)", "%", "register bits (~FF)", "%")]
    for layer, (n, a, r) in bits.items():
        w = weights.get(layer)
        out.append((layer, f"{w[0]:,} of {w[1]:,}" if w else "", f"{n:,}", f"{a:,}", f"{100 * a / total[1]:.1f}",
                    f"{r:,}", f"{100 * r / total[2]:.1f}"))
    nz = [sum(w[i] for w in weights.values()) for i in range(2)]
    out.append(("total", f"{nz[0]:,} of {nz[1]:,}", f"{total[0]:,}", f"{total[1]:,}", "", f"{total[2]:,}", ""))
    return out


def nonzero_weights(hw: Any, names: list[str] | None = None) -> list[int]:
    """[nonzero, all] weights of the conv and dense layers (those of ``names``) as quantized (zeros cost no
    adder)."""
    import numpy as np

    counts = [0, 0]
    for node in hw.graph:
        if node.op in ("conv", "dense") and (names is None or node.name in names):
            plan = hw.interpreter.prep[node.name]
            for g in getattr(plan, "groups", None) or [plan]:
                w = np.asarray(g.wm)
                counts[0] += int(np.count_nonzero(w))
                counts[1] += int(w.size)
    return counts


def result(key: str, timeout_s: float) -> dict | str:
    """The cached result of ``key``, or a child process's; the reason when there is none."""
    path = cache_path(key)
    if path.is_file():
        data = json.loads(path.read_text())
        return data["error"] if "error" in data else data
    CACHE.mkdir(exist_ok=True)
    phase = CACHE / f".{key}.phase"
    phase.write_text("converting")
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", key, str(phase), str(timeout_s)],
                            start_new_session=True)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        what = phase.read_text()
        os.kill(proc.pid, signal.SIGINT)  # Ctrl-C: nnfpga.tools.run kills Yosys (its own session) and cleans up
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the child's own process group
            proc.wait()
        return f"not run (over the {timeout_s:.0f} s limit while {what})"
    print(f"  {key}: {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    if proc.returncode == NOT_RUN_STATUS:  # a memory limit (the time limit returned above)
        return f"not run ({phase.read_text()})"
    if not path.is_file():
        return f"not run (the child process failed with exit status {proc.returncode})"
    data = json.loads(path.read_text())
    return data["error"] if "error" in data else data


def child(key: str, phase_file: str, timeout_s: float) -> None:
    import nnfpga

    try:
        data: dict = run_case(key, Path(phase_file), timeout_s=timeout_s)
    except NotRun as exc:  # not cached: tried again on the next run
        Path(phase_file).write_text(str(exc))
        sys.exit(NOT_RUN_STATUS)
    except KeyboardInterrupt:  # the parent's time limit (it says why)
        sys.exit(NOT_RUN_STATUS)
    except nnfpga.NnfpgaError as exc:  # ToolError, BackendSupportError: the row says why (cached)
        data = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:100]}"}
    cache_path(key).write_text(json.dumps(data))


def rows(keys: tuple[str, ...], timeout_s: float) -> list[tuple[str, ...]]:
    results = {k: result(k, timeout_s) for k in ORDER if k in keys}  # the quick ones first
    out = [("design", "LUT", "FF", "DSP", "BRAM18", "LUT+55*DSP", "cycles/image", "latency [cyc / us]",
            "write [s]", "yosys [s wall]", "peak [GB]", "goal vs hls4ml")]
    for bits in (16, 6):
        name, lut, dsp, ff, bram = HLS4ML[bits]
        hls_cost = lut + 55 * dsp
        mine = [k for k in results if int(k.lstrip("abcdefghijklmnopqrstuvwxyz")) == bits]
        if not mine:
            continue
        for key in mine:
            case = key.rstrip("0123456789")
            label = f"nnfpga {CASES[case]}, " + (f"{bits}-bit" if case == "svhnp" else PRECISIONS[bits])
            got = results[key]
            if isinstance(got, str):
                out.append((label, got, *[""] * 10))
                continue
            r = HardwareReport.from_dict(got["report"])
            cost = r.lut + 55 * r.dsp
            goal = "-"
            if case.startswith("svhn"):
                goal = (f"cost {cost / hls_cost:.2f}x, cycles {r.ii / HLS4ML_II:.2f}x: "
                        + ("met" if cost < hls_cost and r.ii <= HLS4ML_II else "not met"))
            out.append((label, f"{r.lut:,}", f"{r.ff:,}", str(r.dsp), str(r.bram_18k), f"{cost:,}", f"{r.ii:,}",
                        f"{r.latency_cycles:,} / {r.latency_cycles * r.clock_period_ns / 1000:.2f}",
                        f"{got['write_s']:.0f}", f"{r.extra.get('synth_s', 0):.0f}",
                        f"{got['peak_gb']:.1f}" if "peak_gb" in got else "-", goal))
        out.append((name, f"{lut:,}", f"{ff:,}", f"{dsp:,}", str(bram), f"{hls_cost:,}", f"{HLS4ML_II:,}",
                    f"{HLS4ML_LATENCY:,} / 5.22", "", "", "", "published"))
    return out


def main(argv: list[str]) -> None:
    if argv[:1] == ["--child"]:
        child(argv[1], argv[2], float(argv[3]))
        return
    import argparse

    ap = argparse.ArgumentParser(prog="hardware.py cnn", description="The CNN rows: Yosys synth_xilinx of the "
                                 "streaming Verilog CNNs beside hls4ml's published figures.")
    ap.add_argument("cases", nargs="*", metavar="CASE",
                    help=f"the cases to run (default: all): {', '.join(ORDER)}")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                    help="seconds per case, writing and Yosys (default %(default)g)")
    ap.add_argument("--layers", action="store_true",
                    help="no synthesis: the adders and registers of each layer in the written Verilog")
    ap.add_argument("--fresh", action="store_true", help="redo the cases even where a cached result exists")
    args = ap.parse_args(argv)
    unknown = [c for c in args.cases if c not in ORDER]
    if unknown:
        ap.error(f"unknown case(s) {', '.join(unknown)}; expected some of {', '.join(ORDER)}")
    timeout_s = args.timeout
    keys = tuple(args.cases) or ORDER
    if args.layers:  # no synthesis: the Verilog's adders and registers per layer
        for key in keys:
            print(f"{key}: adders and registers per layer in the written Verilog (no synthesis)")
            print(format_table(layers_table(key)))
        return
    if args.fresh:
        for k in keys:
            cache_path(k).unlink(missing_ok=True)
    from nnfpga import tools

    table = rows(keys, timeout_s)
    print(f"CNNs, streaming Verilog top; {tools.version(tools.find('yosys'), '-V')} synth_xilinx -family xc7 "
          f"-flatten; clock 5 ns (latency in us at that clock; no place and route: Fmax not measured). hls4ml rows: "
          f"its tutorial's published Vivado figures (trained weights pruned to 50%; nnfpga's random, pruned to 50% in "
          f"the 'pruned' rows).")
    print(format_table(table))


if __name__ == "__main__":
    main(sys.argv[1:])
