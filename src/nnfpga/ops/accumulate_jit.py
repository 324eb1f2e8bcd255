"""The split kernel of :class:`nnfpga.ops.accumulate.ProductSum`, compiled with numba.

``R = (x @ w + n * h - M) / 2**k`` (see ``ProductSum``) for one chunk of rows, in three steps:

1. ``xl = x mod 2**kl`` in the plan's small unsigned dtype, transposed to inputs x rows (one pass; each
   input's row is padded to an odd number of cache lines: with a power-of-two stride the transposing writes
   all land in the same cache sets, 20x slower);
2. ``s = w.T @ x.T``, the exact matrix product (float64 BLAS), outputs x rows;
3. one fused loop over inputs, outputs and rows: ``acc[j, b] += c((wl[i, j] * xl[i, b] + h) mod 2**kl)`` in
   the small dtype, with ``c(t) = t`` (TRN, RND, RND_MIN_INF: ``kl = k``) or, for RND_CONV (``kl = k + 1``),
   ``c(t) = (t mod 2**k) + 2**k [t == 2**k]``: the tie count folded into ``M``. ``acc`` is flushed into ``s``
   every ``group`` inputs (before the small dtype could wrap), and ``s`` becomes ``(s + n * h - acc) / 2**k``
   plus the bias, in place. An input whose low part is 0 on every row adds ``h`` to ``M`` and to ``n * h``: it
   is skipped in both (``n`` counts the others), as in the NumPy loop.

The innermost loop runs over the chunk's rows (thousands), so LLVM vectorizes it in the small dtype (32
16-bit lanes with AVX-512) with a long trip count. Outputs innermost, as first tried, measured 5-10x slower:
layers of 5 to 64 outputs are shorter than the vectorized loop body (LLVM's 4 x 32 lanes), so the work ran in
the scalar remainder loop (a fixed-width inner block is unrolled but not vectorized: numba cannot tell LLVM
that the arrays do not alias), and skipping zero inputs element by element mispredicts a branch on about
half of a ReLU's outputs. The chunk size (the interpreter's, about 2048 rows for the jet MLP) matters little
to this loop: 512 to 8192 rows run within 10% of each other.

Switch: ``NNFPGA_NUMBA=0`` in the environment (read at every call) selects the NumPy loop of ``ProductSum``,
which computes the same integers; so do a missing numba and ``NUMBA_DISABLE_JIT=1``. numba is imported and
each kernel compiled on first use only (``import nnfpga`` does not import numba): the first call of a process
takes about 0.9 s without the on-disk cache, 0.2-0.4 s with it (numba's import and start-up). The cache
(``cache=True``) lives in ``NUMBA_CACHE_DIR`` when set, else next to this file, else in numba's user-wide
cache directory; where none is writable (a read-only install) the kernels compile in memory, and numba's
warnings about caching never reach the user.
"""

from __future__ import annotations

import os
import threading
import warnings
from typing import Any

import numpy as np

_lock = threading.Lock()
_kernels: dict[str, Any] = {}  # name -> numba dispatcher
_ready: set[tuple[str, ...]] = set()  # (name, argument types) compiled or loaded from the cache (a record)
_numba: Any = None  # the module, False when it cannot be imported


def enabled() -> bool:
    """Whether the numba kernels run: numba importable and ``NNFPGA_NUMBA`` not ``0``."""
    global _numba
    if os.environ.get("NNFPGA_NUMBA", "1").strip() == "0":
        return False
    if _numba is None:
        try:
            import numba
        except ImportError:  # pragma: no cover - numba is a dependency; an install without it still runs
            numba = False
        _numba = numba if numba and not numba.config.DISABLE_JIT else False
    return _numba is not False


def _low_rows(x, low, xl):  # pragma: no cover - compiled by numba
    """``xl[i, b] = x[b, i] mod 2**kl`` (``low = 2**kl - 1``) for ``x`` in row-major order (rows x inputs)."""
    rows, n = x.shape
    for b in range(rows):
        for i in range(n):
            xl[i, b] = np.int64(x[b, i]) & low


def _low_cols(xt, low, xl):  # pragma: no cover - compiled by numba
    """The same from ``xt = x.T`` (inputs x rows, row-major: ``x`` was column-major)."""
    n, rows = xt.shape
    for i in range(n):
        for b in range(rows):
            xl[i, b] = np.int64(xt[i, b]) & low


def _split_m(xl, wl, s, bias, consts, h, scale, group):  # pragma: no cover - compiled by numba
    """``s[j, b] <- (s[j, b] + n * h - M[j, b]) * scale + bias[j]`` with ``consts = (h, 2**kl - 1, 2**k - 1, 2**k)`` in
    ``wl``'s dtype (TRN, RND, RND_MIN_INF: ``kl = k``); ``n`` counts the inputs not zero on every row."""
    m, rows = s.shape
    n = wl.shape[0]
    hs, low = consts[0], consts[1]
    acc = np.zeros((m, rows), dtype=wl.dtype)
    used = 0
    terms = 0
    for i in range(n):
        xi = xl[i, :rows]
        nonzero = hs & 0
        for b in range(rows):
            nonzero |= xi[b]
        if nonzero == 0:
            continue
        if terms == group:
            for j in range(m):
                for b in range(rows):
                    s[j, b] -= acc[j, b]
                    acc[j, b] = 0
            terms = 0
        for j in range(m):
            wij = wl[i, j]
            aj = acc[j]
            for b in range(rows):
                aj[b] += (wij * xi[b] + hs) & low
        used += 1
        terms += 1
    for j in range(m):
        for b in range(rows):
            s[j, b] = (s[j, b] + used * h - acc[j, b]) * scale + bias[j]
    return s


