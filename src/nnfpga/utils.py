"""hls4ml 1.3's ``hls4ml.utils`` config functions, unchanged: ``import nnfpga as hls4ml`` and
``hls4ml.utils.config_from_keras_model(model, granularity='name', backend='Vitis')`` runs.

Thin adapters over :mod:`nnfpga.api` with hls4ml's keyword names and defaults. The dict they return is nnfpga's
(the accumulators ``auto``: exact; weights with integer bits from their values), in hls4ml's layout, and takes
hls4ml's edits (``config['LayerName']['fc1']['Precision']['weight'] = 'ap_fixed<8,2>'``). ``backend`` is checked
and otherwise changes nothing (one config serves both nnfpga backends); ``max_precision`` is refused when set
(nnfpga's ``auto`` types are exact, never capped). ``plot_model`` is not available.
"""

from __future__ import annotations

from typing import Any

from nnfpga import api
from nnfpga.config.hls4ml_keys import input_shape_of
from nnfpga.converters import backend_name
from nnfpga.errors import ConfigError, NnfpgaError

__all__ = ["config_from_keras_model", "config_from_onnx_model", "config_from_pytorch_model", "plot_model"]


def config_from_keras_model(model: Any, granularity: str = "model", backend: str | None = None,
                            default_precision: str = "fixed<16,6>", default_reuse_factor: int = 1,
                            max_precision: str | None = None) -> dict[str, Any]:
    """hls4ml's ``config_from_keras_model`` (``nnfpga.config_from_keras_model`` also takes calibration data)."""
    _check(backend, max_precision)
    return api.config_from_keras_model(model, granularity.lower(), default_precision, default_reuse_factor)


def config_from_pytorch_model(model: Any, input_shape: tuple[int, ...] | list[tuple[int, ...]],
                              granularity: str = "model", backend: str | None = None,
                              default_precision: str = "ap_fixed<16,6>", default_reuse_factor: int = 1,
                              channels_last_conversion: str = "full", transpose_outputs: bool = False,
                              max_precision: str | None = None) -> dict[str, Any]:
    """hls4ml's ``config_from_pytorch_model``: the config carries ``InputShape`` for
    :func:`nnfpga.converters.convert_from_pytorch_model`. Inputs are channels-first and converted internally
    (``channels_last_conversion='full'``), outputs channels-last (``transpose_outputs=False``): other values
    are refused."""
    _check(backend, max_precision)
    if channels_last_conversion != "full" or transpose_outputs is not False:
        raise ConfigError(f"channels_last_conversion={channels_last_conversion!r}, transpose_outputs="
                          f"{transpose_outputs!r}: nnfpga takes channels-first inputs and returns channels-last "
                          "outputs; expected channels_last_conversion='full', transpose_outputs=False")
    shape = input_shape_of({"InputShape": input_shape})
    cfg = api.config_from_pytorch_model(model, shape, granularity.lower(), default_precision, default_reuse_factor)
    return {**cfg, "InputShape": shape}


def config_from_onnx_model(model: Any, granularity: str = "name", backend: str | None = None,
                           default_precision: str = "fixed<16,6>", default_reuse_factor: int = 1,
                           max_precision: str | None = None) -> dict[str, Any]:
    """hls4ml's ``config_from_onnx_model`` (its default granularity is ``'name'``)."""
    _check(backend, max_precision)
    return api.config_from_onnx_model(model, granularity.lower(), default_precision, default_reuse_factor)


def plot_model(*args: Any, **kwargs: Any) -> None:
    """hls4ml's model plot (pydot/graphviz) is not part of nnfpga: use ``hls_model.summary()``."""
    raise NnfpgaError("plot_model is not available in nnfpga; print(hls_model.summary()) lists the layers, "
                      "shapes, precisions and reuse factors")


def _check(backend: str | None, max_precision: str | None) -> None:
    if backend is not None:
        backend_name(backend)
    if max_precision is not None:
        raise ConfigError(f"max_precision={max_precision!r}: nnfpga's 'auto' types are exact and never capped; "
                          "pin the types you want narrower in the config instead (expected max_precision=None)")
