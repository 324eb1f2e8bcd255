"""The recurrent models of issue 15's acceptance, shared by ``benchmarks/recurrent_acceptance.py`` and the tests
(``tests/recurrent_data.py`` re-exports them): the layer builders, the seeded weights, the explicit precisions,
the conversions (HLS backend with ``Static`` true or false, Verilog backend) and seeded inputs that exercise the
input type's range.

``ISSUE``: the issue's four models, name -> (sequence shape, layers from ``keras.layers``):
- ``lstm``: 20 steps x 6 features, LSTM 20 units, Dense 5, softmax (the issue's sizes);
- ``gru_stack``: GRU 8 with return_sequences into GRU 6 (go_backwards), 10 x 5;
- ``simple_rnn``: SimpleRNN 9 (return_sequences, go_backwards), Flatten, Dense 4, 12 x 4;
- ``bidirectional_lstm``: Bidirectional LSTM 6 (return_sequences, hard_sigmoid gates), Flatten, Dense 4, 9 x 4.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

Layers = Callable[[Any], list[Any]]  # keras.layers -> the model's layers

# explicit precisions of every recurrent layer (narrow: rounding/saturating state, wrapping accumulator)
EXPLICIT = {"weight": "ap_fixed<10,3>", "recurrent_weight": "ap_fixed<9,2>", "bias": "ap_fixed<10,4>",
            "accum": "ap_fixed<18,7>", "state": "ap_fixed<12,3,AP_RND,AP_SAT>", "table": "ap_fixed<14,2>",
            "result": "ap_fixed<12,3,AP_RND_CONV,AP_SAT>"}
PRECISIONS = ("explicit", "default")
RECURRENT_OPS = ("lstm", "gru", "simple_rnn")


def lstm(units: int) -> Layers:
    """LSTM(units) -> Dense 5 -> softmax."""
    return lambda L: [L.LSTM(units, name="lstm"), L.Dense(5, name="fc"), L.Softmax(name="sm")]


def gru_stack(first: int, second: int, reset_after: bool = True) -> Layers:
    """GRU(first, return_sequences) -> GRU(second, go_backwards)."""
    return lambda L: [L.GRU(first, return_sequences=True, reset_after=reset_after, name="gru1"),
                      L.GRU(second, reset_after=reset_after, go_backwards=True, name="gru2")]


def simple_rnn(units: int, classes: int) -> Layers:
    """SimpleRNN(units, return_sequences, go_backwards) -> Flatten -> Dense(classes)."""
    return lambda L: [L.SimpleRNN(units, return_sequences=True, go_backwards=True, name="rnn"), L.Flatten(),
                      L.Dense(classes, name="fc")]


def bidirectional_lstm(units: int, classes: int) -> Layers:
    """Bidirectional(LSTM(units, return_sequences, hard_sigmoid)) -> Flatten -> Dense(classes)."""
    return lambda L: [L.Bidirectional(L.LSTM(units, return_sequences=True, recurrent_activation="hard_sigmoid"),
                                      name="bi"), L.Flatten(), L.Dense(classes, name="fc")]


ISSUE: dict[str, tuple[tuple[int, int], Layers]] = {
    "lstm": ((20, 6), lstm(20)),
    "gru_stack": ((10, 5), gru_stack(8, 6)),
    "simple_rnn": ((12, 4), simple_rnn(9, 4)),
    "bidirectional_lstm": ((9, 4), bidirectional_lstm(6, 4)),
}


def seeded_model(cases: dict[str, tuple[tuple[int, int], Layers]], name: str) -> Any:
    """The Keras model ``cases[name]`` (input shape, layers from ``keras.layers``), with normal(0, 0.8) weights of
    which about 15 % are zero: wide enough to drive the gates into saturation."""
    from nnfpga.frontends.keras import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(11)
    shape, make = cases[name]
    model = keras.Sequential([keras.Input(shape), *make(keras.layers)])
    rng = np.random.default_rng(4)
    for layer in model.layers:
        layer.set_weights([rng.normal(0, 0.8, w.shape) * (rng.random(w.shape) > 0.15) for w in layer.get_weights()])
    return model


def _recurrent_names(model: Any, cfg: dict[str, Any]) -> list[str]:
    import nnfpga

    probe = nnfpga.convert_from_keras_model(model, hls_config=cfg)
    return [n.name for n in probe.graph if n.op in RECURRENT_OPS]


def hls_model(model: Any, out: Path, precision: str, static: bool) -> Any:
    """The HLS backend's HWModel (io_parallel) in ``out``; every recurrent layer ``Static`` (one cell reused) or
    not (one per step), with :data:`EXPLICIT` precisions or the defaults."""
    import nnfpga

    cfg = nnfpga.config_from_keras_model(model, granularity="name")
    for name in _recurrent_names(model, cfg):
        entry = cfg["LayerName"].setdefault(name, {})
        entry["Static"] = static
        if precision == "explicit":
            entry["Precision"] = dict(EXPLICIT)
    return nnfpga.convert_from_keras_model(model, hls_config=cfg, output_dir=out, io_type="io_parallel")


def rtl_model(model: Any, precision: str) -> Any:
    """The Verilog backend's HWModel: explicit precisions with one cycle per step (``AddersPerStage`` null), or
    the default config (registers inside a step)."""
    import nnfpga

    cfg = nnfpga.config_from_keras_model(model, granularity="name")
    if precision == "explicit":
        for name in _recurrent_names(model, cfg):
            cfg["LayerName"].setdefault(name, {}).update(Precision=dict(EXPLICIT), AddersPerStage=None)
    return nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog", io_type="io_parallel")


def range_sequences(hw: Any, n: int, seed: int) -> np.ndarray:
    """``n`` float sequences shaped like ``hw``'s input that exercise its input type: about 45 % normal (sigma
    1.5), 5 % of them 8x larger (beyond the type), rows of extremes (the type's min and max, a step beyond each,
    half a step off the grid, 0, +-1 step, alternating min/max), 10 % of elements drawn from {min, max, 0}, and
    the rest uniform over 1.25x the type's range (some over its limits)."""
    g = hw.graph
    shape = tuple(g[g.inputs[0]].shape)
    t = g[g.inputs[0]].types["result"]
    step = 2.0 ** -t.frac
    lo, hi = t.min_mantissa * step, t.max_mantissa * step
    rng = np.random.default_rng(seed)
    k = int(np.prod(shape))
    real = rng.normal(0, 1.5, size=(n - n // 2, k))
    real[: max(1, n // 20)] *= 8
    alt = np.where(np.arange(k) % 2, lo, hi)
    extremes = np.array([np.full(k, v) for v in (lo, hi, lo - step, hi + step, hi - step / 2, lo + step / 2,
                                                  0.0, step, -step, step / 2, -step / 2)] + [alt, alt[::-1]])
    corners = rng.choice([lo, hi, 0.0], size=(max(0, n // 10), k))
    rest = max(0, n - len(real) - len(extremes) - len(corners))
    uniform = rng.uniform(1.25 * lo, 1.25 * hi, size=(rest, k))
    x = np.concatenate([real, extremes, corners, uniform])[:n]
    return x.reshape((n, *shape))


def emulate(hw: Any, x: np.ndarray) -> np.ndarray:
    """The emulator's outputs, the overflow warnings of the out-of-range inputs silenced (they overflow on
    purpose)."""
    import nnfpga

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        return hw.predict(x, progress=False)



def differing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Indices of the sequences whose outputs differ: every value compared exactly (fixed-point values of at most
    53 bits are exact in float64, so equal floats are equal bits)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return np.arange(len(a))
    return np.flatnonzero(np.any(a.reshape(len(a), -1) != b.reshape(len(b), -1), axis=1))
