"""Op definitions: each op's type rule and NumPy kernels, in one place per op.

Importing this package registers every op in :data:`OPS`.
"""

from nnfpga.ops import (  # noqa: F401  (registers the ops)
    activations,
    conv,
    dense,
    merge,
    pool,
    recurrent,
    resize,
    shape,
    softmax,
    tables,
)
from nnfpga.ops.base import OPS, Context, OpDef, QArray, RunStats

__all__ = ["OPS", "Context", "OpDef", "QArray", "RunStats", "categories"]


def categories() -> dict[str, list[str]]:
    """Op names grouped by category (io, linear, pool, activation, table, shape, merge, recurrent)."""
    out: dict[str, list[str]] = {}
    for name, op in OPS.items():
        out.setdefault(op.category, []).append(name)
    return out
