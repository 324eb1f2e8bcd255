"""Shared pieces for the HLS backend tests: header sets, models with every activation, random configs."""

from __future__ import annotations

import numpy as np
import pytest

from nnfpga.frontends.keras import import_keras
from tooling import gxx, require_xilinx_ap_types

ROUNDING = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
OVERFLOW = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")


@pytest.fixture(params=["nnfpga", "xilinx"])
def ap_types(request: pytest.FixtureRequest) -> str | None:
    """None = nnfpga's own headers; otherwise the directory of Xilinx's."""
    gxx()
    return None if request.param == "nnfpga" else str(require_xilinx_ap_types())


def all_activations_model(seed: int = 0):
    """A Keras MLP touching every supported activation and a batch-norm that cannot be folded."""
    keras = import_keras()
    keras.utils.set_random_seed(seed)
    L = keras.layers
    m = keras.Sequential([
        keras.Input((10,)),
        L.BatchNormalization(name="bn_in"),
        L.Dense(12, activation="relu", name="d1"),
        L.Dense(10, activation="tanh", name="d2"),
        L.Dense(9, activation="sigmoid", name="d3"),
        L.Dense(8, activation="elu", name="d4"),
        L.Dense(8, name="d5"), L.LeakyReLU(negative_slope=0.2, name="lrelu"),
        L.Dense(7, activation="hard_sigmoid", name="d6"),
        L.Dense(7, name="d7"), L.Activation("hard_tanh", name="htanh"),
        L.Dense(6, name="d8"), L.ReLU(max_value=1.5, name="relu6ish"),
        L.Dense(5, name="d9"), L.Softmax(name="sm"),
    ])
    rng = np.random.default_rng(seed)
    bn = m.get_layer("bn_in")
    bn.set_weights([rng.uniform(0.5, 2, 10), rng.normal(0, 0.3, 10), rng.normal(0, 0.5, 10), rng.uniform(0.5, 2, 10)])
    for layer in m.layers:
        if type(layer).__name__ == "Dense":
            w, b = layer.get_weights()
            w = w * 2.0
            w[rng.random(w.shape) < 0.3] = 0.0  # pruned weights
            layer.set_weights([w, rng.normal(0, 0.5, b.shape)])
    return m


def random_config(config: dict, rng: np.random.Generator) -> dict:
    """Random mixed per-layer precisions (all rounding/overflow modes, narrow accumulators, table sizes)."""
    def fixed(wlo: int, whi: int, ilo: int, ihi: int, modes: bool = True) -> str:
        w = int(rng.integers(wlo, whi + 1))
        i = int(rng.integers(ilo, ihi + 1))
        if not modes:
            return f"ap_fixed<{w},{i}>"
        return f"ap_fixed<{w},{i},AP_{rng.choice(ROUNDING)},AP_{rng.choice(OVERFLOW)}>"

    for entry in config["LayerName"].values():
        prec = entry["Precision"]
        for slot in prec:
            if slot == "result":
                prec[slot] = fixed(8, 20, 2, 7)
            elif slot in ("weight", "bias", "param"):
                prec[slot] = fixed(6, 14, 1, 4, modes=False)
            elif slot == "accum" and rng.random() < 0.4:
                prec[slot] = fixed(14, 26, 5, 9)
            elif slot in ("table", "exp_table", "inv_table") and rng.random() < 0.5:
                prec[slot] = f"ap_ufixed<{int(rng.integers(10, 19))},1>" if slot != "table" else "auto"
        if "TableSize" in entry:
            entry["TableSize"] = int(rng.choice([256, 512, 1024, 2048]))
    return config


def edge_inputs(n_features: int, n: int, rng: np.random.Generator, scale: float = 3.0) -> np.ndarray:
    """Random inputs plus extremes (large magnitudes that saturate/wrap the input type, zeros, ties)."""
    x = rng.normal(0, scale, size=(n, n_features))
    x[: n // 10] *= 40
    x[n // 10 : n // 10 + 5] = 0
    x[-5:] = np.round(x[-5:] * 64) / 64 + 1 / 128
    return x
