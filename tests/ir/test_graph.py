"""The IR: building, querying, rewiring, copying, dumping and serializing graphs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnfpga.errors import GraphError, NnfpgaError
from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Graph, Node


def small() -> Graph:
    g = Graph(name="small")
    g.add(Node("x", "input", [], (4,), types={"result": FixedType(16, 6)}, source="InputLayer 'x'"))
    g.add(Node("fc", "dense", ["x"], (3,), weights={"kernel": np.arange(12.0).reshape(4, 3), "bias": np.ones(3)},
               types={"weight": FixedType(8, 3, rounding="RND"), "result": FixedType(12, 4, overflow="SAT")},
               source="Dense 'fc'"))
    g.add(Node("act", "relu", ["fc"], (3,), attrs={"max_value": 6.0}))
    g.add(Node("a2", "tanh", ["fc"], (3,), attrs={"table_size": 256}))
    g.outputs = ["act"]
    return g


def test_add_rejects_duplicates_and_undefined_inputs() -> None:
    g = small()
    with pytest.raises(GraphError, match=r"^duplicate node name 'fc'$"):
        g.add(Node("fc", "relu", ["x"], (4,)))
    with pytest.raises(GraphError, match=r"^node 'y' reads 'nope', which is not defined before it$"):
        g.add(Node("y", "relu", ["nope"], (4,)))
    assert list(g.nodes) == ["x", "fc", "act", "a2"]
    assert issubclass(GraphError, NnfpgaError)


def test_queries() -> None:
    g = small()
    assert g.inputs == ["x"]
    assert [n.name for n in g.users("fc")] == ["act", "a2"]
    assert g.users("act") == []
    assert "fc" in g and "zz" not in g and 3 not in g
    assert g["fc"].op == "dense"
    assert [n.name for n in g] == ["x", "fc", "act", "a2"]
    assert g["fc"].describe() == "dense 'fc' (from Dense 'fc')"
    assert g["act"].describe() == "relu 'act'"


def test_iteration_tolerates_removal() -> None:
    g = small()
    seen = []
    for node in g:
        seen.append(node.name)
        if node.name == "fc":
            g.bypass("a2", "gone")
    assert seen == ["x", "fc", "act", "a2"]  # iterates over a snapshot
    assert "a2" not in g


def test_bypass_rewires_consumers_and_outputs() -> None:
    g = small()
    g.outputs = ["act", "a2"]
    g.bypass("fc", "because")
    assert g["act"].inputs == ["x"] and g["a2"].inputs == ["x"]
    assert g.removed == {"fc": "because"}
    g.bypass("act", "identity")
    assert g.outputs == ["x", "a2"]
    with pytest.raises(KeyError):
        g["fc"]


def test_bypass_refuses_multi_input_nodes() -> None:
    g = small()
    g.add(Node("cat", "concat", ["act", "a2"], (6,)))
    with pytest.raises(GraphError, match=r"cannot bypass concat 'cat': it has 2 inputs"):
        g.bypass("cat", "no")
    assert "cat" in g


def test_unique_name_avoids_live_and_removed_names() -> None:
    g = small()
    assert g.unique_name("new") == "new"
    assert g.unique_name("fc") == "fc_1"
    g.bypass("a2", "r")
    assert g.unique_name("a2") == "a2_1"
    g.add(Node("fc_1", "relu", ["fc"], (3,)))
    assert g.unique_name("fc") == "fc_2"


def test_copy_is_deep() -> None:
    g = small()
    c = g.copy()
    c["fc"].weights["kernel"][0, 0] = 99.0
    c["fc"].attrs["x"] = 1
    c["act"].inputs.append("x")
    c.bypass("a2", "r")
    assert g["fc"].weights["kernel"][0, 0] == 0.0
    assert "x" not in g["fc"].attrs and g["act"].inputs == ["fc"]
    assert "a2" in g and g.removed == {}


def test_dump_lists_every_node() -> None:
    text = small().dump()
    lines = text.splitlines()
    assert lines[0] == "graph small: outputs ['act']"
    assert lines[1] == "  x: input() -> [4] <result=ap_fixed<16,6>>"
    assert lines[2] == ("  fc: dense(x) -> [3] [kernel[4, 3], bias[3]] "
                        "<result=ap_fixed<12,4,AP_TRN,AP_SAT>, weight=ap_fixed<8,3,AP_RND>>")
    assert lines[3] == "  act: relu(fc) -> [3] {max_value=6.0}"
    assert len(lines) == 5


def test_to_dict_from_dict_round_trip() -> None:
    g = small()
    g.bypass("a2", "tanh was dropped")
    desc, arrays = g.to_dict()
    assert set(arrays) == {"fc/kernel", "fc/bias"}
    # the description is plain JSON
    desc = json.loads(json.dumps(desc))
    h = Graph.from_dict(desc, {k: v.copy() for k, v in arrays.items()})
    assert h.name == "small" and h.outputs == ["act"] and h.removed == {"a2": "tanh was dropped"}
    assert list(h.nodes) == list(g.nodes)
    for name in g.nodes:
        a, b = g[name], h[name]
        assert (a.op, a.inputs, a.shape, a.attrs, a.types, a.source) == (b.op, b.inputs, b.shape, b.attrs, b.types,
                                                                          b.source)
        assert set(a.weights) == set(b.weights)
        for k in a.weights:
            np.testing.assert_array_equal(a.weights[k], b.weights[k])
    assert h["fc"].types["result"] == FixedType(12, 4, overflow="SAT")


def test_from_dict_rejects_dangling_inputs() -> None:
    desc, arrays = small().to_dict()
    desc["nodes"] = desc["nodes"][1:]  # drop the input node
    with pytest.raises(GraphError, match="reads 'x', which is not defined before it"):
        Graph.from_dict(desc, arrays)


def test_users_replace_uses_insert_before_remove() -> None:
    from nnfpga.errors import GraphError
    from nnfpga.ir.graph import Graph, Node

    g = Graph(name="g")
    g.add(Node("x", "input", [], (4,)))
    g.add(Node("a", "relu", ["x"], (4,)))
    g.add(Node("b", "add", ["a", "x"], (4,)))
    g.outputs = ["b"]
    assert [n.name for n in g.users("x")] == ["a", "b"] and g.is_read("b") and not g.is_read("zzz")
    g.insert_before("b", Node("t", "tanh", ["x"], (4,)))
    assert list(g.nodes) == ["x", "a", "t", "b"]
    g.replace_uses("a", "t")
    assert g["b"].inputs == ["t", "x"] and not g.is_read("a")
    g.remove("a", "unused")
    assert list(g.nodes) == ["x", "t", "b"] and g.removed["a"] == "unused"
    with pytest.raises(GraphError, match=r"cannot remove tanh 't': it is still read"):
        g.remove("t", "no")
    with pytest.raises(GraphError, match=r"cannot insert 'u' before 't': it reads \['b'\], not defined before"):
        g.insert_before("t", Node("u", "relu", ["b"], (4,)))
    with pytest.raises(GraphError, match=r"cannot replace uses of 't' with 'nope': no node of that name"):
        g.replace_uses("t", "nope")
    g.replace_uses("b", "t")
    assert g.outputs == ["t"]


def test_verify_lists_every_problem() -> None:
    from nnfpga.errors import GraphError
    from nnfpga.fixed import FixedType
    from nnfpga.ir.graph import Graph, Node
    from nnfpga.ir.verify import problems, verify

    g = Graph(name="g")
    g.add(Node("x", "input", [], (2, 3), types={"result": FixedType(8, 3)}))
    g.add(Node("bn", "scale_shift", ["x"], (2, 3), weights={"scale": np.ones(2), "shift": np.ones(3)}))
    g.add(Node("c", "concatenate", ["x", "x"], (2, 5), {"axis": 1}))
    g.add(Node("s", "subtract", ["x", "x", "x"], (2, 3)))
    g.add(Node("t", "transpose", ["x"], (3, 2), {"perm": (1, 0)}))
    g.outputs = ["t", "gone"]
    found = problems(g, typed=True)
    assert found == [
        "scale_shift 'bn': scale: a constant of shape (2,) does not apply to a tensor of per-sample shape (2, 3); "
        "per-axis constants align with the last (channel) axis: expected shape (3,) (per channel) or (2, 3) "
        "(per element)",
        "scale_shift 'bn': type slot(s) ['weight', 'bias', 'result'] have no type",
        "concatenate 'c': shape (2, 5), but its inputs give (2, 6)",
        "concatenate 'c': type slot(s) ['result'] have no type",
        "subtract 's' has 3 input(s); subtract takes 2",
        "transpose 't': type slot(s) ['result'] have no type",
        "output 'gone' is not a node",
    ]
    with pytest.raises(GraphError, match=r"^invalid graph 'g' after the test: scale_shift 'bn'"):
        verify(g, after="the test")
