"""ONNX LSTM, GRU and RNN: torch.onnx exports of nn.LSTM / nn.GRU / nn.RNN (batch_first either way, num_layers 2,
bidirectional) emulate to the same bits as the PyTorch frontend on the same model (default and explicit configs)
and follow onnxruntime in float; graphs built with onnx.helper cover layout=1, reverse, Y_h, GRU
linear_before_reset=0, and the refusals (all listed at once, typed, each saying what to change)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnfpga
from nnfpga.errors import UnsupportedLayerError

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
STEPS, FEATS, UNITS = 6, 4, 5
KINDS = {"LSTM": "LSTM", "GRU": "GRU", "RNN": "SimpleRNN"}  # torch module -> the config's LayerType


class Seq(torch.nn.Module):
    """A recurrent module, then a Linear on its last step (``y[:, -1, :]``, or ``y[-1]`` time first)."""

    def __init__(self, kind: str, batch_first: bool, num_layers: int, bidirectional: bool) -> None:
        super().__init__()
        self.batch_first = batch_first
        self.rnn = getattr(torch.nn, kind)(FEATS, UNITS, batch_first=batch_first, num_layers=num_layers,
                                           bidirectional=bidirectional)
        self.out = torch.nn.Linear(UNITS * (1 + bidirectional), 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.batch_first:
            y, _ = self.rnn(x)
            return self.out(y[:, -1, :])
        y, _ = self.rnn(x.transpose(0, 1))
        return self.out(y[-1])


def export(model: torch.nn.Module, path: Path, dynamo: bool) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sample = torch.zeros(2, STEPS, FEATS)
        if dynamo:
            torch.onnx.export(model, (sample,), str(path), dynamo=True, input_names=["x"],
                              dynamic_shapes={"x": {0: torch.export.Dim("n")}}, verbose=False)
        else:
            torch.onnx.export(model, sample, str(path), dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "n"}})
    return path


def onnxruntime_of(model: Any, x: np.ndarray) -> np.ndarray:
    blob = model if isinstance(model, (str, Path)) else model.SerializeToString()
    sess = ort.InferenceSession(str(blob) if isinstance(blob, Path) else blob, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0]


def explicit(kind: str) -> dict[str, Any]:
    return {"Model": {"Precision": "ap_fixed<14,5>"},
            "LayerType": {KINDS[kind]: {"TableSize": 256, "Precision": {
                "weight": "ap_fixed<8,2>", "recurrent_weight": "ap_fixed<9,2>", "bias": "ap_fixed<8,3>",
                "accum": "ap_fixed<20,8>", "state": "ap_fixed<12,4>", "table": "ap_fixed<10,2>",
                "result": "ap_fixed<11,4>"}}}}


# the dynamo exporter writes nn.RNN unrolled (MatMul per step), not as an ONNX RNN: TorchScript's only
CASES = [(kind, bf, layers, bi, dynamo) for kind in ("LSTM", "GRU", "RNN")
         for bf, layers, bi in ((True, 1, False), (False, 1, False), (True, 2, True), (False, 2, True))
         for dynamo in ((False, True) if kind != "RNN" else (False,))]


@pytest.mark.parametrize(("kind", "batch_first", "layers", "bidirectional", "dynamo"), CASES)
def test_torch_export_emulates_as_the_pytorch_frontend(tmp_path: Path, kind: str, batch_first: bool, layers: int,
                                                       bidirectional: bool, dynamo: bool) -> None:
    torch.manual_seed(CASES.index((kind, batch_first, layers, bidirectional, dynamo)))
    model = Seq(kind, batch_first, layers, bidirectional)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.5)
    model.eval()
    path = export(model, tmp_path / "rnn.onnx", dynamo)
    x = np.random.default_rng(1).normal(size=(200, STEPS, FEATS))
    from_onnx = nnfpga.convert_from_onnx_model(str(path))
    np.testing.assert_allclose(from_onnx.predict_float(x), onnxruntime_of(path, x), rtol=1e-5, atol=1e-5)
    op = {"LSTM": "lstm", "GRU": "gru", "RNN": "simple_rnn"}[kind]
    assert [n.op for n in from_onnx.graph].count(op) == layers * (1 + bidirectional)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        for cfg in (None, explicit(kind)):
            want = nnfpga.convert_from_pytorch_model(model, (STEPS, FEATS), hls_config=cfg).predict(x)
            got = nnfpga.convert_from_onnx_model(str(path), hls_config=cfg).predict(x)
            np.testing.assert_array_equal(got, want)


class FinalState(Seq):
    """``_, h_n = self.rnn(x)`` and a Linear on ``h_n[-1]`` (the last layer's last direction): torch exports the
    layers' ``Y_h`` concatenated, then a Gather. Unidirectional, ``h_n[-1]`` is ``y[:, -1]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h = self.rnn(x if self.batch_first else x.transpose(0, 1))
        h = h[0] if isinstance(h, tuple) else h
        return self.out(h[-1])


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_final_state_h_n(tmp_path: Path, kind: str, bidirectional: bool) -> None:
    torch.manual_seed(5)
    model = FinalState(kind, True, 2, bidirectional)
    if bidirectional:
        model.out = torch.nn.Linear(UNITS, 3)
    model.eval()
    path = export(model, tmp_path / "h_n.onnx", False)
    x = np.random.default_rng(4).normal(size=(200, STEPS, FEATS))
    hw = nnfpga.convert_from_onnx_model(str(path))
    np.testing.assert_allclose(hw.predict_float(x), onnxruntime_of(path, x), rtol=1e-5, atol=1e-5)
    if not bidirectional:  # the same weights read as y[:, -1] by the PyTorch frontend: the same bits
        twin = Seq(kind, True, 2, False)
        twin.load_state_dict(model.state_dict())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", nnfpga.OverflowWarning)
            np.testing.assert_array_equal(hw.predict(x), nnfpga.convert_from_pytorch_model(twin.eval(), (STEPS, FEATS))
                                          .predict(x))


# -- graphs built node by node -------------------------------------------------------------------------------
def rnn_graph(op: str, *, layout: int = 0, direction: str = "forward", out: str = "Y", zero_state: bool = False,
              seed: int = 0, attrs: dict[str, Any] | None = None, inits: dict[str, np.ndarray] | None = None,
              outputs: tuple[str, ...] = ("Y", "Y_h")) -> Any:
    """x (batch, STEPS, FEATS) -> [Transpose to time first if layout 0] -> ``op`` -> what ``out`` selects."""
    h = onnx.helper
    g, dirs = {"LSTM": 4, "GRU": 3, "RNN": 1}[op], 2 if direction == "bidirectional" else 1
    rng = np.random.default_rng(seed)
    consts = {"W": rng.normal(0, 0.5, (dirs, g * UNITS, FEATS)), "R": rng.normal(0, 0.5, (dirs, g * UNITS, UNITS)),
              "B": rng.normal(0, 0.5, (dirs, 2 * g * UNITS)), **(inits or {})}
    nodes = []
    xin = "x"
    if layout == 0:
        nodes.append(h.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]))
        xin = "xt"
    ins = [xin, "W", "R", "B", "", "", "", ""]
    for k in inits or {}:
        ins[{"seq": 4, "h0": 5, "c0": 6, "P": 7}[k]] = k
    if zero_state:  # zeros of shape (dirs, batch, hidden), as torch's TorchScript export computes them
        nodes += [h.make_node("Shape", ["x"], ["xs"]), h.make_node("Slice", ["xs", "zero1", "one1"], ["n"]),
                  h.make_node("Concat", ["dirs", "n", "units"], ["h0_shape"], axis=0),
                  h.make_node("ConstantOfShape", ["h0_shape"], ["zeros"])]
        consts |= {"zero1": np.array([0]), "one1": np.array([1]), "dirs": np.array([dirs]),
                   "units": np.array([UNITS])}
        ins[5] = "zeros"
        if op == "LSTM":
            ins[6] = "zeros"
    while not ins[-1]:
        ins.pop()
    nodes.append(h.make_node(op, ins, list(outputs), hidden_size=UNITS, direction=direction, layout=layout,
                             **(attrs or {})))
    if out == "Y":  # the last step of Y, batch first: (batch, dirs * hidden)
        perm = [2, 0, 1, 3] if layout == 0 else [0, 1, 2, 3]
        nodes += [h.make_node("Transpose", ["Y"], ["Yb"], perm=perm),
                  h.make_node("Reshape", ["Yb", "shape"], ["Yr"]),
                  h.make_node("Gather", ["Yr", "last"], ["y"], axis=1)]
        consts |= {"shape": np.array([0, STEPS, dirs * UNITS]), "last": np.array(-1)}
    elif out == "Y_slice":  # the last two steps of Y, batch first (y[:, -2:]), flattened
        big = np.iinfo(np.int64).max
        nodes += [h.make_node("Transpose", ["Y"], ["Yb"], perm=[2, 0, 1, 3] if layout == 0 else [0, 1, 2, 3]),
                  h.make_node("Slice", ["Yb", "starts", "ends", "axes"], ["Ys"]),
                  h.make_node("Reshape", ["Ys", "flat"], ["y"])]
        consts |= {"starts": np.array([0, -2]), "ends": np.array([big, big]), "axes": np.array([0, 1]),
                   "flat": np.array([0, -1])}
    else:  # Y_h (or Y_c): directions then batch (layout 0) -> (batch, dirs * hidden)
        perm = [1, 0, 2] if layout == 0 else [0, 1, 2]
        nodes += [h.make_node("Transpose", [out], ["Hb"], perm=perm),
                  h.make_node("Reshape", ["Hb", "flat"], ["y"])]
        consts["flat"] = np.array([0, dirs * UNITS])
    ints = ("shape", "last", "flat", "seq", "zero1", "one1", "dirs", "units", "starts", "ends", "axes")
    tensors = [onnx.numpy_helper.from_array(np.asarray(v, dtype=np.int64 if k in ints else np.float32), k)
               for k, v in consts.items()]
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", STEPS, FEATS])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)], tensors)
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 14)])


