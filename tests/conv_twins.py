"""A small Keras CNN and its PyTorch twin with the same weights (the PyTorch and ONNX conv frontend tests)."""

from __future__ import annotations

from typing import Any

import numpy as np


def keras_twin(keras: Any, conv1d: bool) -> tuple[Any, Any, tuple[int, ...]]:
    """A Keras CNN (zero padding, conv, max pooling, depthwise conv, average pooling, flatten, dense), a torch module
    with the same weights, and the Keras input shape."""
    import torch

    nn = torch.nn
    L = keras.layers
    keras.utils.set_random_seed(3)
    if conv1d:
        shape = (12, 2)
        inp = keras.Input(shape)
        h = L.Conv1D(4, 3, activation="relu", name="c1")(L.ZeroPadding1D(1)(inp))
        h = L.DepthwiseConv1D(3, depth_multiplier=2, name="dw")(L.MaxPooling1D(2)(h))
        h = L.AveragePooling1D(2)(h)
    else:
        shape = (10, 10, 1)
        inp = keras.Input(shape)
        h = L.Conv2D(4, 3, activation="relu", name="c1")(L.ZeroPadding2D(1)(inp))
        h = L.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(L.MaxPooling2D(2)(h))
        h = L.AveragePooling2D(1)(h)
    spatial = tuple(h.shape[1:])
    model = keras.Model(inp, L.Dense(3, name="out")(L.Flatten()(h)))
    for w in model.weights:
        if w.path.endswith("bias"):
            w.assign(np.random.default_rng(0).normal(0, 0.5, w.shape))
    d = "1d" if conv1d else "2d"
    nd = 1 if conv1d else 2
    pad = nn.ZeroPad1d(1) if conv1d else nn.ZeroPad2d(1)
    conv, maxpool, avgpool = getattr(nn, f"Conv{d}"), getattr(nn, f"MaxPool{d}"), getattr(nn, f"AvgPool{d}")
    c1, dw = conv(shape[-1], 4, 3), conv(4, 8, 3, groups=4)
    dense = nn.Linear(int(np.prod(spatial)), 3)
    tm = nn.Sequential(pad, c1, nn.ReLU(), maxpool(2), dw, avgpool(2 if conv1d else 1), nn.Flatten(), dense)
    kern = lambda k: torch.tensor(np.transpose(np.asarray(k), (nd + 1, nd, *range(nd))))  # noqa: E731
    with torch.no_grad():
        c1.weight.copy_(kern(model.get_layer("c1").kernel))
        c1.bias.copy_(torch.tensor(np.asarray(model.get_layer("c1").bias)))
        k = np.asarray(model.get_layer("dw").kernel)  # (*K, C, m) -> (C*m, 1, *K)
        dw.weight.copy_(kern(k.reshape(*k.shape[:-2], 1, -1)))
        dw.bias.copy_(torch.tensor(np.asarray(model.get_layer("dw").bias)))
        # Keras flattens channels-last, torch channels-first: permute the dense rows
        w = np.asarray(model.get_layer("out").kernel)
        last = np.arange(w.shape[0]).reshape(*spatial)
        order = np.moveaxis(last, -1, 0).reshape(-1)
        dense.weight.copy_(torch.tensor(w[order].T))
        dense.bias.copy_(torch.tensor(np.asarray(model.get_layer("out").bias)))
    return model, tm, shape
