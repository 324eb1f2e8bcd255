"""The direct convolution's output rows split over threads (:func:`nnfpga.ops.conv_jit.conv_sum`).

numba's kernels release the GIL (``nogil=True``), so plain Python threads run them on separate cores: the output
rows ``oy`` are cut into one band per thread, each band computed by the unchanged kernel on views (its rows of the
output, the input rows its windows read) with its own accumulator block and extremes; no numba threading layer is
involved (none to pick, nothing to go wrong when the caller is itself threaded or forks). The bits are the
single-thread kernel's: every output value is one band's, computed in the same order.

``NNFPGA_THREADS`` (read at every call): how many threads (at most :data:`MAX_THREADS` bands are run at once);
unset or ``1``: none. Opt-in, because on the 2-core machine this was measured on, shared with other jobs (load 5-9),
two threads gave no wall-clock gain and cost about 5 % more CPU time (the small CNN of benchmarks/cnn_cases.py); a
free core is what they need. A layer smaller than :data:`MIN_WORK` products per band stays on one thread (handing
work to a thread costs tens of microseconds).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from nnfpga.errors import ConfigError

MAX_THREADS = 8
MIN_WORK = 1 << 20  # products per band below which a layer runs on the calling thread alone

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def threads() -> int:
    """How many threads a convolution may use: ``NNFPGA_THREADS``, else 1."""
    env = os.environ.get("NNFPGA_THREADS", "").strip()
    if not env:
        return 1
    try:
        n = int(env)
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError(f"NNFPGA_THREADS={env!r}: expected a whole number of threads >= 1 (1 or unset: no "
                          "threads), e.g. NNFPGA_THREADS=2 where a second core is free")
    return n


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="nnfpga-conv")
        return _pool


def bands(rows: int, work: int) -> list[tuple[int, int]]:
    """The output rows ``[0, rows)`` cut into up to :func:`threads` bands of near-equal size, ``work`` products in
    all (one band when the layer is too small to share)."""
    n = max(1, min(threads(), rows, work // MIN_WORK))
    return [(rows * i // n, rows * (i + 1) // n) for i in range(n)]


def run_bands(parts: list[tuple[int, int]], run: Callable[[int, int], object]) -> list:
    """``run(y0, y1)`` for each band, in threads where there are several; the results in band order."""
    if len(parts) == 1:
        return [run(*parts[0])]
    futures = [_executor().submit(run, y0, y1) for y0, y1 in parts[1:]]
    first = run(*parts[0])  # the calling thread takes the first band
    return [first, *(f.result() for f in futures)]