def _split_m_conv(xl, wl, s, bias, consts, h, scale, group):  # pragma: no cover - compiled by numba
    """RND_CONV: ``kl = k + 1``; each term is ``(t mod 2**k) + 2**k [t == 2**k]`` (the tie correction
    ``- ties`` of ``R`` folded into ``M``)."""
    m, rows = s.shape
    n = wl.shape[0]
    hs, low, mask, tie = consts[0], consts[1], consts[2], consts[3]
    acc = np.zeros((m, rows), dtype=wl.dtype)
    used = 0
    terms = 0
    for i in range(n):
        xi = xl[i, :rows]
        nonzero = hs & 0
        for b in range(rows):
            nonzero |= xi[b]
        if nonzero == 0:
            continue
        if terms == group:
            for j in range(m):
                for b in range(rows):
                    s[j, b] -= acc[j, b]
                    acc[j, b] = 0
            terms = 0
        for j in range(m):
            wij = wl[i, j]
            aj = acc[j]
            for b in range(rows):
                t = (wij * xi[b] + hs) & low
                aj[b] += tie if t == tie else t & mask
        used += 1
        terms += 1
    for j in range(m):
        for b in range(rows):
            s[j, b] = (s[j, b] + used * h - acc[j, b]) * scale + bias[j]
    return s


_FUNCS = {"low_rows": _low_rows, "low_cols": _low_cols, "m": _split_m, "m_conv": _split_m_conv}


def register_kernel(name: str, fn: Any) -> None:
    """Add a kernel (a plain Python function numba compiles on first use) under ``name``, for :func:`call`."""
    _FUNCS[name] = fn


def _dispatcher(name: str, cache: bool):
    return _numba.njit(cache=cache, nogil=True, boundscheck=False)(_FUNCS[name])


def _typekey(a) -> str:
    """What numba dispatches on: an array's dtype, dimensions and layout, else the Python type."""
    if not isinstance(a, np.ndarray):
        return type(a).__name__
    return f"{a.dtype.str}{a.ndim}{'C' if a.flags.c_contiguous else 'F' if a.flags.f_contiguous else 'A'}"


def call(name: str, *args):
    """Run kernel ``name``; the first call of each signature compiles it (or loads it from the disk cache).
    Between those, the dispatchers' compilation is off: a call of a signature not compiled yet raises numba's
    TypeError (no matching definition), and only then are the arguments' types worked out here and the signature
    compiled, under the lock with numba's warnings silenced (working them out at every call cost about 20 us, a
    tenth of a small CNN's chunk: benchmarks/cnn_ratio.py)."""
    kernel = _kernels.get(name)
    if kernel is not None:
        try:
            return kernel(*args)
        except TypeError:  # a signature not compiled yet (or a real type error: raised again below)
            pass
    key = (name, *(_typekey(a) for a in args))
    if _numba is None:
        enabled()
    with _lock, warnings.catch_warnings():
        warnings.simplefilter("ignore", _numba.NumbaWarning)
        if name not in _kernels:
            try:
                _kernels[name] = _dispatcher(name, cache=True)
            except RuntimeError:  # numba: "no locator available" (no writable cache directory)
                _kernels[name] = _dispatcher(name, cache=False)
        kernel = _kernels[name]
        kernel.disable_compile(False)
        try:
            out = kernel(*args)
        except OSError:  # the cache directory is not writable after all: compile in memory
            kernel = _kernels[name] = _dispatcher(name, cache=False)
            out = kernel(*args)
        finally:
            kernel.disable_compile()
        _ready.add(key)
        return out


def low_parts(x: np.ndarray, kl: int, small: np.dtype) -> np.ndarray:
    """``x mod 2**kl`` transposed (inputs x rows, ``small``), from integer-valued float64 ``x`` (rows x inputs).
    The rows of the result are padded to an odd number of cache lines: power-of-two strides between the
    inputs' rows would map them to the same cache sets while the transposing loop writes all of them."""
    rows, n = x.shape
    line = 64 // small.itemsize
    ld = -(-max(rows, 1) // line) * line
    ld += line * (ld // line % 2 == 0)
    xl = np.empty((n, ld), dtype=small)
    low = np.int64((1 << kl) - 1)
    if x.flags.f_contiguous and not x.flags.c_contiguous:
        call("low_cols", x.T, low, xl)
    else:
        call("low_rows", np.ascontiguousarray(x), low, xl)
    return xl


def split_sum(x: np.ndarray, w_t: np.ndarray, wl: np.ndarray, bias: np.ndarray, k: int, offset: int, conv: bool,
              group: int) -> np.ndarray:
    """``R + bias`` (rows x outputs, float64, column-major) from input mantissas ``x`` (rows x inputs, float64),
    the weights transposed ``w_t`` (outputs x inputs, float64), their low parts ``wl`` (inputs x outputs, in the
    small dtype) and ``bias`` (outputs, float64; every sum exact in float64); ``group``: how many terms a sum in
    the small dtype holds without wrapping."""
    small = wl.dtype
    xl = low_parts(x, k + conv, small)
    s = w_t @ x.T  # outputs x rows, exact
    consts = np.array([offset, (1 << (k + conv)) - 1, (1 << k) - 1, 1 << k], dtype=small)
    call("m_conv" if conv else "m", xl, wl, s, bias, consts, float(offset), 2.0**-k, int(group))
    return s.T
