"""The compiled max pooling (ops/pool_jit.py) against the ``np.maximum`` fold it replaces: the same bits and
overflow counts over every pooling geometry of test_pool.py (1D, strided, padded, uneven, global), on sample-major
inputs and on the batch-innermost views a convolution leaves, with the inputs' extreme mantissas (windows of the
least mantissa only: the padding's fill ties with them), for an accumulator that holds the input (its cast is
skipped) and narrower ones that round and saturate (the casts run)."""

from __future__ import annotations

import numpy as np
import pytest
from test_pool import POOLS, pool_graph

from nnfpga.emulate import Interpreter
from nnfpga.fixed import FixedType
from nnfpga.ops import pool, pool_jit
from nnfpga.passes import infer_types

TX = FixedType(16, 6)
ACCUMS = {"input": None, "wider": FixedType(24, 12), "narrower": FixedType(10, 3, rounding="RND", overflow="SAT"),
          "wrap": FixedType(12, 4)}


@pytest.mark.parametrize("accum", sorted(ACCUMS))
@pytest.mark.parametrize("name", sorted(POOLS))
def test_compiled_max_pool_equals_the_fold(name: str, accum: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if not pool_jit.accumulate_jit.enabled():
        pytest.fail("numba is a dependency: the compiled kernel must run here (NNFPGA_NUMBA=0 set?)")
    spatial, c, size, strides, pads, _ = POOLS[name]
    rng = np.random.default_rng(sorted(POOLS).index(name))
    ta = ACCUMS[accum]
    attrs = {"pool": list(size), "strides": list(strides), "pads": [list(p) for p in pads]}
    if name.startswith("global"):
        attrs["global"] = True
    g = pool_graph("max_pool", spatial, c, TX, {"accum": ta, "result": FixedType(8, 2)} if ta else None, **attrs)
    infer_types(g, TX)
    m = rng.integers(TX.min_mantissa, TX.max_mantissa + 1, size=(64, *spatial, c))
    m[0] = TX.min_mantissa  # every window ties with the padding's fill
    m[1] = TX.max_mantissa
    m[2, ..., 0] = TX.min_mantissa
    x = m * 2.0**-TX.frac
    assert pool_jit.usable(x, pool.MaxPool().window(g["p"]))
    got = Interpreter(g).run(x)
    with monkeypatch.context() as mp:
        mp.setattr(pool_jit, "usable", lambda *a: False)
        want = Interpreter(g).run(x)
    np.testing.assert_array_equal(got.outputs[0], want.outputs[0])
    assert got.stats.overflow == want.stats.overflow
    # the batch-innermost layout a convolution's kernel returns, straight into the kernel
    xm = np.ascontiguousarray(np.moveaxis(m.astype(np.float64), 0, -1))
    view = np.moveaxis(xm, -1, 0)
    win = pool.MaxPool().window(g["p"])
    folded = pool._fold(np.maximum, pool.MaxPool()._positions(g["p"], view, fill=TX.min_mantissa)[0])
    np.testing.assert_array_equal(pool_jit.max_pool(view, win, TX.min_mantissa), folded)


def test_holds() -> None:
    assert pool.holds(FixedType(24, 12), TX) and pool.holds(TX, TX)
    assert not pool.holds(FixedType(16, 5), TX) and not pool.holds(FixedType(16, 7), TX)
    assert not pool.holds(FixedType(24, 12, signed=False), TX)
