"""The issue's measurement, small: the jet MLP trained dense and pruned to 75 % while training with the same recipe
(:mod:`nnfpga.compress.recipes`; 40,000 jets and 6 epochs here, ``examples/prune_jet_mlp.py`` runs the full recipe
and Yosys), in Keras and in PyTorch: accuracy within 0.5 % of the dense model, every layer at 75 %, and the
converted model with a quarter of the multipliers and fewer adders in the Verilog backend's adder graphs. Yosys
itself runs on a small pruned model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnfpga
from nnfpga import compress
from nnfpga.compress import recipes

SAMPLES, EPOCHS, TARGET = 40_000, 6, 0.75
JET_WEIGHTS = 16 * 64 + 64 * 32 + 32 * 32 + 32 * 5
P8 = "ap_fixed<8,3>"


def hardware(model: Any, framework: str, precision: str) -> nnfpga.HWModel:
    if framework == "keras":
        cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision=precision)
        return nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog")
    cfg = nnfpga.config_from_pytorch_model(model, input_shape=(16,), granularity="name", default_precision=precision)
    return nnfpga.convert_from_pytorch_model(model, input_shape=(16,), hls_config=cfg, backend="verilog")


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["keras", "torch"])
def test_jet_mlp_pruned_to_75_percent_keeps_accuracy_and_quarters_the_multipliers(framework: str) -> None:
    fit = recipes.fit_keras if framework == "keras" else recipes.fit_torch
    dense = fit(n_samples=SAMPLES, epochs=EPOCHS)
    pruned = fit(target_sparsity=TARGET, n_samples=SAMPLES, epochs=EPOCHS)
    assert dense.accuracy > 0.7  # the task is learned (5 classes)
    assert pruned.accuracy > dense.accuracy - 0.005, (dense.accuracy, pruned.accuracy)
    sparsity = (compress.sparsity(pruned.model) if framework == "keras"
                else compress.torch.sparsity(pruned.model))
    assert list(sparsity.values()) == [TARGET] * 4

    hw_dense, hw_pruned = hardware(dense.model, framework, "ap_fixed<16,6>"), hardware(pruned.model, framework,
                                                                                       "ap_fixed<16,6>")
    assert np.mean(hw_pruned.predict(pruned.X_test).argmax(1) == pruned.y_test) > pruned.accuracy - 0.002
    assert compress.multipliers(hw_pruned) == JET_WEIGHTS // 4  # every nonzero weight survives at 16 bits
    assert compress.multipliers(hw_dense) > 0.95 * JET_WEIGHTS

    adders = {k: sum(c.adders or 0 for c in compress.dense_costs(hardware(r.model, framework, P8), adders=True))
              for k, r in (("dense", dense), ("pruned", pruned))}
    assert adders["pruned"] < 0.5 * adders["dense"], adders


@pytest.mark.tools
@pytest.mark.slow
def test_yosys_cost_of_a_small_model_pruned_while_training(keras: Any, build: Any, tmp_path: Path) -> None:
    """LUT + 55*DSP of the 8-bit Verilog design, dense vs pruned to 75 % while training (a 12-8-4 MLP)."""
    from nnfpga import tools
    from tooling import require

    try:
        tools.find("yosys")
    except nnfpga.NnfpgaError:
        require(None, "yosys", "make tools")
    L = keras.layers
    dense = build([L.Dense(8, activation="relu", name="fc1"), L.Dense(4, name="out")], input_shape=(12,), seed=5)
    X = np.random.default_rng(5).normal(size=(512, 12)).astype(np.float32)
    y = np.argmax(X[:, :4] + X[:, 4:8], axis=1)
    pruned = compress.prune_low_magnitude(dense, TARGET, begin_step=0, end_step=48, frequency=8)
    pruned.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    pruned.fit(X, y, epochs=4, batch_size=32, verbose=0, callbacks=[compress.UpdatePruningStep()])
    plain = compress.strip(pruned)
    cost = {}
    for name, model in (("dense", dense), ("pruned", plain)):
        cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision=P8)
        hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog", output_dir=tmp_path / name)
        r = hw.synthesize("xc7", progress=False, save=False)
        cost[name] = r.lut + 55 * r.dsp
    assert cost["pruned"] < 0.6 * cost["dense"], cost
