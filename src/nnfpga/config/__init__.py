"""hls4ml-style configuration: parse/validate (:mod:`.schema`), apply to a graph (:mod:`.apply`),
generate defaults with optional calibration (:mod:`.defaults`)."""

from nnfpga.config.apply import apply_config
from nnfpga.config.defaults import GRANULARITIES, default_config
from nnfpga.config.schema import Config, LayerConfig, parse_config
from nnfpga.ops.dense import valid_reuse_factors

__all__ = ["GRANULARITIES", "Config", "LayerConfig", "apply_config", "default_config", "parse_config",
           "valid_reuse_factors"]
