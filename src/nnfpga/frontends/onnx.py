"""ONNX and QONNX frontend: an ONNX model (``onnx.ModelProto`` or a .onnx file) -> an untyped float :class:`Graph`.

Reads what torch.onnx.export (TorchScript or dynamo), tf2onnx and Brevitas' QONNX export write, without a
cleanup step: initializers and ``Constant`` nodes are constants; nodes whose inputs are all constants (shape
arithmetic such as ``Shape -> Gather -> Concat -> Reshape``, weight transposes, Quant on weights) are folded
with NumPy, the batch dimension standing in as :data:`BATCH`. Every other node maps to IR nodes one to one: a
constant Add after a MatMul is a ScaleShift marked as a bias add, a QONNX quantizer an exact pinned cast marked as
a quantizer (:mod:`nnfpga.frontends.qonnx`); the passes of :mod:`nnfpga.passes.fuse` fold them into the Dense or
the producer where the model allows it. Every node that cannot be converted is listed in one
:class:`UnsupportedLayerError`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from nnfpga.errors import ModelLoadError, ShapeError, UnsupportedLayerError
from nnfpga.fixed import FixedType
from nnfpga.frontends import identifier, onnx_node_name, onnx_recurrent, qonnx
from nnfpga.frontends.merge import add_merge
from nnfpga.frontends.onnx_conv import SPATIAL_OPS, convert_spatial, elementwise
from nnfpga.frontends.onnx_fold import fold_constant
from nnfpga.frontends.onnx_views import BATCH
from nnfpga.frontends.qonnx import QUANT_OPS, Rejected
from nnfpga.ir.graph import Graph, Node
from nnfpga.ir.layout import channels_last_perms
from nnfpga.passes.fuse import BIAS_ADD, CAST, QUANTIZER, SIGN

LAYERS = ("Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "BatchNormalization", "Relu", "LeakyRelu", "Elu",
          "Sigmoid", "Tanh", "HardSigmoid", "Clip", "Softmax", "Flatten", "Reshape", "Identity", "Dropout", "Cast",
          "Constant", "Shape", "Max", "Min", "Sum", "Mean", "Concat", "Squeeze", "Unsqueeze", *QUANT_OPS, *SPATIAL_OPS,
          "Transpose", "Gather", "Slice", "LSTM", "GRU", "RNN")  # the last six: frontends/onnx_recurrent.py
MERGES = {"Add": "add", "Sub": "subtract", "Mul": "multiply", "Max": "maximum", "Min": "minimum", "Sum": "add",
          "Mean": "average", "Concat": "concatenate"}  # on two or more non-constant inputs
FOLDABLE = ("Constant", "Identity", "Cast", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Concat",
            "Gather", "Slice", "Add", "Sub", "Mul", "Div", "Neg", "Sqrt", "ConstantOfShape", "Expand")  # on constants
MAX_EXACT_BIAS_BITS = 32


def import_onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelLoadError(f"the onnx package is not installed ({exc}); install nnfpga[onnx]") from None
    return onnx


def load_onnx_model(path: str | os.PathLike[str]) -> Any:
    """Read an .onnx file; missing, truncated or corrupt files raise :class:`ModelLoadError` naming the file."""
    onnx = import_onnx()
    p = Path(path)
    if not p.is_file():
        raise ModelLoadError(f"model file {str(p)!r} does not exist")
    try:
        model = onnx.load(str(p))
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ModelLoadError(f"cannot read {str(p)!r} as an ONNX model ({type(exc).__name__}: {exc}); "
                             "is it truncated or of another format?") from None
    if not model.graph.node or not model.graph.output:
        raise ModelLoadError(f"cannot read {str(p)!r} as an ONNX model: it has {len(model.graph.node)} nodes and "
                             f"{len(model.graph.output)} outputs; is it truncated or of another format?")
    return model


def graph_from_onnx(model: Any) -> Graph:
    """Translate an ONNX/QONNX model with one input and one output into an untyped float graph."""
    onnx = import_onnx()
    origin = "the model"
    if isinstance(model, (str, os.PathLike)):
        origin = repr(str(model))
        model = load_onnx_model(model)
    if not isinstance(model, onnx.ModelProto):
        raise ModelLoadError(f"expected an onnx.ModelProto or a path to an .onnx file, got {type(model).__name__}")
    return _Reader(model, origin).run()


class _Reader:
    def __init__(self, model: Any, origin: str) -> None:
        from onnx import numpy_helper

        self.model, self.origin, self.gp = model, origin, model.graph
        self.consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in self.gp.initializer}
        self.ctypes: dict[str, FixedType] = {}  # constants produced by a QONNX quantizer -> their exact type
        self.act: dict[str, str] = {}  # activation tensor -> IR node computing it
        self.tainted: set[str] = set()  # activations downstream of an unsupported node
        self.dead: set[str] = set()  # constants an unsupported node would have produced
        self.unsupported: list[tuple[str, str]] = []
        self.g = Graph(name=_identifier(self.gp.name or "model"))
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)

    # -- driver --------------------------------------------------------------------------------
    def run(self) -> Graph:
        inputs = [i for i in self.gp.input if i.name not in self.consts]
        if len(inputs) != 1 or len(self.gp.output) != 1:
            raise ShapeError(f"{self.origin} has {len(inputs)} inputs and {len(self.gp.output)} outputs; "
                             "nnfpga supports one input and one output")
        dims = inputs[0].type.tensor_type.shape.dim
        shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
        if len(shape) < 2 or any(d is None or d <= 0 for d in shape[1:]):
            raise ShapeError(f"input {inputs[0].name!r} has shape {shape}: expected (batch, features...) with "
                             "every per-sample dimension known")
        self.static_batch = shape[0]
        name = _identifier(inputs[0].name)
        self.g.add(Node(name, "input", [], shape[1:], source=f"input {inputs[0].name!r}"))
        self._bind(inputs[0].name, name)
        for i, node in enumerate(self.gp.node):
            self._node(node, i)
        if self.unsupported:
            raise UnsupportedLayerError(self.unsupported, framework="ONNX", supported=LAYERS)
        out = self.gp.output[0].name
        onnx_recurrent.graph_output(self, out)
        if self.unsupported:
            raise UnsupportedLayerError(self.unsupported, framework="ONNX", supported=LAYERS)
        if out not in self.act:
            raise ShapeError(f"the output {out!r} of {self.origin} is a constant or is never computed")
        self.g.outputs = [self.act[out]]
        return self.g

    def _bind(self, tensor: str, ir_name: str) -> None:
        self.act[tensor] = ir_name

    def _node(self, node: Any, index: int) -> None:
        op, ins = node.op_type, list(node.input)
        attrs = _attrs(node)
        label = node.name or f"{op}_{index}"
        dyn = [t for t in ins if t and t not in self.consts and t not in self.dead]
        if any(t in self.dead for t in ins):  # its cause is reported already; still check this op and go on
            return self._reject(node, label, op if op not in LAYERS and op not in FOLDABLE else None, dyn)
        for t in dyn:
            if t not in self.act:
                raise ModelLoadError(f"node {label!r} ({op}) of {self.origin} reads tensor {t!r}, which no node, "
                                     "initializer or graph input defines")
        if node.domain not in ("", "ai.onnx") and op not in QUANT_OPS:
            return self._reject(node, label, f"{op} from domain {node.domain!r}", dyn)
        if onnx_recurrent.handles(self, op, dyn) and onnx_recurrent.convert(self, node, label, op, ins, attrs, dyn):
            return None
        if op not in LAYERS and (dyn or op not in FOLDABLE):
            return self._reject(node, label, op, dyn)
        if op == "Shape" and dyn:
            full = np.array([BATCH, *self.g[self.act[dyn[0]]].shape], dtype=np.int64)
            self.consts[node.output[0]] = full[attrs.get("start", 0):attrs.get("end", len(full))]
            return None
        if not dyn:
            return self._fold(node, label, op, ins, attrs)
        if len(dyn) > 1:
            if op not in MERGES or len(dyn) != len([t for t in ins if t]):
                return self._reject(node, label, f"{op} with {len(dyn)} non-constant inputs" +
                                    (" and constants" if op in MERGES else ""), dyn)
            return self._merge(node, label, op, dyn, attrs)
        src = dyn[0]
        try:
            out = self._convert(node, op, ins, attrs, src)
        except Rejected as exc:
            return self._reject(node, label, f"{op}: {exc}", dyn)
        except ShapeError:
            if src not in self.tainted:
                raise
            return self._reject(node, label, None, dyn)
        self._bind(node.output[0], self.act[src] if out is None else out)  # None: an identity
        if src in self.tainted:
            self.tainted.add(node.output[0])
        return None

    def _merge(self, node: Any, label: str, op: str, dyn: list[str], attrs: dict[str, Any]) -> None:
        """A merge of non-constant tensors (ONNX's per-sample shapes are the IR's: flat or shape-only tensors)."""
        axis = -1
        if op == "Concat":
            axis = int(attrs.get("axis", 0))
            ndim = len(self.g[self.act[dyn[0]]].shape) + 1
            if axis % ndim == 0:
                return self._reject(node, label, f"Concat over axis {axis}, the batch axis", dyn)
            axis = axis % ndim - 1
        source = f"{node.op_type} {node.name!r}" if node.name else node.op_type
        try:
            out = add_merge(self.g, MERGES[op], self.g.unique_name(onnx_node_name(node)), [self.act[t] for t in dyn],
                            source, axis=axis)
        except ShapeError as exc:
            if any(t in self.tainted for t in dyn):
                return self._reject(node, label, None, dyn)
            return self._reject(node, label, str(exc), dyn)
        self._bind(node.output[0], out)
        if any(t in self.tainted for t in dyn):
            self.tainted.add(node.output[0])
        return None

    def _reject(self, node: Any, label: str, kind: str | None, dyn: list[str]) -> None:
        if kind is not None:
            self.unsupported.append((label, kind))
        for out in node.output:  # downstream nodes see the input instead, so that they are checked too
            if out and dyn and dyn[0] in self.act:
                self.act[out] = self.act[dyn[0]]
                self.tainted.add(out)
            elif out:
                self.dead.add(out)

    def _fold(self, node: Any, label: str, op: str, ins: list[str], attrs: dict[str, Any]) -> None:
        vals = [self.consts[t] if t else None for t in ins]
        try:
            if op in QUANT_OPS:
                if op == "Trunc":
                    raise Rejected("Trunc on a constant: expected Trunc on activations")
                spec = qonnx.parse_quant(op, attrs, vals[1:4])
                self.consts[node.output[0]] = qonnx.fake_quant(vals[0], spec).astype(np.float32)
                self.ctypes[node.output[0]] = qonnx.const_type(spec)
                return
            result = fold_constant(op, attrs, vals)
        except (Rejected, ValueError, IndexError, TypeError, KeyError) as exc:
            self.unsupported.append((label, f"{op}: {exc}" if isinstance(exc, Rejected) else
                                     f"{op} on constants failed: {type(exc).__name__}: {exc}"))
            self.dead.update(t for t in node.output if t)
            return
        self.consts[node.output[0]] = result
        if op in ("Identity", "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Flatten") and ins[0] in self.ctypes:
            self.ctypes[node.output[0]] = self.ctypes[ins[0]]  # layout only: the values keep their type
        elif op == "Cast" and ins[0] in self.ctypes and result.dtype.kind == "f":
            self.ctypes[node.output[0]] = self.ctypes[ins[0]]

    # -- activations ---------------------------------------------------------------------------
    def _add(self, node: Any, op: str, src: str, shape: tuple[int, ...] | None = None, **kw: Any) -> str:
        name = self.g.unique_name(onnx_node_name(node))
        s = self.g[self.act[src]].shape if shape is None else shape
        source = f"{node.op_type} {node.name!r}" if node.name else node.op_type
        return self.g.add(Node(name, op, [self.act[src]], tuple(s), source=source, **kw)).name

    def _channels_first(self, node: Any, op: str, src: str, shape: tuple[int, ...], **kw: Any) -> str:
        """An op on ONNX's channel axis (1) of (N, C, d1...): between a transpose to nnfpga's channels-last layout
        and one back (a pass cancels them where two meet)."""
        to_last, to_first = channels_last_perms(len(shape))
        last = tuple(shape[p] for p in to_last)
        base, source = onnx_node_name(node), f"{node.op_type} {node.name!r}" if node.name else node.op_type
        t = self.g.add(Node(self.g.unique_name(base + "_to_last"), "transpose", [self.act[src]], last,
                            {"perm": to_last}, source=source)).name
        y = self.g.add(Node(self.g.unique_name(base), op, [t], last, source=source, **kw)).name
        return self.g.add(Node(self.g.unique_name(base + "_to_first"), "transpose", [y], shape, {"perm": to_first},
                               source=source)).name

    def _squeezed(self, op: str, ins: list[str], a: dict[str, Any], shape: tuple[int, ...]) -> tuple[int, ...]:
        """The per-sample shape after Squeeze/Unsqueeze (axes count the batch axis, which must stay)."""
        given = a.get("axes") if "axes" in a else (self._const(ins[1], "the axes").tolist()
                                                    if len(ins) > 1 and ins[1] else None)
        full = [BATCH, *shape]
        if op == "Squeeze":
            ndim = len(full)
            axes = sorted({int(x) % ndim for x in given}) if given is not None else \
                [i for i, d in enumerate(full) if d == 1 and i > 0]
            if 0 in axes or any(full[i] != 1 for i in axes):
                raise Rejected(f"Squeeze of axes {given} of a (batch, {', '.join(map(str, shape))}) tensor: "
                               "expected axes of size 1 other than the batch axis")
            return tuple(d for i, d in enumerate(full) if i not in axes)[1:]
        if given is None:
            raise Rejected("Unsqueeze without axes")
        ndim = len(full) + len(given)
        axes = sorted({int(x) % ndim for x in given})
        if 0 in axes:
            raise Rejected(f"Unsqueeze at axes {given}: expected axes other than the batch axis")
        out, rest = [], iter(full)
        for i in range(ndim):
            out.append(1 if i in axes else next(rest))
        return tuple(out[1:])

    def _const(self, t: str, what: str) -> np.ndarray:
        if not t or t not in self.consts:
            raise Rejected(f"{what} must be a constant")
        return self.consts[t]

    def _convert(self, node: Any, op: str, ins: list[str], a: dict[str, Any], src: str) -> str | None:
        shape = self.g[self.act[src]].shape
        if ins[0] != src and op not in ("Add", "Mul", "Sub"):
            raise Rejected("expected the data as the first input")
        if op in ("Identity", "Dropout") or (op == "Cast" and _is_float(a.get("to", 1))):
            return None
        simple = {"Relu": ("relu", {}), "Sigmoid": ("sigmoid", {}), "Tanh": ("tanh", {}),
                  "LeakyRelu": ("leaky_relu", {"alpha": float(a.get("alpha", 0.01))}),
                  "Elu": ("elu", {"alpha": float(a.get("alpha", 1.0))}),
                  "HardSigmoid": ("hard_sigmoid", {"slope": float(a.get("alpha", 0.2)),
                                                   "offset": float(a.get("beta", 0.5))})}
        if op in simple:
            return elementwise(self, node, simple[op][0], src, dict(simple[op][1]))
        if op == "Softmax":
            axis = a.get("axis", -1 if self.opset >= 13 else 1)
            if axis not in (-1, len(shape)) or (self.opset < 13 and len(shape) != 1):
                raise Rejected(f"softmax over axis {axis} of a (batch, {', '.join(map(str, shape))}) tensor: "
                               "expected the last axis")
            return self._add(node, "softmax", src)
        if op == "Clip":
            lo = a.get("min", self.consts[ins[1]] if len(ins) > 1 and ins[1] else -np.inf)
            hi = a.get("max", self.consts[ins[2]] if len(ins) > 2 and ins[2] else np.inf)
            lo, hi = float(np.asarray(lo)), float(np.asarray(hi))
            if lo == 0:
                return self._add(node, "relu", src, attrs={} if np.isinf(hi) else {"max_value": hi})
            if (lo, hi) == (-1.0, 1.0):
                return self._add(node, "hard_tanh", src)
            raise Rejected(f"Clip({lo}, {hi}): expected Clip(0, max) (ReLU) or Clip(-1, 1) (HardTanh)")
        if op in ("Gemm", "MatMul"):
            return self._dense(node, op, ins, a, src, shape)
        if op in ("Add", "Sub", "Mul", "Div"):
            return self._elementwise(node, op, ins, src, shape)
        if op == "BatchNormalization":
            if a.get("training_mode", 0):
                raise Rejected("BatchNormalization in training mode: expected inference")
            gamma, beta, mean, var = (self._const(t, "scale, bias, mean and variance").astype(np.float64)
                                      for t in ins[1:5])
            scale = gamma / np.sqrt(var + float(a.get("epsilon", 1e-5)))
            weights = {"scale": scale, "shift": beta - mean * scale}
            if len(shape) == 1:
                return self._add(node, "scale_shift", src, weights=weights)
            return self._channels_first(node, "scale_shift", src, shape, weights=weights)
        if op in ("Squeeze", "Unsqueeze"):
            return self._add(node, "reshape", src, self._squeezed(op, ins, a, shape))
        if op == "Flatten":
            if a.get("axis", 1) != 1:
                raise Rejected(f"Flatten(axis={a['axis']}): expected axis 1 (keep the batch dimension)")
            return self._add(node, "flatten", src, (int(np.prod(shape)),))
        if op == "Reshape":
            target = self._reshape_target(self._const(ins[1], "the target shape"), shape, a)
            return self._add(node, "flatten" if len(target) == 1 else "reshape", src, target)
        if op in ("Quant", "IntQuant", "BipolarQuant", "Trunc"):
            return self._quant(node, op, ins, a, src)
        if op in SPATIAL_OPS:
            return convert_spatial(self, node, op, ins, a, src, shape)
        raise Rejected(f"no conversion for {op} on activations")

    def _dense(self, node: Any, op: str, ins: list[str], a: dict[str, Any], src: str,
               shape: tuple[int, ...]) -> str:
        if len(shape) != 1:
            raise ShapeError(f"{op} {node.name!r} receives per-sample shape {shape}; nnfpga supports dense layers "
                             "on flat vectors: flatten first")
        if a.get("transA", 0):
            raise Rejected("transA=1 (the batch would be transposed): expected transA=0")
        w = self._const(ins[1], "the weight (B)")
        if w.ndim != 2 or w.shape[0 if not a.get("transB", 0) else 1] != shape[0]:
            raise Rejected(f"weight of shape {w.shape} for {shape[0]} inputs")
        alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
        kernel = (w.T if a.get("transB", 0) else w).astype(np.float64) * alpha
        n = kernel.shape[1]
        qtypes: dict[str, str] = {}
        if ins[1] in self.ctypes:
            if alpha != 1:
                raise Rejected(f"alpha={alpha} scales a quantized weight: expected alpha=1")
            qtypes["weight"] = str(self.ctypes[ins[1]])
        bias = np.zeros(n)
        if len(ins) > 2 and ins[2]:
            bias = np.broadcast_to(self._const(ins[2], "the bias (C)").astype(np.float64) * beta, (1, n))[0].copy()
            if ins[2] in self.ctypes and beta == 1:
                qtypes["bias"] = str(self.ctypes[ins[2]])
            elif "weight" in qtypes:
                self._pin_float_bias(qtypes, bias, node)
        attrs = {"qtypes": qtypes} if qtypes else {}
        return self._add(node, "dense", src, (n,), weights={"kernel": kernel, "bias": bias}, attrs=attrs)

    def _pin_float_bias(self, qtypes: dict[str, str], bias: np.ndarray, node: Any) -> None:
        """A float bias beside quantized weights: the type that holds it exactly, as the QAT model computes."""
        t = qonnx.exact_type(bias)
        if t is not None and t.width <= MAX_EXACT_BIAS_BITS:
            qtypes["bias"] = str(t)
        else:
            warnings.warn(f"{node.op_type} {node.name!r}: the float bias needs more than {MAX_EXACT_BIAS_BITS} bits "
                          "to be exact; its type is left to the config", stacklevel=4)

    def _elementwise(self, node: Any, op: str, ins: list[str], src: str, shape: tuple[int, ...]) -> str:
        other = next(t for t in ins if t != src)
        c = self._const(other, "the other operand").astype(np.float64)
        n = shape[-1]
        if c.size not in (1, n) or (c.size == n and c.shape[-1] != n) or c.ndim > len(shape) + 1:
            raise Rejected(f"constant of shape {c.shape} on per-sample shape {shape}: expected a scalar or one "
                           "value per feature (last axis)")
        c = np.broadcast_to(c.reshape(-1), (n,)).copy()
        if op == "Div" and ins[0] != src:
            raise Rejected("constant divided by a tensor")
        if op == "Div" and np.any(c == 0):
            raise Rejected("division by zero")
        negate = op == "Sub" and ins[0] != src  # c - x; c + x is x + c
        scale = c if op == "Mul" else 1.0 / c if op == "Div" else -np.ones(n) if negate else np.ones(n)
        shift = c if op == "Add" or (op == "Sub" and ins[0] != src) else -c if op == "Sub" else np.zeros(n)
        attrs: dict[str, Any] = {}
        if op in ("Add", "Sub") and ins[0] == src:  # after a MatMul, a bias: passes/fuse.py folds it into the Dense
            attrs[BIAS_ADD] = {"type": str(self.ctypes[other])} if other in self.ctypes else {}
        return self._add(node, "scale_shift", src, weights={"scale": scale, "shift": shift}, attrs=attrs)

    def _reshape_target(self, target: np.ndarray, shape: tuple[int, ...], a: dict[str, Any]) -> tuple[int, ...]:
        t = [int(d) for d in np.asarray(target).ravel()]
        if not t or t[0] not in (BATCH, 0, -1, self.static_batch) or (t[0] == -1 and -1 in t[1:]):
            raise Rejected(f"target shape {t}: expected the batch dimension first")
        rest = [shape[i] if d == 0 and not a.get("allowzero", 0) else d for i, d in enumerate(t[1:])]
        if -1 in rest:
            known = int(np.prod([d for d in rest if d != -1]))
            rest = [int(np.prod(shape)) // max(known, 1) if d == -1 else d for d in rest]
        if int(np.prod(rest)) != int(np.prod(shape)) or any(d <= 0 for d in rest):
            raise Rejected(f"cannot reshape per-sample shape {shape} to {tuple(rest)}")
        return tuple(rest)

    # -- QONNX ---------------------------------------------------------------------------------
    def _quant(self, node: Any, op: str, ins: list[str], a: dict[str, Any], src: str) -> str:
        params = [self.consts.get(t) if t else None for t in ins[1:]]
        if op == "Trunc":
            t_in, t_out = qonnx.parse_trunc(a, params)
            mid = self._add(node, "linear", src, attrs={"qtypes": {"result": str(t_in)}})
            self._bind(f"{node.output[0]}/grid", mid)
            return self._add(node, "linear", f"{node.output[0]}/grid", attrs={"qtypes": {"result": str(t_out)}})
        spec = qonnx.parse_quant(op, a, params[:3] if op != "BipolarQuant" else params[:1])
        if spec.bipolar:  # passes/fuse.py pins the producer to a type that keeps the sign
            (op1, a1, _), (op2, a2, w2) = qonnx.bipolar_nodes(spec)
            n = self.g[self.act[src]].shape[-1]
            step = self._add(node, op1, src, attrs={**a1, QUANTIZER: SIGN})
            self._bind(f"{node.output[0]}/step", step)
            weights = {k: np.full(n, v[0]) for k, v in w2.items()}
            return self._add(node, op2, f"{node.output[0]}/step", attrs=a2, weights=weights)
        t = qonnx.activation_type(spec)  # passes/fuse.py merges the cast into its producer where it can
        return self._add(node, "linear", src, attrs={"qtypes": {"result": str(t)}, QUANTIZER: CAST})


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    out = {}
    for attr in node.attribute:
        value = helper.get_attribute_value(attr)
        out[attr.name] = value.decode() if isinstance(value, bytes) else value
    return out


def _is_float(onnx_type: int) -> bool:
    from onnx import helper

    return np.dtype(helper.tensor_dtype_to_np_dtype(onnx_type)).kind == "f"


def _identifier(name: str) -> str:
    return identifier(name, "model", "n_")
