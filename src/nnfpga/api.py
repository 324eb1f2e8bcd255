"""The public entry points, with the names an hls4ml user already knows."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nnfpga.config import apply_config, default_config, parse_config
from nnfpga.frontends.keras import graph_from_keras
from nnfpga.ir.graph import Graph
from nnfpga.model import HWModel
from nnfpga.passes import run_pipeline
from nnfpga.project import read_project


def graph_from_keras_model(model: Any) -> Graph:
    """Keras model (or .keras/.h5 path) -> untyped graph after the optimization passes."""
    graph = graph_from_keras(model)
    run_pipeline(graph)
    return graph


def config_from_keras_model(
    model: Any,
    granularity: str = "model",
    default_precision: str = "ap_fixed<16,6>",
    default_reuse_factor: int = 1,
    calibration_data: Any = None,
) -> dict[str, Any]:
    """An hls4ml-style config dict for ``model``. ``granularity`` is ``"model"``, ``"type"`` or ``"name"``.
    With ``calibration_data`` (inputs), result integer bits follow the observed ranges and never overflow
    on that data."""
    return default_config(graph_from_keras_model(model), granularity, default_precision, default_reuse_factor,
                          calibration_data)


def convert_from_keras_model(
    model: Any,
    hls_config: dict[str, Any] | None = None,
    output_dir: str | os.PathLike[str] = "nnfpga_prj",
    backend: str = "vitis",
    io_type: str = "io_parallel",
    project_name: str = "myproject",
    part: str = "xcvu13p-flga2577-2-e",
    clock_period: float = 5.0,
) -> HWModel:
    """Convert a Keras model with an hls4ml-style config. Nothing is written until ``hw.write()``."""
    graph = graph_from_keras_model(model)
    config = hls_config if hls_config is not None else default_config(graph)
    typed = apply_config(graph, parse_config(config))
    return HWModel(typed, config, output_dir=output_dir, backend=backend, io_type=io_type,
                   project_name=project_name, part=part, clock_period=clock_period)


def load_project(path: str | os.PathLike[str]) -> HWModel:
    """Reopen a project written by ``hw.write()`` or ``nnfpga convert``."""
    graph, config, settings = read_project(path)
    return HWModel(graph, config, output_dir=Path(path), **settings)
