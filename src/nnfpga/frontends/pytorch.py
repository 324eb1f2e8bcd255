"""PyTorch frontend: an ``nn.Module`` traced with torch.fx -> an untyped float :class:`Graph`.

The model is traced symbolically (``torch.fx``), with Brevitas layers kept as leaves, then run once on a
small zero batch to record every tensor's shape. Each traced call becomes a node named after its module's
qualified name (``net.0`` -> ``net_0``, a bare ``0`` -> ``layer_0``) or, for functional calls, after the
fx node (``relu_1``). Everything that cannot be mapped is listed in one :class:`UnsupportedLayerError`.
Brevitas layers are read by :mod:`nnfpga.frontends.brevitas`. torch is imported only when used.
"""

from __future__ import annotations

import math
import operator
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from nnfpga.errors import ModelLoadError, ShapeError, UnsupportedLayerError
from nnfpga.frontends import identifier as _identifier
from nnfpga.frontends import tensor_of
from nnfpga.frontends.merge import add_merge
from nnfpga.frontends.pytorch_conv import (
    FUNCTIONALS,
    SPATIAL_FUNCTIONS,
    SPATIAL_MODULES,
    convert_functional,
    convert_spatial,
    upsample,
)
from nnfpga.frontends.pytorch_emit import Emit
from nnfpga.frontends.pytorch_recurrent import RECURRENT_MODULES, check_output, recurrent_call
from nnfpga.ir.graph import Graph, Node
from nnfpga.ir.layout import channels_last_perms

MODULES = ("Linear", "ReLU", "ReLU6", "LeakyReLU", "ELU", "Sigmoid", "Tanh", "Softmax", "Hardtanh", "Hardsigmoid",
           "BatchNorm1d", "Flatten", "Dropout", "Identity", "Sequential", *SPATIAL_MODULES,
           "BatchNorm2d", *RECURRENT_MODULES)
BREVITAS_MODULES = ("QuantIdentity", "QuantReLU", "QuantHardTanh", "QuantLinear", "QuantConv1d", "QuantConv2d",
                    "TruncAvgPool2d", "TruncAdaptiveAvgPool2d")
FUNCTIONS = ("F.linear", "F.dropout", "torch.flatten", "Tensor.flatten", "Tensor.view", "Tensor.reshape",
             "+", "-", "*", "torch.add", "torch.sub", "torch.mul", "torch.maximum", "torch.minimum", "torch.cat",
             *SPATIAL_FUNCTIONS)
ACTIVATIONS = ("relu", "relu6", "leaky_relu", "elu", "sigmoid", "tanh", "softmax", "hardtanh", "hardsigmoid")
MODULE_FNS = {  # torch.nn class -> (functional name, attributes passed as its arguments)
    "ReLU": ("relu", ()), "ReLU6": ("relu6", ()), "Sigmoid": ("sigmoid", ()), "Tanh": ("tanh", ()),
    "Hardsigmoid": ("hardsigmoid", ()), "Dropout": ("dropout", ()), "Identity": ("identity", ()),
    "LeakyReLU": ("leaky_relu", ("negative_slope",)), "ELU": ("elu", ("alpha",)),
    "Hardtanh": ("hardtanh", ("min_val", "max_val")), "Softmax": ("softmax", ("dim",)),
    "Flatten": ("flatten", ("start_dim", "end_dim")),
}
BATCH = 3  # rows of the shape-recording run (not 1, so that an op mixing the batch dimension shows)


def import_torch() -> Any:
    try:
        import torch
        import torch.fx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelLoadError(f"PyTorch is not installed ({exc}); install nnfpga[torch]") from None
    return torch


