"""A profile directory (``nnfpga profile``): the figures as PNGs and their numbers as ``profile.json``, written in
one step (:func:`nnfpga.project.write_atomic`), never over a directory that is not a profile."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnfpga.errors import OutputDirError
from nnfpga.project import write_atomic

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from nnfpga.model import HWModel

MARKER = "profile.json"
FORMAT = "nnfpga-profile"
VERSION = 1


def is_profile(path: Path) -> bool:
    try:
        return json.loads((path / MARKER).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def write_profile(hw: HWModel, X: Any, output_dir: str | os.PathLike[str], *, model: Any = None,
                  force: bool = False) -> list[Path]:
    """Profile ``hw`` on ``X`` (one trace: :func:`~nnfpga.profiling.numerical` and
    :func:`~nnfpga.profiling.compare`) and write ``weights.png``, ``activations.png``, ``errors.png`` and
    ``profile.json`` into ``output_dir``. An existing non-empty ``output_dir`` is replaced only if it is a profile
    written here, or with ``force=True``. Returns the PNG paths."""
    from nnfpga.profiling import _check_hw, _comparison, _numerical, require_matplotlib

    hw = _check_hw(hw)
    require_matplotlib()
    target = Path(output_dir)
    if target.exists() and not force:  # checked before the work; write_atomic checks the rest
        if not target.is_dir():
            raise OutputDirError(f"output path {str(target)!r} exists and is not a directory")
        if any(target.iterdir()) and not is_profile(target):
            raise OutputDirError(f"output directory {str(target)!r} exists, is not empty and is not an nnfpga "
                                 "profile; choose another directory or pass force=True (--force) to replace it")
    from nnfpga.model import HWModel

    trace = HWModel.trace(hw, X)  # not hls4ml's tuple form, when hw is converters' HLSModel
    prof = _numerical(model, hw, X, trace)
    comp = _comparison(model, hw, X, trace)
    figures = {"weights.png": prof.figures["weights"], "activations.png": prof.figures["activations"],
               "errors.png": comp.figure}
    numbers = {"format": FORMAT, "version": VERSION, "weights": [r.to_dict() for r in prof.weights],
               "activations": [r.to_dict() for r in prof.activations], "errors": [r.to_dict() for r in comp.layers]}
    files = {name: png_bytes(fig) for name, fig in figures.items()}
    files[MARKER] = (json.dumps(numbers, indent=1) + "\n").encode()
    write_atomic(target, files, force=True)
    return [target / name for name in figures]


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
