"""The graph interpreter: the backbone of ``predict`` (bit-exact), ``trace`` and calibration (float).

It walks the typed graph in topological order, calling each op's kernel on batches of rows. Weights and
tables are prepared once per interpreter. Large batches run in chunks (bounded memory) with a progress bar
that appears only when a run takes more than a few seconds. BLAS runs single-threaded during a run: the
matrix products are small (a chunk of rows times one layer), so threads buy little on an idle machine and
collapse throughput when another process keeps a core busy (oversubscription).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController
from tqdm.auto import tqdm

from nnfpga.errors import ConfigError, EmulationError
from nnfpga.ir.graph import Graph, Node
from nnfpga.ops import OPS, QArray, RunStats
from nnfpga.ops.base import Plan
from nnfpga.ops.conv import ConvPlan, direct_plan
from nnfpga.ops.conv_fused import Fused, fusions, run_fused

ROW_BUDGET = 1 << 17  # values per chunk of the widest tensor (cache-sized chunks run fastest)
VALUE_BUDGET = 1 << 24  # values per chunk of all the tensors a chunk holds at once (large CNNs: bounded memory)
# The fewest rows per chunk: 1024 keeps an MLP's matrix products long (MNIST: 1024 rows run 12 % faster than 256);
# a model with a wider tensor (a CNN's feature maps) runs best at 256 samples (the small Conv2D of
# benchmarks/cnn_cases.py: 77k samples/s vs 65k at 1024; the SVHN-style CNN: 4,170 vs 820 at 1024, CPU time).
MIN_ROWS, MIN_ROWS_WIDE, WIDE = 1024, 256, 1024
# ...but no more than TENSOR_BUDGET values of the widest tensor per chunk (32 MiB of float64), in a multiple of
# LANES rows (the compiled kernels' loops over the batch then have no scalar remainder). Node by node, the
# SVHN-style CNN's 30x30x16 feature map ran best at 128 rows (5,500-5,800 samples/s CPU time, 3,250-4,100 at 256:
# its tensors stayed in the caches through the batch-norm, the ReLU and the pooling); with those in the conv
# kernel's pass (nnfpga.ops.conv_fused) 256 rows run 9,170-9,390 vs 7,920-8,530 at 128 (1,024 samples, alternating,
# load 3); the small Conv2D (14x14x8) keeps 256 rows.
TENSOR_BUDGET, LANES = 1 << 22, 32
BLAS_THREADS = 1  # BLAS threads during a run (see the module docstring)
_controller: tuple[int, ThreadpoolController] | None = None  # (len(sys.modules) when built, controller)


def blas_limit():
    """A context manager limiting BLAS to :data:`BLAS_THREADS` threads. The libraries are found once and the
    controller reused, until an import loads more (numba's first compilation loads SciPy's OpenBLAS, for one)."""
    global _controller
    if _controller is None or _controller[0] != len(sys.modules):
        _controller = (len(sys.modules), ThreadpoolController())
    return _controller[1].limit(limits=BLAS_THREADS, user_api="blas")


@dataclass
class RunResult:
    """Outputs (float values of the graph outputs), optional per-node values, overflow statistics and, when asked,
    the values each node cast into its result type (``precast``: before rounding and overflow)."""

    outputs: list[np.ndarray]
    values: dict[str, np.ndarray] = field(default_factory=dict)
    stats: RunStats = field(default_factory=RunStats)
    precast: dict[str, np.ndarray] = field(default_factory=dict)


class Interpreter:
    """Runs a typed graph. ``reference=True`` makes every Dense accumulate input by input (the literal
    semantics, no BLAS): slow, and a check that the fast path is exact."""

    def __init__(self, graph: Graph, *, reference: bool = False) -> None:
        self.graph = graph
        self.prep: dict[str, Plan] = {}
        for node in graph:
            plan = OPS[node.op].prepare(node, [graph[i].types["result"] for i in node.inputs])
            self.prep[node.name] = plan.reference() if reference else plan
        self.dense_direct = {} if reference else dense_as_conv(graph, self.prep)
        convs = {n.name: n for n in graph if n.op == "conv"} | {k: c for k, (c, _) in self.dense_direct.items()}
        self.fused: dict[str, Fused] = fusions(graph, self.prep, convs)
        self.scale_after = {k: f.scale for k, f in self.fused.items() if f.scale}
        self.relu_after = {k: f.relu for k, f in self.fused.items() if f.relu}
        self.pool_after = {k: f.pool for k, f in self.fused.items() if f.pool}
        widest = max(int(np.prod(n.shape)) for n in graph)
        total = sum(int(np.prod(n.shape)) for n in graph)
        floor = MIN_ROWS if widest <= WIDE else MIN_ROWS_WIDE
        cap = max(LANES, TENSOR_BUDGET // max(widest, 1) // LANES * LANES)
        rows = min(int(np.clip(ROW_BUDGET // max(widest, 1), floor, 1 << 16)), cap)
        self.chunk = max(1, min(rows, VALUE_BUDGET // total))

    def check_input(self, x: Any) -> np.ndarray:
        (name,) = self.graph.inputs
        shape = tuple(self.graph[name].shape)
        try:
            x = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise EmulationError(
                f"input must be a numeric array of shape (batch, {', '.join(map(str, shape))}); {exc}") from None
        if x.shape[1:] != shape:
            hint = "; add a batch axis (x[None])" if x.shape == shape else ""
            raise EmulationError(f"input shape {x.shape} does not match the model: expected (batch, "
                                 f"{', '.join(map(str, shape))}){hint}")
        bad = ~np.isfinite(x)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise EmulationError(f"input has {int(bad.sum())} non-finite value(s) (NaN or inf), first at index "
                                 f"{first}; fixed-point hardware has no NaN/inf: clean or clip the input first")
        return x

    def run(self, x: Any, *, mode: str = "fixed", keep: bool = False, precast: bool = False,
            progress: bool | None = None) -> RunResult:
        """Run the graph on a batch. ``mode`` is ``"fixed"`` (bit-exact) or ``"float"`` (reference). ``keep``: every
        node's values; ``precast`` (fixed mode): what each node cast into its result type."""
        if mode not in ("fixed", "float"):
            raise ConfigError(f"mode must be 'fixed' or 'float', got {mode!r}")
        x = self.check_input(x)
        stats = RunStats(precast={} if precast else None)
        outs: list[list[np.ndarray]] = [[] for _ in self.graph.outputs]
        kept: dict[str, list[np.ndarray]] = {}
        starts = range(0, max(x.shape[0], 1), self.chunk)
        # progress None: a bar on a terminal only (tqdm's disable=None); False: never; True: always
        quiet = True if progress is False or len(starts) < 2 else (None if progress is None else False)
        bar = tqdm(starts, desc=f"emulate ({mode})", unit="chunk", delay=3.0, disable=quiet)
        with blas_limit():
            for start in bar:
                vals = self._run_chunk(x[start : start + self.chunk], mode, stats, not keep)
                for i, name in enumerate(self.graph.outputs):
                    outs[i].append(_as_float(vals[name]))
                if keep:
                    for name, v in vals.items():
                        kept.setdefault(name, []).append(_as_float(v))
        return RunResult(
            outputs=[np.concatenate(o) for o in outs],
            values={k: np.concatenate(v) for k, v in kept.items()},
            stats=stats,
            precast={k: np.concatenate(v) for k, v in (stats.precast or {}).items()},
        )

    def _run_chunk(self, x: np.ndarray, mode: str, stats: RunStats, fuse: bool = False) -> dict[str, Any]:
        """Every node's values on one chunk; ``fuse`` (fixed mode, no node's values kept): a convolution (or a
        Dense run as one) and the batch-norm, ReLU and max pooling after it in one kernel pass where the kernel
        takes them (:mod:`nnfpga.ops.conv_fused`: the last one's entry then holds the values; the others', which
        only the next one reads, are not kept)."""
        vals: dict[str, Any] = {}
        done: set[str] = set()
        for node in self.graph:
            if node.name in done:
                continue
            op = OPS[node.op]
            args = [x] if node.op == "input" else [vals[i] for i in node.inputs]
            fused = self.fused.get(node.name) if fuse and mode == "fixed" else None
            y = None if fused is None else self._run_fused(node, args[0], fused, stats)
            if y is not None:
                vals[fused.names()[-1]] = y
                done.update(fused.names())
            elif node.name in self.dense_direct and mode == "fixed" and _batch_innermost(args[0], stats):
                conv, plan = self.dense_direct[node.name]
                m = args[0].m
                y = OPS["conv"].run_fixed(conv, [QArray(m.reshape(m.shape[0], 1, 1, m.shape[1]), args[0].t)], plan,
                                          stats)
                vals[node.name] = QArray(y.m.reshape(m.shape[0], -1), y.t)
            elif mode == "fixed":
                vals[node.name] = op.run_fixed(node, args, self.prep[node.name], stats)
            else:
                vals[node.name] = op.run_float(node, args)
        return vals

    def _run_fused(self, node: Node, x: Any, fused: Fused, stats: RunStats) -> QArray | None:
        """The fused pass's output (:func:`nnfpga.ops.conv_fused.run_fused`), or None where it does not run: a
        Dense whose input does not lie batch-innermost, or a kernel cast that does not apply."""
        if node.op == "conv":
            return run_fused(node, x, self.prep[node.name], stats, fused, self.graph, self.prep)
        if not _batch_innermost(x, stats):
            return None
        conv, plan = self.dense_direct[node.name]
        y = run_fused(conv, QArray(x.m.reshape(x.m.shape[0], 1, 1, x.m.shape[1]), x.t), plan, stats, fused,
                      self.graph, self.prep)
        return None if y is None else QArray(y.m.reshape(x.m.shape[0], -1), y.t)