def load_torch_model(path: str | os.PathLike[str], *, allow_pickle: bool = False) -> Any:
    """The ``nn.Module`` saved in ``path`` by ``torch.save(model, path)``. Unpickling a whole model runs code from
    the file, so it happens only with ``allow_pickle=True``; a state dict (weights only) is refused with what to
    do instead."""
    torch = import_torch()
    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"model file {str(p)!r} does not exist")
    with open(p, "rb") as f:
        head = f.read(2)
    if not zipfile.is_zipfile(p) and head[:1] != b"\x80":  # torch.save writes a zip (or, legacy, a pickle)
        raise ModelLoadError(f"cannot read {str(p)!r} as a PyTorch file: expected what torch.save writes (a zip "
                             f"archive or a pickle), got a file starting with {head!r}")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # not only tensors: a pickled module (or a damaged file)
        if "weights_only" not in str(exc) and "Weights only" not in str(exc):
            raise ModelLoadError(f"cannot read {str(p)!r} as a PyTorch file: {type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0]}") from None
        if not allow_pickle:
            raise ModelLoadError(
                f"{str(p)!r} pickles a whole model: loading it runs code from the file. If you trust it, pass "
                "allow_pickle=True (or torch.load it yourself and pass the module)") from None
        obj = torch.load(p, map_location="cpu", weights_only=False)
    if isinstance(obj, torch.nn.Module):
        return obj
    if isinstance(obj, dict):
        raise ModelLoadError(f"{str(p)!r} holds a state dict (weights only), not a model: build the model, call "
                             "model.load_state_dict(torch.load(path)) and pass the module")
    raise ModelLoadError(f"{str(p)!r} holds a {type(obj).__name__}, not a torch.nn.Module")


def graph_from_pytorch(model: Any, input_shape: tuple[int, ...], *, allow_pickle: bool = False) -> Graph:
    """Translate a PyTorch model (evaluated in eval mode) into an untyped float graph.

    ``model``: an ``nn.Module``, or the path of one saved with ``torch.save`` (see :func:`load_torch_model` for
    ``allow_pickle``). ``input_shape`` is the per-sample shape, without the batch dimension, e.g. ``(16,)``."""
    torch = import_torch()
    if isinstance(model, (str, os.PathLike)):
        model = load_torch_model(model, allow_pickle=allow_pickle)
    if not isinstance(model, torch.nn.Module):
        raise ModelLoadError(f"expected a torch.nn.Module (or the path of a saved one), got {type(model).__name__}")
    shape = _per_sample_shape(input_shape)
    was_training = model.training
    model.eval()  # inference semantics: batch-norm running statistics, no dropout, frozen quantizer scales
    try:
        gm = _trace(torch, model)
        values = _record(torch, model, gm, shape)
        return _Builder(torch, model, gm, values, shape).build()
    finally:
        model.train(was_training)


def _per_sample_shape(input_shape: Any) -> tuple[int, ...]:
    shape = (input_shape,) if isinstance(input_shape, int) else input_shape
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else ()
    if not shape or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise ShapeError(f"input_shape must be the per-sample shape as a tuple of positive integers (no batch "
                         f"dimension), e.g. (16,); got {input_shape!r}")
    return shape


def _trace(torch: Any, model: Any) -> Any:
    class Tracer(torch.fx.Tracer):
        def is_leaf_module(self, m: Any, qualname: str) -> bool:
            return type(m).__module__.startswith("brevitas.") or super().is_leaf_module(m, qualname)

    try:
        graph = Tracer().trace(model)
    except Exception as exc:  # torch.fx raises TraceError, TypeError, RuntimeError... for untraceable code
        raise ModelLoadError(
            f"cannot trace {type(model).__name__} with torch.fx: {type(exc).__name__}: {exc}. nnfpga reads forward() "
            "symbolically, so it must be a fixed sequence of layers and tensor operations: Python control flow "
            "that depends on tensor values (if/while on a tensor, .item(), .tolist()) cannot be traced; move such "
            "logic out of the model or make it depend on constructor arguments only") from None
    return torch.fx.GraphModule(model, graph)


def _record(torch: Any, model: Any, gm: Any, shape: tuple[int, ...]) -> dict[str, Any]:
    """Run the traced model on a zero batch; return every fx node's output (tensors, Brevitas QuantTensors...)."""
    values: dict[str, Any] = {}
    current: list[Any] = []

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n: Any) -> Any:
            current[:] = [n]
            values[n.name] = out = super().run_node(n)
            return out

    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise ShapeError(f"{type(model).__name__}.forward takes {len(placeholders)} inputs "
                         f"({', '.join(n.name for n in placeholders)}); nnfpga supports one input tensor")
    try:
        with torch.no_grad():
            Recorder(gm).run(torch.zeros((BATCH, *shape)))
    except Exception as exc:
        n = current[0]
        where = f"{n.target!r} ({type(gm.get_submodule(n.target)).__name__})" if n.op == "call_module" else repr(n.name)
        raise ModelLoadError(f"running {type(model).__name__} on a zero batch of shape {(BATCH, *shape)} failed at "
                             f"{where}: {type(exc).__name__}: {str(exc).splitlines()[0]}; is input_shape={shape} "
                             "the per-sample input shape (without the batch dimension)?") from None
    return values


