"""Project directories: written atomically, never clobbering a directory that is not an nnfpga project.

A project holds ``nnfpga.json`` (the typed graph and conversion settings), ``weights.npz`` and
``config.yml``; backends add their sources beside them.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from nnfpga.errors import ModelLoadError, OutputDirError
from nnfpga.ir.graph import Graph

MARKER = "nnfpga.json"
FORMAT = "nnfpga-project"
VERSION = 1


def is_project(path: Path) -> bool:
    marker = path / MARKER
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text()).get("format") == FORMAT
    except (OSError, ValueError):
        return False


def write_file_atomic(path: str | os.PathLike[str], write: Callable[[str], object]) -> Path:
    """Make file ``path`` with ``write(temporary path)``: a temporary file beside it, renamed into place, so that a
    failure leaves the old file (or none), never a half-written one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a fresh name that ``write`` creates (not mkstemp's private 0600 file): the result gets the usual permissions
    tmp = str(path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:12]}"))
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_atomic(target: str | os.PathLike[str], files: dict[str, bytes], *, force: bool = False) -> Path:
    """Write ``files`` (relative path -> content) as directory ``target`` in one step.

    Everything goes to a temporary sibling directory first, which then replaces ``target``: a failure
    leaves no half-written project. An existing non-empty ``target`` is replaced only if it is an nnfpga
    project, or with ``force=True``.
    """
    target = Path(target)
    if target.exists():
        if not target.is_dir():
            raise OutputDirError(f"output path {str(target)!r} exists and is not a directory")
        if any(target.iterdir()) and not is_project(target) and not force:
            raise OutputDirError(f"output directory {str(target)!r} exists, is not empty and is not an nnfpga project; "
                                 "choose another directory or pass force=True (--force) to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    # mkdir (not mkdtemp, which makes it private: 0700) so that the project gets the usual permissions
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        for rel, content in sorted(files.items()):
            p = tmp / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(content)
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            old.rmdir()
            target.rename(old)
        try:
            tmp.rename(target)
        except BaseException:
            if old is not None:  # put the previous project back
                old.rename(target)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def project_files(graph: Graph, config: dict[str, Any], settings: dict[str, Any]) -> dict[str, bytes]:
    """The IR files of a project: graph description, weights and config."""
    desc, arrays = graph.to_dict()
    meta = {"format": FORMAT, "version": VERSION, **settings, "graph": desc}
    return {
        MARKER: (json.dumps(meta, indent=1, sort_keys=True, default=_jsonable) + "\n").encode(),
        "weights.npz": deterministic_npz(arrays),
        "config.yml": yaml.safe_dump(config, sort_keys=False).encode(),
    }


def deterministic_npz(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` (readable by ``np.load``) whose bytes depend only on the arrays (fixed timestamps, sorted)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w") as f:
                np.lib.format.write_array(f, np.ascontiguousarray(arrays[name]), allow_pickle=False)
    return buf.getvalue()


def read_project(path: str | os.PathLike[str]) -> tuple[Graph, dict[str, Any], dict[str, Any]]:
    """Read a project directory back: (typed graph, config, settings)."""
    p = Path(path)
    if not is_project(p):
        raise ModelLoadError(
            f"{str(p)!r} is not an nnfpga project (no valid {MARKER}); create one with 'nnfpga convert'")
    meta = json.loads((p / MARKER).read_text())
    if meta.get("version") != VERSION:
        raise ModelLoadError(f"{str(p)!r} was written by project format version {meta.get('version')}; "
                             f"this nnfpga reads {VERSION}")
    with np.load(p / "weights.npz") as z:
        arrays = {k: z[k] for k in z.files}
    graph = Graph.from_dict(meta.pop("graph"), arrays)
    config = yaml.safe_load((p / "config.yml").read_text()) or {}
    for key in ("format", "version"):
        meta.pop(key)
    return graph, config, meta


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"cannot serialize {type(v).__name__}")
