"""The emulator's CPU time on the CNNs of ``cnn_cases.py`` (issue 13), per config, and per op with ``--ops``.

Three configs per model: ``bench`` (the ``emulate.py cnn`` table's: ``ap_fixed<16,6>`` everywhere, accumulators
``ap_fixed<24,12>``), ``default`` (``config_from_keras_model``'s, exact accumulators) and ``sat`` (``bench`` with
saturating ``ap_fixed<10,4,AP_RND,AP_SAT>`` accumulators: Dense's guarded path, the sequential kernel). Samples/s
in CPU time (``time.process_time``, best of 3: the machine is shared, and CPU time is what other jobs disturb
least), the interpreter's chunk and a digest of the outputs (the same before and after a change that keeps the
bits). ``--ops``: each op's share of one run (timing every op adds a little overhead of its own).
Run: .venv/bin/python benchmarks/cnn_cpu.py [--ops]
"""

from __future__ import annotations

import collections
import hashlib
import os
import sys
import time
import warnings

os.environ.setdefault("KERAS_BACKEND", "torch")

import cnn_cases
import numpy as np

import nnfpga
from nnfpga.emulate import Interpreter
from nnfpga.ops import OPS

SAT_ACCUM = "ap_fixed<10,4,AP_RND,AP_SAT>"
MODELS = (("small", cnn_cases.small_cnn, 40_000), ("svhn", cnn_cases.svhn_cnn, 4_000))


def config(model, kind: str) -> dict:
    if kind == "default":
        return nnfpga.config_from_keras_model(model, granularity="name")
    cfg = cnn_cases.nnfpga_config(model)
    if kind == "sat":
        for layer in cfg["LayerName"].values():
            if isinstance(layer.get("Precision"), dict) and "accum" in layer["Precision"]:
                layer["Precision"]["accum"] = SAT_ACCUM
    return cfg


def per_op(it: Interpreter, x: np.ndarray) -> collections.Counter:
    """CPU seconds per node over one ``it.run(x)``: each op's ``run_fixed`` wrapped in a timer for the run."""
    times: collections.Counter = collections.Counter()

    def timed(run):
        def wrapper(node, *args):
            t = time.process_time()
            out = run(node, *args)
            times[f"{node.name} ({node.op})"] += time.process_time() - t
            return out
        return wrapper

    ops = {OPS[node.op] for node in it.graph}
    for op in ops:
        op.run_fixed = timed(op.run_fixed)
    try:
        it.run(x)
    finally:
        for op in ops:
            del op.run_fixed  # the class's method again
    return times


def main() -> int:
    import keras

    for name, build, n in MODELS:
        model = build(keras)
        x = cnn_cases.inputs(model, n)
        for kind in ("bench", "default", "sat"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                hw = nnfpga.convert_from_keras_model(model, hls_config=config(model, kind))
            it = Interpreter(hw.graph)
            m = n // 4 if kind == "sat" else n
            it.run(x[:300])  # compile the kernels
            best = float("inf")
            for _ in range(3):
                t = time.process_time()
                it.run(x[:m])
                best = min(best, time.process_time() - t)
            digest = hashlib.md5(it.run(x[:500]).outputs[0].tobytes()).hexdigest()[:8]
            print(f"{name:5s} {kind:7s} {m / best:9,.0f} samples/s CPU  (n={m}, chunk={it.chunk}, "
                  f"digest {digest})", flush=True)
            if "--ops" in sys.argv[1:]:
                times = per_op(it, x[:m])
                total = sum(times.values())
                for op, s in times.most_common(6):
                    print(f"      {op:28s} {s / total:6.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
