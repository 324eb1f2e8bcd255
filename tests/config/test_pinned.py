"""Types pinned by a quantization-aware frontend (attrs["qtypes"]) survive configs and passes."""

import numpy as np
import pytest

from nnfpga.config import apply_config, default_config, parse_config
from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Graph, Node
from nnfpga.passes import run_pipeline


def _graph() -> Graph:
    rng = np.random.default_rng(0)
    g = Graph(name="q")
    g.add(Node("x", "input", [], (4,)))
    g.add(Node("fc", "dense", ["x"], (3,), weights={"kernel": rng.integers(-8, 8, (4, 3)) / 8.0,
                                                    "bias": np.zeros(3)},
               attrs={"qtypes": {"weight": "ap_fixed<4,1>", "bias": "ap_fixed<8,3>"}}))
    g.add(Node("bn", "scale_shift", ["fc"], (3,), weights={"scale": np.full(3, 2.0), "shift": np.zeros(3)}))
    g.add(Node("q", "linear", ["bn"], (3,), attrs={"qtypes": {"result": "ap_fixed<6,3,AP_RND_CONV,AP_SAT>"}}))
    g.outputs = ["q"]
    return g


def test_passes_keep_quantized_nodes():
    g = _graph()
    run_pipeline(g)
    assert list(g.nodes) == ["x", "fc", "bn", "q"]  # no batch-norm folding into trained weights, no cast dropped


def test_pinned_types_beat_model_and_layer_type_but_not_layer_name():
    g = _graph()
    cfg = {"Model": {"Precision": "ap_fixed<16,6>"}, "LayerType": {"Dense": {"Precision": {"weight": "ap_fixed<9,2>"}}}}
    typed = apply_config(g, parse_config(cfg))
    assert typed["fc"].types["weight"] == FixedType.parse("ap_fixed<4,1>")
    assert typed["q"].types["result"] == FixedType.parse("ap_fixed<6,3,AP_RND_CONV,AP_SAT>")
    cfg["LayerName"] = {"fc": {"Precision": {"weight": "ap_fixed<9,2>"}}}
    with pytest.warns(UserWarning, match=r"^LayerName.fc.Precision.weight = ap_fixed<9,2> replaces ap_fixed<4,1>, "
                                         r"the type fc was trained with \(its quantizer\): the firmware's outputs "
                                         r"then differ from the trained model's quantized inference$"):
        typed = apply_config(g, parse_config(cfg))
    assert typed["fc"].types["weight"] == FixedType.parse("ap_fixed<9,2>")
    assert typed["fc"].types["bias"] == FixedType.parse("ap_fixed<8,3>")


def test_default_config_reports_pinned_types_with_calibration():
    g = _graph()
    cfg = default_config(g, granularity="name", calibration_data=np.random.default_rng(1).normal(size=(200, 4)))
    assert cfg["LayerName"]["fc"]["Precision"]["weight"] == "ap_fixed<4,1>"
    assert cfg["LayerName"]["q"]["Precision"]["result"] == "ap_fixed<6,3,AP_RND_CONV,AP_SAT>"
    typed = apply_config(g, parse_config(cfg))
    assert typed["q"].types["result"] == FixedType.parse("ap_fixed<6,3,AP_RND_CONV,AP_SAT>")


def test_pinned_saturation_is_counted_but_not_warned():
    import warnings

    import nnfpga
    from nnfpga.config import parse_config

    g = _graph()
    run_pipeline(g)
    hw = nnfpga.HWModel(apply_config(g, parse_config({"Model": {"Precision": "ap_fixed<16,6>"}})), {})
    x = np.full((4, 4), 3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", nnfpga.OverflowWarning)
        hw.predict(x)  # q saturates as the trained quantizer does: no warning
    assert hw.last_stats.overflow[("q", "result")].count > 0
