"""Design-space sweeps on Dask: every point of a :class:`~nnfpga.dse.space.Space` converted, emulated and costed,
on a ``LocalCluster`` of worker processes by default or on an existing cluster.

The model is read once, here, into nnfpga's untyped graph (before the optimization passes), and that graph goes
to the workers: they need neither Keras nor PyTorch (a worker starts in seconds). For each point a worker prunes
a copy of the graph's Dense kernels (``Sparsity``: the smallest-magnitude fraction set to zero, as
:func:`nnfpga.examples.prune_dense` does to the Keras model), runs the optimization passes, converts it with the
point's config (the base config with the point's keys set; ``ClockPeriod`` as the converter's ``clock_period``),
runs the bit-exact emulator on ``x`` and records: the accuracy against ``y`` (argmax; labels or one-hot), the
argmax agreement with the float reference of the same graph, how many overflow warnings emulation gave, the
resource and latency estimate of the point's Verilog design (:func:`nnfpga.backends.rtl.estimate.estimate`, xc7:
``cost_estimate`` = LUT + 55 x DSP, and ``est_lut``, ``est_ff``, ``est_dsp``, ``est_bram``, ``est_latency_cycles``,
``est_ii``; a graph the Verilog backend cannot lower has them empty and ``est_note`` says why: such a point is
not on the Pareto front, and the sweep warns), the seconds it took, and ``error`` (empty, or the exception's type
and message: a failed point is recorded, the sweep goes on).

Each finished point is written at once to ``cache_dir`` (one JSON file per design, named by the hash of the
model's weights, the data, the base config, the backend and the point), so that a rerun, or a sweep interrupted
and started again, only computes what is missing. A worker that dies has its running points rescheduled by Dask
on the others; a point's row is kept once, whichever attempt finished it.

``scheduler``: None (a ``LocalCluster`` of ``workers`` processes, one thread each, closed afterwards), an address
(``tcp://host:8786``: an existing scheduler, :class:`~nnfpga.errors.ClusterError` when none answers within
``connect_timeout_s``), a ``dask.distributed.Client``, or ``"serial"`` (this process, no Dask: the reference the
tests compare the distributed runs with).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnfpga.compress.magnitude import prune_kernels
from nnfpga.converters import backend_name
from nnfpga.dse.space import Point, Space, load_space
from nnfpga.errors import ClusterError, ConfigError, MissingDependencyError
from nnfpga.project import write_file_atomic
from nnfpga.reports.hardware import DSP_LUTS

SERIAL = "serial"
SYNTH_TARGETS = ("xc7", "xcup", "ecp5")
DEFAULT_WORKERS = 2
CONNECT_TIMEOUT_S = 5.0
EST_KEYS = ("est_lut", "est_ff", "est_dsp", "est_bram", "est_latency_cycles", "est_ii")
ROW_KEYS = ("key", "point", "accuracy", "agreement", "overflow_warnings", "cost_estimate", *EST_KEYS, "est_note",
            "seconds", "error")


@dataclass
class SweepResult:
    """The rows of a sweep, one per point in the order the points were given (see the module docstring), and the
    points themselves. ``computed`` counts the rows this run computed (the rest came from the cache)."""

    points: list[Point]
    rows: list[dict[str, Any]]
    computed: int = 0
    cache_dir: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def table(self) -> Any:
        """The rows as a pandas DataFrame: one column per space axis, then the results."""
        import pandas as pd

        return pd.DataFrame(self.rows)

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        return write_file_atomic(Path(path), lambda tmp: self.table().to_csv(tmp, index=False))

    def pareto(self, score: str = "accuracy", cost: str = "cost_estimate") -> list[dict[str, Any]]:
        """The rows no other beats on both ``score`` and ``cost`` (:func:`nnfpga.dse.results.pareto`)."""
        from nnfpga.dse.results import pareto

        return pareto(self.rows, score, cost)

    def plot_pareto(self, path: str | os.PathLike[str], score: str = "accuracy", cost: str = "cost_estimate"
                    ) -> Path:
        """The points and their Pareto front as an image (:func:`nnfpga.dse.results.plot_pareto`)."""
        from nnfpga.dse.results import plot_pareto

        return plot_pareto(self.rows, path, score, cost)

    def write_configs(self, directory: str | os.PathLike[str], rows: list[dict[str, Any]] | None = None
                      ) -> list[Path]:
        """The front's (or ``rows``') configs as YAML files (:func:`nnfpga.dse.results.write_configs`)."""
        from nnfpga.dse.results import write_configs

        return write_configs(self.points, self.pareto() if rows is None else rows, directory,
                             self.meta.get("base", {}))

    def to_parquet(self, path: str | os.PathLike[str]) -> Path:
        try:
            import pyarrow  # noqa: F401
        except ImportError as exc:
            raise MissingDependencyError(f"Parquet output needs pyarrow ({exc}): pip install 'nnfpga[dse]'") from None
        return write_file_atomic(Path(path), lambda tmp: self.table().to_parquet(tmp, index=False))


def sweep(model: Any, space: Space | Mapping[str, Any] | str | os.PathLike[str], x: Any, y: Any = None, *,
          config: Mapping[str, Any] | None = None, backend: str = "verilog", n: int | None = None, seed: int = 0,
          scheduler: Any = None, workers: int = DEFAULT_WORKERS, cache_dir: str | os.PathLike[str] | None = None,
          progress: bool = True, connect_timeout_s: float = CONNECT_TIMEOUT_S, synth: str | None = None,
          points: list[Point] | None = None) -> SweepResult:
    """Sweep ``space`` (a :class:`Space`, or what :func:`~nnfpga.dse.space.load_space` reads) over a Keras
    ``model``: the whole grid, or ``n`` points drawn with ``seed``. ``x`` / ``y``: the evaluation inputs and
    labels (``y`` optional). ``config``: the base hls4ml-style config (default: nnfpga's defaults). See the
    module docstring for ``scheduler``, ``workers`` and ``cache_dir`` (default: no cache). ``synth`` (``"xc7"``,
    ``"xcup"`` or ``"ecp5"``): also synthesize every converted point (``hw.synthesize``; the ``synth_*`` columns:
    LUT, FF, DSP, BRAM, latency, II, Fmax on ECP5, LUT + 55 * DSP). ``points``: evaluate these (e.g. a first
    sweep's Pareto front, to synthesize only those) instead of the space's grid or sample."""
    space = space if isinstance(space, Space) else load_space(space)
    if synth is not None and synth not in SYNTH_TARGETS:
        raise ConfigError(f"sweep: synth must be one of {', '.join(SYNTH_TARGETS)} or None, got {synth!r}")
    points = list(points) if points is not None else space.points(n, seed=seed)
    blob, model_hash = _model_graph(model)
    _check_model(model, space)
    x = np.asarray(x)
    y = None if y is None else np.asarray(y)
    if y is not None and len(y) != len(x):
        raise ConfigError(f"sweep: x has {len(x)} samples but y has {len(y)}")
    try:
        base = json.loads(json.dumps(dict(config or {})))  # a plain copy, the same on every worker
    except TypeError as exc:
        raise ConfigError(f"sweep: the base config must hold plain values (strings, numbers, lists, mappings), as "
                          f"a YAML config does: {exc}") from None
    data_hash = _digest(x.tobytes(), str(x.shape).encode(), b"" if y is None else y.tobytes())
    backend = backend_name(backend)  # hls4ml's names too (Vivado, Vitis): nnfpga's, once
    job = {"base": base, "backend": backend, "model_hash": model_hash, "synth": synth}
    keys = {p.key: _design_hash(model_hash, data_hash, base, f"{backend}/{synth}", p) for p in points}
    cache = Path(cache_dir) if cache_dir is not None else None
    rows: dict[str, dict[str, Any]] = {}
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        for p in points:
            f = cache / f"{keys[p.key]}.json"
            if f.is_file():
                rows[p.key] = json.loads(f.read_text())
    todo = [p for p in points if p.key not in rows]

    def done(row: dict[str, Any]) -> None:
        if row["key"] in rows:  # a rescheduled attempt that also finished: the first one is kept
            return
        rows[row["key"]] = row
        if cache is not None:
            write_file_atomic(cache / f"{keys[row['key']]}.json", lambda tmp: Path(tmp).write_text(json.dumps(row)))

    from tqdm.auto import tqdm

    bar = tqdm(total=len(points), initial=len(points) - len(todo), desc="sweep", unit="point", disable=not progress)
    try:
        if scheduler == SERIAL:
            for p in todo:
                done(evaluate_point(blob, x, y, p, job))
                bar.update(1)
        elif todo:
            _run_distributed(todo, blob, x, y, job, scheduler, workers, connect_timeout_s, done, bar)
    finally:
        bar.close()
    unestimated = [rows[p.key] for p in points if not rows[p.key].get("error") and rows[p.key].get("est_note")]
    if unestimated:
        warnings.warn(f"{len(unestimated)} of {len(points)} points have no resource estimate and are left off the "
                      f"Pareto front ({unestimated[0]['point']}: {unestimated[0]['est_note']}); their accuracy is "
                      f"in the table", stacklevel=2)
    return SweepResult(points, [rows[p.key] for p in points], computed=len(todo), cache_dir=cache,
                       meta={"backend": backend, "model_hash": model_hash, "n_points": len(points), "base": base})


def _run_distributed(todo: list[Point], blob: bytes, x: np.ndarray, y: np.ndarray | None, job: dict[str, Any],
                     scheduler: Any, workers: int, timeout_s: float, done: Any, bar: Any) -> None:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise MissingDependencyError(f"sweeps on Dask need dask.distributed ({exc}): pip install 'nnfpga[dse]'"
                                     ) from None
    os.environ.setdefault("KERAS_BACKEND", "torch")  # the local workers inherit it
    owned: list[Any] = []
    if isinstance(scheduler, Client):
        client = scheduler
    elif scheduler is None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"sweep: workers must be a positive integer, got {workers!r}")
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
        owned = [client, cluster]
    elif isinstance(scheduler, str):
        try:
            client = Client(scheduler, timeout=f"{timeout_s}s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(f"no Dask scheduler answered at {scheduler!r} within {timeout_s:g} s "
                               f"({type(exc).__name__}: {exc}); start one (dask scheduler) or leave the "
                               "address out for a local cluster") from None
        owned = [client]
    else:
        raise ConfigError(f"sweep: scheduler must be None, an address, a dask.distributed.Client or "
                          f"{SERIAL!r}, got {type(scheduler).__name__}")
    try:
        blob_f, x_f = client.scatter([blob, x], broadcast=True)  # the graph (pickled) and the inputs, once
        futures = [client.submit(evaluate_point, blob_f, x_f, y, p, job, pure=False) for p in todo]
        for fut in as_completed(futures):
            done(fut.result())
            bar.update(1)
    finally:
        import logging

        log = logging.getLogger("distributed")
        level = log.level
        log.setLevel(logging.ERROR)  # not the nannies' "still alive after 4 s, killing" of a closing cluster
        try:
            for thing in owned:
                thing.close()
        finally:
            log.setLevel(level)


def evaluate_point(blob: bytes, x: np.ndarray, y: np.ndarray | None, point: Point, job: dict[str, Any]
                   ) -> dict[str, Any]:
    """One point's row (see the module docstring); runs on a worker. Never raises for a bad design: the error
    is the row's ``error``."""
    t0 = time.perf_counter()
    row: dict[str, Any] = {"key": point.key, "point": point.label}
    row.update({".".join(p[1:]): _plain(v) for p, v in point.items})  # columns as in the label: fc1.ReuseFactor
    row.update({k: None for k in ROW_KEYS if k not in row})
    try:
        from nnfpga.api import convert_graph
        from nnfpga.passes import run_pipeline
        graph = pickle.loads(blob)
        prune_graph(graph, *point.sparsity())
        run_pipeline(graph)
        kwargs = {"clock_period": point.clock_period()} if point.clock_period() is not None else {}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hw = convert_graph(graph, point.config(job["base"]), backend=job["backend"], project_name="sweep",
                               output_dir=tempfile.gettempdir(), **kwargs)
            pred = np.argmax(hw.predict(x, progress=False), axis=-1)
        row["overflow_warnings"] = sum(type(w.message).__name__ == "OverflowWarning" for w in caught)
        row["agreement"] = float(np.mean(pred == np.argmax(hw.predict_float(x), axis=-1)))
        if y is not None:
            labels = np.argmax(y, axis=-1) if y.ndim == pred.ndim + 1 else y
            row["accuracy"] = float(np.mean(pred == labels))
        row.update(_estimated(hw))
        if job.get("synth"):
            row.update(_synthesized(hw, job["synth"]))
        row["error"] = ""
    except Exception as exc:  # a failed point is a row that says why; the sweep goes on
        row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    row["seconds"] = round(time.perf_counter() - t0, 3)
    return row


def _estimated(hw: Any) -> dict[str, Any]:
    """The point's estimate columns (see the module docstring)."""
    from nnfpga.backends.rtl.estimate import estimate
    from nnfpga.errors import BackendSupportError

    try:
        e = estimate(hw, "xc7")
    except BackendSupportError as exc:  # not lowerable to Verilog: no estimate (not another cost's scale)
        return {"est_note": f"no estimate: {str(exc).splitlines()[0]}"}
    t = e.total
    return {"cost_estimate": round(float(e.cost), 1), "est_lut": round(float(t.lut), 1),
            "est_ff": round(float(t.ff), 1), "est_dsp": t.dsp, "est_bram": t.bram_18k,
            "est_latency_cycles": e.latency_cycles, "est_ii": e.ii}


def _synthesized(hw: Any, target: str) -> dict[str, Any]:
    r = hw.synthesize(target, save=False, progress=False)
    out = {f"synth_{k}": getattr(r, k) for k in ("lut", "ff", "dsp", "bram_18k", "latency_cycles", "ii", "fmax_mhz")}
    out["synth_cost"] = (r.lut or 0) + DSP_LUTS * (r.dsp or 0)
    return out


# -- the model as a graph -------------------------------------------------------------------------------------
def _model_graph(model: Any) -> tuple[bytes, str]:
    """The Keras model's untyped graph (before the passes), pickled, and a hash of the model's architecture and
    weights (stable across runs)."""
    try:
        import keras
    except ImportError as exc:
        raise MissingDependencyError(f"sweeps read Keras models ({exc}): pip install 'nnfpga[keras]'") from None
    if not isinstance(model, keras.Model):
        raise ConfigError(f"sweep: expected a Keras 3 model, got {type(model).__name__} (other frontends: convert "
                          "to Keras or sweep by hand; the sweep re-converts the model at every point)")
    from nnfpga.frontends.keras import graph_from_keras

    parts = [model.to_json().encode()] + [np.asarray(w).tobytes() for w in model.get_weights()]
    return pickle.dumps(graph_from_keras(model)), _digest(*parts)


def prune_graph(graph: Any, fraction: float, layers: dict[str, float] | None = None) -> None:
    """Set the smallest-magnitude ``fraction`` of every Dense kernel of an untyped graph to zero (``layers``: some
    Dense layers' own fractions), in place: what :func:`nnfpga.examples.prune_dense` does to a Keras model."""
    dense = {node.name: node for node in graph if node.op == "dense"}
    pruned = prune_kernels({name: node.weights["kernel"] for name, node in dense.items()}, fraction, layers,
                           who="Sparsity")
    for name, kernel in pruned.items():
        dense[name].weights["kernel"] = kernel


def _check_model(model: Any, space: Space) -> None:
    names = {layer.name for layer in getattr(model, "layers", [])}
    missing = sorted(space.layers() - names)
    if missing:
        raise ConfigError(f"the space names layer{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
                          f"that the model lacks; its layers: {', '.join(sorted(names)) or 'none'}")


# -- helpers --------------------------------------------------------------------------------------------------
def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


def _design_hash(model_hash: str, data_hash: str, base: dict[str, Any], backend: str, point: Point) -> str:
    import nnfpga

    # the row's columns too: rows cached before a column was added (the estimate's) are computed again
    text = json.dumps([model_hash, data_hash, base, backend, point.key, nnfpga.__version__, ROW_KEYS], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _plain(v: Any) -> Any:
    return v if isinstance(v, (int, float, str, bool)) or v is None else json.dumps(v, sort_keys=True)


__all__ = ["SweepResult", "evaluate_point", "prune_graph", "sweep"]
