"""Emulator throughput: nnfpga's bit-exact ``predict`` vs hls4ml's compiled C simulation.

Prints samples/s for 100k samples of the jet-tagging MLP (16-64-32-32-5) and of the MNIST MLP
(784-128-128-128-10, ReuseFactor 128, fc1 112, Strategy Resource), each beside hls4ml 1.3's
``compile()`` + ``predict()`` of the same Keras model when hls4ml is installed (measured on a subset),
and checks the fast path bit for bit against the input-by-input reference path.
Target (issue 2): >= 100x hls4ml on both.

Second table (issue 11): an hls4ml user's config, every type set by hand (``ap_fixed<16,6>`` weights, biases,
results) with narrow accumulators ``ap_fixed<24,12>`` (each product truncated to the accumulator, wrapping),
on the logits of both models (the softmax removed, so every value is compared), side by side with hls4ml's C
simulation of the same config in the same run: mismatching logits (0 required) and samples/s, each measured
idle and with a second process keeping one core busy. Target: >= 50x hls4ml, loaded within 2x of idle.

Third table (issue 13): the CNNs of ``cnn_cases.py`` (the small Conv2D and the SVHN-style CNN, random weights with a
fixed seed), every precision ``ap_fixed<16,6>`` by hand with ``ap_fixed<24,12>`` accumulators: nnfpga's emulator and
nnfpga's g++ csim beside hls4ml's C simulation (io_parallel) in the same run, idle and loaded; the outputs differing
from hls4ml's. Targets: emulator >= 100x hls4ml, csim >= 10x hls4ml, 0 mismatches.
Fourth table (issue 15): the LSTM of ``lstm_cases.py`` (20 steps x 6 features, LSTM 20, Dense 5 + softmax), each
tool's default config: nnfpga's emulator and g++ csim beside hls4ml's C simulation (io_parallel), idle and loaded;
the outputs differing from hls4ml's (its LSTM arithmetic and default types are its own: counted and explained, not
required to be 0) and from nnfpga's csim (0 required). Target: emulator >= 100x hls4ml. CPU time: lstm_ratio.py.
Run: .venv/bin/python benchmarks/emulate.py        (``cnn`` / ``lstm`` as argument: the third / fourth table only)
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")

import nnfpga
from nnfpga.emulate import Interpreter
from nnfpga.examples import DEFAULT_MNIST_MODEL, jet_norm_path, load_example
from nnfpga.model import format_table

N = 100_000
REPEATS = 3
# hls4ml 1.3.0 measured on this kind of machine when hls4ml is not installed (issue 2)
HLS4ML_RECORDED = {"jet": 11_637.0, "mnist": 635.0}


def best_rate(fn, x: np.ndarray) -> float:
    fn(x[:2000])
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
    return len(x) / min(times)


def jet_case():
    from nnfpga.datasets import make_jets, standardize

    model, _, _ = load_example()
    norm = np.load(jet_norm_path(nnfpga.examples.DEFAULT_JET_MODEL))
    x, _ = make_jets(N, seed=7)
    x, _, _ = standardize(x, norm["mean"], norm["std"])
    cfg = nnfpga.config_from_keras_model(model, granularity="name")
    return model, x.astype(np.float64), cfg, 20_000


def mnist_case():
    import keras

    from nnfpga.datasets.mnist import load_mnist_5k

    model = keras.saving.load_model(DEFAULT_MNIST_MODEL, compile=False)
    x5k, _ = load_mnist_5k()
    x = np.tile(x5k, (N // len(x5k), 1)).astype(np.float64)
    cfg = nnfpga.config_from_keras_model(model, granularity="name")
    for name, entry in cfg["LayerName"].items():
        if "ReuseFactor" in entry:
            entry["ReuseFactor"] = 112 if name == "fc1" else 128
            entry["Strategy"] = "Resource"
    return model, x, cfg, 2_000


def hls4ml_rate(model, x: np.ndarray, rf: dict[str, int] | None) -> tuple[float, float, float] | None:
    """(compile seconds, predict samples/s, argmax agreement with Keras) or None without hls4ml."""
    try:
        import hls4ml
    except ImportError:
        return None
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    for name, r in (rf or {}).items():
        cfg["LayerName"][name]["ReuseFactor"] = r
        cfg["LayerName"][name]["Strategy"] = "Resource"
    with tempfile.TemporaryDirectory() as d:
        hm = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg, output_dir=d, backend="Vitis")
        t = time.perf_counter()
        hm.compile()
        compile_s = time.perf_counter() - t
        xc = np.ascontiguousarray(x)
        rate = best_rate(hm.predict, xc)
        agree = float(np.mean(hm.predict(xc).argmax(1) == model.predict(xc, verbose=0).argmax(1)))
    return compile_s, rate, agree


NARROW = {"accum": "ap_fixed<24,12>", "other": "ap_fixed<16,6>"}


@contextlib.contextmanager
def busy_core():
    """A second process keeping one core busy for the duration (killed afterwards)."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        proc.kill()
        proc.wait()


