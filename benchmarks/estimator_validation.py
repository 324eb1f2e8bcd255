"""Issue 17's estimator validation: ``hw.estimate()`` (:mod:`nnfpga.backends.rtl.estimate`) beside Yosys on a
seeded sweep of small Verilog-backend designs, and the synthesis results kept in
``benchmarks/data/estimator_yosys.json`` (the data ``tests/backends/rtl/test_estimate.py`` reads).

Designs, seeded, 90: 72 MLPs (:func:`specs`): 8-32 inputs, 1-3 Dense layers of 4-32 units with ReLU between
them, random weights (normal, 1/sqrt(fan-in)) pruned by magnitude to 0 / 50 / 75 / 90 %, every type
``ap_fixed<W, W // 3 + 1>`` for W in 4, 6, 8, 12, 16, ReuseFactor 1 / 2 / 4 / 8 (every layer width a multiple of
the ReuseFactor, which the backend needs); 18 streaming CNNs (:func:`cnn_specs`, ``kind`` "cnn", names ``c...``):
images of 5-12 rows, 7-20 (two: 160) pixels a row, 1-3 channels; 3x3 convs ("same"/"valid") + ReLU, 2x2
max-pools, Flatten, one Dense of 3-10 units; the same types and sparsities, ReuseFactor 1 / 2 / 4 (every conv's
and the Dense's multiplications a multiple of it); a quarter with line buffer rows of 512 bits or more (RAMs:
LUT RAM in Yosys) and two with 160-pixel rows (one RAMB18 each). Sizes are bounded so that each synthesis takes
seconds to a minute and a half (the CNNs: 5-84 s, 494 s in all, on the shared 2-core machine).

Each design: ``hw.synthesize("xc7")`` (Yosys ``synth_xilinx``, one at a time) -> LUT, FF, DSP, BRAM (the CNNs
also their LUT RAM and SRL cells); stored with its spec, its kind, the Yosys version, the design's latency and II
(a CNN's: cycles per image), and the estimator's raw features. Resumable: designs already in the data file (same
spec) are not synthesized again; ``--fit`` refits the stream elements' LUT terms (:data:`STREAM_TERMS`; the MLP
terms held) and ``--fit-all`` every term, on the training half (even design numbers of each kind), and prints
them for ``estimate.py``.

Figures (LUT + 55*DSP, median error / 90th percentile; held-out half in brackets): all 90 designs 5.9 % / 16.9 %
(7.5 % / 16.9 %), MLPs 6.1 % / 16.8 % (7.8 % / 16.7 %, as before the CNNs), CNNs 5.6 % / 14.6 % (5.0 % / 11.7 %);
BRAM as Yosys's on every design.

Run: PYTHONPATH=src python benchmarks/estimator_validation.py [--n 72] [--n-cnn 18] [--seed 17] [--timeout 180]
     [--fit | --fit-all] [--data benchmarks/data/estimator_yosys.json] [--no-synth] [--timing]
(``--timing``: ``hw.estimate()`` on the 8- and 16-bit jet MLP, cold and warm plan cache.)
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from nnfpga.reports.hardware import DSP_LUTS

DATA = Path(__file__).resolve().parent / "data" / "estimator_yosys.json"
BITS = (4, 6, 8, 12, 16)
REUSE = (1, 2, 4, 8)
SPARSITY = (0.0, 0.5, 0.75, 0.9)
WIDTHS = (4, 8, 12, 16, 24, 32)
CNN_REUSE = (1, 2, 4)
# the LUT terms only the streaming top has (the MLPs' are 0: cmp_bits counts max-pool comparisons), fitted on the
# CNN rows' training half with the MLP terms held: the MLP rows' figures stay what the MLP-only fit gave
STREAM_TERMS = ("cmp_bits", "skid_bits", "count_bits")


def specs(n: int = 72, seed: int = 17) -> list[dict[str, Any]]:
    """``n`` design specs drawn with ``seed``: every (bits, ReuseFactor) pair comes up in turn, the sizes and the
    sparsity at random, bounded by the weights a synthesis handles in seconds (fewer for wide types)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        bits = BITS[i % len(BITS)]
        rf = REUSE[(i // len(BITS)) % len(REUSE)]
        sparsity = SPARSITY[int(rng.integers(len(SPARSITY)))]
        budget = {4: 2048, 6: 1536, 8: 1024, 12: 512, 16: 384}[bits] / (1 - sparsity) ** 0.5
        widths = [w for w in WIDTHS if w % rf == 0]  # a layer's inputs are a multiple of its ReuseFactor
        while True:
            n_in = int(rng.choice([w for w in widths if w >= 8]))
            units = [int(rng.choice(widths)) for _ in range(int(rng.integers(1, 4)))]
            sizes = [n_in, *units]
            if sum(a * b for a, b in itertools.pairwise(sizes)) <= budget:
                break
        out.append({"name": f"d{i:03d}_w{bits}_r{rf}_s{int(sparsity * 100)}", "inputs": n_in, "units": units,
                    "bits": bits, "reuse": rf, "sparsity": sparsity, "seed": seed * 1000 + i})
    return out


def cnn_specs(n: int = 18, seed: int = 17) -> list[dict[str, Any]]:
    """``n`` streaming CNN specs (``kind`` "cnn") drawn with ``seed``: every bits value and the ReuseFactors
    :data:`CNN_REUSE` in turn, the sparsity at random; a small image (6-12 pixels a side, 1-3 channels), a 3x3 conv
    ("same" or "valid"), a 2x2 max-pool (most), a second 3x3 "valid" conv (some), Flatten, one Dense. Every fourth
    design has rows wide enough (>= ``window.RAM_THRESHOLD_BITS``) for RAM line buffers: 16-24 pixels, no pool
    before its second conv; the 17th on have 128-256 pixel rows (deep line buffers: block RAM) and two max-pools.
    Bounded so that each synthesis takes seconds to a minute and a half."""
    rng = np.random.default_rng(seed + 1)
    out = []
    for i in range(n):
        bits = BITS[i % len(BITS)]
        rf = CNN_REUSE[(i // len(BITS)) % len(CNN_REUSE)]
        sparsity = SPARSITY[int(rng.integers(len(SPARSITY)))]
        wide = i % 4 == 3
        layers: list[list[Any]] = []
        units: list[int] = []
        while True:  # every conv's and the Dense's multiplications a multiple of the ReuseFactor
            ch = int(rng.integers(1, 4))
            if i >= 16:  # deep line buffers (block RAM?): 128-256 pixel rows, two max-pools before the Dense
                h, w = int(rng.integers(4, 8)), int(rng.choice([128, 160, 256]))
                layers = [["conv", int(rng.integers(2, 4)), "same"], ["pool", 2], ["pool", 2]]
                ch, units = 1, [int(rng.choice([3, 4, 5]))]
            elif wide:
                h, w = int(rng.integers(5, 8)), int(rng.choice([16, 20, 24]))
                f0 = max(2, -(-512 // (w * (bits - 1))))  # the second conv's rows (ReLU: bits - 1) >= 512 bits
            else:
                h, w = int(rng.integers(6, 13)), int(rng.integers(6, 13))
                f0 = int(rng.integers(2, 5))
            if i < 16:
                pad = "same" if wide else str(rng.choice(["same", "valid"]))
                layers = [["conv", f0, pad]]
                if not wide and rng.random() < 0.75:
                    layers.append(["pool", 2])
                if wide or rng.random() < 0.6:
                    layers.append(["conv", int(rng.integers(2, 5)), "valid"])
                if wide:
                    layers.append(["pool", 2])
                units = [int(rng.choice([3, 4, 5, 8, 10]))]
            shape, mults = [h, w, ch], []
            for layer in layers:
                if layer[0] == "conv":
                    mults.append(9 * shape[2] * layer[1])
                    k = 0 if layer[2] == "same" else 2
                    shape = [shape[0] - k, shape[1] - k, layer[1]]
                else:
                    shape = [shape[0] // 2, shape[1] // 2, shape[2]]
            mults.append(shape[0] * shape[1] * shape[2] * units[0])
            if min(shape) >= 1 and all(m % rf == 0 for m in mults) and mults[-1] <= 1024:
                break
        out.append({"kind": "cnn", "name": f"c{i:03d}_w{bits}_r{rf}_s{int(sparsity * 100)}", "image": [h, w, ch],
                    "layers": layers, "units": units, "bits": bits, "reuse": rf, "sparsity": sparsity,
                    "seed": seed * 1000 + 500 + i})
    return out


def kind(spec: dict[str, Any]) -> str:
    """"mlp" or "cnn"."""
    return str(spec.get("kind", "mlp"))


def held_out(spec: dict[str, Any]) -> bool:
    """The held-out half of each kind: odd design numbers (the fit reads the even ones)."""
    return int(spec["name"][1:4]) % 2 == 1


def build(spec: dict[str, Any], output_dir: str | Path = "nnfpga-estimator") -> Any:
    """The spec's HWModel (Verilog backend, 5 ns clock), from a hand-built graph: no framework needed (nothing is
    written to ``output_dir`` unless the model is)."""
    if kind(spec) == "cnn":
        return build_cnn(spec, output_dir)
    from nnfpga.ir.graph import Graph, Node

    rng = np.random.default_rng(spec["seed"])
    g = Graph(name=spec["name"])
    g.add(Node("x", "input", [], (spec["inputs"],)))
    prev, n = "x", spec["inputs"]
    kernels = {}
    for i, u in enumerate(spec["units"]):
        kernels[f"fc{i}"] = rng.normal(0.0, 1.0 / np.sqrt(n), (n, u))
        g.add(Node(f"fc{i}", "dense", [prev], (u,), weights={"kernel": kernels[f"fc{i}"],
                                                                "bias": rng.normal(0.0, 0.1, u)}))
        prev, n = f"fc{i}", u
        if i < len(spec["units"]) - 1:
            g.add(Node(f"relu{i}", "relu", [prev], (u,)))
            prev = f"relu{i}"
    g.outputs = [prev]
    return _converted(g, kernels, spec, output_dir)


def build_cnn(spec: dict[str, Any], output_dir: str | Path = "nnfpga-estimator") -> Any:
    """A :func:`cnn_specs` spec's HWModel (the streaming top), from a hand-built graph: 3x3 convs (He-like normal
    kernels, every conv followed by a ReLU), 2x2 max-pools, Flatten, Dense; conv and Dense kernels pruned by
    magnitude to the spec's sparsity."""
    from nnfpga.ir.graph import Graph, Node
    from nnfpga.ops import OPS

    rng = np.random.default_rng(spec["seed"])
    g = Graph(name=spec["name"])
    g.add(Node("x", "input", [], tuple(spec["image"])))

    def add(name: str, op: str, src: str, attrs: dict[str, Any], weights: dict[str, Any] | None = None) -> str:
        node = Node(name, op, [src], (), attrs, weights=weights or {})
        node.shape = tuple(OPS[op].infer_shape(node, [tuple(g[src].shape)]))
        return g.add(node).name

    prev, ch = "x", spec["image"][2]
    kernels = {}
    for i, layer in enumerate(spec["layers"]):
        if layer[0] == "conv":
            f, pad = layer[1], layer[2]
            kernels[f"conv{i}"] = rng.normal(0.0, 1.0 / np.sqrt(9 * ch), (3, 3, ch, f))
            prev = add(f"conv{i}", "conv", prev, {"strides": [1, 1], "dilation": [1, 1], "groups": 1,
                                                   "pads": [[1, 1], [1, 1]] if pad == "same" else [[0, 0], [0, 0]]},
                       {"kernel": kernels[f"conv{i}"], "bias": rng.normal(0.0, 0.1, f)})
            prev = add(f"relu{i}", "relu", prev, {})
            ch = f
        else:
            k = layer[1]
            prev = add(f"pool{i}", "max_pool", prev, {"pool": [k, k], "strides": [k, k], "pads": [[0, 0], [0, 0]]})
    n = int(np.prod(g[prev].shape))
    g.add(Node("flat", "flatten", [prev], (n,)))
    prev = "flat"
    for i, u in enumerate(spec["units"]):
        kernels[f"fc{i}"] = rng.normal(0.0, 1.0 / np.sqrt(n), (n, u))
        g.add(Node(f"fc{i}", "dense", [prev], (u,), weights={"kernel": kernels[f"fc{i}"],
                                                                "bias": rng.normal(0.0, 0.1, u)}))
        prev, n = f"fc{i}", u
    g.outputs = [prev]
    return _converted(g, kernels, spec, output_dir)


def _converted(g: Any, kernels: dict[str, np.ndarray], spec: dict[str, Any], output_dir: str | Path) -> Any:
    """``g`` with ``kernels`` pruned to the spec's sparsity, through the passes, converted at the spec's type and
    ReuseFactor (Verilog backend, 5 ns clock)."""
    from nnfpga.api import convert_graph
    from nnfpga.compress.magnitude import prune_kernels
    from nnfpga.passes import run_pipeline

    if spec["sparsity"]:
        for name, k in prune_kernels(kernels, spec["sparsity"], None, who="Sparsity").items():
            g[name].weights["kernel"] = k
    run_pipeline(g)
    w = spec["bits"]
    config = {"Model": {"Precision": f"ap_fixed<{w},{w // 3 + 1}>", "ReuseFactor": spec["reuse"],
                        "Strategy": "Latency"}}
    return convert_graph(g, config, backend="verilog", project_name=spec["name"], output_dir=output_dir)


def cost(lut: float, dsp: float) -> float:
    return float(lut) + DSP_LUTS * float(dsp)


def errors(rows: list[dict[str, Any]], estimates: list[dict[str, Any]]) -> list[float]:
    """Relative errors of the estimate's LUT + 55*DSP against Yosys's, one per row."""
    return [abs(cost(e["lut"], e["dsp"]) - cost(r["yosys"]["lut"], r["yosys"]["dsp"])) / cost(r["yosys"]["lut"],
            r["yosys"]["dsp"]) for r, e in zip(rows, estimates, strict=True)]


def summary(errs: list[float]) -> tuple[float, float]:
    """(median, 90th percentile) of ``errs``."""
    return float(statistics.median(errs)), float(np.percentile(errs, 90))


def load(path: Path = DATA) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {"target": "xc7", "designs": []}


def save(data: dict[str, Any], path: Path) -> None:
    from nnfpga.project import write_file_atomic

    write_file_atomic(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n"))


def refresh(data: dict[str, Any], todo: list[dict[str, Any]], path: Path, timeout_s: float) -> None:
    """Synthesize the designs of ``todo`` not yet in ``data`` (same spec), saving ``data`` after each."""
    done = {r["spec"]["name"]: r for r in data["designs"] if "yosys" in r}
    for k, spec in enumerate(todo):
        if spec["name"] in done and done[spec["name"]]["spec"] == spec:
            continue
        hw = build(spec)
        t = time.perf_counter()
        try:
            rep = hw.synthesize("xc7", save=False, progress=False, timeout_s=timeout_s)
        except Exception as exc:  # a design Yosys cannot finish in time is left out, with its reason
            print(f"[{k + 1}/{len(todo)}] {spec['name']}: {type(exc).__name__}: {str(exc)[:200]}", flush=True)
            continue
        row = {"spec": spec, "yosys": {"lut": rep.lut, "ff": rep.ff, "dsp": rep.dsp, "bram_18k": rep.bram_18k,
                                       "carry": rep.extra.get("carry"), "synth_s": rep.extra.get("synth_s"),
                                       **({"lutram": rep.extra.get("lutram", 0), "srl": rep.extra.get("srl", 0)}
                                          if kind(spec) == "cnn" else {})},
               "tool": rep.tool, "latency_cycles": rep.latency_cycles, "ii": rep.ii}
        data["designs"] = [r for r in data["designs"] if r["spec"]["name"] != spec["name"]] + [row]
        data["designs"].sort(key=lambda r: r["spec"]["name"])
        save(data, path)
        print(f"[{k + 1}/{len(todo)}] {spec['name']}: LUT {rep.lut} FF {rep.ff} DSP {rep.dsp} "
              f"{time.perf_counter() - t:.1f} s", flush=True)


def annotate(data: dict[str, Any], path: Path) -> None:
    """Store the estimator's raw features of every synthesized design (no tool run: fast)."""
    from nnfpga.backends.rtl import estimate as est

    for row in data["designs"]:
        row["kind"] = kind(row["spec"])
        row["features"] = est.estimate(build(row["spec"]), "xc7").features()
    save(data, path)


def report(data: dict[str, Any]) -> int:
    """Print the estimate beside Yosys per design and the error figures; 1 when they miss the issue's bounds."""
    from nnfpga.backends.rtl import estimate as est

    rows = [r for r in data["designs"] if "yosys" in r]
    estimates = [est.cost_from_features(r["features"], data.get("target", "xc7")) for r in rows]
    errs = errors(rows, estimates)
    print(f"{'design':26s} {'LUT':>7s} {'est':>7s} {'DSP':>4s} {'est':>4s} {'FF':>6s} {'est':>6s} {'BRAM':>4s} "
          f"{'est':>4s} {'LUTRAM':>6s} {'est':>4s}  err")
    for r, e, x in zip(rows, estimates, errs, strict=True):
        y = r["yosys"]
        print(f"{r['spec']['name']:26s} {y['lut']:7d} {e['lut']:7.0f} {y['dsp']:4d} {e['dsp']:4d} {y['ff']:6d} "
              f"{e['ff']:6.0f} {y['bram_18k']:4d} {e['bram_18k']:4d} {y.get('lutram', '-'):>6} {e['lutram']:4d}  "
              f"{100 * x:5.1f} %")
    med, p90 = summary(errs)
    print()
    for label, pick in (("all", lambda s: True), ("mlp", lambda s: kind(s) == "mlp"),
                        ("cnn", lambda s: kind(s) == "cnn")):
        some = [(x, r, e) for x, r, e in zip(errs, rows, estimates, strict=True) if pick(r["spec"])]
        if not some:
            continue
        m, p = summary([x for x, _, _ in some])
        held = [x for x, r, _ in some if held_out(r["spec"])]
        hm, hp = summary(held) if held else (float("nan"), float("nan"))
        ff = [abs(e["ff"] - r["yosys"]["ff"]) / max(r["yosys"]["ff"], 1) for _, r, e in some]
        print(f"{label}: {len(some)} designs, LUT + 55*DSP: median error {100 * m:.1f} %, p90 {100 * p:.1f} % "
              f"(held-out half, {len(held)}: median {100 * hm:.1f} %, p90 {100 * hp:.1f} %); "
              f"FF median {100 * statistics.median(ff):.1f} %")
    return 0 if len(rows) >= 60 and med <= 0.10 and p90 <= 0.20 else 1


def timing(bits: tuple[int, ...] = (8, 16), repeat: int = 3) -> None:
    """Print how long ``hw.estimate()`` takes on the bundled jet MLP (16-64-32-32-5, ReuseFactor 1): cold (the
    adder-graph plans of :mod:`nnfpga.backends.rtl.cmvm` not cached yet: a new model) and warm (cached: the same
    weights again), the best of ``repeat`` runs each."""
    import os
    import pickle

    os.environ.setdefault("KERAS_BACKEND", "torch")
    from nnfpga.api import convert_graph
    from nnfpga.backends.rtl import cmvm
    from nnfpga.examples import load_example
    from nnfpga.frontends.keras import graph_from_keras
    from nnfpga.passes import run_pipeline

    blob = pickle.dumps(graph_from_keras(load_example()[0]))
    for w in bits:
        g = pickle.loads(blob)
        run_pipeline(g)
        hw = convert_graph(g, {"Model": {"Precision": f"ap_fixed<{w},{w // 3 + 1}>", "ReuseFactor": 1}},
                           backend="verilog", project_name="jet")
        runs: dict[str, list[float]] = {"cold": [], "warm": []}
        for _ in range(repeat):
            cmvm._plan.cache_clear()
            for kind in ("cold", "warm"):
                t = time.perf_counter()
                e = hw.estimate()
                runs[kind].append(time.perf_counter() - t)
        print(f"jet MLP {w}-bit: estimate cold {min(runs['cold']):.2f} s, warm {min(runs['warm']):.2f} s "
              f"(LUT {e.total.lut:.0f}, FF {e.total.ff:.0f}, DSP {e.total.dsp}, latency {e.latency_cycles}, II {e.ii})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=72)
    ap.add_argument("--n-cnn", type=int, default=18, help="CNN designs (cnn_specs)")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds a Yosys run may take")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--fit", action="store_true", help="refit the stream elements' LUT terms (STREAM_TERMS; the "
                    "others held) on the stored data and print the coefficients")
    ap.add_argument("--fit-all", action="store_true", help="refit every LUT term (as the MLP-only sweep was fitted)")
    ap.add_argument("--no-synth", action="store_true", help="report on the stored data only")
    ap.add_argument("--timing", action="store_true", help="also time hw.estimate() on the 8- and 16-bit jet MLP")
    args = ap.parse_args(argv)
    data = load(args.data)
    if not args.no_synth:
        refresh(data, specs(args.n, args.seed) + cnn_specs(args.n_cnn, args.seed), args.data, args.timeout)
    annotate(data, args.data)
    if args.fit or args.fit_all:
        from nnfpga.backends.rtl import estimate as est

        rows = [r for r in data["designs"] if "yosys" in r and not held_out(r["spec"])]
        free = est.LUT_TERMS if args.fit_all else STREAM_TERMS
        print(json.dumps(est.fit([r["features"] for r in rows], [r["yosys"] for r in rows], free=free), indent=1))
    status = report(data)
    if args.timing:
        timing()
    return status


if __name__ == "__main__":
    sys.exit(main())
