"""The public entry points, with the names an hls4ml user already knows.

Every frontend turns its model into the same untyped :class:`Graph`; from there config, conversion and the
backends are shared (``_config`` and ``_convert``).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from nnfpga.backends.base import Backend, all_knobs
from nnfpga.config import apply_config, default_config, parse_config
from nnfpga.config.schema import Config
from nnfpga.ir.graph import Graph
from nnfpga.model import HWModel
from nnfpga.passes import run_pipeline
from nnfpga.project import read_project


def graph_from_keras_model(model: Any) -> Graph:
    """Keras model (or .keras/.h5 path) -> untyped graph after the optimization passes."""
    from nnfpga.frontends.keras import graph_from_keras

    return _optimized(graph_from_keras(model))


def graph_from_pytorch_model(model: Any, input_shape: tuple[int, ...], *, allow_pickle: bool = False) -> Graph:
    """PyTorch ``nn.Module`` (traced with torch.fx), or the path of one saved with ``torch.save`` (unpickled only
    with ``allow_pickle=True``: that runs code from the file) -> untyped graph after the optimization passes.
    ``input_shape`` is the per-sample shape, without the batch dimension."""
    from nnfpga.frontends.pytorch import graph_from_pytorch

    return _optimized(graph_from_pytorch(model, input_shape, allow_pickle=allow_pickle))


def graph_from_onnx_model(model: Any) -> Graph:
    """ONNX or QONNX model (``onnx.ModelProto`` or a path) -> untyped graph after the optimization passes."""
    from nnfpga.frontends.onnx import graph_from_onnx

    return _optimized(graph_from_onnx(model))


def config_from_keras_model(model: Any, granularity: str = "model", default_precision: str = "ap_fixed<16,6>",
                            default_reuse_factor: int = 1, calibration_data: Any = None) -> dict[str, Any]:
    """An hls4ml-style config dict for ``model``. ``granularity`` is ``"model"``, ``"type"`` or ``"name"``.
    With ``calibration_data`` (inputs), result integer bits follow the observed ranges and never overflow
    on that data."""
    return default_config(graph_from_keras_model(model), granularity, default_precision, default_reuse_factor,
                          calibration_data)


def config_from_pytorch_model(model: Any, input_shape: tuple[int, ...], granularity: str = "model",
                              default_precision: str = "ap_fixed<16,6>", default_reuse_factor: int = 1,
                              calibration_data: Any = None, *, allow_pickle: bool = False) -> dict[str, Any]:
    """As :func:`config_from_keras_model`, for a PyTorch model (see :func:`graph_from_pytorch_model`)."""
    return default_config(graph_from_pytorch_model(model, input_shape, allow_pickle=allow_pickle), granularity,
                          default_precision, default_reuse_factor, calibration_data)


def config_from_onnx_model(model: Any, granularity: str = "model", default_precision: str = "ap_fixed<16,6>",
                           default_reuse_factor: int = 1, calibration_data: Any = None) -> dict[str, Any]:
    """As :func:`config_from_keras_model`, for an ONNX/QONNX model."""
    return default_config(graph_from_onnx_model(model), granularity, default_precision, default_reuse_factor,
                          calibration_data)


def convert_from_keras_model(model: Any, hls_config: dict[str, Any] | None = None,
                             output_dir: str | os.PathLike[str] = "nnfpga_prj", **settings: Any) -> HWModel:
    """Convert a Keras model with an hls4ml-style config. Nothing is written until ``hw.write()``.
    ``settings``: backend ("vitis" or "verilog"), io_type, project_name, part, clock_period."""
    return _convert(graph_from_keras_model(model), hls_config, output_dir, **settings)


def convert_from_pytorch_model(model: Any, input_shape: tuple[int, ...], hls_config: dict[str, Any] | None = None,
                               output_dir: str | os.PathLike[str] = "nnfpga_prj", *, allow_pickle: bool = False,
                               **settings: Any) -> HWModel:
    """Convert a PyTorch model or saved model file (see :func:`graph_from_pytorch_model`; the settings as for
    :func:`convert_from_keras_model`)."""
    return _convert(graph_from_pytorch_model(model, input_shape, allow_pickle=allow_pickle), hls_config, output_dir,
                    **settings)


def convert_from_onnx_model(model: Any, hls_config: dict[str, Any] | None = None,
                            output_dir: str | os.PathLike[str] = "nnfpga_prj", **settings: Any) -> HWModel:
    """Convert an ONNX/QONNX model (see :func:`convert_from_keras_model` for the settings)."""
    return _convert(graph_from_onnx_model(model), hls_config, output_dir, **settings)


def load_project(path: str | os.PathLike[str]) -> HWModel:
    """Reopen a project written by ``hw.write()`` or ``nnfpga convert``."""
    graph, config, settings = read_project(path)
    return HWModel(graph, config, output_dir=Path(path), **settings)


def convert_graph(graph: Graph, hls_config: dict[str, Any] | None = None, *, backend: str = "vitis",
                  output_dir: str | os.PathLike[str] = "my-hls-test", **settings: Any) -> HWModel:
    """Convert a graph that went through the optimization passes (what ``graph_from_*_model`` return) with an
    hls4ml-style config: no framework needed. ``backend``: ``vitis`` or ``verilog``, as in the other
    converters here; ``settings``: ``io_type``, ``project_name``, ``part``, ``clock_period``."""
    return _convert(graph, hls_config, output_dir, backend=backend, **settings)


def _optimized(graph: Graph) -> Graph:
    run_pipeline(graph)
    return graph


def _convert(graph: Graph, hls_config: dict[str, Any] | None, output_dir: str | os.PathLike[str],
             backend: str = "vitis", io_type: str = "io_parallel", project_name: str = "myproject",
             part: str = "xcvu13p-flga2577-2-e", clock_period: float = 5.0,
             model_cls: type[HWModel] = HWModel) -> HWModel:
    config = hls_config if hls_config is not None else default_config(graph)
    parsed = parse_config(config)
    typed = apply_config(graph, parsed)
    hw = model_cls(typed, config, output_dir=output_dir, backend=backend, io_type=io_type,
                 project_name=project_name, part=part, clock_period=clock_period)
    _warn_unread_knobs(parsed, hw.backend)
    return hw


def _warn_unread_knobs(config: Config, backend: Backend) -> None:
    """Config keys of another backend (``PipelineStages`` with ``backend="vitis"``) change nothing: say so."""
    used = {k.attr for k in backend.knobs}
    entries = [config, *config.layer_type.values(), *config.layer_name.values()]
    unread = {k.key for k in all_knobs().values() for e in entries if k.attr in e.knobs and k.attr not in used}
    if unread:
        warnings.warn(f"{', '.join(sorted(unread))}: backend {backend.name!r} does not read "
                      f"{'this key' if len(unread) == 1 else 'these keys'} (another backend's setting)", stacklevel=4)
