"""The hls4ml-style configuration: parsing and validation (no graph knowledge here).

```yaml
Model:                      # model-wide defaults
  Precision: ap_fixed<16,6> # default precision (inputs, Dense results; widths of weights/bias)
  ReuseFactor: 1
  Strategy: Latency         # or Resource
  TraceOutput: false
LayerType:                  # per op type (Dense, ReLU, Softmax, ... or Activation for every activation)
  Dense: {ReuseFactor: 4}
LayerName:                  # per layer, overrides LayerType
  fc1:
    Precision: {weight: ap_fixed<8,2>, bias: ap_fixed<8,3>, accum: auto, result: ap_fixed<16,6>}
    ReuseFactor: 2
    TableSize: 1024         # sigmoid/tanh/ELU/softmax
    TableRange: 8           # power of two
    Trace: true             # hw.trace() shows the layers with Trace (all with Model.TraceOutput)
    PipelineStages: 2       # Verilog backend knobs (Model, LayerType or LayerName): registers after the layer,
    AddersPerStage: 2       # adders between registers inside a Dense/Softmax (auto, the default: placed
                            # for ClockPeriod by the part's delay model; null: none),
    Multipliers: operator   # Dense constant multiplications: auto, shared, csd, operator
```
A layer ``Precision`` string sets the layer's value types (``result``, ``weight``, ``bias``, ``param``) at
once, like hls4ml; the accumulator stays exact and tables keep their defaults unless named in a dict.
``auto`` (or leaving a slot out) lets the op's type rule choose. A backend's own keys (:class:`Knob`, such as
``PipelineStages``) set the node attribute its lowering reads. The keys hls4ml writes that nnfpga does not use
are mapped or dropped first (:mod:`nnfpga.config.hls4ml_keys`); other unknown keys and invalid values raise
:class:`ConfigError`.
"""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from nnfpga.backends.base import all_knobs
from nnfpga.config import hls4ml_keys
from nnfpga.errors import ConfigError, PrecisionError
from nnfpga.fixed import FixedType

DEFAULT_PRECISION = "ap_fixed<16,6>"
MODEL_KEYS = ("Precision", "ReuseFactor", "Strategy", "TraceOutput")
LAYER_KEYS = ("Precision", "ReuseFactor", "Strategy", "TableSize", "TableRange", "Trace")
SECTIONS = ("Model", "LayerType", "LayerName")
STRATEGIES = ("Latency", "Resource")
STRING_PRECISION_SLOTS = ("result", "weight", "bias", "param")


@dataclass
class LayerConfig:
    precision: dict[str, FixedType | None] = field(default_factory=dict)  # None = auto
    precision_from_string: bool = False  # one string for all value slots (slots an op lacks are ignored)
    reuse_factor: int | None = None
    strategy: str | None = None
    table_size: int | None = None
    table_range: float | None = None
    trace: bool | None = None
    knobs: dict[str, Any] = field(default_factory=dict)  # backend knobs: node attribute -> value


@dataclass
class Config:
    default: FixedType
    reuse_factor: int = 1
    strategy: str = "Latency"
    trace: bool = False
    knobs: dict[str, Any] = field(default_factory=dict)  # backend knobs for every layer: node attribute -> value
    layer_type: dict[str, LayerConfig] = field(default_factory=dict)
    layer_name: dict[str, LayerConfig] = field(default_factory=dict)


def parse_config(cfg: dict[str, Any] | None) -> Config:
    """Validate an hls4ml-style config dict and return a :class:`Config`. ``None`` means all defaults."""
    cfg = {} if cfg is None else cfg
    if not isinstance(cfg, dict):
        raise ConfigError(f"the config must be a mapping with sections {', '.join(SECTIONS)}, got {type(cfg).__name__}")
    cfg = hls4ml_keys.normalize(cfg)  # hls4ml's keys that nnfpga accepts without using them
    _check_keys(cfg, SECTIONS, "the config", tuple(hls4ml_keys.SECTION_KEYS))
    model = cfg.get("Model") or {}
    _check_mapping(model, "Model")
    knobs = all_knobs()
    _check_keys(model, MODEL_KEYS + tuple(knobs), "Model", tuple(hls4ml_keys.MODEL_KEYS))
    prec = model.get("Precision", DEFAULT_PRECISION)
    if isinstance(prec, dict):  # hls4ml also allows {default: ...}
        _check_keys(prec, ("default",), "Model.Precision")
        prec = prec.get("default", DEFAULT_PRECISION)
    out = Config(default=_precision(prec, "Model.Precision"))
    if "ReuseFactor" in model:
        out.reuse_factor = _positive_int(model["ReuseFactor"], "Model.ReuseFactor")
    if "Strategy" in model:
        out.strategy = _strategy(model["Strategy"], "Model.Strategy")
    if "TraceOutput" in model:
        out.trace = _bool(model["TraceOutput"], "Model.TraceOutput")
    out.knobs = _knobs(model, "Model")
    for section, target in (("LayerType", out.layer_type), ("LayerName", out.layer_name)):
        entries = cfg.get(section) or {}
        _check_mapping(entries, section)
        for name, entry in entries.items():
            target[str(name)] = parse_layer(entry, f"{section}.{name}")
    return out


