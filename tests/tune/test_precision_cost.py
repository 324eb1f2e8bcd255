"""The precision search's cost model: CSD digit counts, the per-layer estimate, and its order against Yosys."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import nnfpga
from nnfpga import tools
from nnfpga.backends.rtl import cmvm
from nnfpga.errors import ToolNotFoundError
from nnfpga.tune.cost import DSP_LUTS, csd_digits, estimate_cost, layer_costs
from tooling import require


def test_csd_digits_equal_the_rtl_backends_csd() -> None:
    rng = np.random.default_rng(0)
    small = np.concatenate([np.arange(-300, 301), rng.integers(-(1 << 40), 1 << 40, size=2000)])
    assert csd_digits(small).tolist() == [len(cmvm.csd(abs(int(v)))) for v in small]
    big = np.array([(1 << 70) - 1, -(1 << 63) + 5, 0, 3], dtype=object)  # Python ints: the wide path
    assert csd_digits(big).tolist() == [len(cmvm.csd(abs(int(v)))) for v in big]


def _jet_like(build: Any, keras: Any) -> Any:
    L = keras.layers
    return build([L.Dense(12, activation="relu", name="fc1"), L.Dense(5, name="out")], input_shape=(16,),
                  seed=4, name="pair")


def test_estimate_counts_one_input_wide_addend_per_csd_digit(keras: Any, build: Any) -> None:
    model = _jet_like(build, keras)
    cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision="ap_fixed<9,3>")
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg)
    costs = layer_costs(hw)
    assert [c.name for c in costs] == ["fc1", "out"]
    for c in costs:
        node = hw.graph[c.name]
        plan = hw.interpreter.prep[c.name]
        terms = sum(len(t) for t in cmvm.plan(np.asarray(plan.wm).tolist(), share=False).outputs)  # CSD terms
        biases = int(np.count_nonzero(plan.b_acc))
        assert c.csd_digits == terms
        assert c.input_width == hw.graph[node.inputs[0]].types["result"].width
        assert c.luts == c.input_width * (terms + biases)
    assert costs[1].input_width == 8  # fc1's ap_fixed<9,3> result through the ReLU: ap_ufixed<8,2>
    assert estimate_cost(hw) == sum(c.luts for c in costs)


def test_narrower_types_never_cost_more_and_reuse_counts_multipliers(keras: Any, build: Any) -> None:
    model = _jet_like(build, keras)
    costs = []
    for w in (12, 10, 8, 6, 4):
        cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision=f"ap_fixed<{w},3>")
        costs.append(estimate_cost(nnfpga.convert_from_keras_model(model, hls_config=cfg)))
    assert costs == sorted(costs, reverse=True) and costs[0] > 2 * costs[-1]
    cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision="ap_fixed<8,3>")
    cfg["LayerName"]["fc1"]["ReuseFactor"] = 4
    (fc1, _) = layer_costs(nnfpga.convert_from_keras_model(model, hls_config=cfg))
    assert fc1.reuse_factor == 4
    assert fc1.luts == math.ceil(fc1.nonzero_weights / 4) * min(8 * 8 / 2, DSP_LUTS)


@pytest.mark.tools
@pytest.mark.slow
def test_estimate_orders_designs_as_yosys_does(keras: Any, build: Any) -> None:
    """Three precisions of a 16-12-5 MLP: the estimate and Yosys's LUT + 55 x DSP rank them alike."""
    try:
        tools.find("yosys")
    except ToolNotFoundError:
        require(None, "yosys", "make tools")
    model = _jet_like(build, keras)
    est, real = [], []
    for w in (4, 7, 10):
        cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision=f"ap_fixed<{w},3>")
        hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog")
        r = hw.synthesize("xc7", save=False, progress=False)
        est.append(estimate_cost(hw))
        real.append(r.lut + DSP_LUTS * r.dsp)
    assert est == sorted(est) and real == sorted(real), (est, real)
    assert real[0] < real[2] / 2  # a real difference, not noise