def narrow(cfg: dict) -> dict:
    """Every type set by hand, as an hls4ml user's config does: ``ap_fixed<16,6>`` everywhere, accumulators
    ``ap_fixed<24,12>`` (applied to nnfpga's and to hls4ml's own config dict alike)."""
    cfg["Model"]["Precision"] = NARROW["other"]
    for entry in cfg["LayerName"].values():
        prec = entry.get("Precision")
        if isinstance(prec, dict):
            for key in prec:
                if key in ("result", "weight", "bias"):
                    prec[key] = NARROW["other"]
                elif key == "accum":
                    prec[key] = NARROW["accum"]
    return cfg


def logits_model(model):
    import keras

    last = next(layer for layer in reversed(model.layers) if type(layer).__name__ == "Dense")
    return keras.Model(model.inputs, last.output)


def narrow_row(name: str, case, logits: bool) -> tuple[tuple[str, ...], bool]:
    """nnfpga and hls4ml on the same narrow-accumulator config: rates idle and loaded, mismatching outputs
    (``logits``: the model without its softmax, every logit compared; else the whole model, whose softmax
    nnfpga computes with its own tables, so only the rates compare)."""
    import hls4ml

    model, x, cfg, n_h = case()
    rf = {k: v["ReuseFactor"] for k, v in cfg["LayerName"].items() if v.get("ReuseFactor", 1) > 1}
    if logits:
        model = logits_model(model)
        cfg = {"Model": cfg["Model"], "LayerName": {k: v for k, v in cfg["LayerName"].items() if k != "softmax"}}
    hw = nnfpga.convert_from_keras_model(model, hls_config=narrow(cfg))
    hcfg = narrow(hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis"))
    for layer, r in rf.items():
        hcfg["LayerName"][layer]["ReuseFactor"] = r
        hcfg["LayerName"][layer]["Strategy"] = "Resource"
    if rf:
        hcfg["Model"]["Strategy"] = "Resource"
    predict = functools.partial(hw.predict, progress=False)
    rate = best_rate(predict, x)
    with busy_core():
        rate_busy = best_rate(predict, x)
    xs = np.ascontiguousarray(x[:n_h])
    with tempfile.TemporaryDirectory() as d:
        hm = hls4ml.converters.convert_from_keras_model(model, hls_config=hcfg, output_dir=d, backend="Vitis")
        hm.compile()
        h_rate = best_rate(hm.predict, xs)
        with busy_core():
            h_busy = best_rate(hm.predict, xs)
        theirs = np.asarray(hm.predict(xs), dtype=np.float64).reshape(len(xs), -1)
    ours = hw.predict(xs)
    mismatches = int(np.count_nonzero(ours != theirs))
    ref = Interpreter(hw.graph, reference=True).run(x[:2000]).outputs[0]
    exact = bool(np.array_equal(ref, hw.predict(x[:2000])))
    paths = sorted({p.path for p in Interpreter(hw.graph).prep.values() if hasattr(p, "path")})
    ok = exact and (mismatches == 0 or not logits) and rate / h_rate >= 50 and rate_busy >= rate / 2
    what = "logits" if logits else "with softmax"
    return (f"{name} {what}, accum {NARROW['accum']} ({'/'.join(paths)})", f"{rate:,.0f} / {rate_busy:,.0f}",
            f"{h_rate:,.0f} / {h_busy:,.0f}", f"{rate / h_rate:,.0f}x / {rate_busy / h_busy:,.0f}x",
            f"{mismatches} of {ours.size:,}", "yes" if exact else "NO"), ok


CNNS = (("small Conv2D 16x16x1", "small", 20_000, 2_000), ("SVHN-style CNN 32x32x3", "svhn", 2_000, 200))


def cnn_table() -> None:
    """The third table (issue 13)."""
    import cnn_cases

    rows = [("model (ap_fixed<16,6>, accum <24,12>)", "nnfpga emulator samples/s idle / loaded",
             "nnfpga csim samples/s idle / loaded", "hls4ml csim samples/s idle / loaded",
             "emulator / hls4ml idle / loaded", "csim / hls4ml idle / loaded", "outputs differing from hls4ml",
             "csim = emulator", "bit-exact vs reference")]
    ok = True
    for name, key, n, n_h in CNNS:
        build = cnn_cases.small_cnn if key == "small" else cnn_cases.svhn_cnn
        row, row_ok = cnn_cases.cnn_row(name, build, n, n_h, best_rate, busy_core)
        rows.append(row)
        ok &= row_ok
    print(format_table(rows))
    print("loaded: a second process keeps one core busy during the measurement")
    print("targets: emulator >= 100x hls4ml, csim >= 10x hls4ml, 0 mismatches, csim = emulator:",
          "met" if ok else "NOT met")


def lstm_table() -> None:
    """The fourth table (issue 15)."""
    import lstm_cases

    rows = [("model", "nnfpga emulator samples/s idle / loaded", "nnfpga csim samples/s idle / loaded",
             "hls4ml csim samples/s idle / loaded", "emulator / hls4ml idle / loaded", "csim / hls4ml idle / loaded",
             "outputs differing from hls4ml", "csim differing from emulator", "bit-exact vs reference")]
    row, ok, note = lstm_cases.lstm_row(20_000, 1_000, best_rate, busy_core)
    print(format_table([*rows, row]))
    print(note)
    print(f"load average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}; loaded: a second process keeps"
          " one core busy during the measurement")
    print("targets: emulator >= 100x hls4ml, csim = emulator, emulator = reference:", "met" if ok else "NOT met")


def main() -> int:
    if sys.argv[1:] == ["cnn"]:
        cnn_table()
        return 0
    if sys.argv[1:] == ["lstm"]:
        lstm_table()
        return 0
    rows = [("model", "nnfpga samples/s idle / loaded", "hls4ml samples/s", "ratio", "bit-exact vs reference",
             "argmax vs Keras (nnfpga / hls4ml)")]
    ok = True
    for name, case in (("jet", jet_case), ("mnist", mnist_case)):
        model, x, cfg, n_h = case()
        hw = nnfpga.convert_from_keras_model(model, hls_config=cfg)
        rate = best_rate(hw.predict, x)
        with busy_core():
            rate_busy = best_rate(hw.predict, x)
        ref = Interpreter(hw.graph, reference=True).run(x[:2000]).outputs[0]
        exact = bool(np.array_equal(ref, hw.predict(x[:2000])))
        ours_agree = float(np.mean(hw.predict(x).argmax(1) == model.predict(x, verbose=0).argmax(1)))
        rf = {k: v["ReuseFactor"] for k, v in cfg["LayerName"].items() if v.get("ReuseFactor", 1) > 1}
        h = hls4ml_rate(model, x[:n_h], rf)
        if h is None:
            h_rate, h_note, h_agree = HLS4ML_RECORDED[name], " (recorded)", "n/a"
        else:
            h_rate, h_note, h_agree = h[1], f" (compile {h[0]:.1f} s)", f"{h[2]:.2%}"
        ratio = rate / h_rate
        ok &= exact and ratio >= 100 and rate_busy >= rate / 2
        rows.append((name, f"{rate:,.0f} / {rate_busy:,.0f}", f"{h_rate:,.0f}{h_note}", f"{ratio:,.0f}x",
                     "yes" if exact else "NO", f"{ours_agree:.2%} / {h_agree}"))
    print(format_table(rows))
    print("target: ratio >= 100x (idle), loaded within 2x of idle, bit-exact:", "met" if ok else "NOT met")
    try:
        import hls4ml  # noqa: F401
    except ImportError:
        print("hls4ml is not installed: the narrow-accumulator rows need its C simulation side by side")
        return 0
    rows = [("model (config by hand)", "nnfpga samples/s idle / loaded", "hls4ml samples/s idle / loaded",
             "ratio idle / loaded", "outputs differing from hls4ml", "bit-exact vs reference")]
    ok = True
    for name, case, logits in (("jet", jet_case, True), ("jet", jet_case, False), ("mnist", mnist_case, True),
                                ("mnist", mnist_case, False)):
        row, row_ok = narrow_row(name, case, logits)
        rows.append(row)
        ok &= row_ok
    print(format_table(rows))
    print("loaded: a second process keeps one core busy during the measurement")
    print("target: 0 mismatches, ratio >= 50x, loaded within 2x of idle:", "met" if ok else "NOT met")
    cnn_table()
    lstm_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
