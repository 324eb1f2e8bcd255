"""hls4ml 1.3's ``hls4ml.converters`` API, unchanged: ``import nnfpga as hls4ml`` and the same calls run.

Thin adapters over :mod:`nnfpga.api`: the same keyword names and defaults as hls4ml 1.3 (``output_dir='my-hls-
test'``, ``backend='Vivado'``...), the PyTorch input shape read from ``hls_config['InputShape']`` (where
``config_from_pytorch_model(model, input_shape)`` puts it), and the model returned as an :class:`HLSModel`,
whose ``compile()``, ``predict()``, ``trace()`` and ``build()`` take hls4ml's arguments.

Backends: ``"Vitis"`` and ``"Vivado"`` (any case) both give nnfpga's HLS C++ backend, which writes Vitis HLS
C++ and a ``vitis_hls`` build script: ``"Vivado"`` warns that it is the Vitis flow, never a Vivado HLS project.
``"verilog"`` gives nnfpga's Verilog backend; hls4ml's other backends (Quartus, oneAPI, Catapult...) are refused.
"""

from __future__ import annotations

import difflib
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from nnfpga import api
from nnfpga.config.hls4ml_keys import input_shape_of
from nnfpga.config.schema import read_yaml
from nnfpga.errors import ConfigError, Hls4mlKeyWarning, ModelLoadError
from nnfpga.ir.graph import Graph
from nnfpga.model import HWModel
from nnfpga.reports import HardwareReport

BACKENDS = {"vitis": "vitis", "vivado": "vitis", "verilog": "verilog"}
# hls4ml's backend keyword arguments (Vitis create_initial_config): mapped, or accepted and ignored when harmless
MAPPED_KWARGS = ("part", "clock_period", "io_type")
IGNORED_KWARGS: dict[str, tuple[Any, str]] = {  # name -> (harmless value, why nnfpga ignores it)
    "clock_uncertainty": ("27%", "the build script uses Vitis HLS's default uncertainty"),
    "namespace": (None, "the generated code has no namespace option"),
    "write_weights_txt": (True, "weights are written as C++ headers"),
    "write_tar": (False, "the project is a directory (no .tar.gz)"),
    "write_emulation_constants": (False, "the project has no emulation constants"),
    "tb_output_stream": ("both", "the testbench prints its comparison and writes its outputs"),
    "board": (None, "nnfpga knows parts, not boards: pass part="),
}


