"""Op completeness: every op of the registry is wired everywhere an op must be.

For each name in :data:`nnfpga.ops.OPS` (whatever ops exist when the test runs): a config type name
(``config/apply.py`` ``TYPE_NAMES``), a float and a fixed kernel, an HLS lowering or a documented entry beside
``LOWERINGS`` (``NOT_LOWERED`` / ``REFUSED`` in ``backends/hls/lower.py``), the same for the Verilog backend
(``LOWERINGS``, ``NOT_LOWERED``, ``REFUSED`` in ``backends/rtl/lower.py``), and a place in the fuzz generator's models
(``tests/fuzz/strategies.py``, found by generating its seed corpus) or an exemption below with its reason.
The failure lists every missing fact at once.
"""

from __future__ import annotations

from fuzz.strategies import case_from_seed, graph_case_from_seed
from nnfpga.backends.hls import lower as hls
from nnfpga.backends.rtl import lower as rtl
from nnfpga.config.apply import TYPE_NAMES
from nnfpga.ops import OPS
from nnfpga.ops.base import OpDef

# Ops whose kernels are inherited from OpDef on purpose (the base raises NotImplementedError): op -> why.
NO_KERNEL: dict[str, str] = {}
# Ops the fuzz generator does not make: op -> why.
_CNN_GENERATOR = ("made by the CNN generator (tests/fuzz/cnn.py: random Keras CNNs through the emulator, C simulation "
                  "and Verilator), not by the MLP/graph generator this test reads; the emulator's kernels are also "
                  "tested against a literal reference in tests/ops/test_conv.py and test_pool.py")
NOT_FUZZED: dict[str, str] = {
    "dropout": "an identity at inference: passes/simplify.py removes it before the emulator or a backend sees it",
    **{op: _CNN_GENERATOR for op in ("conv", "max_pool", "avg_pool", "zero_pad", "crop", "upsample")},
    **{op: "no fuzz generator makes recurrent layers yet; the emulator is tested against a literal reference "
           "in tests/ops/test_recurrent.py, C simulation and Verilator against the emulator on fixed models in "
           "tests/backends/hls/test_csim_recurrent.py and tests/backends/rtl/test_rtl_recurrent.py"
       for op in ("lstm", "gru", "simple_rnn")},
}
FUZZ_SEEDS = 300  # the generators' corpus that is searched for each op (every op today appears by seed 30)


def fuzzed_ops() -> set[str]:
    """Every op in the models of the first ``FUZZ_SEEDS`` seeds of both generators (chains and graphs), for the HLS
    and for the Verilog backend."""
    return {node.op for seed in range(FUZZ_SEEDS) for rtl_only in (False, True)
            for make in (case_from_seed, graph_case_from_seed) for node in make(seed, rtl=rtl_only).graph}


def kernel_problems(name: str) -> list[str]:
    op = type(OPS[name])
    missing = [k for k in ("run_fixed", "run_float") if getattr(op, k) is getattr(OpDef, k)]
    if missing and name not in NO_KERNEL:
        return [f"{name}: {' and '.join(missing)} not overridden in {op.__name__} (or give a reason in NO_KERNEL)"]
    return []


def lowering_problems(name: str) -> list[str]:
    problems = []
    if name not in hls.LOWERINGS and name not in hls.NOT_LOWERED and name not in hls.REFUSED:
        problems.append(f"{name}: no HLS lowering (backends/hls/lower.py: @lowering, or a reason in NOT_LOWERED "
                        f"or REFUSED)")
    if name in hls.LOWERINGS and name in {**hls.NOT_LOWERED, **hls.REFUSED}:
        problems.append(f"{name}: has an HLS lowering and is listed in NOT_LOWERED/REFUSED of backends/hls/lower.py")
    if name not in rtl.LOWERINGS and name not in rtl.NOT_LOWERED and name not in rtl.REFUSED:
        problems.append(f"{name}: no Verilog lowering (backends/rtl/lower.py: @lowering, or a reason in NOT_LOWERED "
                        f"or REFUSED)")
    if name in rtl.LOWERINGS and name in {**rtl.NOT_LOWERED, **rtl.REFUSED}:
        problems.append(f"{name}: has a Verilog lowering and is listed in NOT_LOWERED/REFUSED of "
                        f"backends/rtl/lower.py")
    return problems


def stale_entries() -> list[str]:
    """Names in the exemption and refusal tables that are no op (renamed or removed ops), and empty reasons."""
    tables = {"NO_KERNEL (this test)": NO_KERNEL, "NOT_FUZZED (this test)": NOT_FUZZED,
              "hls NOT_LOWERED": hls.NOT_LOWERED, "hls REFUSED": hls.REFUSED,
              "rtl NOT_LOWERED": rtl.NOT_LOWERED, "rtl REFUSED": rtl.REFUSED,
              "hls LOWERINGS": hls.LOWERINGS, "rtl LOWERINGS": rtl.LOWERINGS,
              "TYPE_NAMES": TYPE_NAMES}
    out = [f"{where}: {name!r} is not an op" for where, table in tables.items() for name in table if name not in OPS]
    out += [f"{where}: {name!r} has no reason" for where, table in tables.items() for name, why in table.items()
            if isinstance(why, str) and not why.strip()]
    return out


def test_every_op_is_complete() -> None:
    assert len(OPS) >= 15  # the registry is populated (importing nnfpga.ops registers every op)
    fuzzed = fuzzed_ops()
    problems = stale_entries()
    for name in sorted(OPS):
        if name not in TYPE_NAMES:
            problems.append(f"{name}: no config type name (config/apply.py TYPE_NAMES)")
        problems += kernel_problems(name)
        problems += lowering_problems(name)
        if name not in fuzzed and name not in NOT_FUZZED:
            problems.append(f"{name}: the fuzz generator (tests/fuzz/strategies.py) makes no model with it in its "
                            f"first {FUZZ_SEEDS} seeds (or give a reason in NOT_FUZZED)")
        if name in fuzzed and name in NOT_FUZZED:
            problems.append(f"{name}: fuzzed, but exempted in NOT_FUZZED (remove the exemption)")
    assert not problems, f"{len(problems)} missing fact(s) about the ops:\n" + "\n".join(problems)
