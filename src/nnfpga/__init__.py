"""nnfpga: compile trained neural networks into bit-exact FPGA firmware.

>>> import nnfpga
>>> config = nnfpga.config_from_keras_model(model, granularity="name")          # doctest: +SKIP
>>> hw = nnfpga.convert_from_keras_model(model, hls_config=config, output_dir="prj")  # doctest: +SKIP
>>> y = hw.predict(X)                                                           # doctest: +SKIP
"""

# converters, utils: hls4ml's API (`import nnfpga as hls4ml` runs hls4ml scripts); tune: automatic precision;
# dse: design-space sweeps (nnfpga.sweep)
from nnfpga import converters, dse, tune, utils
from nnfpga.api import (
    config_from_keras_model,
    config_from_onnx_model,
    config_from_pytorch_model,
    convert_from_keras_model,
    convert_from_onnx_model,
    convert_from_pytorch_model,
    graph_from_keras_model,
    graph_from_onnx_model,
    graph_from_pytorch_model,
    load_project,
)
from nnfpga.dse import sweep
from nnfpga.errors import (
    BackendSupportError,
    ConfigError,
    EmulationError,
    ModelLoadError,
    NnfpgaError,
    OverflowWarning,
    PrecisionError,
    ShapeError,
    TuneError,
    UnsupportedLayerError,
)
from nnfpga.fixed import FixedType
from nnfpga.model import HWModel

__version__ = "0.1.0"

__all__ = [
    "BackendSupportError",
    "ConfigError",
    "EmulationError",
    "FixedType",
    "HWModel",
    "ModelLoadError",
    "NnfpgaError",
    "OverflowWarning",
    "PrecisionError",
    "ShapeError",
    "TuneError",
    "UnsupportedLayerError",
    "config_from_keras_model",
    "config_from_onnx_model",
    "config_from_pytorch_model",
    "convert_from_keras_model",
    "convert_from_onnx_model",
    "convert_from_pytorch_model",
    "converters",
    "dse",
    "graph_from_keras_model",
    "graph_from_onnx_model",
    "graph_from_pytorch_model",
    "load_project",
    "sweep",
    "tune",
    "utils",
]
