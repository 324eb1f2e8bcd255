"""HLS io_stream line buffer: pixel streams, line-buffered conv and pooling, streamed padding, cropping and
upsampling, and the FIFO depths. Each model chains several layers of one kind so that one g++ build covers them;
the generated code is checked to stream every one of them (no silent fallback to a buffered stage), and g++ C
simulation (nnfpga's ap_types and Xilinx's) equals the emulator bit for bit on 2,000 inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import nnfpga
from backends.hls.test_csim import assert_bit_exact
from nnfpga.backends.hls.fifo import Schedule
from nnfpga.backends.hls.stream import move_steps
from nnfpga.frontends.keras import import_keras
from nnfpga.ir.graph import Node
from nnfpga.ops import OPS


def conv2d(L: Any) -> list[Any]:
    return [L.Input((9, 10, 2)),
            L.Conv2D(4, (3, 2), strides=(2, 3), padding="same", name="same_strides"),  # (5, 4, 4)
            L.Conv2D(4, 3, dilation_rate=2, padding="same", activation="relu", name="dilated"),  # (5, 4, 4)
            L.Conv2D(6, 2, groups=2, name="groups"),  # (4, 3, 6)
            L.DepthwiseConv2D(3, depth_multiplier=2, strides=2, padding="same", name="depthwise")]  # (2, 2, 12)


def conv1d(L: Any) -> list[Any]:
    return [L.Input((17, 3)),
            L.Conv1D(4, 4, strides=2, padding="same", name="same_stride2"),  # (9, 4)
            L.Conv1D(3, 3, padding="causal", dilation_rate=2, activation="tanh", name="causal_dilated"),  # (9, 3)
            L.DepthwiseConv1D(3, depth_multiplier=2, name="depthwise"),  # (7, 6)
            L.MaxPooling1D(2, name="max"),  # (3, 6)
            L.UpSampling1D(3, name="up"),  # (9, 6)
            L.ZeroPadding1D((1, 2), name="pad"),  # (12, 6)
            L.Cropping1D((2, 1), name="crop"),  # (9, 6)
            L.AveragePooling1D(3, strides=2, padding="same", name="avg")]  # (5, 6)


def pool2d(L: Any) -> list[Any]:
    return [L.Input((9, 8, 3)),
            L.ZeroPadding2D(((1, 2), (0, 1)), name="pad"),  # (12, 9, 3)
            L.MaxPooling2D(3, strides=2, padding="same", name="max_same"),  # (6, 5, 3)
            L.UpSampling2D((2, 3), name="up"),  # (12, 15, 3)
            L.Cropping2D(((1, 0), (2, 3)), name="crop"),  # (11, 10, 3)
            L.AveragePooling2D(3, strides=(2, 3), padding="same", name="avg_same"),  # (6, 4, 3): 3x3 mean truncated
            L.AveragePooling2D(2, name="avg_valid")]  # (3, 2, 3)


def global_pool(L: Any) -> list[Any]:
    return [L.Input((7, 6, 4)), L.Conv2D(5, 3, padding="same", activation="relu", name="conv"),
            L.GlobalMaxPooling2D(name="gmax"), L.Dense(3, activation="softmax", name="out")]


MODELS = {"conv2d": (conv2d, 4), "conv1d": (conv1d, 8), "pool2d": (pool2d, 6), "global_pool": (global_pool, 2)}


def build(name: str) -> Any:
    keras = import_keras()
    keras.utils.set_random_seed(17)
    layers = MODELS[name][0](keras.layers)
    model = keras.Sequential(layers, name=name)
    rng = np.random.default_rng(4)
    for layer in model.layers:  # weights on a wide range, some pruned, nonzero biases
        ws = [rng.normal(0, 1.2, w.shape) * (rng.random(w.shape) > 0.2) for w in layer.get_weights()]
        layer.set_weights(ws)
    return model


@pytest.mark.tools
@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS))
def test_line_buffer_equals_emulator(tmp_path, ap_types, name):
    """The default config; in the Conv2D chain, two layers with a ReuseFactor > 1 (II of the line buffer's step),
    one Resource and one Latency, and a narrow saturating accumulator."""
    model = build(name)
    cfg = nnfpga.config_from_keras_model(model, granularity="name")
    rfs = {}
    if name == "conv2d":
        probe = nnfpga.convert_from_keras_model(model, hls_config=cfg)
        for layer, strategy in (("same_strides", "Resource"), ("groups", "Latency")):
            rfs[layer] = nnfpga.ops.OPS["conv"].reuse_factors(probe.graph[layer])[-2]
            cfg["LayerName"][layer].update(ReuseFactor=rfs[layer], Strategy=strategy)
        cfg["LayerName"]["groups"]["Precision"]["accum"] = "ap_fixed<12,5,AP_RND,AP_SAT>"
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, output_dir=tmp_path / "prj", io_type="io_stream")
    prj = hw.write()
    top = (prj / "firmware" / "myproject.cpp").read_text()
    assert top.count(": streaming (one pixel per step)") == MODELS[name][1], top
    params = (prj / "firmware" / "parameters.h").read_text()
    for layer, rf in rfs.items():
        assert f"struct config_{layer} {{" in params and f"reuse_factor = {rf};" in params
    x = np.random.default_rng(21).uniform(-4, 4, size=(2000, *model.inputs[0].shape[1:]))
    x[:50] = np.round(x[:50])  # ties in max pooling, exact values
    assert_bit_exact(hw, x, ap_types)


@pytest.mark.tools
@pytest.mark.slow
def test_residual_fifo_depth_and_csim(tmp_path, ap_types):
    """Two residual blocks, all streaming: a conv + relu fork (the relu writes each pixel to two streams) and a max
    pooling fork (a fan-out stage copies its pixels), each into a 3x3 `same` conv branch and a skip, joined by a
    pixel-wise Add. A skip's FIFO holds what the fork writes while the branch's line buffer fills (else the fork
    stalls: a deadlock in hardware): one row + 2 pixels."""
    keras = import_keras()
    keras.utils.set_random_seed(3)
    L = keras.layers
    x_in = L.Input((6, 5, 2))
    fork = L.Conv2D(3, 1, activation="relu", name="fork")(x_in)
    y = L.Add(name="join")([L.Conv2D(3, 3, padding="same", name="branch")(fork), fork])
    pool = L.MaxPooling2D(2, padding="same", name="pool")(y)  # (3, 3, 3)
    y = L.Add(name="join2")([L.Conv2D(3, 3, padding="same", name="tail")(pool), pool])
    model = keras.Model(x_in, L.Conv2D(2, 2, name="head")(y))
    hw = nnfpga.convert_from_keras_model(model, output_dir=tmp_path / "prj", io_type="io_stream")
    prj = hw.write()
    fifos = {row.split("\t")[0]: row.split("\t") for row in (prj / "fifo_depths.txt").read_text().splitlines()
             if row and not row.startswith("#")}
    # rows of 5 pixels, then of 3: the skips get 5 + 2 and 3 + 2
    assert fifos["fork_relu_out_s1"][1:4] == ["fork_relu_out -> join_out", "pixels=30", "depth=7"], fifos
    assert fifos["pool_out_s1"][1:4] == ["pool_out -> join2_out", "pixels=9", "depth=5"], fifos
    assert fifos["fork_relu_out_s0"][1] == "fork_relu_out -> branch_out", fifos
    assert fifos["pool_out_fan"][1] == "pool_out -> fanout", fifos
    assert all(v[3] == "depth=2" for k, v in fifos.items() if k not in ("fork_relu_out_s1", "pool_out_s1")), fifos
    top = (prj / "firmware" / "myproject.cpp").read_text()
    assert "NNFPGA_HLS(STREAM variable=fork_relu_out_s1 depth=7)" in top
    assert top.count(": streaming (one pixel per step)") == 5, top  # fork, branch, pool, tail, head
    assert top.count(": pixel-wise (one pixel per step)") == 3, top  # fork's relu (two readers), join, join2
    assert_bit_exact(hw, np.random.default_rng(2).uniform(-4, 4, size=(2000, 6, 5, 2)), ap_types)


@pytest.mark.parametrize(("op", "attrs", "ring"), [
    ("zero_pad", {"pads": [[1, 2], [3, 0]]}, 1), ("crop", {"crops": [[1, 0], [2, 1]]}, 1),
    ("upsample", {"size": [2, 3]}, 5), ("upsample", {"size": [4]}, 1)])
def test_move_steps_replay_the_move(op, attrs, ring):
    """The step table, replayed in Python as move_stream runs it, gives the op's own move; the ring is as small as
    it can be (one pixel for padding and cropping, one row for a 2D upsampling)."""
    in_shape = (4, 5, 1) if len(next(iter(attrs.values()))) == 2 else (4, 1)
    node = Node(name=op, op=op, inputs=["x"], shape=(), attrs=attrs)
    steps, n = move_steps(node, in_shape)
    assert n == ring
    pixels = np.arange(1, int(np.prod(in_shape[:-1])) + 1).reshape(1, *in_shape)
    expected = OPS[op].move(node, pixels).reshape(-1)
    buf, read, out = [0] * n, 0, []
    for s in steps:
        if s & 1:
            buf[read % n], read = int(pixels.reshape(-1)[read]), read + 1
        slot = s // 2 - 2
        if slot != -2:
            out.append(0 if slot < 0 else buf[slot])
    assert read == pixels.size and out == list(expected)


def test_fifo_depth_of_a_skip_beside_a_buffered_branch():
    """A skip beside a branch with a buffered stage (which reads the whole tensor before its first pixel) holds
    the whole tensor; beside a pixel-wise branch, 2; a buffered two-input stage's second input: the whole tensor."""
    srcs = {"fork": ["x"], "slow": ["fork"], "fast": ["fork"], "join": ["slow", "fork"], "join2": ["fast", "join"],
            "cat": ["join2", "fork"]}
    kinds = {"fork": "buffered", "slow": "buffered", "fast": "pixel", "join": "pixel", "join2": "pixel",
             "cat": "buffered"}
    s = Schedule("x", srcs, kinds, {}, dict.fromkeys([*srcs, "x"], 12))
    assert s.depth("fork", "join")[0] == 12 and s.depth("slow", "join")[0] == 2
    assert s.depth("fast", "join2")[0] == 12 and s.depth("join", "join2")[0] == 2  # join waits on slow
    assert s.depth("join2", "cat")[0] == 2 and s.depth("fork", "cat")[0] == 12
    assert s.depth("fork", "fast") == (2, s.depth("fork", "slow")[1])