def identifier(name: str) -> str:
    return _identifier(name, "layer", "layer_")


class _Builder:
    def __init__(self, torch: Any, model: Any, gm: Any, values: dict[str, Any], shape: tuple[int, ...]) -> None:
        self.torch, self.model, self.gm, self.values = torch, model, gm, values
        self.modules = dict(gm.named_modules())
        self.g = Graph(name=identifier(type(model).__name__))
        self.unsupported: list[tuple[str, str]] = []
        self.out: dict[str, str] = {}  # fx node name -> graph node holding its value (batch tensors only)
        self.brevitas = False  # the model has Brevitas layers
        self.quant_dense: list[str] = []  # dense and conv nodes made from QuantLinear, QuantConv layers
        self.shape = shape

    def build(self) -> Graph:
        output = None
        for n in self.gm.graph.nodes:
            if n.op == "placeholder":
                self.out[n.name] = self.g.add(Node(identifier(n.target), "input", [], self.shape,
                                                   source=f"input {n.target!r}")).name
            elif n.op == "output":
                output = n
            elif n.op in ("call_module", "call_function", "call_method"):
                self._call(n)
        check_output(self, self._output_name(output))
        if self.unsupported:
            raise UnsupportedLayerError(self.unsupported, "PyTorch", supported=MODULES + BREVITAS_MODULES + FUNCTIONS,
                                        activations=ACTIVATIONS)
        self.g.outputs = [self._output(output)]
        if self.brevitas:
            from nnfpga.frontends.brevitas import finalize

            finalize(self.g, self.quant_dense, type(self.model).__name__)
        return self.g

    def _output_name(self, n: Any) -> str:
        res = n.args[0] if n is not None else None
        return getattr(res, "name", "")

    def _output(self, n: Any) -> str:
        res = n.args[0]
        while isinstance(res, (tuple, list)) and len(res) == 1:
            res = res[0]
        if not hasattr(res, "name") or res.name not in self.out:
            count = len(res) if isinstance(res, (tuple, list, dict)) else 1
            raise ShapeError(f"{type(self.model).__name__}.forward returns {count} values ({res!r}); nnfpga supports "
                             "one output tensor computed from the input")
        return self.out[res.name]

    def _call(self, n: Any) -> None:
        out = tensor_of(self.values.get(n.name))
        inputs = [a for a in _flat_nodes((n.args, n.kwargs)) if a.name in self.out]
        if not inputs or (out is None and _is_shape_query(n)):
            return  # constants and shape queries (x.size(0), x.shape) are not part of the data path
        if recurrent_call(self, n, inputs):  # recurrent modules, their tuples and time-first tensors; non-tensors
            return
        if n.op == "call_module":
            label, module = n.target, self.modules[n.target]
            kind = type(module).__name__
            name, source = identifier(n.target), f"{kind} {n.target!r}"
        else:
            module = None
            kind = f"Tensor.{n.target}" if n.op == "call_method" else _qualified(n.target)
            label, name, source = n.name, identifier(n.name), f"{kind} {n.name!r}"
        src_fx = inputs[0]
        src = self.out[src_fx.name]
        in_full = tuple(tensor_of(self.values[src_fx.name]).shape)
        out_shape = tuple(out.shape[1:]) if out is not None else ()
        e = Emit(self.g, name, src, in_full[1:], out_shape, source, self.unsupported, label,
                 self.g[src].op == "input" and sum(not _is_shape_query(u) for u in src_fx.users) == 1)
        if out is None:
            e.reject(f"{kind} returning {type(self.values.get(n.name)).__name__}, not a tensor")
            self.out[n.name] = src
            return
        merge = self._merge_op(n)
        if merge is not None and len(inputs) > 1:
            self.out[n.name] = self._merge(e, n, merge, kind)
            return
        if len(inputs) != 1 or n.args[:1] != (src_fx,):
            e.reject(f"{kind} with {len(inputs)} tensor inputs" if len(inputs) != 1 else f"{kind} on a non-first "
                     "argument")
            self.out[n.name] = src
            return
        if tuple(out.shape[:1]) != (BATCH,):
            e.reject(f"{kind} changes the batch dimension (output shape {tuple(out.shape)} for a batch of {BATCH})")
            self.out[n.name] = src
            return
        if module is not None and type(module).__module__.startswith("brevitas."):
            from nnfpga.frontends.brevitas import convert_module

            self.brevitas = True
            result = convert_module(e, module, self.values[src_fx.name])
            self.quant_dense += [e.notes["quant_dense"]] if "quant_dense" in e.notes else []
        elif module is not None:
            result = self._module(e, module, kind)
        else:
            result = self._function(e, n, kind)
        self.out[n.name] = result if result is not None else src

    # -- several inputs ----------------------------------------------------------------------
    def _merge_op(self, n: Any) -> str | None:
        """The merge op of ``a + b``, ``torch.mul(a, b)``, ``a.sub(b)``, ``torch.cat([a, b], dim)``... (None: none)."""
        torch = self.torch
        if n.op == "call_method":
            return {"add": "add", "sub": "subtract", "mul": "multiply", "maximum": "maximum",
                    "minimum": "minimum"}.get(n.target)
        if n.op != "call_function":
            return None
        return {operator.add: "add", torch.add: "add", operator.sub: "subtract", torch.sub: "subtract",
                operator.mul: "multiply", torch.mul: "multiply", torch.maximum: "maximum",
                torch.minimum: "minimum", torch.cat: "concatenate", torch.concat: "concatenate"}.get(n.target)

    def _merge(self, e: Emit, n: Any, op: str, kind: str) -> str:
        """A merge of traced tensors; torch's per-sample shapes are the IR's here (flat or shape-only tensors)."""
        if op == "concatenate":
            parts, dim = n.args[0], n.args[1] if len(n.args) > 1 else n.kwargs.get("dim", 0)
            ndim = len(e.out_shape) + 1
            if not isinstance(parts, (list, tuple)) or not isinstance(dim, int) or dim % ndim == 0 or \
                    any(getattr(p, "name", None) not in self.out for p in parts):
                e.reject(f"{kind}(dim={dim!r}) of {parts!r}; nnfpga concatenates traced tensors along a non-batch dim")
                return e.src
            axis = dim % ndim - 1
        else:
            parts, axis = [a for a in n.args if hasattr(a, "op")], -1
            other = [k for k, v in n.kwargs.items() if v is not None]
            if len(parts) != 2 or len(n.args) != 2 or other:
                e.reject(f"{kind} with arguments {n.args!r} {n.kwargs!r}; nnfpga merges two tensors (no alpha, no "
                         "scalar)")
                return e.src
        srcs = [self.out[p.name] for p in parts]
        try:
            return add_merge(self.g, op, self.g.unique_name(e.name), srcs, e.source, axis=axis)
        except ShapeError as exc:
            e.reject(str(exc))
            return e.src

    # -- torch.nn modules ----------------------------------------------------------------------
    def _module(self, e: Emit, m: Any, kind: str) -> str | None:
        nn = self.torch.nn
        if isinstance(m, nn.Linear):
            w = m.weight.detach().double().numpy().T.copy()
            return dense(e, kind, w, m.bias.detach().double().numpy() if m.bias is not None else np.zeros(w.shape[1]))
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            return self._batchnorm(e, m)
        if kind in SPATIAL_MODULES and type(m).__module__.startswith("torch.nn"):
            return convert_spatial(e, m, kind)
        for cls in type(m).__mro__:  # the nearest torch.nn class we know (ReLU6 before its base Hardtanh)
            if cls.__module__.startswith("torch.nn") and cls.__name__ in MODULE_FNS:
                fn, attrs = MODULE_FNS[cls.__name__]
                return apply(e, fn, {a: getattr(m, a) for a in attrs}, kind)
        e.reject(kind)
        return None

    def _batchnorm(self, e: Emit, m: Any) -> str | None:
        if m.running_mean is None or m.running_var is None:
            e.reject(f"{type(m).__name__} without running statistics (track_running_stats=False) normalizes each batch "
                     "with its own statistics")
            return None
        n = e.in_shape[0]
        gamma = m.weight.detach().double().numpy() if m.weight is not None else np.ones(n)
        beta = m.bias.detach().double().numpy() if m.bias is not None else np.zeros(n)
        scale = gamma / np.sqrt(m.running_var.detach().double().numpy() + float(m.eps))
        shift = beta - m.running_mean.detach().double().numpy() * scale
        return channel_op(e, "scale_shift", weights={"scale": scale, "shift": shift})

    # -- functions and tensor methods ----------------------------------------------------------
    def _function(self, e: Emit, n: Any, kind: str) -> str | None:
        torch, F = self.torch, self.torch.nn.functional
        if n.op == "call_method":
            fn = {"view": "reshape", "contiguous": "identity", "clone": "identity", "detach": "identity"}.get(
                n.target, n.target)
            params_of = {"softmax": ("dim",), "flatten": ("start_dim", "end_dim")}.get(fn, ())
        else:
            fn = {F.relu: "relu", torch.relu: "relu", F.relu6: "relu6", F.leaky_relu: "leaky_relu", F.elu: "elu",
                  torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid", torch.tanh: "tanh", F.tanh: "tanh",
                  F.softmax: "softmax", torch.softmax: "softmax", F.hardtanh: "hardtanh", F.hardsigmoid: "hardsigmoid",
                  F.dropout: "dropout", torch.flatten: "flatten", torch.reshape: "reshape", F.linear: "linear",
                  }.get(n.target, "")
            params_of = {"leaky_relu": ("negative_slope",), "elu": ("alpha",), "softmax": ("dim",),
                         "hardtanh": ("min_val", "max_val"), "flatten": ("start_dim", "end_dim"),
                         "linear": ("weight", "bias")}.get(fn, ())
        params = {p: n.args[i + 1] for i, p in enumerate(params_of) if i + 1 < len(n.args)}
        params.update({k: v for k, v in n.kwargs.items() if k in params_of})
        if fn == "linear":
            return self._functional_linear(e, params, kind)
        if n.op == "call_function" and n.target is F.interpolate:
            return upsample(e, n.kwargs.get("mode", n.args[3] if len(n.args) > 3 else "nearest"), kind)
        spatial = getattr(n.target, "__name__", "") if n.op == "call_function" else ""
        if (spatial in FUNCTIONALS or spatial == "pad") and getattr(F, spatial, None) is n.target:
            return convert_functional(e, spatial, tuple(n.args[1:]), dict(n.kwargs), kind)
        return apply(e, fn, params, kind)

    def _functional_linear(self, e: Emit, params: dict[str, Any], kind: str) -> str | None:
        """``F.linear(x, self.weight, self.bias)`` with module parameters (a custom Linear's forward)."""
        consts = {}
        for p in ("weight", "bias"):
            arg = params.get(p)
            if arg is None:
                continue
            if getattr(arg, "op", None) != "get_attr":
                e.reject(f"{kind} with a computed {p} (only module parameters are constants)")
                return None
            consts[p] = operator.attrgetter(arg.target)(self.gm).detach().double().numpy()
        if "weight" not in consts:
            e.reject(f"{kind} without a weight")
            return None
        w = consts["weight"].T.copy()
        return dense(e, kind, w, consts.get("bias", np.zeros(w.shape[1])))


