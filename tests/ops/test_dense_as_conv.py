"""A Dense run as a 1x1 convolution by the convolution's compiled kernel (the interpreter's ``dense_as_conv``, taken
on batch-innermost inputs: a convolution's output flattened, a Dense's after it) against Dense's own paths: the same
bits and overflow counts, with the inputs' and the weights' extreme mantissas, for exact sums, truncated and
rounded products, and a wrapping accumulator the sums leave (the bound fails: the casts apart); a saturating
accumulator whose bound fails (Dense's guarded path) is not taken over. The reference path: the same bits."""

from __future__ import annotations

import numpy as np
import pytest
from test_conv import conv_graph
from test_conv_lanes import ACCUMS, INPUTS, WEIGHT, set_extreme_inputs

from nnfpga.emulate import Interpreter
from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Node
from nnfpga.ops import OPS
from nnfpga.passes import infer_types

ACCUMS = {**ACCUMS, "sat": FixedType(10, 3, rounding="RND", overflow="SAT")}
RESULT = FixedType(10, 4)


def graph(accum: str, rng: np.random.Generator):
    kernel = rng.normal(size=(3, 3, 2, 4)) * 2
    g = conv_graph(kernel, rng.normal(size=4), (5, 6), None, {"weight": WEIGHT, "result": RESULT})
    g.add(Node("f", "flatten", ["c"], (3 * 4 * 4,)))
    ta = ACCUMS[accum]
    for name, src, n_in, n_out in (("d1", "f", 48, 9), ("d2", "d1", 9, 5)):
        w = rng.normal(size=(n_in, n_out)) * 2
        w[0, 0] = WEIGHT.min_mantissa * 2.0**-WEIGHT.frac
        w[-1, -1] = WEIGHT.max_mantissa * 2.0**-WEIGHT.frac
        g.add(Node(name, "dense", [src], (n_out,), weights={"kernel": w, "bias": rng.normal(size=n_out)},
                   types={"weight": WEIGHT, "result": RESULT, **({"accum": ta} if ta else {})}))
    g.outputs = ["d2"]
    tx = INPUTS["narrow"]
    infer_types(g, tx)
    x = rng.uniform(-1, 1, size=(300, 5, 6, 2)) * 2.0 ** (tx.integer - 1)
    set_extreme_inputs(x, tx)
    x[2] = 0.0
    return g, x


@pytest.mark.parametrize("accum", sorted(ACCUMS))
def test_dense_by_the_conv_kernel_equals_dense(accum: str, monkeypatch: pytest.MonkeyPatch) -> None:
    g, x = graph(accum, np.random.default_rng(sorted(ACCUMS).index(accum)))
    it = Interpreter(g)
    assert sorted(it.dense_direct) == ([] if accum == "sat" else ["d1", "d2"])
    calls = []
    conv = type(OPS["conv"])
    run = conv.run_fixed
    with monkeypatch.context() as mp:
        mp.setattr(conv, "run_fixed", lambda self, node, *a: calls.append(node.name) or run(self, node, *a))
        got = it.run(x)
    assert sorted(set(calls)) == (["c"] if accum == "sat" else ["c", "d1", "d2"])
    it.dense_direct = {}  # Dense's own paths
    want = it.run(x)
    np.testing.assert_array_equal(got.outputs[0], want.outputs[0])
    assert got.stats.overflow == want.stats.overflow
    np.testing.assert_array_equal(got.outputs[0], Interpreter(g, reference=True).run(x).outputs[0])
    assert got.stats.overflow[("d1", "result")].count > 0 or accum in ("rnd_wrap", "sat")
    if accum == "rnd_wrap":  # the sums left the accumulator's range
        assert got.stats.overflow[("d1", "accum")].count > 0
