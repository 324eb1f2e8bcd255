"""The emulator / hls4ml C simulation ratio of ``emulate.py cnn`` in CPU time (issue 13), for a shared machine.

``emulate.py cnn`` times wall clock; on a machine other jobs share, the load moves between its runs and its ratios
with it. This script measures both in CPU time (``time.process_time``: hls4ml's csim runs in this process through
ctypes), best of 5, the emulator and hls4ml alternating, on the same models, configs and inputs
(``cnn_cases.py``), and checks the outputs agree bit for bit. ``NNFPGA_THREADS=1`` is set: CPU time does not
show threads' gain (the wall clock does, where a core is free).
Run: .venv/bin/python benchmarks/cnn_ratio.py
"""

from __future__ import annotations

import copy
import functools
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ["NNFPGA_THREADS"] = "1"

import cnn_cases
import numpy as np

MODELS = (("small Conv2D 16x16x1", cnn_cases.small_cnn, 20_000, 2_000),
          ("SVHN-style CNN 32x32x3", cnn_cases.svhn_cnn, 2_000, 200))


def cpu_rate(fn, x: np.ndarray) -> float:
    t = time.process_time()
    fn(x)
    return len(x) / (time.process_time() - t)


def main() -> int:
    import hls4ml
    import keras

    import nnfpga
    from nnfpga.errors import Hls4mlKeyWarning

    for name, build, n, n_h in MODELS:
        model = build(keras)
        x = cnn_cases.inputs(model, n)
        xs = np.ascontiguousarray(x[:n_h])
        with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
            warnings.simplefilter("ignore", Hls4mlKeyWarning)
            hw = nnfpga.convert_from_keras_model(model, hls_config=cnn_cases.nnfpga_config(model))
            hm = hls4ml.converters.convert_from_keras_model(
                model, hls_config=copy.deepcopy(cnn_cases.hls4ml_config(model)), output_dir=str(Path(d) / "hls4ml"),
                backend="Vitis", io_type="io_parallel")
            hm.compile()
            ours, theirs = hw.predict(x[:n_h], progress=False), hm.predict(xs)
            same = np.array_equal(ours.reshape(n_h, -1), np.asarray(theirs, dtype=np.float64).reshape(n_h, -1))
            emu, hls, predict = 0.0, 0.0, functools.partial(hw.predict, progress=False)
            predict(x[:300])  # compile the kernels
            for _ in range(5):
                emu = max(emu, cpu_rate(predict, x))
                hls = max(hls, cpu_rate(hm.predict, xs))
        print(f"{name}: emulator {emu:,.0f} samples/s CPU, hls4ml csim {hls:,.0f}: {emu / hls:,.0f}x "
              f"(outputs {'equal' if same else 'DIFFER'})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