class HLSModel(HWModel):
    """:class:`~nnfpga.model.HWModel` with hls4ml's ``ModelGraph`` calls: ``compile()``, ``predict(x)`` (the
    bit-exact emulator: the same bits as the compiled C simulation, which ``predict(x, engine="csim")`` runs),
    ``trace(x)`` returning ``(y, {layer: output})`` and ``build(**hls4ml_options)``."""

    tb_inputs: np.ndarray | None = None

    def write(self, *, force: bool = False, tb_inputs: Any = None) -> Path:
        """As :meth:`HWModel.write`; the testbench data default to ``input_data_tb`` of the conversion."""
        return super().write(force=force, tb_inputs=self.tb_inputs if tb_inputs is None else tb_inputs)

    def trace(self, x: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:  # type: ignore[override]
        """hls4ml's form: ``(outputs, {layer name: bit-exact output})`` for the traced layers (those with ``Trace:
        true``, else every layer). :meth:`HWModel.trace` (``nnfpga.HWModel.trace(hls_model, x)``) also gives the
        float reference and overflow counts."""
        traced = HWModel.trace(self, x)
        return self.predict(x), {name: t.fixed for name, t in traced.items()}

    def build(self, reset: bool = False, csim: bool = True, synth: bool = True, cosim: bool = False,  # type: ignore[override]
              validation: bool = False, export: bool = False, vsynth: bool = False, fifo_opt: bool = False,
              log_to_stdout: bool = True, timeout_s: float = 24 * 3600) -> HardwareReport:
        """hls4ml's Vitis ``build()`` options; runs ``vitis_hls`` (ToolNotFoundError without it). ``validation``
        and ``fifo_opt`` have no nnfpga flow and are refused; ``log_to_stdout`` is accepted (the log is captured
        and its tail quoted on failure)."""
        for flag, value, why in (("validation", validation, "C/RTL validation"),
                                 ("fifo_opt", fifo_opt, "FIFO depth optimization (io_stream)")):
            if value:
                raise ConfigError(f"build({flag}=True): {why} is not available in nnfpga's build script; expected "
                                  f"{flag}=False (csim, synth, cosim, export and vsynth are)")
        opts = {"reset": reset, "csim": csim, "synth": synth, "cosim": cosim, "export": export, "vsynth": vsynth}
        return self._method("build", "build() runs Vitis HLS")(self, options=opts, timeout_s=timeout_s)


def convert_from_keras_model(model: Any, output_dir: str = "my-hls-test", project_name: str = "myproject",
                             input_data_tb: str | None = None, output_data_tb: str | None = None,
                             backend: str = "Vivado", hls_config: dict[str, Any] | None = None,
                             bit_exact: bool | None = None, allow_da_fallback: bool = True,
                             allow_v2_fallback: bool = True, **kwargs: Any) -> HLSModel:
    """hls4ml's ``convert_from_keras_model``. ``bit_exact`` and the fallbacks are accepted and change nothing:
    nnfpga's types are always exact where ``auto``, and an unsupported layer is always an error."""
    return _convert(api.graph_from_keras_model(model), hls_config, output_dir, project_name, input_data_tb,
                    output_data_tb, backend, kwargs)


def convert_from_pytorch_model(model: Any, output_dir: str = "my-hls-test", project_name: str = "myproject",
                               input_data_tb: str | None = None, output_data_tb: str | None = None,
                               backend: str = "Vivado", hls_config: dict[str, Any] | None = None,
                               **kwargs: Any) -> HLSModel:
    """hls4ml's ``convert_from_pytorch_model``: the input shape is ``hls_config['InputShape']``, as
    ``nnfpga.utils.config_from_pytorch_model(model, input_shape)`` writes it."""
    shape = input_shape_of(hls_config)
    return _convert(api.graph_from_pytorch_model(model, shape), hls_config, output_dir, project_name,
                    input_data_tb, output_data_tb, backend, kwargs)


def convert_from_onnx_model(model: Any, output_dir: str = "my-hls-test", project_name: str = "myproject",
                            input_data_tb: str | None = None, output_data_tb: str | None = None,
                            backend: str = "Vivado", hls_config: dict[str, Any] | None = None,
                            bit_exact: bool | None = None, **kwargs: Any) -> HLSModel:
    """hls4ml's ``convert_from_onnx_model`` (``bit_exact`` as in :func:`convert_from_keras_model`)."""
    return _convert(api.graph_from_onnx_model(model), hls_config, output_dir, project_name, input_data_tb,
                    output_data_tb, backend, kwargs)


def parse_yaml_config(config_file: str | os.PathLike[str]) -> dict[str, Any]:
    """The YAML file that ``hls4ml convert -c`` reads, as a dict (no Python object tags: a ``!keras_model`` tag is
    refused by the safe loader; give ``KerasModel: path`` instead)."""
    cfg = read_yaml(config_file)
    if not isinstance(cfg, dict):
        raise ConfigError(f"config {str(config_file)!r} must be a mapping with a model key (KerasJson/KerasH5, "
                          f"KerasModel, OnnxModel or PytorchModel), got {type(cfg).__name__}")
    return cfg


def convert_from_config(config: str | os.PathLike[str] | dict[str, Any]) -> HLSModel:
    """hls4ml's ``convert_from_config``: a YAML path or its dict with one model key (``KerasJson`` + ``KerasH5``,
    ``KerasH5`` alone, ``KerasModel``, ``OnnxModel``, or ``PytorchModel`` with ``InputShape``) and the project keys
    (``OutputDir``, ``ProjectName``, ``Part``, ``ClockPeriod``, ``Backend``, ``IOType``, ``HLSConfig``).
    Relative model paths are relative to the YAML file's folder."""
    from nnfpga.config.hls4ml_yaml import graph_of, project_settings

    cfg = parse_yaml_config(config) if isinstance(config, (str, os.PathLike)) else config
    base = Path(config).parent if isinstance(config, (str, os.PathLike)) else Path()
    graph = graph_of(cfg, base)
    hls_config, settings = project_settings(cfg)
    if "PytorchModel" in cfg:
        hls_config = {**hls_config, "InputShape": cfg["InputShape"]}
    return _convert(graph, hls_config, **settings)


def _convert(graph: Graph, hls_config: dict[str, Any] | None, output_dir: str, project_name: str,
             input_data_tb: str | None, output_data_tb: str | None, backend: str,
             kwargs: dict[str, Any]) -> HLSModel:
    settings = {k: kwargs[k] for k in MAPPED_KWARGS if kwargs.get(k) is not None}
    _check_kwargs(kwargs)
    cfg = None if hls_config is None else {k: v for k, v in hls_config.items() if k != "PytorchModel"}
    hw = api._convert(graph, cfg, output_dir, backend=backend_name(backend), project_name=project_name,
                      model_cls=HLSModel, **settings)
    assert isinstance(hw, HLSModel)
    if input_data_tb is not None:
        hw.tb_inputs = _load_tb(input_data_tb)
    if output_data_tb is not None:
        warnings.warn(f"output_data_tb={output_data_tb!r}: nnfpga's testbench compares the C++ with the emulator's "
                      "bit-exact outputs of input_data_tb, not with this file", Hls4mlKeyWarning, stacklevel=3)
    return hw


def backend_name(backend: str) -> str:
    """hls4ml's backend spelling -> nnfpga's backend (``Vivado`` warns: it is the Vitis HLS flow here)."""
    key = backend.lower() if isinstance(backend, str) else backend
    if key not in BACKENDS:
        raise ConfigError(f"backend {backend!r} is not available in nnfpga; expected 'Vitis' (or 'Vivado', the same "
                          "Vitis HLS C++) or 'verilog'")
    if key == "vivado":
        warnings.warn("backend 'Vivado': nnfpga writes Vitis HLS C++ and a vitis_hls build script (the Vitis "
                      "flow); it does not generate a Vivado HLS project. Pass backend='Vitis' to silence this",
                      Hls4mlKeyWarning, stacklevel=4)
    return BACKENDS[key]


def _check_kwargs(kwargs: dict[str, Any]) -> None:
    notes = []
    for key, value in kwargs.items():
        if key in MAPPED_KWARGS:
            continue
        if key not in IGNORED_KWARGS:
            known = [*MAPPED_KWARGS, *IGNORED_KWARGS]
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unexpected keyword argument {key!r}{hint}; hls4ml's backend options are "
                              f"{', '.join(known)}")
        harmless, why = IGNORED_KWARGS[key]
        if value != harmless:
            notes.append(f"{key}={value!r} ({why})")
    if notes:
        warnings.warn("hls4ml arguments that nnfpga ignores: " + "; ".join(notes), Hls4mlKeyWarning, stacklevel=4)


def _load_tb(path: str) -> np.ndarray:
    """hls4ml's testbench input file: ``.npy``, or ``.dat`` (whitespace-separated rows)."""
    p = Path(path)
    try:
        if p.suffix == ".npy":
            return np.load(p, allow_pickle=False)
        if p.suffix == ".dat":
            return np.loadtxt(p, ndmin=2)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read input_data_tb {path!r}: {exc}") from None
    raise ModelLoadError(f"input_data_tb {path!r}: expected a .npy or .dat file")
