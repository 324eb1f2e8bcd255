"""HLS backend, recurrent layers (LSTM, GRU both reset_after conventions, SimpleRNN, Bidirectional): the generated
C++ compiled with g++ equals the emulator bit for bit, with default precisions and with explicit narrow ones
(rounding and saturating state, wrapping accumulator), one cell reused (hls4ml's ``static``) or one per step."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import nnfpga
from backends.hls.test_csim import assert_bit_exact
from nnfpga.errors import ConfigError
from recurrent_data import EXPLICIT, bidirectional_lstm, gru_stack, lstm, seeded_model, simple_rnn

pytestmark = [pytest.mark.tools, pytest.mark.slow]


def _bidirectional_gru_sum(L: Any) -> list[Any]:
    return [L.Bidirectional(L.GRU(5, reset_after=False), merge_mode="sum", name="bigru"), L.Dense(3, name="fc")]


# name -> (sequence shape, layers)
CASES: dict[str, tuple[tuple[int, int], Any]] = {
    "lstm_dense_softmax": ((20, 6), lstm(20)),
    "gru_stack_reset_after": ((10, 5), gru_stack(8, 6, True)),
    "gru_stack_reset_before": ((10, 5), gru_stack(8, 6, False)),
    "simple_rnn_backwards": ((12, 4), simple_rnn(9, 4)),
    "bidirectional_lstm": ((9, 4), bidirectional_lstm(6, 4)),
    "bidirectional_gru_last_sum": ((9, 4), _bidirectional_gru_sum),
}
RECURRENT = ("LSTM", "GRU", "SimpleRNN")


def rnn_model(name: str) -> Any:
    return seeded_model(CASES, name)


def convert(model: Any, out: Any, precision: str, static: bool, io_type: str = "io_parallel") -> nnfpga.HWModel:
    cfg = nnfpga.config_from_keras_model(model, granularity="name")
    probe = nnfpga.convert_from_keras_model(model, hls_config=cfg)
    for node in probe.graph:
        if node.op in ("lstm", "gru", "simple_rnn"):
            entry = cfg["LayerName"].setdefault(node.name, {})
            entry["Static"] = static
            if precision == "explicit":
                entry["Precision"] = dict(EXPLICIT)
    return nnfpga.convert_from_keras_model(model, hls_config=cfg, output_dir=out, io_type=io_type)


def sequences(shape: tuple[int, int], n: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(0, 1.5, size=(n, *shape))
    x[: n // 20] *= 8  # beyond the input type: saturated/wrapped inputs
    return x


@pytest.mark.parametrize("static", [True, False], ids=["static", "unrolled"])
@pytest.mark.parametrize("precision", ["default", "explicit"])
@pytest.mark.parametrize("name", list(CASES))
def test_recurrent_parallel(tmp_path, name, precision, static):
    model = rnn_model(name)
    hw = convert(model, tmp_path / "prj", precision, static)
    assert [n.name for n in hw.graph if n.op in ("lstm", "gru", "simple_rnn")]
    n = 2000 if (name, precision, static) == ("lstm_dense_softmax", "explicit", True) else 300
    assert_bit_exact(hw, sequences(CASES[name][0], n, 1), None)
    cfg = (tmp_path / "prj" / "firmware" / "parameters.h").read_text()
    assert f"is_static = {'true' if static else 'false'};" in cfg


@pytest.mark.parametrize("static", [True, False], ids=["static", "unrolled"])
def test_recurrent_reuse_factors(tmp_path, static):
    """ReuseFactor and RecurrentReuseFactor fold each cell product (a pipelined product of II R with
    ceil(products / R) multipliers under Vitis); g++ runs the same arithmetic: the same bits."""
    model = rnn_model("gru_stack_reset_before")  # gru1: 5 x 24 and 8 x 24 products, gru2: 8 x 18 and 6 x 18
    cfg = nnfpga.config_from_keras_model(model, granularity="name")
    for layer, rf, rrf in (("gru1", 4, 12), ("gru2", 9, 27)):
        cfg["LayerName"].setdefault(layer, {}).update(ReuseFactor=rf, RecurrentReuseFactor=rrf, Static=static)
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, output_dir=tmp_path / "prj", io_type="io_parallel")
    assert_bit_exact(hw, sequences(CASES["gru_stack_reset_before"][0], 300, 5), None)
    params = (tmp_path / "prj" / "firmware" / "parameters.h").read_text()
    for rf, rrf in ((4, 12), (9, 27)):
        assert (f"static const unsigned reuse_factor = {rf};\n    static const unsigned recurrent_reuse_factor = "
                f"{rrf};\n    static const unsigned cell_ii = {rrf};") in params


@pytest.mark.parametrize("name", ["lstm_dense_softmax", "gru_stack_reset_before"])
def test_recurrent_xilinx_headers(tmp_path, ap_types, name):
    """Both ap_types header sets (nnfpga's and Xilinx's), explicit narrow precisions."""
    hw = convert(rnn_model(name), tmp_path / "prj", "explicit", True)
    assert_bit_exact(hw, sequences(CASES[name][0], 300, 2), ap_types)


def test_recurrent_stream(tmp_path):
    """io_stream: the recurrent layer is a buffered stage (the whole sequence, then the io_parallel call)."""
    hw = convert(rnn_model("bidirectional_lstm"), tmp_path / "prj", "explicit", False, io_type="io_stream")
    assert_bit_exact(hw, sequences(CASES["bidirectional_lstm"][0], 300, 3), None)


def test_static_must_be_boolean(tmp_path):
    model = rnn_model("simple_rnn_backwards")
    cfg = nnfpga.config_from_keras_model(model, granularity="name")
    cfg["LayerName"]["rnn"] = {"Static": "yes"}
    with pytest.raises(ConfigError, match="Static must be true"):
        nnfpga.convert_from_keras_model(model, hls_config=cfg, output_dir=tmp_path / "prj")


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_pytorch_two_layer_bidirectional(tmp_path, kind):
    """PyTorch's own layout (two biases, GRU reset after), two stacked bidirectional layers, the last step sliced."""
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = getattr(torch.nn, kind)(4, 5, batch_first=True, num_layers=2, bidirectional=True)
            self.out = torch.nn.Linear(10, 3)

        def forward(self, x: Any) -> Any:
            y, _ = self.rnn(x)
            return self.out(y[:, -1, :])

    torch.manual_seed(3)
    net = Net()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.6)
    hw = nnfpga.convert_from_pytorch_model(net.eval(), (7, 4), output_dir=tmp_path / "prj", io_type="io_parallel")
    assert len([n for n in hw.graph if n.op in ("lstm", "gru", "simple_rnn")]) == 4
    assert_bit_exact(hw, sequences((7, 4), 300, 4), None)
