"""Differential fuzzing, fixed-seed corpus: the emulator, the generated C++ (g++) and the Verilog (Verilator) give
the same bits on random models (``strategies.py``) and inputs that include the extreme representable values.

``scripts/fuzz.py`` (``make fuzz N=...``) runs the same checks on more models and saves failing cases as
regression tests (``tests/fuzz/regressions/``, replayed by ``test_regressions.py``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import nnfpga
from fuzz.cnn import cnn_case_from_seed
from fuzz.engines import (
    Mismatch,
    check_csim,
    check_rtl,
    csim_single,
    cut,
    emulate,
    first_difference,
    load_regression,
    save_regression,
)
from fuzz.strategies import (
    CLOCK_PERIODS,
    FIXED_MODES,
    TARGETS,
    FuzzCase,
    case_from_seed,
    fuzz_cases,
    graph_case_from_seed,
    inputs_for,
)
from graphs import chain
from nnfpga.emulate import Interpreter
from nnfpga.fixed import FixedType
from nnfpga.passes import infer_types
from tooling import gxx, require, require_xilinx_ap_types

CORPUS = 200  # models (seeds 0..199) through emulator vs csim
CHUNKS = 4
N_INPUTS = 1000
# The Verilator slice: seeds of rtl-mode models covering every activation, ReuseFactors 1, 4, 7 and 11, and
# every multiplier style; seeds 5, 8, 13 and 14 also narrow accumulators (products rounded, sums saturating).
RTL_SEEDS = (2, 3, 5, 8, 9, 13, 14)
# Graphs beyond the chain (merges, concatenations, per-channel batch-norm on reshaped tensors, transposes):
GRAPH_CORPUS = 60  # seeds 0..59 of graph_case_from_seed through emulator vs csim
# rtl-mode graphs covering every merge op, both concat axes, transposes (47 replaced 19 when the Verilog backend
# learnt every accumulator: rtl-mode seed 19 names another model since)
GRAPH_RTL_SEEDS = (1, 6, 7, 10, 29, 47)
# Random Keras CNNs (fuzz/cnn.py) through emulator vs csim, chosen to cover every layer kind and option below
CNN_SEEDS = (9, 15, 16, 17, 18, 20, 21, 27, 30, 32, 60, 61, 62, 63, 66)
# with Xilinx's ap_types headers: 1017 and 1019 (casts below every source bit, which aborted before -DNDEBUG), a
# Conv1D model and one with every pooling of the corpus (io_stream: 1017)
XILINX_CNN_SEEDS = (1017, 1019, 16, 17)
# rtl-mode CNNs (the streaming Verilog top's layers) through Verilator with random stalls: residual Add and a
# Concatenate (2D), Minimum, Subtract and max-pool (1D), Subtract and Average over (16, 2)
CNN_RTL_SEEDS = (5, 24, 36, 38)


def corpus_inputs(case: FuzzCase) -> np.ndarray:
    return inputs_for(case.graph, N_INPUTS, np.random.default_rng([case.seed or 0, 1]))


def report(found: list[Mismatch]) -> str:
    return f"{len(found)} model(s) differ:\n" + "\n".join(m.message() for m in found)


@pytest.mark.tools
@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_emulator_equals_csim_on_the_corpus(tmp_path: Path, chunk: int) -> None:
    gxx()
    seeds = range(chunk * CORPUS // CHUNKS, (chunk + 1) * CORPUS // CHUNKS)
    cases = [case_from_seed(s) for s in seeds]
    found = check_csim(cases, [corpus_inputs(c) for c in cases], tmp_path, jobs=2)
    assert not found, report(found)


def test_the_corpus_covers_every_feature() -> None:
    """What the 200 corpus models exercise (so that a generator change cannot silently drop a feature)."""
    cases = [case_from_seed(s) for s in range(CORPUS)]
    features = {f for c in cases for f in c.features}
    assert features >= {"relu", "leaky_relu", "sigmoid", "tanh", "softmax", "elu", "hard_sigmoid", "hard_tanh",
                        "linear", "scale_shift", "narrow-accum"}
    nodes = [n for c in cases for n in c.graph]
    dense = [n for n in nodes if n.op == "dense"]
    assert {n.attrs["strategy"] for n in dense} == {"Latency", "Resource"}
    assert sum(n.attrs["reuse_factor"] > 1 for n in dense) > 50
    assert {c.io_type for c in cases} == {"io_parallel", "io_stream"}
    assert sum(np.any(n.weights["kernel"] == 0) for n in dense) > 100  # pruned weights
    types = [t for n in nodes for t in n.types.values()]
    assert {t.rounding for t in types} >= set(nnfpga.fixed.ROUNDING_MODES)
    assert {t.overflow for t in types} >= set(nnfpga.fixed.OVERFLOW_MODES)
    assert any(t.integer > t.width for t in types) and any(t.integer < 0 for t in types)
    assert any(t.kind == "int" for t in types) and any(not t.signed for t in types)
    # weights at the edges of their types: the extremes themselves, quantized exactly
    at_edge = 0
    for n in dense:
        t = n.types["weight"]
        at_edge += int(np.sum((n.weights["kernel"] == t.max_value) | (n.weights["kernel"] == t.min_value)))
    assert at_edge > 200


@pytest.mark.tools
@pytest.mark.slow
def test_emulator_equals_csim_on_the_graph_corpus(tmp_path: Path) -> None:
    gxx()
    cases = [graph_case_from_seed(s) for s in range(GRAPH_CORPUS)]
    found = check_csim(cases, [corpus_inputs(c) for c in cases], tmp_path, jobs=2)
    assert not found, report(found)


def test_the_graph_corpus_covers_every_structure() -> None:
    cases = [graph_case_from_seed(s) for s in range(GRAPH_CORPUS)]
    features = {f for c in cases for f in c.features}
    assert features >= {"add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "transpose",
                        "channel-batchnorm", "concat-axis0", "concat-axis1", "residual", "narrow-accum"}
    assert {c.io_type for c in cases} == {"io_parallel", "io_stream"}
    assert any(len(n.inputs) == 3 for c in cases for n in c.graph)  # three-input merges
    assert any(len(n.shape) == 2 and n.op == "scale_shift" for c in cases for n in c.graph)
    rtl = [graph_case_from_seed(s, rtl=True) for s in GRAPH_RTL_SEEDS]
    assert all(c.rtl_ok() for c in rtl)
    assert {f for c in rtl for f in c.features} >= {"add", "subtract", "multiply", "average", "maximum", "minimum",
                                                    "transpose", "channel-batchnorm", "concat-axis0", "concat-axis1",
                                                    "narrow-accum"}


@pytest.mark.tools
@pytest.mark.slow
def test_emulator_equals_csim_on_the_cnn_corpus(tmp_path: Path) -> None:
    gxx()
    cases = [cnn_case_from_seed(s) for s in CNN_SEEDS]
    found = check_csim(cases, [corpus_inputs(c) for c in cases], tmp_path, jobs=2)
    assert not found, report(found)


@pytest.mark.tools
@pytest.mark.slow
def test_emulator_equals_csim_on_cnns_with_xilinx_headers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gxx()
    monkeypatch.setenv("AP_TYPES_DIR", str(require_xilinx_ap_types()))
    cases = [cnn_case_from_seed(s) for s in XILINX_CNN_SEEDS]
    assert {c.io_type for c in cases} == {"io_parallel", "io_stream"}
    found = check_csim(cases, [corpus_inputs(c) for c in cases], tmp_path, jobs=2, group=2)
    assert not found, report(found)


def test_the_cnn_corpus_covers_every_layer_kind() -> None:
    cases = [cnn_case_from_seed(s) for s in CNN_SEEDS]
    features = {f for c in cases for f in c.features}
    assert features >= {"conv1d-input", "conv2d-input", "conv1d", "conv2d", "depthwise", "separable", "groups",
                        "strides", "dilation", "same", "valid", "bias", "no-bias", "max-pool", "average-pool",
                        "pool-same", "pool-valid", "global-max-pool", "global-average-pool", "zero-pad", "crop",
                        "upsample", "residual", "merge-subtract", "merge-multiply", "merge-average", "merge-maximum",
                        "merge-minimum", "merge-concatenate", "bn-folded-into-conv", "bn-scale-shift-after-max_pool",
                        "bn-scale-shift-after-avg_pool", "narrow-accum", "wrap-accum", "edge-weights",
                        "layer-ReLU", "layer-LeakyReLU", "layer-Activation"}
    assert {f for f in features if f.startswith("inline-")} >= {"inline-relu", "inline-tanh", "inline-sigmoid",
                                                                "inline-softmax"}
    assert {f for f in features if f.startswith("kernel") and "x" in f} >= {"kernel1x2", "kernel3x3"}  # non-square
    assert {c.io_type for c in cases} == {"io_parallel", "io_stream"}
    nodes = [n for c in cases for n in c.graph]
    assert {n.op for n in nodes} >= {"conv", "max_pool", "avg_pool", "zero_pad", "crop", "upsample", "add",
                                     "concatenate", "scale_shift", "flatten", "dense"}
    conv = [n for n in nodes if n.op == "conv"]
    assert {n.attrs["strategy"] for n in conv} == {"Latency", "Resource"}
    assert any(n.attrs["reuse_factor"] > 1 for n in conv)
    assert any(n.attrs.get("depthwise") for n in conv)
    types = [t for n in nodes for t in n.types.values()]
    assert {t.rounding for t in types} >= set(nnfpga.fixed.ROUNDING_MODES)
    assert {t.overflow for t in types} >= set(nnfpga.fixed.OVERFLOW_MODES)
    # a seed names the same model every time (every weight from the seed, every layer named)
    (desc, arrays), (desc2, arrays2) = cnn_case_from_seed(CNN_SEEDS[3]).graph.to_dict(), cases[3].graph.to_dict()
    assert desc == desc2 and arrays.keys() == arrays2.keys()
    assert all(np.array_equal(arrays[k], arrays2[k]) for k in arrays)


def test_a_failing_cnn_is_saved_as_a_regression_case(tmp_path: Path) -> None:
    """A CNN mismatch names its layer and is saved and read back like a chain's (same graph, weights, inputs)."""
    case = cnn_case_from_seed(CNN_SEEDS[4])
    x = corpus_inputs(case)[:64]
    last = case.graph.outputs[0]
    ref = emulate(case.graph, x)[last]
    got = ref.copy()
    got[5, 0] += 1
    mm = first_difference(case, "csim", last, got, ref, x)
    assert mm is not None and mm.message().startswith(f"seed {CNN_SEEDS[4]} ({case.io_type}): csim differs")
    back, engine, xb = load_regression(save_regression(mm, tmp_path))
    assert engine == "csim" and back.io_type == case.io_type and back.graph.dump() == case.graph.dump()
    np.testing.assert_array_equal(emulate(back.graph, xb)[last], ref)