# -- mappings shared by modules and functions ------------------------------------------------------

def dense(e: Emit, kind: str, kernel: np.ndarray, bias: np.ndarray) -> str | None:
    if len(e.in_shape) != 1:
        e.reject(f"{kind} on per-sample shape {e.in_shape}; nnfpga supports Linear on flat vectors: flatten first")
        return None
    return e.add("dense", (kernel.shape[1],), weights={"kernel": kernel, "bias": bias})


def apply(e: Emit, fn: str, params: dict[str, Any], kind: str) -> str | None:
    """Map a call by its functional name (``relu``, ``leaky_relu``, ``flatten``...) and arguments."""
    if fn == "identity":
        return e.src
    if fn == "reshape":
        return e.add(fn)
    if fn in ("relu", "sigmoid", "tanh", "dropout"):
        return elementwise(e, fn)
    if fn == "relu6":
        return elementwise(e, "relu", {"max_value": 6.0})
    if fn == "leaky_relu":
        return elementwise(e, "leaky_relu", {"alpha": float(params.get("negative_slope", 0.01))})
    if fn == "elu":
        return elementwise(e, "elu", {"alpha": float(params.get("alpha", 1.0))})
    if fn == "hardsigmoid":  # relu6(x + 3) / 6
        return elementwise(e, "hard_sigmoid", {"slope": 1 / 6, "offset": 0.5})
    if fn == "hardtanh":
        lo, hi = float(params.get("min_val", -1.0)), float(params.get("max_val", 1.0))
        if (lo, hi) == (-1.0, 1.0):
            return elementwise(e, "hard_tanh")
        if lo == 0.0 and hi > 0:
            return elementwise(e, "relu", {"max_value": hi})
        e.reject(f"{kind}(min_val={lo:g}, max_val={hi:g}); supported: (-1, 1) and (0, max)")
        return None
    if fn == "softmax":
        return softmax(e, params.get("dim"), kind)
    if fn == "flatten":
        return flatten(e, params.get("start_dim", 0), params.get("end_dim", -1), kind)
    e.reject(kind)
    return None