BUILT = {
    "lstm_reverse_y": dict(op="LSTM", direction="reverse"),
    "lstm_bidirectional_y_h": dict(op="LSTM", direction="bidirectional", out="Y_h"),
    "lstm_reverse_y_h_only": dict(op="LSTM", direction="reverse", out="Y_h", outputs=("", "Y_h")),
    "gru_reset_before": dict(op="GRU", attrs={"linear_before_reset": 0}),
    "gru_bidirectional_y_h_reset_before": dict(op="GRU", direction="bidirectional", out="Y_h",
                                               attrs={"linear_before_reset": 0}),
    "rnn_layout1_bidirectional": dict(op="RNN", layout=1, direction="bidirectional"),
    "lstm_layout1_y_h": dict(op="LSTM", layout=1, out="Y_h"),
    "gru_bidirectional_slice_last_two": dict(op="GRU", direction="bidirectional", out="Y_slice",
                                             attrs={"linear_before_reset": 1}),
    "lstm_zero_initial_state": dict(op="LSTM", direction="bidirectional", zero_state=True),
}


@pytest.mark.parametrize("name", sorted(BUILT))
def test_built_graphs_follow_onnxruntime(name: str) -> None:
    model = rnn_graph(**BUILT[name], seed=sorted(BUILT).index(name))
    x = np.random.default_rng(2).normal(size=(64, STEPS, FEATS))
    hw = nnfpga.convert_from_onnx_model(model)
    if BUILT[name].get("layout") == 1:  # onnxruntime's CPU kernels read layout 0 only: the same cell, time first
        ref = onnx.ModelProto()
        ref.CopyFrom(model)
        _to_layout0(ref)
        want = onnxruntime_of(ref, x)
    else:
        want = onnxruntime_of(model, x)
    np.testing.assert_allclose(hw.predict_float(x), want, rtol=1e-5, atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        assert np.abs(hw.predict(x) - want).max() < 0.1  # the default ap_fixed<16,6> config
    if name == "lstm_reverse_y_h_only":
        assert not hw.graph["lstm"].attrs["return_sequences"]


def _to_layout0(model: Any) -> None:
    """The same graph with the recurrent node at layout 0 between transposes (onnxruntime's reference)."""
    h, g = onnx.helper, model.graph
    nodes = list(g.node)
    i = next(k for k, n in enumerate(nodes) if n.op_type in ("LSTM", "GRU", "RNN"))
    cell = nodes[i]
    for a in cell.attribute:
        if a.name == "layout":
            a.i = 0
    x, outs = cell.input[0], list(cell.output)
    cell.input[0] = f"{x}_t"
    pre = h.make_node("Transpose", [x], [f"{x}_t"], perm=[1, 0, 2])
    post = []
    for j, (o, perm) in enumerate(zip(outs, ([2, 0, 1, 3], [1, 0, 2], [1, 0, 2]), strict=False)):
        if o:
            cell.output[j] = f"{o}_t"
            post.append(h.make_node("Transpose", [f"{o}_t"], [o], perm=perm))
    del g.node[:]
    g.node.extend([*nodes[:i], pre, cell, *post, *nodes[i + 1:]])


def test_refusals_are_listed_at_once_with_what_to_change() -> None:
    model = rnn_graph("LSTM", out="Y_c", outputs=("Y", "Y_h", "Y_c"),
                      attrs={"activations": ["Sigmoid", "Relu", "Tanh"], "clip": 3.0, "input_forget": 1},
                      inits={"seq": np.full((1,), STEPS), "h0": np.full((1, 1, UNITS), 0.5),
                             "c0": np.zeros((1, 1, UNITS)), "P": np.zeros((1, 3 * UNITS))})
    with pytest.raises(UnsupportedLayerError) as info:
        nnfpga.convert_from_onnx_model(model)
    text = str(info.value)
    for what in ("activations=['Sigmoid', 'Relu', 'Tanh']", "clip=3.0", "use input_forget=0",
                 "sequence_lens", "initial_h input that is not a constant zero", "peepholes",
                 "Y_c is used"):
        assert what in text, (what, text)
    assert "initial_c" not in text  # a constant zero is fine
    assert "AttributeError" not in text and "ValueError" not in text


def test_batch_first_input_to_layout0_and_time_first_output_are_refused() -> None:
    h = onnx.helper
    model = rnn_graph("GRU", layout=0)
    g = model.graph
    nodes = [n for n in g.node if n.op_type != "Transpose" or n.input[0] != "x"]
    nodes[0].input[0] = "x"  # a batch-first tensor read as (steps, batch, features)
    del g.node[:]
    g.node.extend(nodes)
    with pytest.raises(UnsupportedLayerError, match=r"layout=0 reads X as \(steps, batch, features\)"):
        nnfpga.convert_from_onnx_model(model)
    model = rnn_graph("RNN", layout=0)
    g = model.graph
    keep = [n for n in g.node if n.op_type in ("Transpose", "RNN")][:2]
    keep.append(h.make_node("Squeeze", ["Y", "one"], ["y"]))
    g.initializer.append(onnx.numpy_helper.from_array(np.array([1], dtype=np.int64), "one"))
    del g.node[:]
    g.node.extend(keep)
    with pytest.raises(UnsupportedLayerError, match=r"time first\).*transpose it to batch first"):
        nnfpga.convert_from_onnx_model(model)
