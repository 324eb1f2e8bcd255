"""nnfpga.tune.precision: the per-layer search beats the best uniform type, its history, model kinds, bad input."""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import numpy as np
import pytest

import nnfpga
from nnfpga.datasets import make_jets, standardize
from nnfpga.errors import TuneError
from nnfpga.examples import DEFAULT_JET_MODEL, jet_norm_path, load_example
from nnfpga.tune import precision, uniform


@pytest.fixture(scope="module")
def jets() -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The bundled jet MLP, a search set of fresh jets (seed 7, standardized as in training), and 10,000 of its
    test jets."""
    model, x_test, y_test = load_example()
    with np.load(jet_norm_path(DEFAULT_JET_MODEL)) as norm:
        x, y = make_jets(3000, seed=7)
        x, _, _ = standardize(x, norm["mean"], norm["std"])
    return model, x, y, x_test[:10_000], y_test[:10_000]


def test_accuracy(model: Any, cfg: dict, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        fixed = hw.predict(x).argmax(1)
    return float(np.mean(hw.predict_float(x).argmax(1) == y)), float(np.mean(fixed == y))


test_accuracy.__test__ = False  # a helper, not a test


@pytest.mark.parametrize("strategy", ["efficiency", "saving"])
def test_beats_the_best_uniform_type_within_the_budget_on_a_test_set(jets: Any, strategy: str) -> None:
    """3,000 search jets, budget 0.5 accuracy points (margin 1), checked on 10,000 test jets; the uniform types:
    calibrated (each type its own integer bits) W = 4..12, and plain ap_fixed<W,I>, I = 0..8."""
    model, x, y, x_test, y_test = jets
    drop = 0.005
    kw = {"max_accuracy_drop": drop, "start_precision": "ap_fixed<12,6>"}
    cfg, res = precision(model, x, y, strategy=strategy, **kw)
    _, cal = uniform(model, x, y, widths=range(4, 13), **kw)
    _, plain = uniform(model, x, y, widths=range(4, 13), integer_bits=range(0, 9), **kw)
    assert res.cost < cal.best.cost and res.cost < plain.best.cost, (res.cost, cal.best, plain.best)
    assert len(plain.rows) == sum(min(w, 8) + 1 for w in range(4, 13))
    float_acc, fixed_acc = test_accuracy(model, cfg, x_test, y_test)
    assert float_acc - fixed_acc <= drop, (float_acc, fixed_acc)


def test_history_steps_down_in_cost_and_each_step_meets_the_budget(jets: Any) -> None:
    model, x, _, _, _ = jets
    cfg, res = precision(model, x[:1500], min_agreement=0.97, start_precision="ap_fixed<10,6>")
    assert res.metric == "agreement" and res.accuracy is None and res.float_accuracy is None
    costs = [s.cost for s in res.history]
    assert res.history[0].change == "start" and len(costs) > 3
    assert all(a > b for a, b in itertools.pairwise(costs))
    assert all(s.agreement - np.sqrt(s.agreement * (1 - s.agreement) / 1500) >= 0.97 for s in res.history)  # margin
    assert res.saved == costs[0] - costs[-1] > 0 and res.config is cfg
    curve = res.curve()
    assert curve["cost"].tolist() == costs and np.isnan(curve["accuracy"]).all()
    # the returned config is what the search measured: re-emulated, the same agreement and cost
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg)
    agreement = float(np.mean(hw.predict(x[:1500]).argmax(1) == hw.predict_float(x[:1500]).argmax(1)))
    assert agreement == res.agreement and nnfpga.tune.estimate_cost(hw) == res.cost
    for layer, slots in res.precisions.items():
        for slot, t in slots.items():
            assert cfg["LayerName"][layer]["Precision"][slot] == t
    assert "step" in res.table() and "estimated LUTs" in str(res)


def test_folded_batchnorm_converter_function_and_graph_give_the_same_search(tiny_mlp: Any) -> None:
    x = np.random.default_rng(5).normal(size=(2000, 6))
    start = nnfpga.config_from_keras_model(tiny_mlp, granularity="name", default_precision="ap_fixed<10,4>",
                                           calibration_data=x)
    kw = {"min_agreement": 0.95, "config": start}
    cfg, res = precision(tiny_mlp, x, **kw)
    assert "result" in res.precisions["bn"]  # the batch-norm's entry types the Dense it folded into
    again = precision(lambda c: nnfpga.convert_from_keras_model(tiny_mlp, hls_config=c), x, **kw)
    graph = precision(nnfpga.graph_from_keras_model(tiny_mlp), x, **kw)
    for other_cfg, other in (again, graph):
        assert other.history == res.history and other_cfg == cfg  # deterministic, whatever the model kind
    assert res.history[-1].cost < res.history[0].cost


def test_pytorch_graph(keras: Any) -> None:
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    x = np.random.default_rng(1).normal(size=(1000, 8)).astype(np.float32)
    y = net(torch.from_numpy(x)).argmax(1).numpy()
    with pytest.raises(TuneError, match=r"graph_from_pytorch_model\(model, input_shape\)"):
        precision(net, x, y)
    cfg, res = precision(nnfpga.graph_from_pytorch_model(net, (8,)), x, y, max_accuracy_drop=0.01,
                         start_precision="ap_fixed<10,4>")
    assert res.float_accuracy == 1.0 and res.accuracy >= 0.99 and res.cost < res.start_cost
    assert res.precisions.keys() == {"input", "layer_0", "layer_2"} and cfg["LayerName"]["layer_1"]  # the ReLU: auto


# -- bad input ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("kw", "match"), [
    ({"max_accuracy_drop": -0.01}, r"max_accuracy_drop must be a fraction in \[0, 1\).*got -0\.01"),
    ({"max_accuracy_drop": float("nan")}, r"max_accuracy_drop must be"),
    ({"min_agreement": 1.5}, r"min_agreement must be a fraction in \(0, 1\].*got 1\.5"),
    ({"min_agreement": 0}, r"min_agreement must be"),
    ({"min_width": 0}, r"min_width must be a positive number of bits, got 0"),
    ({"strategy": "fast"}, r"strategy must be one of 'efficiency', 'saving', got 'fast'"),
    ({"margin": -1}, r"margin must be a number of standard errors >= 0 \(0: the budget exactly on X\), got -1"),
])
def test_invalid_budget(tiny_mlp: Any, kw: dict, match: str) -> None:
    x = np.random.default_rng(0).normal(size=(50, 6))
    with pytest.raises(TuneError, match=match):
        precision(tiny_mlp, x, np.zeros(50, dtype=int), **kw)


def test_budget_the_start_config_misses_says_what_to_change(jets: Any) -> None:
    model, _, _, x_test, y_test = jets
    with pytest.raises(TuneError, match=r"\(agreement >= 100\.0000%, 1 standard errors of margin\): the start config "
                                        r"reaches agreement 99\.9\d+% with the float model on X\. Lower min_agreement "
                                        r"below 0\.99\d\d or lower margin, or start wider "
                                        r"\(start_precision='ap_fixed<24,8>'"):
        precision(model, x_test, min_agreement=1.0)
    with pytest.raises(TuneError, match=r"\(accuracy >= 7\d\.\d+% \(float\) - 0\.0000%, 1 standard errors of margin\): "
                                        r"the start config reaches accuracy \d+\.\d+% \(float model 7\d\.\d+%\) on X\. "
                                        r"Raise max_accuracy_drop or lower margin"):
        precision(model, x_test[:2000], y_test[:2000], max_accuracy_drop=0.0, start_precision="ap_fixed<6,3>")


def test_uniform_budget_no_type_meets(tiny_mlp: Any) -> None:
    x = np.random.default_rng(0).normal(size=(500, 6))
    with pytest.raises(TuneError, match=r"the best uniform type tried reaches agreement"):
        uniform(tiny_mlp, x, min_agreement=1.0, widths=[2, 3])


@pytest.mark.parametrize(("X", "y", "match"), [
    (np.zeros((10, 5)), np.zeros(10, dtype=int), r"X has shape \(10, 5\); the model takes \(batch, 6\)"),
    (np.zeros(6), None, r"X must hold at least one sample.*got shape \(6,\)"),
    (np.zeros((0, 6)), None, r"got shape \(0, 6\)"),
    ([["a"] * 6], None, r"X must be a numeric array"),
    (np.zeros((10, 6)), np.zeros(9, dtype=int), r"y must be class labels of shape \(10,\) or one-hot \(10, 4\).*"
                                                r"got shape \(9,\)"),
    (np.zeros((10, 6)), np.full(10, 4), r"y has labels 4\.\.4; the model has 4 classes \(0\.\.3\)"),
    (np.zeros((10, 6)), np.full(10, 0.5), r"y must hold integer class labels, got dtype float64"),
    (np.zeros((10, 6)), None, r"the accuracy budget needs labels: pass y, or .*min_agreement"),
])
def test_bad_data(tiny_mlp: Any, X: Any, y: Any, match: str) -> None:
    with pytest.raises(TuneError, match=match):
        precision(tiny_mlp, X, y)


def test_bad_models(tiny_mlp: Any, keras: Any, build: Any) -> None:
    x = np.random.default_rng(0).normal(size=(20, 6))
    with pytest.raises(TuneError, match=r"a converter function needs config="):
        precision(lambda c: None, x, min_agreement=0.9)
    cfg = nnfpga.config_from_keras_model(tiny_mlp, granularity="name")
    with pytest.raises(TuneError, match=r"must return an nnfpga HWModel .*got NoneType"):
        precision(lambda c: None, x, min_agreement=0.9, config=cfg)
    with pytest.raises(TuneError, match=r"cannot search precisions for a int"):
        precision(3, x, min_agreement=0.9)
    with pytest.raises(TuneError, match=r"no LayerName weight/bias/result precisions.*granularity='name'"):
        precision(tiny_mlp, x, min_agreement=0.9, config={"Model": {"Precision": "ap_fixed<8,3>"}})
    regression = build([keras.layers.Dense(1, name="fc")], seed=2)
    with pytest.raises(TuneError, match=r"output must be \(batch, classes\) with 2 or more classes, got \(20, 1\)"):
        precision(regression, x, min_agreement=0.9)
