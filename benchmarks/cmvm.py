"""The shared-subexpression search of the Verilog backend's constant matrix products (:mod:`nnfpga.backends.rtl.cmvm`).

Matrices: random signed integer matrices (seeded) of Dense layers and of conv kernels as im2col matrices
(``K*K*C_in x C_out``) at 16 and 6 bits, and the jet MLP's four Dense layers at its default configuration
(``ap_fixed<16,6>``, the integer matrices the emulator multiplies by).
Columns: the CSD terms, the adders of CSD alone (``share=False``: the floor of no sharing), the adders and seconds
of the search at ``--before REV`` (the module as it was at that git revision, run in a subprocess with a
``--timeout``; cached in ``benchmarks/.cmvm-cache/``) and of the search now.

``--cnn N``: also issue 14's small CNN (``benchmarks/cnn_cases.py``: 16x16x1, conv 8 3x3, max-pool 2, conv 16 3x3,
Flatten, Dense 400->10, default config, Verilog backend): the seconds of ``hw.write()`` (its adder graphs planned
from scratch), then Verilator against the emulator on N images (0: no simulation).

Run: .venv/bin/python benchmarks/cmvm.py [--before REV] [--timeout S] [--quick] [--cnn N]
(``--quick``: 16x64 and 72x16 only)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")

from nnfpga.backends.rtl import cmvm
from nnfpga.model import format_table

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(__file__).with_name(".cmvm-cache")
SHAPES = ((16, 64), (64, 32), (72, 16), (400, 10), (27, 16), (144, 24))
DEFAULT_BEFORE = "e90a36b"  # the pairwise search (every two terms of an output linked)


def random_matrix(n_in: int, n_out: int, bits: int, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng([seed, n_in, n_out, bits])
    return rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), size=(n_in, n_out)).tolist()


def jet_matrices() -> list[tuple[str, list[list[int]]]]:
    import nnfpga
    from nnfpga.examples import load_example

    model, _, _ = load_example()
    cfg = nnfpga.config_from_keras_model(model, granularity="name")
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog", project_name="jet",
                                         output_dir=tempfile.mkdtemp(prefix="nnfpga-bench-"))
    return [(f"jet {n.name}", np.asarray(hw.interpreter.prep[n.name].wm).tolist()) for n in hw.graph
            if n.op == "dense"]


def cases(quick: bool) -> list[tuple[str, int | str, list[list[int]]]]:
    shapes = ((16, 64), (72, 16)) if quick else SHAPES
    out: list[tuple[str, int | str, list[list[int]]]] = []
    for bits in (16, 6):
        out += [(f"{a}x{b}", bits, random_matrix(a, b, bits)) for a, b in shapes]
    if not quick:
        out += [(f"{name} {len(w)}x{len(w[0])}", "16,6", w) for name, w in jet_matrices()]
    return out


def _old_module(rev: str, path: Path):
    src = subprocess.run(["git", "show", f"{rev}:src/nnfpga/backends/rtl/cmvm.py"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("cmvm_before", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["cmvm_before"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _run_old(rev: str, path: str, w: list[list[int]], q) -> None:
    mod = _old_module(rev, Path(path))
    t = time.perf_counter()
    n = mod.plan(w).n_adders
    q.put((n, time.perf_counter() - t))


def before(rev: str, key: str, w: list[list[int]], timeout: float) -> tuple[int, float] | None:
    """(adders, seconds) of ``plan(w)`` at ``rev``; None when it ran past ``timeout``. Cached per (rev, key)."""
    CACHE.mkdir(exist_ok=True)
    cache = CACHE / f"{rev}_{key.replace(' ', '_').replace(',', '-')}.json"
    if cache.is_file():
        d = json.loads(cache.read_text())
        if d["adders"] is not None or d["timeout"] >= timeout:
            return None if d["adders"] is None else (d["adders"], d["seconds"])
    with tempfile.TemporaryDirectory() as tmp:
        q: mp.Queue = mp.get_context("fork").Queue()
        p = mp.get_context("fork").Process(target=_run_old, args=(rev, f"{tmp}/cmvm_before.py", w, q))
        p.start()
        p.join(timeout)
        if p.is_alive():
            p.kill()
            p.join()
            res = None
        elif p.exitcode:
            raise RuntimeError(f"the search at {rev} failed on {key} (exit code {p.exitcode})")
        else:
            res = q.get()
    cache.write_text(json.dumps({"adders": res and res[0], "seconds": res and res[1], "timeout": timeout}))
    return res


def small_cnn_verilog(n_images: int) -> None:
    """Write the small CNN's Verilog project (timed), and compare Verilator with the emulator on ``n_images``."""
    import keras

    import nnfpga
    from nnfpga.backends.rtl import stream

    sys.path.insert(0, str(Path(__file__).parent))
    from cnn_cases import inputs, small_cnn

    model = small_cnn(keras)
    out = Path(tempfile.mkdtemp(prefix="nnfpga-bench-"))
    t = time.perf_counter()
    hw = nnfpga.convert_from_keras_model(model, backend="verilog", output_dir=out / "prj")
    convert_s = time.perf_counter() - t
    cmvm._plan.cache_clear()
    t, c = time.perf_counter(), time.process_time()
    prj = hw.write()
    print(f"small CNN: convert {convert_s:.1f} s, write {time.perf_counter() - t:.1f} s "
          f"({time.process_time() - c:.1f} s CPU): {prj}")
    if n_images:
        x = inputs(model, n_images)
        t = time.perf_counter()
        got, want = stream.predict(hw, x, cache_dir=out / "cache"), hw.predict(x)
        bad = int(np.count_nonzero(got != want))
        print(f"small CNN: Verilator vs emulator on {n_images} images: {bad} of {want.size} outputs differ "
              f"({time.perf_counter() - t:.0f} s with the Verilator build)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default=DEFAULT_BEFORE, help="git revision of the search to compare with")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds the old search may take per matrix")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cnn", type=int, default=None, metavar="N", help="also the small CNN's Verilog (N images)")
    args = ap.parse_args()
    if args.cnn is not None:
        small_cnn_verilog(args.cnn)
    rows = [("matrix", "bits", "terms", "adders CSD-only", f"adders {args.before}", "adders now",
             f"s {args.before}", "s now (CPU)", "now vs before")]
    for name, bits, w in cases(args.quick):
        csd_only = cmvm.plan(w, share=False)
        terms = sum(len(t) for t in csd_only.outputs)
        old = before(args.before, f"{name}_{bits}", w, args.timeout)
        cmvm._plan.cache_clear()
        t, c = time.perf_counter(), time.process_time()
        now = cmvm.plan(w).n_adders
        secs, cpu = time.perf_counter() - t, time.process_time() - c
        rows.append((name, str(bits), str(terms), str(csd_only.n_adders),
                     "timeout" if old is None else str(old[0]), str(now),
                     f">{args.timeout:g}" if old is None else f"{old[1]:.2f}", f"{secs:.2f} ({cpu:.2f})",
                     "" if old is None else f"{now / old[0] - 1:+.1%}"))
        print(f"  {name} {bits}: {secs:.2f} s", file=sys.stderr, flush=True)
    print("adders: two-input adders of the plan (Plan.n_adders); before: the search at that revision, in a subprocess")
    print(format_table(rows))


if __name__ == "__main__":
    main()
