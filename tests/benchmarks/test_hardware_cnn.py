"""benchmarks/hardware_cnn.py and cnn_cases.py: the SVHN CNN's pruned twin with the hls4ml tutorial's types, and
the per-layer adder/register count (``hardware.py cnn --layers``) against Yosys's cells."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import nnfpga

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))


def test_svhnp_is_pruned_like_the_tutorial_with_its_types(keras) -> None:
    import cnn_cases

    model = cnn_cases.svhnp_cnn(keras)
    for layer in model.layers:
        if type(layer).__name__ in ("Conv2D", "Dense"):
            zeros = float(np.mean(layer.get_weights()[0] == 0))
            assert zeros == (0.0 if layer.name == "output_dense" else 0.5), layer.name
    types = {}
    for bits in (16, 6):
        cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision="ap_fixed<16,6>")
        hw = nnfpga.convert_from_keras_model(model, hls_config=cnn_cases.tutorial_config(cfg, bits),
                                             backend="verilog")
        types[bits] = {n.name: {k: str(t) for k, t in n.types.items()} for n in hw.graph}
    assert not any(name.startswith("bn_") for name in types[16])  # every batch-norm folded, as hls4ml fused them
    assert types[16]["conv_1"]["weight"] == types[16]["dense_0"]["result"] == "ap_fixed<16,6>"
    assert types[16]["conv_1"]["accum"] != "ap_fixed<16,6>"  # exact, wider
    six = types[6]
    assert "bn_0" not in six and six["bn_dense_0"]["result"] == "ap_fixed<16,6>"  # QConv2DBatchnorm; Dense + BN
    assert six["conv_2"]["weight"] == six["dense_1"]["weight"] == "ap_fixed<6,1>"
    assert six["relu_1"]["result"] == six["pool_1"]["result"] == six["flatten"]["result"] == "ap_ufixed<6,0>"
    assert six["x"]["result"] == six["output_dense"]["weight"] == six["conv_0"]["result"] == "ap_fixed<16,6>"


def test_layer_bits_count_each_layers_adders_and_registers(keras) -> None:
    """What ``--layers`` prints: a tiny CNN's adder and register bits per layer, fewer adders once pruned. (Against
    Yosys synth_xilinx on the small Conv2D: adder bits 0.96-0.98x its LUTs, register bits 0.96-0.97x its FFs; on
    this tiny one 0.78x the LUTs: its window generator and flatten muxes, not counted, weigh more.)"""
    import hardware_cnn

    from nnfpga.backends.rtl.lower import build_design
    from nnfpga.examples import prune_dense

    def count(prune: bool) -> dict[str, list[int]]:
        keras.utils.set_random_seed(5)
        L = keras.layers
        model = keras.Sequential([keras.Input((8, 8, 2)), L.Conv2D(6, 3, activation="relu", name="c1"),
                                  L.MaxPooling2D(2, name="mp"), L.Flatten(name="f"), L.Dense(5, name="out")])
        if prune:
            prune_dense(model, 0.5)
        cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision="ap_fixed<8,3>")
        hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog")
        nonzero, n = hardware_cnn.nonzero_weights(hw, ["out"])
        assert n == 3 * 3 * 6 * 5 and (nonzero <= n // 2 if prune else nonzero > 0.95 * n)
        return hardware_cnn.layer_bits(build_design(hw.graph, "tiny", prep=hw.interpreter.prep))

    full, pruned = count(False), count(True)
    assert set(full) == {"c1", "mp", "f", "out"}  # the max-pool's tree is pipelined: its registers count
    assert full["mp"][:2] == [0, 0] and full["mp"][2] > 0
    assert full["c1"][0] > 10 and full["out"][1] > full["c1"][1] > 100  # adders, adder bits
    assert full["f"][:2] == [0, 0] and full["f"][2] > 3 * 3 * 6  # the flatten buffer: registers only
    assert pruned["c1"] == full["c1"] and pruned["out"][1] < 0.7 * full["out"][1]
