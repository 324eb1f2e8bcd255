"""The CNN models of the emulator and csim benchmarks (issue 13), random-initialized with a fixed seed.

``small``: 16x16x1, Conv2D 8 3x3 relu, MaxPooling2D 2, Conv2D 16 3x3 relu, Flatten, Dense 10.
``svhn``: hls4ml's tutorial CNN shape, 32x32x3, three blocks Conv2D (16/16/24 filters, 3x3, no bias) +
BatchNormalization + ReLU + MaxPooling2D 2, Flatten, Dense 42 + BatchNormalization + ReLU, Dense 64 + BatchNormalization
+ ReLU, Dense 10 (logits: the softmax left out so that every output compares bit for bit).
``svhnp``: ``svhn`` pruned as the tutorial's two synthesized models were (part 6: tfmot ``prune_low_magnitude`` to a
final sparsity of 50 % on every Conv2D and Dense kernel but ``output_dense``): the smallest-magnitude half of each
of those kernels set to zero; with :func:`tutorial_config` (the tutorial's types) it is the hardware benchmark's
equal-precision, equal-sparsity twin of hls4ml's published rows.
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


SPARSITY = 0.5  # the tutorial's final sparsity per pruned kernel


def svhnp_cnn(keras: Any) -> Any:
    """``svhn_cnn`` with half of each Conv2D/Dense kernel (all but ``output_dense``) zeroed, smallest magnitudes
    first (per layer, as tfmot prunes); biases and batch-norms kept."""
    model = svhn_cnn(keras)
    for layer in model.layers:
        if type(layer).__name__ in ("Conv2D", "Dense") and layer.name != "output_dense":
            kernel, *rest = layer.get_weights()
            flat = kernel.ravel().copy()
            flat[np.argsort(np.abs(flat), kind="stable")[: round(SPARSITY * flat.size)]] = 0.0
            layer.set_weights([flat.reshape(kernel.shape), *rest])
    return model


def tutorial_config(cfg: dict, bits: int) -> dict:
    """The data types of hls4ml's tutorial models (part 6) in nnfpga's per-layer config of ``svhn_cnn`` /
    ``svhnp_cnn``, in place; the conv/dense accumulators exact (``auto``: no product or sum loses a bit; hls4ml's
    were its default ``ap_fixed<16,6>``, each product truncated to it: nnfpga's exact sums are the more precise and,
    sharing subexpressions across products, about half the adder bits: 71,698 instead of 150,103 at 6 bits, 260,353
    instead of 502,490 at 16 bits, counted in the Verilog). 16 bits: every other type, weights included,
    ``ap_fixed<16,6>``, every batch-norm folded into its conv/dense (as hls4ml fused them). 6 bits (the QKeras
    model): input, conv/dense results, batch-norms and ``output_dense`` ``ap_fixed<16,6>``; the conv batch-norms
    folded (``QConv2DBatchnorm``), the dense ones kept (Keras BatchNormalization after ``QDense``: hls4ml's
    ``normalize`` layers); weights and biases
    ``quantized_bits(6,0,alpha=1)`` = ``ap_fixed<6,1>``; ReLUs ``quantized_relu(6)`` = ``ap_ufixed<6,0>``, and
    the max-pools and the flatten after them the same (the tutorial's pools hold those 6-bit values in
    ``ap_fixed<16,6>`` streams: the same numbers)."""
    wide = "ap_fixed<16,6>"
    cfg["Model"]["Precision"] = wide
    for name, layer in cfg["LayerName"].items():
        prec = layer.get("Precision")
        if not isinstance(prec, dict):
            continue
        for k in prec:
            if k == "result" or not name.startswith("bn_") or (bits == 6 and name.startswith("bn_dense")):
                prec[k] = wide  # a folded batch-norm's weight and bias: the conv's types quantize them
        if name.startswith(("conv_", "dense_", "output_dense")):
            prec["accum"] = "auto"
        if name.startswith("conv_") or (bits == 16 and name.startswith("dense_")):
            prec["result"] = "auto"  # the batch-norm after it folds into it (hls4ml fused these too)
        if bits == 16 or name in ("x", "output_dense"):
            continue
        if name.startswith(("conv_", "dense_")):
            prec["weight"] = prec["bias"] = "ap_fixed<6,1>"
        elif name.startswith(("relu", "pool_", "flatten")):
            for k in prec:
                prec[k] = "ap_ufixed<6,0>"
    return cfg


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
