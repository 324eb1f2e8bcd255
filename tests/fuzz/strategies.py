"""Random models for differential fuzzing, built directly in the IR (like ``tests/graphs.py``).

One generator, two drivers:
- :func:`case_from_seed` (NumPy's generator): the fixed-seed corpus of the suite and ``scripts/fuzz.py``; a seed
  names a model for ever (the failure messages and the saved regression cases quote it);
- :func:`fuzz_cases` (a hypothesis strategy): the same generator drawing its choices from hypothesis, so that
  hypothesis can shrink a failing model.

A model is an MLP (:func:`build_case`): input -> [Dense -> (ScaleShift) -> (activation)] x depth, with random
widths, or a graph (:func:`build_graph_case`): residual merges, concatenations, per-channel batch-norm on
reshaped tensors and transposes; random
per-layer precisions in every rounding and overflow mode (``I > W`` and ``I < 0`` included, narrow explicit
accumulators, ``ap_int`` now and then); every activation op (relu with and without a cap, leaky_relu, sigmoid,
tanh, softmax (also per row of a reshaped tensor), elu, hard_sigmoid, hard_tanh, linear as a cast); ReuseFactor
(any divisor), Strategy Latency/Resource and io_parallel/io_stream; pruned weights (single weights, whole rows
and columns) and weights at the edges of their types (the extremes, half an LSB beyond, rounding ties). An
rtl-mode model also gets a random clock target (:func:`draw_timing`: clock period, delay model, registers placed
by timing or in a fixed mode per layer), drawn after everything else so that a seed keeps naming its model.
Inputs (:func:`inputs_for`) mix random values, the extreme representable values, zeros and ties.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from fuzz.choices import Chooser, DrawChooser, FuzzCase, RngChooser, fixed_type, maybe
from fuzz.rtl_mode import CLOCK_PERIODS, FIXED_MODES, TARGETS, draw_timing, narrow_accumulators
from nnfpga.fixed import ROUNDING_MODES, FixedType
from nnfpga.ir.graph import Graph, Node
from nnfpga.ops.base import OPS
from nnfpga.passes import infer_types

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "softmax", "elu", "hard_sigmoid", "hard_tanh", "linear")
DEFAULT = FixedType(16, 6)
# Bugs the fuzzer found that are not fixed yet (tests/fuzz/test_differential.py pins each with a strict xfail).
# Fixed so far, now regression tests there: the HLS softmax over rows of a reshaped tensor, the RTL shift of a
# value with a one-point range.
KNOWN_BUGS: dict[str, str] = {}  # name -> description, each pinned by a strict xfail (none open now)
MAX_WIDTH = 64  # the HLS backend's limit for results and accumulators
MAX_CONST_WIDTH = 53
__all__ = [  # (the generator's parts live in fuzz.choices and fuzz.rtl_mode; imported from here too)
    "CLOCK_PERIODS", "FIXED_MODES", "TARGETS", "Chooser", "DrawChooser", "FuzzCase", "RngChooser", "draw_timing",
    "fixed_type", "maybe", "narrow_accumulators",
]


# -- weights ------------------------------------------------------------------------------------------------

def edge_weights(ch: Chooser, rng: np.random.Generator, shape: tuple[int, ...], t: FixedType | None,
                 prune: float) -> np.ndarray:
    """Weights for type ``t`` (or, untyped, of unit scale): random values, the type's extremes, values half an
    LSB beyond them (they clip), rounding ties, and pruned zeros (single weights, whole rows and columns)."""
    if t is None:
        scale = 2.0 ** ch.integer(-3, 3)
        w = rng.normal(0, scale, shape)
    else:
        lo, hi, lsb = t.min_value, t.max_value, t.lsb
        w = rng.uniform(lo - lsb, hi + lsb, shape)
        kind = rng.integers(0, 6, shape)
        w = np.where(kind == 0, lo, w)
        w = np.where(kind == 1, hi, w)
        w = np.where(kind == 2, (np.round(w / lsb) + 0.5) * lsb, w)  # exactly between two values
        w = np.where(kind == 3, rng.choice([lo - lsb / 2, hi + lsb / 2, -lsb / 2, lsb / 2], shape), w)
    w = np.where(rng.random(shape) < prune, 0.0, w)
    if len(shape) == 2 and ch.chance(0.2):
        w[rng.integers(0, shape[0])] = 0.0  # a pruned input
    if len(shape) == 2 and ch.chance(0.2):
        w[:, rng.integers(0, shape[1])] = 0.0  # an output with no weight: the bias alone
    return w


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


# -- the generator ------------------------------------------------------------------------------------------

def build_case(ch: Chooser, seed: int | None = None, *, rtl: bool = False,
               softmax_rows: bool | None = None) -> FuzzCase:
    """One random model. ``rtl=True``: only what the Verilog backend builds (ReuseFactor dividing the inputs,
    saturating chains at ReuseFactor 1 only; random multiplier styles and adders per pipeline stage).
    ``softmax_rows``: also softmax over the rows of a reshaped tensor (default: yes)."""
    rows = True if softmax_rows is None else softmax_rows
    rng = ch.rng()
    features: list[str] = []
    g = Graph(name="fuzz")
    n = ch.integer(1, 12)
    tin = fixed_type(ch, 2, 18, -2, 10, unsigned=0.15, ints=0.05)
    g.add(Node("x", "input", [], (n,), types={"result": tin}))
    prev = "x"
    depth = ch.integer(1, 4)
    for k in range(depth):
        m = ch.integer(1, 12)
        name = f"fc{k}"
        _dense(ch, g, rng, prev, name, m, rtl, features)
        prev = name
        if ch.chance(0.2):
            tw = maybe(ch, 0.6, lambda: fixed_type(ch, 2, 12, -1, 4))
            tb = maybe(ch, 0.6, lambda: fixed_type(ch, 2, 12, -1, 5))
            types = {"weight": tw, "bias": tb, "result": maybe(ch, 0.8, lambda: fixed_type(ch, 2, 18, -1, 8))}
            g.add(Node(f"bn{k}", "scale_shift", [prev], (m,),
                       weights={"scale": edge_weights(ch, rng, (m,), tw, 0.1),
                                "shift": edge_weights(ch, rng, (m,), tb, 0.1)},
                       types={s: t for s, t in types.items() if t is not None}))
            prev = f"bn{k}"
            features.append("scale_shift")
        if ch.chance(0.85):
            prev = _activation(ch, g, prev, f"act{k}", m, features, rows)
    g.outputs = [prev]
    infer_types(g, DEFAULT)
    if not _fits(g):
        return build_case(ch, seed, rtl=rtl, softmax_rows=softmax_rows)
    case = FuzzCase(seed, g, ch.choice(["io_parallel", "io_stream"]), features)
    if rtl and not case.rtl_ok():
        return build_case(ch, seed, rtl=rtl, softmax_rows=softmax_rows)
    return draw_timing(ch, narrow_accumulators(ch, case)) if rtl else case


def _dense(ch: Chooser, g: Graph, rng: np.random.Generator, prev: str, name: str, m: int, rtl: bool,
           features: list[str]) -> str:
    """A random Dense ``prev -> m`` (types, accumulator, pruning, ReuseFactor, strategy, RTL knobs)."""
    tw = maybe(ch, 0.7, lambda: fixed_type(ch, 2, 14, -2, 5, ints=0.03))
    tb = maybe(ch, 0.7, lambda: fixed_type(ch, 2, 16, -2, 6))
    ta = None
    if not rtl and ch.chance(0.2):  # rtl: drawn after the model (narrow_accumulators), keeping older seeds' models
        ta = fixed_type(ch, 6, 32, 2, 14)
        features.append("narrow-accum")
    elif ch.chance(0.15):  # a wrapping accumulator
        ta = FixedType(ch.integer(6, 24), ch.integer(1, 8), True, ch.choice(ROUNDING_MODES), "WRAP")
    tr = maybe(ch, 0.85, lambda: fixed_type(ch, 2, 20, -1, 9, unsigned=0.1, ints=0.03))
    prune = ch.choice([0.0, 0.0, 0.3, 0.6, 0.9])
    kernel = edge_weights(ch, rng, (g[prev].shape[0], m), tw, prune)
    bias = edge_weights(ch, rng, (m,), tb, 0.3 if ch.chance(0.3) else 0.0)
    attrs: dict[str, Any] = {"strategy": ch.choice(["Latency", "Resource"])}
    if not rtl:
        attrs["reuse_factor"] = ch.choice(divisors(g[prev].shape[0] * m))
    else:  # the Verilog backend: ReuseFactor dividing the inputs; how RF 1 builds its multipliers
        attrs["reuse_factor"] = ch.choice(divisors(g[prev].shape[0])) if ch.chance(0.4) else 1
        attrs["multipliers"] = ch.choice(["shared", "shared", "csd", "operator"])
        attrs["adders_per_stage"] = ch.choice(FIXED_MODES)
    types = {"weight": tw, "bias": tb, "accum": ta, "result": tr}
    g.add(Node(name, "dense", [prev], (m,), attrs=attrs, weights={"kernel": kernel, "bias": bias},
               types={s: t for s, t in types.items() if t is not None}))
    return name


def _activation(ch: Chooser, g: Graph, prev: str, name: str, m: int, features: list[str], rows: bool) -> str:
    op = ch.choice(ACTIVATIONS)
    features.append(op)
    attrs: dict[str, Any] = {}
    types: dict[str, FixedType | None] = {"result": maybe(ch, 0.6, lambda: fixed_type(
        ch, 2, 18, -1, 8, unsigned=0.3 if op in ("relu", "sigmoid", "softmax", "hard_sigmoid") else 0.05))}
    if op == "relu" and ch.chance(0.4):
        attrs["max_value"] = ch.choice([0.5, 1.0, 1.5, 3.3, 6.0, 100.0])
    if op == "leaky_relu":
        attrs["alpha"] = ch.choice([0.01, 0.1, 0.2, 0.3, 0.5, 1.5])
    if op == "elu":
        attrs["alpha"] = ch.choice([0.5, 1.0, 1.7])
    if op == "hard_sigmoid" and ch.chance(0.5):
        attrs["slope"], attrs["offset"] = ch.choice([(0.2, 0.5), (1 / 6, 0.5), (0.25, 0.375)])
    if op in ("leaky_relu", "hard_sigmoid"):
        types["param"] = maybe(ch, 0.4, lambda: fixed_type(ch, 4, 18, 1, 3, modes=False))
    if op in ("sigmoid", "tanh", "elu", "softmax"):
        attrs["table_size"] = 2 ** ch.integer(3, 11)
        if ch.chance(0.6):
            attrs["table_range"] = 2.0 ** ch.integer(-1, 4)
    if op in ("sigmoid", "tanh", "elu"):
        types["table"] = maybe(ch, 0.5, lambda: fixed_type(ch, 6, 20, 1, 3, unsigned=0.5 if op == "sigmoid" else 0.0))
    if op == "softmax":
        types["exp_table"] = maybe(ch, 0.5, lambda: fixed_type(ch, 8, 20, 1, 2, modes=False, unsigned=1.0))
        types["inv_table"] = maybe(ch, 0.5, lambda: fixed_type(ch, 8, 20, 1, 4, modes=False, unsigned=1.0))
        splits = [d for d in divisors(m) if 1 < d < m]
        if rows and splits and ch.chance(0.3):  # softmax per row of a reshaped tensor
            r = ch.choice(splits)
            g.add(Node(f"{name}_rows", "reshape", [prev], (r, m // r)))
            g.add(Node(name, op, [f"{name}_rows"], (r, m // r), attrs=attrs,
                       types={s: t for s, t in types.items() if t is not None}))
            g.add(Node(f"{name}_flat", "flatten", [name], (m,)))
            features.append("softmax-rows")
            return f"{name}_flat"
    g.add(Node(name, op, [prev], (m,), attrs=attrs, types={s: t for s, t in types.items() if t is not None}))
    return name


MERGES = ("add", "subtract", "multiply", "average", "maximum", "minimum")
BLOCKS = ("residual", "concat", "channels", "transpose")


def build_graph_case(ch: Chooser, seed: int | None = None, *, rtl: bool = False) -> FuzzCase:
    """One random graph beyond the MLP chain: blocks of residual merges (every merge op, 2 or 3 inputs, the skip
    latency-balanced in RTL), concatenations of branches of different widths (the input too), per-channel
    batch-norm on reshaped (rows, channels) tensors (alone, or concatenated along either axis with another),
    and transposes; random merge result types in every mode. Dense layers as in :func:`build_case`."""
    rng = ch.rng()
    features: list[str] = []
    g = Graph(name="fuzz_graph")
    n = ch.integer(2, 12)
    g.add(Node("x", "input", [], (n,), types={"result": fixed_type(ch, 2, 16, -2, 8, unsigned=0.15)}))
    prev = "x"
    for k in range(ch.integer(1, 3)):
        block = ch.choice(BLOCKS)
        features.append(block)
        prev = {"residual": _residual, "concat": _concat, "channels": _channels, "transpose": _transpose}[block](
            ch, g, rng, prev, k, rtl, features)
    out = _dense(ch, g, rng, prev, "out", ch.integer(1, 6), rtl, features)
    g.outputs = [out]
    infer_types(g, DEFAULT)
    if not _fits(g):
        return build_graph_case(ch, seed, rtl=rtl)
    case = FuzzCase(seed, g, ch.choice(["io_parallel", "io_stream"]), features)
    if rtl and not case.rtl_ok():
        return build_graph_case(ch, seed, rtl=rtl)
    return draw_timing(ch, narrow_accumulators(ch, case)) if rtl else case


def _merge_node(ch: Chooser, g: Graph, op: str, name: str, srcs: list[str], features: list[str],
                attrs: dict[str, Any] | None = None) -> str:
    shape = g[srcs[0]].shape if op != "concatenate" else None
    if op == "concatenate":
        ax = attrs["axis"]
        first = g[srcs[0]].shape
        shape = (*first[:ax], sum(g[s].shape[ax] for s in srcs), *first[ax + 1:])
    tr = maybe(ch, 0.5, lambda: fixed_type(ch, 2, 20, -1, 9, unsigned=0.1))
    features.append(op)
    g.add(Node(name, op, srcs, shape, attrs=dict(attrs or {}), types={"result": tr} if tr else {}))
    return name


def _residual(ch: Chooser, g: Graph, rng: np.random.Generator, prev: str, k: int, rtl: bool,
              features: list[str]) -> str:
    m = g[prev].shape[0]
    op = ch.choice(("add", *MERGES))  # residual adds twice as often
    n_in = 2 if op in ("subtract", "average") or ch.chance(0.6) else 3
    branches = [prev]
    for j in range(n_in - 1):
        b = _dense(ch, g, rng, prev, f"r{k}_{j}", m, rtl, features)
        if ch.chance(0.5):
            b = _activation(ch, g, b, f"r{k}_{j}_act", m, features, False)
        branches.append(b)
    if ch.chance(0.3):
        branches.reverse()
    return _merge_node(ch, g, op, f"m{k}", branches, features)


def _concat(ch: Chooser, g: Graph, rng: np.random.Generator, prev: str, k: int, rtl: bool,
            features: list[str]) -> str:
    branches = [_dense(ch, g, rng, prev, f"c{k}_{j}", ch.integer(1, 8), rtl, features)
                for j in range(ch.integer(1, 2))]
    if ch.chance(0.5) or len(branches) == 1:
        branches.insert(ch.integer(0, len(branches)), prev)
    return _merge_node(ch, g, "concatenate", f"cat{k}", branches, features, {"axis": 0})


def _channels(ch: Chooser, g: Graph, rng: np.random.Generator, prev: str, k: int, rtl: bool,
              features: list[str]) -> str:
    """Dense -> (rows, channels) -> per-channel batch-norm [-> concatenated with a second such tensor] -> flat."""
    rows, chans = ch.integer(1, 4), ch.integer(1, 4)
    d = _dense(ch, g, rng, prev, f"h{k}", rows * chans, rtl, features)
    g.add(Node(f"h{k}_r", "reshape", [d], (rows, chans)))
    tw = maybe(ch, 0.6, lambda: fixed_type(ch, 2, 12, -1, 4))
    tb = maybe(ch, 0.6, lambda: fixed_type(ch, 2, 12, -1, 5))
    types = {"weight": tw, "bias": tb, "result": maybe(ch, 0.8, lambda: fixed_type(ch, 2, 18, -1, 8))}
    g.add(Node(f"bn{k}", "scale_shift", [f"h{k}_r"], (rows, chans),
               weights={"scale": edge_weights(ch, rng, (chans,), tw, 0.1),
                        "shift": edge_weights(ch, rng, (chans,), tb, 0.1)},
               types={s: t for s, t in types.items() if t is not None}))
    features.append("channel-batchnorm")
    last = f"bn{k}"
    if ch.chance(0.5):  # concatenated with a second (rows', chans) or (rows, chans') tensor along that axis
        axis = ch.integer(0, 1)
        extra = ch.integer(1, 3)
        shape2 = (extra, chans) if axis == 0 else (rows, extra)
        d2 = _dense(ch, g, rng, prev, f"h{k}b", shape2[0] * shape2[1], rtl, features)
        g.add(Node(f"h{k}b_r", "reshape", [d2], shape2))
        last = _merge_node(ch, g, "concatenate", f"cat{k}", [last, f"h{k}b_r"], features, {"axis": axis})
        features.append(f"concat-axis{axis}")
    g.add(Node(f"f{k}", "flatten", [last], (int(np.prod(g[last].shape)),)))
    return f"f{k}"


def _transpose(ch: Chooser, g: Graph, rng: np.random.Generator, prev: str, k: int, rtl: bool,
               features: list[str]) -> str:
    rows, cols = ch.integer(2, 4), ch.integer(1, 4)
    d = _dense(ch, g, rng, prev, f"t{k}", rows * cols, rtl, features)
    g.add(Node(f"t{k}_r", "reshape", [d], (rows, cols)))
    g.add(Node(f"t{k}_t", "transpose", [f"t{k}_r"], (cols, rows), {"perm": (1, 0)}))
    g.add(Node(f"t{k}_f", "flatten", [f"t{k}_t"], (rows * cols,)))
    return f"t{k}_f"


def graph_case_from_seed(seed: int, *, rtl: bool = False) -> FuzzCase:
    """The graph model a seed names (its own seed space, apart from :func:`case_from_seed`'s MLPs)."""
    return build_graph_case(RngChooser(np.random.default_rng([seed, int(rtl), 2])), seed, rtl=rtl)


def _fits(g: Graph) -> bool:
    """Whether every type is within the HLS backend's widths (else the generator draws again)."""
    for node in g:
        for slot, t in node.types.items():
            limit = MAX_CONST_WIDTH if slot in OPS[node.op].const_slots \
                else MAX_WIDTH
            if t.width > limit:
                return False
        assert all(s in node.types for s in OPS[node.op].slots)
    return True


def case_from_seed(seed: int, *, rtl: bool = False, softmax_rows: bool | None = None) -> FuzzCase:
    """The model a seed names (the same on every machine and run)."""
    return build_case(RngChooser(np.random.default_rng([seed, int(rtl)])), seed, rtl=rtl, softmax_rows=softmax_rows)


@st.composite
def fuzz_cases(draw: Callable[[st.SearchStrategy[Any]], Any], rtl: bool = False,
               softmax_rows: bool | None = None) -> FuzzCase:
    """Hypothesis strategy of random models (see :func:`build_case`)."""
    return build_case(DrawChooser(draw), None, rtl=rtl, softmax_rows=softmax_rows)


# -- inputs -------------------------------------------------------------------------------------------------

def inputs_for(graph: Graph, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` input rows (``n >= 64``) for ``graph``: the extreme representable values (min, max, 0, +-1 LSB,
    alternating min/max), values half an LSB apart (rounding ties of the input conversion), values far beyond the
    type (they wrap or saturate per its overflow mode), random values over the type's range and random values
    of a smaller scale."""
    t = graph[graph.inputs[0]].types["result"]
    k = int(np.prod(graph[graph.inputs[0]].shape))
    lo, hi, lsb = t.min_value, t.max_value, t.lsb
    fixed = [np.full(k, v) for v in (lo, hi, 0.0, lsb, -lsb, lo + lsb, hi - lsb)]
    fixed += [np.where(np.arange(k) % 2 == 0, lo, hi), np.where(np.arange(k) % 2 == 0, hi, lo)]
    corners = rng.choice([lo, hi, 0.0], size=(32, k))
    rest = n - len(fixed) - len(corners)
    span = hi - lo
    parts = [
        rng.integers(t.min_mantissa, t.max_mantissa, size=(rest // 4, k), endpoint=True) * lsb,  # exact values
        (rng.integers(t.min_mantissa, t.max_mantissa, size=(rest // 8, k), endpoint=True) + 0.5) * lsb,  # ties
        rng.uniform(lo - span, hi + span, size=(rest // 8, k)),  # beyond the type: wrap or saturate
        rng.normal(0, max(span / 16, lsb), size=(rest // 4, k)),
    ]
    parts.append(rng.uniform(lo, hi, size=(rest - sum(len(p) for p in parts), k)))
    x = np.concatenate([np.array(fixed), corners, *parts])
    return x.reshape((n, *graph[graph.inputs[0]].shape))
