"""PyTorch nn.LSTM, nn.GRU, nn.RNN (batch_first either way, num_layers > 1, bidirectional): float twins against torch,
Keras and PyTorch twins with the same weights giving the same emulated bits, and the refusals (typed, naming what
to change; never a bare AttributeError from inside the frontend)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import nnfpga
from nnfpga.errors import UnsupportedLayerError
from recurrent_data import bump_sequences, keras_twin, train_torch_lstm

torch = pytest.importorskip("torch")
STEPS, FEATS, UNITS = 6, 4, 5


class Seq(torch.nn.Module):
    """A recurrent module, then a Linear on its last step (batch first: ``y[:, -1, :]``; time first: ``y[-1]`` after
    transposing the batch-first input)."""

    def __init__(self, kind: str = "LSTM", batch_first: bool = True, num_layers: int = 1, bidirectional: bool = False,
                 **kw: Any) -> None:
        super().__init__()
        self.batch_first = batch_first
        self.rnn = getattr(torch.nn, kind)(FEATS, UNITS, batch_first=batch_first, num_layers=num_layers,
                                           bidirectional=bidirectional, **kw)
        self.out = torch.nn.Linear(UNITS * (1 + bidirectional), 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.batch_first:
            y, _ = self.rnn(x)
            return self.out(y[:, -1, :])
        y, _ = self.rnn(x.transpose(0, 1))
        return self.out(y[-1])


def randomized(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.5)
    return model.eval()


def x_of(n: int = 30) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, STEPS, FEATS))


CASES = [(kind, bf, layers, bi) for kind in ("LSTM", "GRU", "RNN")
         for bf, layers, bi in ((True, 1, False), (False, 1, False), (True, 2, True), (False, 2, True))]


@pytest.mark.parametrize(("kind", "batch_first", "layers", "bidirectional"), CASES)
def test_float_twin_follows_torch(kind: str, batch_first: bool, layers: int, bidirectional: bool) -> None:
    model = randomized(Seq(kind, batch_first, layers, bidirectional), CASES.index((kind, batch_first, layers,
                                                                                    bidirectional)))
    x = x_of()
    with torch.no_grad():
        want = model(torch.tensor(x, dtype=torch.float32)).double().numpy()
    hw = nnfpga.convert_from_pytorch_model(model, (STEPS, FEATS))
    np.testing.assert_allclose(hw.predict_float(x), want, rtol=1e-5, atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        assert np.abs(hw.predict(x) - want).max() < 0.05  # the default ap_fixed<16,6> config
    ops = [n.op for n in hw.graph]
    assert ops.count({"LSTM": "lstm", "GRU": "gru", "RNN": "simple_rnn"}[kind]) == layers * (1 + bidirectional)


def test_the_issue_model_converts_and_names_its_nodes() -> None:
    """``y, _ = self.lstm(x); return self.out(y[:, -1, :])`` (it crashed with a bare AttributeError before)."""

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(FEATS, UNITS, batch_first=True)
            self.out = torch.nn.Linear(UNITS, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y, _ = self.lstm(x)
            return self.out(y[:, -1, :])

    class Unpacked(Net):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y, (_h, _c) = self.lstm(x)  # the final state unpacked but not used
            return self.out(y[:, -1])

    x = x_of()
    one = nnfpga.convert_from_pytorch_model(randomized(Net(), 0), (STEPS, FEATS)).predict_float(x)
    np.testing.assert_array_equal(nnfpga.convert_from_pytorch_model(randomized(Unpacked(), 0), (STEPS, FEATS))
                                  .predict_float(x), one)
    g = nnfpga.graph_from_pytorch_model(randomized(Net(), 0), (STEPS, FEATS))
    assert [(n.op, n.name) for n in g][1:] == [("lstm", "lstm"), ("crop", "getitem_2"), ("reshape", "getitem_2_step"),
                                               ("dense", "out")]
    assert g["getitem_2"].attrs["crops"] == [[STEPS - 1, 0]]


def test_keras_and_pytorch_twins_emulate_the_same_bits(keras: Any) -> None:
    """A trained LSTM classifier (``tests/recurrent_data.py``), a random GRU and a random SimpleRNN, each as a torch
    model and a Keras model holding the same weights: the default config emulates both to the same bits; argmax
    agreement of the LSTM with its float model >= 99 %."""
    net = train_torch_lstm()
    x, _ = bump_sequences(500, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        from_torch = nnfpga.convert_from_pytorch_model(net, x.shape[1:]).predict(x)
        from_keras = nnfpga.convert_from_keras_model(keras_twin(keras, net)).predict(x)
    np.testing.assert_array_equal(from_torch, from_keras)
    with torch.no_grad():
        want = net(torch.tensor(x, dtype=torch.float32)).numpy()
    assert (from_torch.argmax(1) == want.argmax(1)).mean() >= 0.99

    gru = randomized(Seq("GRU"), 7)
    L = keras.layers
    inp = keras.Input((STEPS, FEATS))
    twin = keras.Model(inp, L.Dense(3, name="out")(L.GRU(UNITS, name="gru")(inp)))
    w = {k: v.detach().numpy() for k, v in gru.state_dict().items()}
    order = np.concatenate([np.arange(UNITS, 2 * UNITS), np.arange(UNITS), np.arange(2 * UNITS, 3 * UNITS)])  # r,z,n
    twin.get_layer("gru").set_weights([w["rnn.weight_ih_l0"][order].T, w["rnn.weight_hh_l0"][order].T,
                                       np.stack([w["rnn.bias_ih_l0"][order], w["rnn.bias_hh_l0"][order]])])
    twin.get_layer("out").set_weights([w["out.weight"].T, w["out.bias"]])
    xg = x_of(200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        np.testing.assert_array_equal(nnfpga.convert_from_pytorch_model(gru, (STEPS, FEATS)).predict(xg),
                                      nnfpga.convert_from_keras_model(twin).predict(xg))

    rnn = randomized(Seq("RNN"), 8)  # Keras's SimpleRNN has one bias: torch's two summed into bias_ih
    with torch.no_grad():
        rnn.rnn.bias_ih_l0 += rnn.rnn.bias_hh_l0
        rnn.rnn.bias_hh_l0.zero_()
    inp = keras.Input((STEPS, FEATS))
    twin = keras.Model(inp, L.Dense(3, name="out")(L.SimpleRNN(UNITS, name="rnn")(inp)))
    w = {k: v.detach().numpy() for k, v in rnn.state_dict().items()}
    twin.get_layer("rnn").set_weights([w["rnn.weight_ih_l0"].T, w["rnn.weight_hh_l0"].T, w["rnn.bias_ih_l0"]])
    twin.get_layer("out").set_weights([w["out.weight"].T, w["out.bias"]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        np.testing.assert_array_equal(nnfpga.convert_from_pytorch_model(rnn, (STEPS, FEATS)).predict(xg),
                                      nnfpga.convert_from_keras_model(twin).predict(xg))


class Refused(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.with_h0 = torch.nn.GRU(FEATS, UNITS, batch_first=True)
        self.projected = torch.nn.LSTM(FEATS, UNITS, batch_first=True, proj_size=2)
        self.relu_rnn = torch.nn.RNN(FEATS, UNITS, batch_first=True, nonlinearity="relu")
        self.time_first = torch.nn.LSTM(FEATS, UNITS)
        self.final_state = torch.nn.LSTM(FEATS, UNITS, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = torch.zeros(1, x.shape[0], UNITS)
        a, _ = self.with_h0(x, h0)
        b, _ = self.projected(x)
        c, _ = self.relu_rnn(x)
        d, _ = self.time_first(x)
        _, (h, _) = self.final_state(x)
        return a[:, -1] + b[:, -1, :2].sum(-1, keepdim=True) + c[:, -1] + d[:, -1] + h[-1]


def test_refusals_name_each_module_and_what_to_change() -> None:
    with pytest.raises(UnsupportedLayerError) as info:
        nnfpga.convert_from_pytorch_model(Refused().eval(), (STEPS, FEATS))
    text = str(info.value)
    for name, what in (("with_h0", "call it with the input only"), ("projected", "set proj_size=0"),
                       ("relu_rnn", "nonlinearity='relu'"), ("time_first", "batch_first=False) reading a batch-first"),
                       ("final_state", "use its last step, y[:, -1, :]")):
        assert f"'{name}" in text and what in text, (name, what, text)
    assert "AttributeError" not in text


def test_a_time_first_output_and_a_tuple_used_whole_are_refused() -> None:
    class TimeFirstOut(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = torch.nn.GRU(FEATS, UNITS)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.rnn(x.transpose(0, 1))[0]

    with pytest.raises(UnsupportedLayerError, match="time-first model output"):
        nnfpga.convert_from_pytorch_model(TimeFirstOut(), (STEPS, FEATS))

    class WholeTuple(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = torch.nn.RNN(FEATS, UNITS, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.rnn(x)[1])  # h_n, through another op

    with pytest.raises(UnsupportedLayerError, match="final state"):
        nnfpga.convert_from_pytorch_model(WholeTuple(), (STEPS, FEATS))
