"""The CNN models of the emulator and csim benchmarks (issue 13), random-initialized with a fixed seed.

``small``: 16x16x1, Conv2D 8 3x3 relu, MaxPooling2D 2, Conv2D 16 3x3 relu, Flatten, Dense 10.
``svhn``: hls4ml's tutorial CNN shape, 32x32x3, three blocks Conv2D (16/16/24 filters, 3x3, no bias) +
BatchNormalization + ReLU + MaxPooling2D 2, Flatten, Dense 42 + BatchNormalization + ReLU, Dense 64 + BatchNormalization
+ ReLU, Dense 10 (logits: the softmax left out so that every output compares bit for bit).
Weights: Keras's initializers under ``keras.utils.set_random_seed(0)``, biases and batch-norm statistics drawn from
``numpy.random.default_rng(0)`` (not trained: the benchmark times arithmetic, not accuracy). Inputs: uniform in
[-4, 4) on the ``ap_fixed<16,6>`` grid (10 fractional bits), seed 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PRECISION, ACCUM = "ap_fixed<16,6>", "ap_fixed<24,12>"


def small_cnn(keras: Any) -> Any:
    L = keras.layers
    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 1), name="x")
    h = L.Conv2D(8, 3, activation="relu", name="c1")(inp)
    h = L.MaxPooling2D(2, name="mp")(h)
    h = L.Conv2D(16, 3, activation="relu", name="c2")(h)
    out = L.Dense(10, name="out")(L.Flatten(name="f")(h))
    return _randomize(keras.Model(inp, out, name="small_cnn"))


def svhn_cnn(keras: Any) -> Any:
    L = keras.layers
    keras.utils.set_random_seed(0)
    inp = keras.Input((32, 32, 3), name="x")
    h = inp
    for i, f in enumerate((16, 16, 24)):
        h = L.Conv2D(f, 3, use_bias=False, name=f"conv_{i}")(h)
        h = L.BatchNormalization(name=f"bn_{i}")(h)
        h = L.Activation("relu", name=f"relu_{i}")(h)
        h = L.MaxPooling2D(2, name=f"pool_{i}")(h)
    h = L.Flatten(name="flatten")(h)
    for i, n in enumerate((42, 64)):
        h = L.Dense(n, use_bias=False, name=f"dense_{i}")(h)
        h = L.BatchNormalization(name=f"bn_dense_{i}")(h)
        h = L.Activation("relu", name=f"relu_dense_{i}")(h)
    out = L.Dense(10, name="output_dense")(h)
    return _randomize(keras.Model(inp, out, name="svhn_cnn"))


def _randomize(model: Any) -> Any:
    """Nonzero biases and batch-norm statistics (Keras starts them at 0 and 1: too easy a case)."""
    rng = np.random.default_rng(0)
    for layer in model.layers:
        for w in layer.weights:
            name = w.path.rsplit("/", 1)[-1]
            if name in ("bias", "beta", "moving_mean"):
                w.assign(rng.normal(0, 0.3, w.shape))
            elif name in ("gamma", "moving_variance"):
                w.assign(rng.uniform(0.5, 1.5, w.shape))
    return model


def inputs(model: Any, n: int) -> np.ndarray:
    x = np.random.default_rng(1).uniform(-4, 4, (n, *model.inputs[0].shape[1:]))
    return np.round(x * 1024) / 1024


def by_hand(cfg: dict) -> dict:
    """Every precision explicit (an hls4ml user's config): ``ap_fixed<16,6>``, accumulators ``ap_fixed<24,12>``."""
    cfg["Model"]["Precision"] = PRECISION
    for layer in cfg["LayerName"].values():
        if isinstance(layer.get("Precision"), dict):
            layer["Precision"] = {k: ACCUM if k == "accum" else PRECISION for k in layer["Precision"]}
    return cfg


def hls4ml_config(model: Any) -> dict:
    import hls4ml

    return by_hand(hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis"))


def nnfpga_config(model: Any) -> dict:
    """hls4ml's config dict, precisions by hand, less the Model keys nnfpga has no use for."""
    cfg = hls4ml_config(model)
    cfg["Model"] = {k: v for k, v in cfg["Model"].items() if k in ("Precision", "ReuseFactor", "Strategy")}
    return cfg


def cnn_row(name: str, build: Any, n: int, n_h: int, best_rate: Any, busy_core: Any) -> tuple[tuple[str, ...], bool]:
    """nnfpga's emulator and g++ csim beside hls4ml's C simulation (io_parallel) of the same Keras model and config:
    samples/s idle and loaded, the outputs differing from hls4ml's, csim = emulator, emulator = reference."""
    import copy
    import functools
    import tempfile
    import warnings
    from pathlib import Path

    import hls4ml
    import keras

    import nnfpga
    from nnfpga.emulate import Interpreter
    from nnfpga.errors import Hls4mlKeyWarning

    model = build(keras)
    x = inputs(model, n)
    xs = np.ascontiguousarray(x[:n_h])
    with tempfile.TemporaryDirectory() as d:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Hls4mlKeyWarning)  # the ReLU's table type: no such slot here
            hw = nnfpga.convert_from_keras_model(model, hls_config=nnfpga_config(model), output_dir=Path(d) / "prj")
        predict = functools.partial(hw.predict, progress=False)
        rate = best_rate(predict, x)
        with busy_core():
            rate_busy = best_rate(predict, x)
        ours = hw.predict(xs).reshape(n_h, -1)
        hw.compile()
        csim = functools.partial(hw.predict, engine="csim")
        c_rate = best_rate(csim, xs)
        with busy_core():
            c_busy = best_rate(csim, xs)
        csim_exact = bool(np.array_equal(csim(xs).reshape(n_h, -1), ours))
        hm = hls4ml.converters.convert_from_keras_model(model, hls_config=copy.deepcopy(hls4ml_config(model)),
                                                        output_dir=str(Path(d) / "hls4ml"), backend="Vitis",
                                                        io_type="io_parallel")
        hm.compile()
        h_rate = best_rate(hm.predict, xs)
        with busy_core():
            h_busy = best_rate(hm.predict, xs)
        theirs = np.asarray(hm.predict(xs), dtype=np.float64).reshape(n_h, -1)
    mismatches = int(np.count_nonzero(ours != theirs))
    ref = Interpreter(hw.graph, reference=True).run(x[:200]).outputs[0]
    exact = bool(np.array_equal(ref, hw.predict(x[:200])))
    ok = exact and csim_exact and mismatches == 0 and rate >= 100 * h_rate and c_rate >= 10 * h_rate
    return (name, f"{rate:,.0f} / {rate_busy:,.0f}", f"{c_rate:,.0f} / {c_busy:,.0f}", f"{h_rate:,.0f} / {h_busy:,.0f}",
            f"{rate / h_rate:,.0f}x / {rate_busy / h_busy:,.0f}x", f"{c_rate / h_rate:,.1f}x / {c_busy / h_busy:,.1f}x",
            f"{mismatches} of {ours.size:,}", "yes" if csim_exact else "NO", "yes" if exact else "NO"), ok