def elementwise(e: Emit, op: str, attrs: dict[str, Any] | None = None) -> str:
    """An elementwise op; on a tensor just transposed back to channels-first (after a convolution or pooling), it
    runs before that transpose, so that the transposes between two spatial ops meet and cancel."""
    src = e.g[e.src]
    if len(e.in_shape) > 1 and src.op == "transpose" and \
            list(src.attrs["perm"]) == list(channels_last_perms(len(e.in_shape))[1]):
        y = e.add(op, tuple(e.g[src.inputs[0]].shape), attrs, src=src.inputs[0])
        return e.add("transpose", e.in_shape, dict(src.attrs), src=y, suffix="_to_first")
    return e.add(op, attrs=attrs)


def channel_op(e: Emit, op: str, **kw: Any) -> str:
    """An op on the channel axis of a channels-first tensor (torch's axis 1): on (N, C) directly; on (N, C, L...)
    between a transpose to nnfpga's channels-last layout and one back (cancelled where two meet)."""
    if len(e.in_shape) == 1:
        return e.add(op, **kw)
    to_last, to_first = channels_last_perms(len(e.in_shape))
    last = tuple(e.in_shape[p] for p in to_last)
    t = e.add("transpose", last, {"perm": to_last}, suffix="_to_last")
    y = e.add(op, last, src=t, **kw)
    return e.add("transpose", e.in_shape, {"perm": to_first}, src=y, suffix="_to_first")


