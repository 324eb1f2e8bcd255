"""Random Keras 3 CNNs for differential fuzzing (``KIND=cnn``), through nnfpga's Keras frontend.

A model (:func:`build_cnn_case`) is a Keras functional model on a small Conv1D ``(steps, C)`` or Conv2D ``(H, W,
C)`` input: 1-3 blocks drawn from Conv1D/2D (kernel sizes (also non-square), strides, dilation, ``valid``/``same``
padding, groups, bias or not, an inline activation or an activation layer), DepthwiseConv (depth multiplier),
SeparableConv, Max/AveragePooling (pool size, strides, padding), ZeroPadding, Cropping, UpSampling, a merge of two
conv branches (mostly a residual Add; every merge, concatenation of channels or rows), BatchNormalization after a
conv (conv -> batch-norm -> activation: folded into the conv) or after an activation or a pooling (a per-channel
scale/shift); then Flatten or a global pooling, and a Dense. Every weight is drawn from the seed (Keras's own
initializers are not used) and every layer is named, so a seed names the same model on every machine and run.

The Keras model is converted by :func:`nnfpga.api.graph_from_keras_model` (the frontend and its passes: separable
split, activations split off; then the batch-norm fold of the typed pipeline); then, as in :mod:`fuzz.strategies`,
every node gets random per-layer precisions (weights, biases, results, accumulators in every rounding and overflow
mode), conv and Dense layers random ReuseFactors and strategies, some kernels weights at the edges of their types,
pruned weights and random activation tables; io_parallel or io_stream. Shapes stay small (inputs up to 16x3 or
7x7x3, a block's output at most 128 values per sample) so that the generated C++ compiles fast.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fuzz.strategies import (
    DEFAULT,
    Chooser,
    FuzzCase,
    RngChooser,
    _fits,
    divisors,
    draw_timing,
    edge_weights,
    fixed_type,
    maybe,
)
from nnfpga.backends.rtl.stream import stream_problems
from nnfpga.fixed import ROUNDING_MODES, FixedType
from nnfpga.ir.graph import Graph, Node
from nnfpga.ops.base import OPS
from nnfpga.passes import infer_types
from nnfpga.passes.fold import FOLDED, fold_scale_shift

BLOCKS = ("conv", "conv", "depthwise", "separable", "pool", "pool", "pad", "crop", "upsample", "merge", "merge")
INLINE = (None, None, "relu", "linear", "tanh", "sigmoid", "relu6", "leaky_relu", "elu", "hard_sigmoid",
          "hard_tanh", "softmax")  # softmax: over the channels of each pixel
MERGES = ("Add", "Add", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate")
TABLE_OPS = ("sigmoid", "tanh", "elu", "softmax")
# rtl mode (``cnn_case_from_seed(seed, rtl=True)``): what the streaming Verilog top builds
# (nnfpga.backends.rtl.stream.stream_problems): the same draws with ReuseFactor 1 and Concatenate of channels; a
# model it still refuses (a pad/crop/upsample stage between a fork and its merge) is drawn again
MAX_VALUES = 128  # per block output, per sample
DEPTH = (1, 3)  # blocks per model
MAX_CHANNELS = 6


class _Builder:
    """Draws one Keras model layer by layer (``h``: the current Keras tensor)."""

    def __init__(self, ch: Chooser, keras: Any, features: list[str], rtl: bool = False) -> None:
        self.ch, self.L, self.features, self.rtl = ch, keras.layers, features, rtl
        self.count = 0

    def name(self, kind: str) -> str:
        self.count += 1
        return f"{kind}{self.count}"

    def spatial(self, h: Any) -> tuple[int, ...]:
        return tuple(int(d) for d in h.shape[1:-1])

    def geometry(self, h: Any, *, max_k: int = 3) -> dict[str, Any]:
        """Kernel size, strides or dilation (Keras takes one or the other) and a padding that fit the input."""
        ch, sp = self.ch, self.spatial(h)
        padding = ch.choice(("valid", "same"))
        size = [ch.integer(1, max_k) for _ in sp] if ch.chance(0.3) else [ch.integer(1, max_k)] * len(sp)
        strides, dilation = [1] * len(sp), [1] * len(sp)
        if ch.chance(0.2):
            dilation = [ch.integer(1, 2) for _ in sp]
        elif ch.chance(0.35):
            strides = [ch.integer(1, 2) for _ in sp]
        if padding == "valid" and any((k - 1) * d + 1 > n for k, d, n in zip(size, dilation, sp, strict=True)):
            padding = "same"
        feats = [f"kernel{'x'.join(map(str, size))}", padding]
        feats += ["strides"] if max(strides) > 1 else []
        feats += ["dilation"] if max(dilation) > 1 else []
        self.features += feats
        return {"kernel_size": tuple(size), "strides": tuple(strides), "dilation_rate": tuple(dilation),
                "padding": padding}

    def activation(self) -> str | None:
        act = self.ch.choice(INLINE)
        if act is not None:
            self.features.append(f"inline-{act}")
        return act

    def conv(self, h: Any, filters: int | None = None, *, geo: dict[str, Any] | None = None) -> Any:
        ch, nd, c = self.ch, len(self.spatial(h)), int(h.shape[-1])
        geo = geo or self.geometry(h)
        filters = filters or ch.integer(1, MAX_CHANNELS)
        groups = 1
        common = [g for g in divisors(c) if g > 1 and filters % g == 0]
        if common and ch.chance(0.25):
            groups = ch.choice(common)
            self.features.append("groups")
        bias = ch.chance(0.8)
        self.features.append("bias" if bias else "no-bias")
        act = self.activation()
        # conv -> batch-norm -> activation: the usual block, the batch-norm folds
        bn_first = ch.chance(0.25)
        layer = getattr(self.L, f"Conv{nd}D")(filters, groups=groups, use_bias=bias, name=self.name("conv"),
                                               activation=None if bn_first else act, **geo)
        h = layer(h)
        self.features.append(f"conv{nd}d")
        if bn_first:
            h = self.batchnorm(h, 1.0)
            return h if act is None else self.L.Activation(act, name=self.name("act"))(h)
        if ch.chance(0.15):  # an activation layer of its own
            kind = ch.choice(("ReLU", "LeakyReLU", "Activation"))
            self.features.append(f"layer-{kind}")
            args: dict[str, Any] = {"ReLU": {"max_value": ch.choice((None, 1.0, 6.0))},
                                    "LeakyReLU": {"negative_slope": ch.choice((0.1, 0.3))},
                                    "Activation": {"activation": ch.choice(("tanh", "sigmoid", "relu"))}}[kind]
            h = getattr(self.L, kind)(name=self.name("act"), **args)(h)
        return self.batchnorm(h, 0.15)

    def depthwise(self, h: Any) -> Any:
        nd = len(self.spatial(h))
        geo = self.geometry(h)
        layer = getattr(self.L, f"DepthwiseConv{nd}D")(depth_multiplier=self.ch.integer(1, 2),
                                                        use_bias=self.ch.chance(0.8), activation=self.activation(),
                                                        name=self.name("dw"), **geo)
        self.features.append("depthwise")
        return layer(h)

    def separable(self, h: Any) -> Any:
        nd = len(self.spatial(h))
        geo = self.geometry(h)
        layer = getattr(self.L, f"SeparableConv{nd}D")(self.ch.integer(1, MAX_CHANNELS),
                                                        depth_multiplier=self.ch.integer(1, 2),
                                                        use_bias=self.ch.chance(0.8), activation=self.activation(),
                                                        name=self.name("sep"), **geo)
        self.features.append("separable")
        return layer(h)

    def pool(self, h: Any) -> Any:
        ch, sp = self.ch, self.spatial(h)
        kind = ch.choice(("Max", "Average"))
        size = [min(ch.integer(1, 3), n) for n in sp]
        strides = None if ch.chance(0.5) else [ch.integer(1, 3) for _ in sp]
        padding = ch.choice(("valid", "same"))
        layer = getattr(self.L, f"{kind}Pooling{len(sp)}D")(
            tuple(size), strides=None if strides is None else tuple(strides), padding=padding, name=self.name("pool"))
        self.features += [f"{kind.lower()}-pool", f"pool-{padding}"]
        h = layer(h)
        return self.batchnorm(h, 0.3)

    def batchnorm(self, h: Any, p: float) -> Any:
        """Batch-norm after a conv (folded into it, unless an inline activation comes between) or a pooling."""
        if not self.ch.chance(p):
            return h
        return self.L.BatchNormalization(name=self.name("bn"))(h)

    def pad(self, h: Any) -> Any:
        sp = self.spatial(h)
        pads = tuple((self.ch.integer(0, 2), self.ch.integer(0, 2)) for _ in sp)
        self.features.append("zero-pad")
        return getattr(self.L, f"ZeroPadding{len(sp)}D")(pads[0] if len(sp) == 1 else pads, name=self.name("pad"))(h)

    def crop(self, h: Any) -> Any:
        sp = self.spatial(h)
        crops = []
        for n in sp:
            a = self.ch.integer(0, min(2, n - 1))
            crops.append((a, self.ch.integer(0, min(2, n - 1 - a))))
        self.features.append("crop")
        return getattr(self.L, f"Cropping{len(sp)}D")(crops[0] if len(sp) == 1 else tuple(crops),
                                                      name=self.name("crop"))(h)

    def upsample(self, h: Any) -> Any:
        sp = self.spatial(h)
        size = tuple(self.ch.integer(1, 2) for _ in sp)
        self.features.append("upsample")
        return getattr(self.L, f"UpSampling{len(sp)}D")(size[0] if len(sp) == 1 else size, name=self.name("up"))(h)

    def merge(self, h: Any) -> Any:
        """Two conv branches (or a conv and the input itself) merged: mostly a residual Add, also every other merge
        and a concatenation along the channels (or the first spatial axis)."""
        ch, c = self.ch, int(h.shape[-1])
        op = ch.choice(MERGES)
        axis = ch.choice((-1, -1, 1)) if op == "Concatenate" and not self.rtl else -1
        f = c if ch.chance(0.4) else ch.integer(1, MAX_CHANNELS)
        geo = {"kernel_size": (ch.integer(1, 3),) * len(self.spatial(h)), "padding": "same"}
        a = self.conv(h, f, geo=geo)
        f2 = ch.integer(1, MAX_CHANNELS) if axis == -1 and op == "Concatenate" else f
        b = h if f2 == c and ch.chance(0.5) else self.conv(h, f2, geo={**geo, "kernel_size": 1})
        self.features.append("residual" if op == "Add" else f"merge-{op.lower()}{'-spatial' if axis == 1 else ''}")
        kwargs = {"axis": axis} if op == "Concatenate" else {}
        return getattr(self.L, op)(name=self.name("merge"), **kwargs)([a, b] if ch.chance(0.5) else [b, a])

    def block(self, h: Any) -> Any:
        kind = self.ch.choice(BLOCKS)
        return getattr(self, kind)(h)


def _keras_model(ch: Chooser, rng: np.random.Generator, features: list[str], rtl: bool = False) -> Any:
    from nnfpga.frontends.keras import import_keras

    keras = import_keras()
    b = _Builder(ch, keras, features, rtl)
    nd = ch.choice((1, 2))
    shape = (ch.integer(3, 16), ch.integer(1, 3)) if nd == 1 else (ch.integer(3, 7), ch.integer(3, 7),
                                                                    ch.integer(1, 3))
    inp = keras.Input(shape, name="x")
    h = inp
    for _ in range(ch.integer(*DEPTH)):
        drawn = len(features)
        nxt = b.block(h)
        if int(np.prod(nxt.shape[1:])) <= MAX_VALUES:
            h = nxt
        else:  # too large for a fast compile: the block is not part of the model
            del features[drawn:]
    if ch.chance(0.3):
        kind = ch.choice(("Max", "Average"))
        h = getattr(keras.layers, f"Global{kind}Pooling{nd}D")(name=b.name("global"))(h)
        features.append(f"global-{kind.lower()}-pool")
    else:
        h = keras.layers.Flatten(name=b.name("flat"))(h)
    acts = (None, None, "relu", "softmax")
    out = keras.layers.Dense(ch.integer(1, 5), activation=ch.choice(acts), name=b.name("dense"))(h)
    features.append(f"conv{nd}d-input")
    model = keras.Model(inp, out, name="fuzz_cnn")
    for w in model.weights:  # every weight from the seed
        value = rng.normal(0, 2.0 ** ch.integer(-2, 1), tuple(w.shape))
        if w.path.endswith("moving_variance"):
            value = rng.uniform(0.05, 4.0, tuple(w.shape))
        w.assign(value)
    return model


def _type_node(ch: Chooser, rng: np.random.Generator, node: Node, features: list[str], rtl: bool = False) -> None:
    """Random precisions (and ReuseFactor, strategy, edge weights, tables) for one converted node."""
    op = node.op
    types: dict[str, FixedType | None] = {}
    if op == "input":
        types["result"] = fixed_type(ch, 2, 16, -2, 8, unsigned=0.15)
    elif op in ("conv", "dense"):
        tw = maybe(ch, 0.7, lambda: fixed_type(ch, 2, 12, -2, 4, ints=0.03))
        types["weight"], types["bias"] = tw, maybe(ch, 0.7, lambda: fixed_type(ch, 2, 14, -2, 6))
        if ch.chance(0.2):
            types["accum"] = fixed_type(ch, 6, 32, 2, 14)
            features.append("narrow-accum")
        elif ch.chance(0.15):
            types["accum"] = FixedType(ch.integer(6, 24), ch.integer(1, 8), True, ch.choice(ROUNDING_MODES), "WRAP")
            features.append("wrap-accum")
        types["result"] = maybe(ch, 0.85, lambda: fixed_type(ch, 2, 20, -1, 9, unsigned=0.1, ints=0.03))
        if tw is not None and ch.chance(0.5):  # weights at the edges of their type, pruned ones
            k = node.weights["kernel"]
            node.weights["kernel"] = edge_weights(ch, rng, (int(np.prod(k.shape[:-1])), k.shape[-1]), tw,
                                                  ch.choice([0.0, 0.3, 0.6])).reshape(k.shape)
            features.append("edge-weights")
        n_in, n_out = OPS[op].reuse_shape(node) if op == "conv" else node.weights["kernel"].shape
        node.attrs["reuse_factor"] = 1 if rtl else ch.choice(divisors(int(n_in) * int(n_out)))
        node.attrs["strategy"] = ch.choice(["Latency", "Resource"])
    elif op in ("max_pool", "avg_pool"):
        types["accum"] = maybe(ch, 0.3, lambda: fixed_type(ch, 4, 24, -1, 9))
        types["result"] = maybe(ch, 0.6, lambda: fixed_type(ch, 2, 20, -1, 9, unsigned=0.1))
    elif op == "scale_shift":
        types["weight"] = maybe(ch, 0.6, lambda: fixed_type(ch, 2, 12, -1, 4))
        types["bias"] = maybe(ch, 0.6, lambda: fixed_type(ch, 2, 12, -1, 5))
        types["result"] = maybe(ch, 0.8, lambda: fixed_type(ch, 2, 18, -1, 8))
    elif op in ("flatten", "reshape"):
        pass
    elif "result" in OPS[op].slots:
        types["result"] = maybe(ch, 0.6, lambda: fixed_type(
            ch, 2, 18, -1, 8, unsigned=0.3 if op in ("relu", "sigmoid", "softmax", "hard_sigmoid") else 0.05))
        if op in TABLE_OPS:
            node.attrs["table_size"] = 2 ** ch.integer(3, 10)
            if ch.chance(0.6):
                node.attrs["table_range"] = 2.0 ** ch.integer(-1, 4)
    node.types.update({s: t for s, t in types.items() if t is not None})


def build_cnn_case(ch: Chooser, seed: int | None = None, *, rtl: bool = False) -> FuzzCase:
    """One random Keras CNN, converted and typed (see the module docstring); ``rtl``: one the streaming Verilog top
    builds (:data:`RTL_BLOCKS`)."""
    from nnfpga.api import graph_from_keras_model

    rng = ch.rng()
    features: list[str] = []
    model = _keras_model(ch, rng, features, rtl)
    g: Graph = graph_from_keras_model(model)
    g.name = "fuzz_cnn"
    fold_scale_shift(g)  # as the typed pipeline does, before the types are drawn for the folded conv
    features += [f"bn-folded-into-{n.op}" for n in g if n.attrs.get(FOLDED)]
    features += [f"bn-scale-shift-after-{g[n.inputs[0]].op}" for n in g if n.op == "scale_shift"]
    for node in g:
        _type_node(ch, rng, node, features, rtl)
    infer_types(g, DEFAULT)
    if not _fits(g) or (rtl and stream_problems(g)):
        return build_cnn_case(ch, seed, rtl=rtl)
    case = FuzzCase(seed, g, ch.choice(["io_parallel", "io_parallel", "io_stream"]), features)
    return draw_timing(ch, case) if rtl else case  # after every other draw: a seed keeps naming its model


def cnn_case_from_seed(seed: int, *, rtl: bool = False) -> FuzzCase:
    """The CNN a seed names (its own seed space, apart from the MLPs' and the graphs'; ``rtl``: another one, of
    what the streaming Verilog top builds)."""
    return build_cnn_case(RngChooser(np.random.default_rng([seed, 0, 4 if rtl else 3])), seed, rtl=rtl)
