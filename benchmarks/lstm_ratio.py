"""The emulator / hls4ml C simulation ratio of ``emulate.py lstm`` in CPU time (issue 15), for a shared machine.

``emulate.py lstm`` times wall clock; on a machine other jobs share, the load moves between its runs and its ratio
with it. This script measures both in CPU time (``time.process_time``: hls4ml's csim runs in this process through
ctypes), best of 5, the emulator and hls4ml alternating, on the same model, default configs and inputs
(``lstm_cases.py``), and prints how many outputs differ (the two tools' LSTM arithmetic and default types differ:
see ``emulate.py lstm``'s printed line). ``NNFPGA_THREADS=1`` is set, as in cnn_ratio.py.
Run: .venv/bin/python benchmarks/lstm_ratio.py
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ["NNFPGA_THREADS"] = "1"

import lstm_cases
import numpy as np

N, N_H = 20_000, 1_000


def cpu_rate(fn, x: np.ndarray) -> float:
    t = time.process_time()
    fn(x)
    return len(x) / (time.process_time() - t)


def main() -> int:
    import keras

    model = lstm_cases.lstm_model(keras)
    x = lstm_cases.inputs(N)
    xs = np.ascontiguousarray(x[:N_H])
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hw = lstm_cases.nnfpga_model(model)
        hm = lstm_cases.hls4ml_model(model, Path(d) / "hls4ml")
        ours, theirs = hw.predict(xs, progress=False), np.asarray(hm.predict(xs), dtype=np.float64)
        differ = int(np.count_nonzero(ours != theirs.reshape(ours.shape)))
        emu, hls, predict = 0.0, 0.0, functools.partial(hw.predict, progress=False)
        predict(x[:300])  # compile the kernels
        for _ in range(5):
            emu = max(emu, cpu_rate(predict, x))
            hls = max(hls, cpu_rate(hm.predict, xs))
    print(f"LSTM {lstm_cases.STEPS}x{lstm_cases.FEATURES}, {lstm_cases.UNITS} units, Dense {lstm_cases.CLASSES} + "
          f"softmax (default configs): emulator {emu:,.0f} samples/s CPU, hls4ml csim {hls:,.0f}: {emu / hls:,.0f}x "
          f"(target >= 100x: {'met' if emu >= 100 * hls else 'NOT met'}; outputs differing from hls4ml's: {differ:,} "
          f"of {ours.size:,}, explained by emulate.py lstm)")
    print(f"load average: {', '.join(f'{v:.2f}' for v in os.getloadavg())} (a shared machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
