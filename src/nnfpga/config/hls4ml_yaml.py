"""The project YAML that ``hls4ml convert -c`` reads (and the ``hls4ml_config.yml`` hls4ml writes): its model key
turned into a graph, its project keys into conversion settings.

```yaml
KerasJson: model.json       # + KerasH5: weights.h5 (Keras 2 files), or KerasH5 alone (a whole-model .h5),
KerasH5: weights.h5         #   or KerasModel: model.keras, OnnxModel: model.onnx
OutputDir: my-hls-test
ProjectName: myproject
Part: xcvu13p-flga2577-2-e
ClockPeriod: 5
Backend: Vitis              # Vivado: the same Vitis HLS C++ (with a warning); verilog: nnfpga's RTL backend
IOType: io_parallel
HLSConfig: {Model: {Precision: ap_fixed<16,6>, ReuseFactor: 1}}
```
Model paths are read as hls4ml reads them (relative to the working directory), else relative to the YAML file's
folder. ``PytorchModel`` (with ``InputShape``) must be an ``nn.Module`` in a dict: a path to a pickled model is not
loaded (unpickling runs code).
"""

from __future__ import annotations

import difflib
import warnings
from pathlib import Path
from typing import Any

from nnfpga.errors import ConfigError, Hls4mlKeyWarning
from nnfpga.ir.graph import Graph

MODEL_KEYS = ("KerasJson", "KerasH5", "KerasModel", "OnnxModel", "PytorchModel")
SETTINGS = {"OutputDir": "output_dir", "ProjectName": "project_name", "Backend": "backend", "Part": "part",
            "ClockPeriod": "clock_period", "IOType": "io_type", "ClockUncertainty": "clock_uncertainty",
            "InputData": "input_data_tb", "OutputPredictions": "output_data_tb"}
# keys hls4ml writes into its project YAML that change nothing here
IGNORED = ("Version", "Stamp", "WriterConfig", "Board")
OTHER = ("HLSConfig", "InputShape")


def graph_of(cfg: dict[str, Any], base: Path) -> Graph:
    """The untyped graph of the model the YAML names (exactly one model key)."""
    from nnfpga import api

    _check_keys(cfg)
    given = [k for k in MODEL_KEYS if cfg.get(k) is not None]
    if given == ["KerasJson", "KerasH5"]:
        from nnfpga.frontends.keras2 import graph_from_keras2_json

        return api._optimized(graph_from_keras2_json(_path(cfg["KerasJson"], base), _path(cfg["KerasH5"], base)))
    if given == ["KerasJson"]:
        raise ConfigError("KerasJson needs its weights file: add KerasH5 (the .h5 of model.save_weights)")
    if len(given) != 1:
        raise ConfigError(f"the config must name one model: KerasJson + KerasH5, KerasH5, KerasModel, OnnxModel or "
                          f"PytorchModel; got {', '.join(given) if given else 'none'}")
    key = given[0]
    model = cfg[key]
    if key == "PytorchModel":
        if isinstance(model, str):
            raise ConfigError(f"PytorchModel: {model!r} is a path; a pickled PyTorch model is not loaded (unpickling "
                              "runs code): pass the nn.Module itself (convert_from_pytorch_model or a dict config)")
        from nnfpga.config.hls4ml_keys import input_shape_of

        return api.graph_from_pytorch_model(model, input_shape_of(cfg))
    if isinstance(model, str):
        model = _path(model, base)
    return api.graph_from_onnx_model(model) if key == "OnnxModel" else api.graph_from_keras_model(model)


def project_settings(cfg: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(HLSConfig, keyword arguments of nnfpga.converters._convert)`` from the YAML's project keys, with
    hls4ml's defaults."""
    hls = cfg.get("HLSConfig") or {}
    if not isinstance(hls, dict):
        raise ConfigError(f"HLSConfig must be a mapping (Model, LayerType, LayerName), got {type(hls).__name__}")
    s = {SETTINGS[k]: cfg[k] for k in SETTINGS if cfg.get(k) is not None}
    kwargs = {k: s.pop(k) for k in ("part", "clock_period", "io_type", "clock_uncertainty") if k in s}
    settings = {"output_dir": str(s.get("output_dir", "my-hls-test")),
                "project_name": s.get("project_name", "myproject"),
                "input_data_tb": s.get("input_data_tb"), "output_data_tb": s.get("output_data_tb"),
                "backend": s.get("backend", "Vivado"), "kwargs": kwargs}
    dropped = [k for k in IGNORED if k in cfg and k != "Version" and cfg[k] not in (None, {})]
    if "WriterConfig" in dropped:
        dropped.remove("WriterConfig")  # hls4ml's own writer options (weights as .txt, tar...): nothing to write
    if dropped:
        warnings.warn(f"hls4ml project keys that nnfpga ignores: {', '.join(dropped)}", Hls4mlKeyWarning,
                      stacklevel=3)
    return hls, settings


def _check_keys(cfg: dict[str, Any]) -> None:
    allowed = (*MODEL_KEYS, *SETTINGS, *OTHER, *IGNORED)
    for key in cfg:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown key {key!r} in the project config{hint}; allowed keys: {', '.join(allowed)}")


def _path(value: Any, base: Path) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"a model path must be a string, got {type(value).__name__} {value!r}")
    p = Path(value)
    return str(p if p.is_absolute() or p.exists() or not (base / p).exists() else base / p)