def softmax(e: Emit, dim: Any, kind: str) -> str | None:
    ndim = len(e.in_shape) + 1
    if dim is None:  # torch's legacy implicit dimension
        dim = 0 if ndim in (0, 1, 3) else 1
    if not isinstance(dim, int) or dim % ndim != ndim - 1 or ndim < 2:
        e.reject(f"{kind} over dim {dim} of a {ndim}-d tensor; nnfpga supports softmax over the last dimension")
        return None
    return e.add("softmax")


def flatten(e: Emit, start: Any, end: Any, kind: str) -> str | None:
    ndim = len(e.in_shape) + 1
    if not isinstance(start, int) or not isinstance(end, int) or start % ndim != 1 or end % ndim != ndim - 1:
        e.reject(f"{kind}(start_dim={start}, end_dim={end}); nnfpga supports flattening every non-batch dimension")
        return None
    return e.add("flatten", (math.prod(e.in_shape),))


def _flat_nodes(obj: Any) -> list[Any]:
    if isinstance(obj, (tuple, list)):
        return [x for o in obj for x in _flat_nodes(o)]
    if isinstance(obj, dict):
        return [x for o in obj.values() for x in _flat_nodes(o)]
    return [obj] if hasattr(obj, "op") and hasattr(obj, "users") else []


def _is_shape_query(n: Any) -> bool:
    if n.op == "call_method":
        return n.target in ("size", "dim", "numel")
    return n.op == "call_function" and getattr(n.target, "__name__", "") in ("getattr", "len")


def _qualified(fn: Any) -> str:
    module = getattr(fn, "__module__", None) or ""
    module = {"_operator": "operator", "torch._C._nn": "torch.nn.functional"}.get(module, module)
    return f"{module}.{getattr(fn, '__name__', fn)}".lstrip(".")
