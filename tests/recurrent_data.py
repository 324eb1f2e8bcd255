"""A synthetic sequence-classification task for the recurrent frontend tests, and (from
``benchmarks/recurrent_cases.py``, shared with ``benchmarks/recurrent_acceptance.py``) the seeded models, layer
builders and explicit precisions the recurrent C simulation and Verilator tests share.

``bump_sequences(n, steps, features, seed)``: ``n`` sequences of ``steps`` x ``features`` standard-normal noise;
sequence ``i`` has class ``y[i]`` in ``0..features-1`` (uniform), marked by adding 1.5 to feature ``y[i]`` over 4
consecutive steps at a uniform random position. A small LSTM learns it to over 90 % accuracy in a few epochs; the
class is visible only by integrating over time (no single step shows it reliably).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parents[1] / "benchmarks"))  # after tests/: no shadowing
from recurrent_cases import EXPLICIT, bidirectional_lstm, gru_stack, lstm, seeded_model, simple_rnn

__all__ = ["EXPLICIT", "bidirectional_lstm", "bump_sequences", "gru_stack", "keras_twin", "lstm", "seeded_model",
           "simple_rnn", "train_torch_lstm"]

BUMP, WIDTH = 1.5, 4


def bump_sequences(n: int, steps: int = 12, features: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, steps, features))
    y = rng.integers(0, features, n)
    start = rng.integers(0, steps - WIDTH + 1, n)
    for i in range(n):
        x[i, start[i]:start[i] + WIDTH, y[i]] += BUMP
    return x, y


def train_torch_lstm(units: int = 8, seed: int = 0) -> object:
    """An ``nn.LSTM(units, batch_first=True)`` -> Linear -> softmax classifier of :func:`bump_sequences`, trained
    with torch (seconds; Keras 3's torch backend trains the same model about 50x slower), its two biases then folded
    into ``bias_ih`` (``bias_hh`` zero: the same function, and weights a Keras LSTM twin holds exactly)."""
    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(3, units, batch_first=True)
            self.out = torch.nn.Linear(units, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y, _ = self.lstm(x)
            return torch.softmax(self.out(y[:, -1, :]), dim=-1)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: more threads only contend (109 s with 2 on the loaded 2-core machine, 9 s)
    torch.manual_seed(seed)
    net = Net()
    x, y = bump_sequences(800, seed=seed)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(12):
        for i in range(0, len(xt), 32):
            opt.zero_grad()
            loss = torch.nn.functional.nll_loss(torch.log(net(xt[i:i + 32]) + 1e-9), yt[i:i + 32])
            loss.backward()
            opt.step()
    with torch.no_grad():
        net.lstm.bias_ih_l0 += net.lstm.bias_hh_l0
        net.lstm.bias_hh_l0.zero_()
    torch.set_num_threads(threads)
    return net.eval()


def keras_twin(keras: object, net: object) -> object:
    """The Keras LSTM(units) -> Dense(3, softmax) holding ``net``'s weights (torch's gate order i, f, g, o is Keras's
    i, f, c, o; kernels transposed)."""
    L = keras.layers
    lstm = net.lstm
    units = lstm.hidden_size
    inp = keras.Input((12, 3), name="x")
    model = keras.Model(inp, L.Dense(3, activation="softmax", name="out")(L.LSTM(units, name="lstm")(inp)))
    w = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    model.get_layer("lstm").set_weights([w["lstm.weight_ih_l0"].T, w["lstm.weight_hh_l0"].T, w["lstm.bias_ih_l0"]])
    model.get_layer("out").set_weights([w["out.weight"].T, w["out.bias"]])
    return model