def parse_layer(entry: Any, where: str) -> LayerConfig:
    _check_mapping(entry, where)
    _check_keys(entry, LAYER_KEYS + tuple(all_knobs()), where, tuple(hls4ml_keys.LAYER_KEYS))
    lc = LayerConfig()
    if "Precision" in entry:
        p = entry["Precision"]
        if isinstance(p, dict):
            lc.precision = {str(k): _precision_or_auto(v, f"{where}.Precision.{k}") for k, v in p.items()}
        else:
            t = _precision_or_auto(p, f"{where}.Precision")
            lc.precision = {slot: t for slot in STRING_PRECISION_SLOTS}
            lc.precision_from_string = True
    if "ReuseFactor" in entry:
        lc.reuse_factor = _positive_int(entry["ReuseFactor"], f"{where}.ReuseFactor")
    if "Strategy" in entry:
        lc.strategy = _strategy(entry["Strategy"], f"{where}.Strategy")
    if "TableSize" in entry:
        lc.table_size = _power_of_two(entry["TableSize"], f"{where}.TableSize", integer=True)
    if "TableRange" in entry:
        lc.table_range = _power_of_two(entry["TableRange"], f"{where}.TableRange", integer=False)
    if "Trace" in entry:
        lc.trace = _bool(entry["Trace"], f"{where}.Trace")
    lc.knobs = _knobs(entry, where)
    return lc


def _knobs(entry: dict[str, Any], where: str) -> dict[str, Any]:
    """The backend knobs set in ``entry``: node attribute -> parsed value."""
    return {k.attr: k.parse(entry[key], f"{where}.{key}") for key, k in all_knobs().items() if key in entry}


# -- value checks ---------------------------------------------------------------------------------

def _check_mapping(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(value).__name__} {value!r}")


def _check_keys(d: dict[str, Any], allowed: tuple[str, ...], where: str, hls4ml: tuple[str, ...] = ()) -> None:
    """Refuse a key not in ``allowed``; the did-you-mean hint also looks at the ``hls4ml`` keys nnfpga accepts."""
    for key in d:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed + hls4ml, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown key {key!r} in {where}{hint}; allowed keys: {', '.join(allowed)}")


def _precision(value: Any, where: str) -> FixedType:
    try:
        return FixedType.parse(value)
    except PrecisionError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _precision_or_auto(value: Any, where: str) -> FixedType | None:
    if isinstance(value, str) and value.strip().lower() == "auto":
        return None
    return _precision(value, where)


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where} must be a positive integer, got {value!r}")
    return value


def _strategy(value: Any, where: str) -> str:
    for s in STRATEGIES:
        if isinstance(value, str) and value.lower() == s.lower():
            return s
    raise ConfigError(f"{where} must be one of {', '.join(STRATEGIES)}, got {value!r}")


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    return value


def _power_of_two(value: Any, where: str, *, integer: bool) -> Any:
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or value <= 0 or not math.log2(value).is_integer():
        kind = "a power-of-two integer" if integer else "a positive power of two"
        raise ConfigError(f"{where} must be {kind} (e.g. {'1024' if integer else '8'}), got {value!r}")
    if integer and not 2 <= value <= 1 << 16:
        raise ConfigError(f"{where} must be between 2 and 65536, got {value!r}")
    return value if integer else float(value)


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """A YAML config file's content (safe loader: no Python object tags); ConfigError when unreadable or invalid."""
    try:
        with open(path) as f:
            return yaml.safe_load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read config {str(path)!r}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {str(path)!r} is not valid YAML: {exc}") from None