def dense_as_conv(graph: Graph, prep: dict[str, Plan]) -> dict[str, tuple[Node, ConvPlan]]:
    """Each Dense as a 1x1 convolution of a 1x1 input with its inputs as channels (the same node name, types and
    weights: its Dense plan ``prep[name]``, the same bits and counts), with its plan, where the convolution's kernel
    takes it: the interpreter runs it so on a batch-innermost input (a convolution's, a pooling's or a Dense's
    kernel output, flattened), which the kernel reads as it lies (Dense's matrix products would read it across)."""
    out = {}
    for node in graph:
        if node.op != "dense" or len(node.inputs) != 1:
            continue
        kernel = np.asarray(node.weights["kernel"])
        conv = Node(node.name, "conv", list(node.inputs), (1, 1, kernel.shape[1]),
                    weights={"kernel": kernel.reshape(1, 1, *kernel.shape), "bias": node.weights["bias"]},
                    types=dict(node.types))
        plan = ConvPlan([prep[node.name]], direct_plan(conv, [prep[node.name]], graph[node.inputs[0]].types["result"]))
        if plan.direct is not None:
            out[node.name] = (conv, plan)
    return out


def _batch_innermost(x: Any, stats: RunStats) -> bool:
    """Whether ``x`` is a QArray of float64 mantissas ``(B, N)`` laid out batch-innermost (column-major) and
    no precast values are kept (those keep a Dense's shape)."""
    return (isinstance(x, QArray) and x.m.ndim == 2 and x.m.shape[0] > 1 and x.m.dtype == np.float64
            and x.m.flags.f_contiguous and stats.precast is None)


def _as_float(v: QArray | np.ndarray) -> np.ndarray:
    return v.values() if isinstance(v, QArray) else v