def test_rtl_mode_cnns_are_built_by_the_streaming_top() -> None:
    from nnfpga.backends.rtl.stream import stream_problems

    cases = [cnn_case_from_seed(s, rtl=True) for s in CNN_RTL_SEEDS]
    assert not any(stream_problems(c.graph) for c in cases)
    assert {f for c in cases for f in c.features} >= {"conv1d-input", "conv2d-input", "depthwise", "groups", "dilation",
                                                        "strides", "average-pool", "max-pool", "global-average-pool",
                                                        "upsample", "merge-concatenate", "merge-average",
                                                        "inline-softmax", "bn-scale-shift-after-avg_pool"}


@pytest.mark.tools
@pytest.mark.slow
def test_fuzz_script_runs_cnns_through_rtl_and_reports_the_skipped() -> None:
    """``--kind cnn`` with the rtl engine: seed 1001's CNN as drawn (ReuseFactors 2 on a pointwise conv and a Dense)
    runs; seed 1002's (a saturating accumulator at ReuseFactor > 1) the streaming top cannot build: counted with its
    reason (no silent skip) and the seed's rtl-mode CNN runs instead."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    res = subprocess.run([sys.executable, str(root / "scripts" / "fuzz.py"), "--seed", "1001", "-n", "2",
                          "--rtl-models", "2", "--engines", "rtl", "--kind", "cnn", "--no-save", "--inputs", "100"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "rtl          2 models        200 inputs  0 mismatching  0 errors" in res.stdout
    assert "rtl: 1 of 2 CNNs as drawn are not built by the streaming Verilog top" in res.stdout
    assert "Dense layer 'dw1': accumulator" in res.stdout and "may saturate a partial sum" in res.stdout


def test_inputs_include_the_extremes() -> None:
    case = case_from_seed(7)
    x = corpus_inputs(case)
    t = case.graph["x"].types["result"]
    assert x.shape[0] == N_INPUTS
    for v in (t.min_value, t.max_value, 0.0, t.lsb):
        assert np.any(np.all(x == v, axis=1)), v
    assert np.any(x > t.max_value) and np.any(x < t.min_value)  # out of range: wraps or saturates


# Every rtl-mode corpus through Verilator: (maker, seed, how many of the corpus inputs; CNNs stream 300 images)
RTL_CASES = ([pytest.param(case_from_seed, s, N_INPUTS, id=f"mlp-{s}") for s in RTL_SEEDS]
             + [pytest.param(graph_case_from_seed, s, N_INPUTS, id=f"graph-{s}") for s in GRAPH_RTL_SEEDS]
             + [pytest.param(cnn_case_from_seed, s, 300, id=f"cnn-{s}") for s in CNN_RTL_SEEDS])


@pytest.mark.tools
@pytest.mark.slow
@pytest.mark.parametrize(("maker", "seed", "n"), RTL_CASES)
def test_emulator_equals_rtl(tmp_path: Path, maker: Callable[..., FuzzCase], seed: int, n: int) -> None:
    require(__import__("shutil").which("verilator"), "verilator", "make tools")
    case = maker(seed, rtl=True)
    found = check_rtl(case, corpus_inputs(case)[:n], tmp_path)
    assert found is None, found.message()


def test_rtl_slice_has_only_what_the_verilog_backend_builds() -> None:
    cases = [case_from_seed(s, rtl=True) for s in RTL_SEEDS]
    assert all(c.rtl_ok() for c in cases)
    assert {f for c in cases for f in c.features} >= {"relu", "leaky_relu", "sigmoid", "tanh", "elu", "scale_shift",
                                                      "hard_sigmoid", "hard_tanh", "linear", "narrow-accum"}
    accums = [n.types["accum"] for c in cases for n in c.graph if n.op == "dense"]
    assert {t.overflow for t in accums} >= {"WRAP", "SAT_SYM", "SAT_ZERO", "SAT"}


def test_rtl_cases_draw_random_clock_targets() -> None:
    """rtl-mode models are built for a random clock target (drawn after the model: a seed names the same layers
    and weights as before, only its registers move); the Verilator slice has every delay model, clocks short
    enough to register inside layers, and layers placed by timing beside the fixed modes."""
    cases = [case_from_seed(s, rtl=True) for s in range(60)] + [graph_case_from_seed(s, rtl=True) for s in range(60)]
    lo, hi = CLOCK_PERIODS
    assert all(c.clock_period is not None and lo <= c.clock_period <= hi for c in cases)
    assert {c.target for c in cases} == set(TARGETS)
    assert sum(c.clock_period < 4.2 for c in cases) > 40  # log-uniform: about half below 4.2 ns
    modes = [n.attrs.get("adders_per_stage", "default") for c in cases for n in c.graph if n.op == "dense"]
    assert set(modes) == {"auto", "default", *FIXED_MODES}
    assert 0.5 < sum(m in ("auto", "default") for m in modes) / len(modes) < 0.9
    assert any(n.op == "softmax" and "adders_per_stage" in n.attrs for c in cases for n in c.graph)
    assert all(c.clock_period is None for c in (case_from_seed(3), graph_case_from_seed(3)))  # csim: no clock
    again = case_from_seed(RTL_SEEDS[0], rtl=True)
    assert (again.clock_period, again.target) == (cases[RTL_SEEDS[0]].clock_period, cases[RTL_SEEDS[0]].target)
    rtl = [m(s, rtl=True) for m, s, _ in (p.values for p in RTL_CASES)]
    assert {c.target for c in rtl} == set(TARGETS) and min(c.clock_period for c in rtl) < 2.0


def test_an_rtl_case_keeps_its_clock_target_as_a_regression_case(tmp_path: Path) -> None:
    case = case_from_seed(RTL_SEEDS[1], rtl=True)
    mm, *_ = _one_lsb_off(case, "rtl", 64, 3)
    assert mm.message().startswith(f"seed {case.seed} ({case.io_type}, clock {case.clock_period:g} ns on "
                                   f"{case.target}): rtl differs")
    back, engine, _ = load_regression(save_regression(mm, tmp_path))
    assert engine == "rtl" and back.timing() == case.timing() == {"clock_period": case.clock_period,
                                                                  "target": case.target}
    assert back.graph.dump() == case.graph.dump()


@pytest.mark.tools
@pytest.mark.slow
def test_the_shared_library_build_equals_hw_compile(tmp_path: Path) -> None:
    """The corpus compiles many projects into one library; the public path (hw.compile, predict(engine="csim"))
    gives the same bits."""
    gxx()
    for seed in (1, 2):
        case = case_from_seed(seed)
        x = corpus_inputs(case)[:300]
        y = csim_single(case.graph, case.io_type, x, tmp_path / f"m{seed}")
        out = case.graph.outputs[0]
        assert first_difference(case, "csim", out, y, emulate(case.graph, x)[out], x) is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fuzz_cases())
def test_emulator_fast_paths_equal_the_literal_semantics(case: FuzzCase) -> None:
    """Hypothesis drives the same generator: the emulator's fast Dense paths (one matrix product) equal the
    input-by-input reference accumulation on every layer."""
    x = inputs_for(case.graph, 200, np.random.default_rng(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        fast = Interpreter(case.graph).run(x, keep=True).values
        ref = Interpreter(case.graph, reference=True).run(x, keep=True).values
    for node in case.graph:
        np.testing.assert_array_equal(fast[node.name], ref[node.name], err_msg=f"layer {node.name}")


def test_failure_messages_name_the_seed_the_layer_and_the_input(tmp_path: Path) -> None:
    case = case_from_seed(12)
    mm, last, x, ref, got = _one_lsb_off(case, "csim", 50, 17)
    msg = mm.message()
    assert msg.startswith(f"seed 12 ({case.io_type}): csim differs from the emulator; first at layer {last!r}")
    assert f"input row 17, output 0: csim mantissa {got[17, 0]}, emulator {ref[17, 0]} (1 differing values)" in msg
    row = msg.split("Input row: [")[1].rstrip("]")
    np.testing.assert_array_equal(np.array([float(v) for v in row.split(",")]), x[17].ravel())  # exact, reusable
    # saved as a regression case and read back: same graph, same inputs
    path = save_regression(mm, tmp_path)
    back, engine, xb = load_regression(path)
    assert engine == "csim" and back.seed == 12 and back.io_type == case.io_type
    np.testing.assert_array_equal(xb, x)
    assert back.graph.dump() == case.graph.dump()
    np.testing.assert_array_equal(emulate(back.graph, xb)[last], ref)


def test_cut_graph_ends_at_a_layer() -> None:
    case = case_from_seed(12)
    name = next(n.name for n in case.graph if n.op == "dense")
    g = cut(case.graph, name)
    assert g.outputs == [name] and list(g.nodes)[-1] == name


# -- bugs the fuzzer found, fixed: their minimal cases ---------------------------------------------------------

def softmax_rows_graph() -> FuzzCase:
    f = FixedType.parse
    g = chain((4,), ("rows", "reshape", {"shape": (2, 2)}), ("sm", "softmax", {"attrs": {"table_size": 64}}),
              ("flat", "flatten", {"shape": (4,)}), input_type=f("ap_fixed<8,3>"))
    infer_types(g, FixedType(16, 6))
    return FuzzCase(None, g)


@pytest.mark.tools
def test_hls_softmax_over_rows(tmp_path: Path) -> None:
    gxx()
    case = softmax_rows_graph()
    x = np.array([[1.0, 0.0, -2.0, 3.0], [0.5, 0.5, 0.0, 0.0]])
    y = csim_single(case.graph, "io_parallel", x, tmp_path / "prj")
    assert first_difference(case, "csim", "flat", y, emulate(case.graph, x)["flat"], x) is None


def test_rtl_one_point_range() -> None:
    """A Dense with no nonzero weight and a zero bias: a wire that can only hold 0, shifted."""
    from nnfpga.backends.rtl.lower import build_design

    f = FixedType.parse
    g = chain((2,), ("fc", "dense", {"shape": (1,), "weights": {"kernel": np.zeros((2, 1)), "bias": np.zeros(1)},
                                     "types": {"result": f("ap_fixed<3,8>")}}),
              ("ht", "hard_tanh", {}), input_type=f("ap_fixed<8,1>"))
    infer_types(g, FixedType(16, 6))
    build_design(g, "repro")


@pytest.mark.tools
def test_xilinx_headers_cast_dropping_every_source_bit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by the CNN fuzzer with Xilinx's ap_types (``AP_TYPES_DIR``; seed 1017, a max-pool accumulator
    ``ap_fixed<4,9,AP_RND>`` of an ``ap_fixed<9,4>`` input): a rounding cast below every source bit tripped
    ap_private's ``assert`` and aborted the Python process. The C simulation now builds Xilinx's headers with
    ``-DNDEBUG`` (the bit it reads is unused) and gives the emulator's bits."""
    gxx()
    monkeypatch.setenv("AP_TYPES_DIR", str(require_xilinx_ap_types()))
    f = FixedType.parse
    g = chain((3,), ("cast", "linear", {"types": {"result": f("ap_fixed<4,9,AP_RND>")}}),
              input_type=f("ap_fixed<9,4>"))
    infer_types(g, FixedType(16, 6))
    x = np.array([[15.96875, -16.0, 0.5], [1.0, 2.0, -3.0]])
    y = csim_single(g, "io_parallel", x, tmp_path / "prj")
    assert first_difference(FuzzCase(None, g), "csim", "cast", y, emulate(g, x)["cast"], x) is None


def _one_lsb_off(case, engine: str, n: int, row: int):
    """The mismatch ``engine`` would report on ``n`` corpus inputs with output ``row``'s first value one LSB off
    the emulator's; with the last layer's name, the inputs, the emulator's outputs and the altered ones."""
    x = corpus_inputs(case)[:n]
    last = case.graph.outputs[0]
    ref = emulate(case.graph, x)[last]
    got = ref.copy()
    got[row, 0] += 1
    mm = first_difference(case, engine, last, got, ref, x)
    assert mm is not None
    return mm, last, x, ref, got
