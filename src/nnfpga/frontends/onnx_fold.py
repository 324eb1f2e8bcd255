"""Constant folding for the ONNX frontend: nodes whose inputs are all constants (shape arithmetic such as
torch's Shape -> Gather -> Concat -> Reshape, weight layout, Constant), evaluated with NumPy."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnfpga.frontends import Rejected


def fold_constant(op: str, a: dict[str, Any], v: list[np.ndarray | None]) -> np.ndarray:
    """Evaluate a node whose inputs are all constants (shape arithmetic, weight layout, Constant)."""
    from onnx import helper, numpy_helper

    x = v[0] if v else None
    if op == "Constant":
        key = next(iter(a))
        value = a[key]
        return numpy_helper.to_array(value) if key == "value" else np.asarray(
            value, dtype=np.float32 if key.startswith("value_float") else np.int64 if key.startswith("value_int")
            else None)
    if op == "ConstantOfShape":
        fill = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
        # a broadcast view: torch's zero initial states are (directions, batch, hidden), batch a stand-in of 10**6
        return np.broadcast_to(fill.ravel()[:1], tuple(int(d) for d in x))  # type: ignore[union-attr]
    assert x is not None
    if op == "Expand":
        shape = tuple(int(d) for d in v[1])  # type: ignore[union-attr]
        return np.broadcast_to(x, np.broadcast_shapes(x.shape, shape))
    if op == "Identity":
        return x
    if op == "Cast":
        return x.astype(helper.tensor_dtype_to_np_dtype(a["to"]))
    if op in ("Add", "Sub", "Mul", "Div"):
        y = v[1]
        if op == "Div" and x.dtype.kind in "iu":
            return (np.trunc(x / y)).astype(x.dtype)
        return {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](x, y).astype(x.dtype)
    if op in ("Neg", "Sqrt"):
        return -x if op == "Neg" else np.sqrt(x)
    if op == "Transpose":
        return np.transpose(x, a.get("perm"))
    if op == "Reshape":
        target = [int(d) for d in v[1]]  # type: ignore[union-attr]
        return x.reshape([x.shape[i] if d == 0 and not a.get("allowzero", 0) else d for i, d in enumerate(target)])
    if op == "Flatten":
        axis = a.get("axis", 1) % max(x.ndim, 1)
        return x.reshape(int(np.prod(x.shape[:axis])), -1)
    axes = a.get("axes", v[1] if len(v) > 1 else None)
    if op == "Squeeze":
        return np.squeeze(x, tuple(int(i) for i in axes) if axes is not None else None)
    if op == "Unsqueeze":
        out = x
        for ax in sorted(int(i) % (x.ndim + len(axes)) for i in axes):  # type: ignore[arg-type]
            out = np.expand_dims(out, ax)
        return out
    if op == "Concat":
        return np.concatenate([np.atleast_1d(t) for t in v if t is not None], axis=a.get("axis", 0))
    if op == "Gather":
        return np.take(x, v[1], axis=a.get("axis", 0))  # type: ignore[arg-type]
    if op == "Slice":
        if "starts" in a:  # opset < 10: attributes
            starts, ends, ax, steps = a["starts"], a["ends"], a.get("axes"), None
        else:
            starts, ends = v[1], v[2]
            ax, steps = (v[3] if len(v) > 3 else None), (v[4] if len(v) > 4 else None)
        ax = list(range(len(starts))) if ax is None else [int(i) for i in ax]
        index = [slice(None)] * x.ndim
        for i, axis in enumerate(ax):
            step = int(steps[i]) if steps is not None else 1
            index[axis] = slice(int(starts[i]), int(ends[i]), step)
        return x[tuple(index)]
    raise Rejected("no constant folding for this op")
