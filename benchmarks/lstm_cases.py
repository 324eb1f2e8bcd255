"""The LSTM of issue 15 for the emulator benchmarks (``emulate.py lstm``, ``lstm_ratio.py``): 20 steps x 6
features, LSTM 20 units, Dense 5, softmax; Keras's initializers under ``keras.utils.set_random_seed(0)``, the
biases drawn from ``numpy.random.default_rng(0)`` (normal, sigma 0.3: not trained, the benchmark times
arithmetic); inputs normal (sigma 1.5) on the ``ap_fixed<16,6>`` grid (within its range), seed 1. Configs: each
tool's own default (``config_from_keras_model(model, granularity="name")``), nothing set by hand: the arithmetic
of the two differs, so the outputs are compared and the difference explained (a printed line), not required to
be 0; nnfpga's emulator and nnfpga's C simulation must agree bit for bit.
"""

from __future__ import annotations

import copy
import functools
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

STEPS, FEATURES, UNITS, CLASSES = 20, 6, 20, 5


def why_different(ours: dict[str, Any], defines: str) -> str:
    """Why hls4ml's outputs differ from nnfpga's on the same model with each one's default config: the LSTM's
    types on both sides (hls4ml's read from the ``defines.h`` it generated)."""
    theirs = dict(sorted((m.group(2), m.group(1)) for m in re.finditer(r"typedef (.+) lstm_(\w+)_t;", defines)))
    return ("Why: hls4ml's LSTM and softmax are its own arithmetic, with its own default types (every LSTM matrix "
            "product and gate sum in its accum_t, the gates' outputs too, the state in the layer's result type; "
            "its softmax's tables indexed from its auto-typed logits); hls4ml's LSTM types: "
            + ", ".join(f"{k} {v}" for k, v in theirs.items()) + "; nnfpga's (exact gate sums, nnfpga/ops/recurrent.py "
            "documents the semantics): " + ", ".join(f"{k} {v}" for k, v in sorted(ours.items()))
            + "; neither is changed to match the other")


def lstm_model(keras: Any) -> Any:
    L = keras.layers
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((STEPS, FEATURES), name="x"), L.LSTM(UNITS, name="lstm"),
                              L.Dense(CLASSES, name="fc"), L.Softmax(name="sm")], name="lstm_bench")
    rng = np.random.default_rng(0)
    for layer in model.layers:
        for w in layer.weights:
            if w.path.rsplit("/", 1)[-1] == "bias":
                w.assign(rng.normal(0, 0.3, w.shape))
    return model


def inputs(n: int) -> np.ndarray:
    x = np.random.default_rng(1).normal(0, 1.5, (n, STEPS, FEATURES))
    return np.round(x * 1024) / 1024


def hls4ml_model(model: Any, out: Path) -> Any:
    """hls4ml 1.3's C simulation of ``model`` with its default config (Vitis, io_parallel), compiled."""
    import hls4ml

    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    hm = hls4ml.converters.convert_from_keras_model(model, hls_config=copy.deepcopy(cfg), output_dir=str(out),
                                                    backend="Vitis", io_type="io_parallel")
    hm.compile()
    return hm


def nnfpga_model(model: Any, out: Path | None = None) -> Any:
    import nnfpga

    cfg = nnfpga.config_from_keras_model(model, granularity="name")
    kwargs = {} if out is None else {"output_dir": out}
    return nnfpga.convert_from_keras_model(model, hls_config=cfg, **kwargs)


def lstm_row(n: int, n_h: int, best_rate: Any, busy_core: Any) -> tuple[tuple[str, ...], bool, str]:
    """nnfpga's emulator and g++ csim beside hls4ml's C simulation of the same Keras model, each with its default
    config: samples/s idle and loaded, the ratios, outputs differing from hls4ml's, csim = emulator, emulator =
    reference; and a line on the outputs that differ from hls4ml's."""
    import keras

    from nnfpga.emulate import Interpreter

    model = lstm_model(keras)
    x = inputs(n)
    xs = np.ascontiguousarray(x[:n_h])
    with tempfile.TemporaryDirectory() as d:
        hw = nnfpga_model(model, Path(d) / "prj")
        predict = functools.partial(hw.predict, progress=False)
        rate = best_rate(predict, x)
        with busy_core():
            rate_busy = best_rate(predict, x)
        ours = hw.predict(xs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hw.compile()
        csim = functools.partial(hw.predict, engine="csim")
        c_rate = best_rate(csim, xs)
        with busy_core():
            c_busy = best_rate(csim, xs)
        csim_same = int(np.count_nonzero(csim(xs) != ours))
        hm = hls4ml_model(model, Path(d) / "hls4ml")
        h_rate = best_rate(hm.predict, xs)
        with busy_core():
            h_busy = best_rate(hm.predict, xs)
        theirs = np.asarray(hm.predict(xs), dtype=np.float64).reshape(ours.shape)
        defines = (Path(d) / "hls4ml" / "firmware" / "defines.h").read_text()
        logits = keras.Model(model.inputs, model.get_layer("fc").output)  # the same weights, softmax left out
        z_ours = nnfpga_model(logits).predict(xs)
        z_theirs = np.asarray(hls4ml_model(logits, Path(d) / "logits").predict(xs), dtype=np.float64)
        z_theirs = z_theirs.reshape(z_ours.shape)
    differ = int(np.count_nonzero(ours != theirs))
    keras_arg = model.predict(xs, verbose=0).argmax(1)
    agree = (float(np.mean(ours.argmax(1) == keras_arg)), float(np.mean(theirs.argmax(1) == keras_arg)))
    flat = float(np.mean(np.ptp(theirs, axis=1) == 0))
    ref = Interpreter(hw.graph, reference=True).run(x[:500]).outputs[0]
    exact = bool(np.array_equal(ref, hw.predict(x[:500])))
    ok = exact and csim_same == 0 and rate >= 100 * h_rate
    row = (f"LSTM {STEPS}x{FEATURES}, {UNITS} units, Dense {CLASSES} + softmax (default configs)",
           f"{rate:,.0f} / {rate_busy:,.0f}", f"{c_rate:,.0f} / {c_busy:,.0f}", f"{h_rate:,.0f} / {h_busy:,.0f}",
           f"{rate / h_rate:,.0f}x / {rate_busy / h_busy:,.0f}x", f"{c_rate / h_rate:,.1f}x / {c_busy / h_busy:,.1f}x",
           f"{differ:,} of {ours.size:,}", f"{csim_same} of {ours.size:,}", "yes" if exact else "NO")
    note = (f"outputs differing from hls4ml's: {differ:,} of {ours.size:,} (max |difference| "
            f"{np.max(np.abs(ours - theirs)):.4f}; argmax agreement with the float Keras model: nnfpga {agree[0]:.2%}, "
            f"hls4ml {agree[1]:.2%}; hls4ml's softmax outputs all 5 classes equal on {flat:.1%} of the sequences; "
            f"without the softmax, logits differing: {int(np.count_nonzero(z_ours != z_theirs)):,} of {z_ours.size:,}, "
            f"max |difference| {np.max(np.abs(z_ours - z_theirs)):.4f}, argmax agreement "
            f"{float(np.mean(z_ours.argmax(1) == z_theirs.argmax(1))):.2%}). "
            f"{why_different({k: str(t) for k, t in hw.graph['lstm'].types.items()}, defines)}")
    return row, ok, note
