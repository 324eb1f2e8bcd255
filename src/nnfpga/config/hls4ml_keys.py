"""The config keys hls4ml 1.3 writes or reads that nnfpga does not use: accepted, mapped or refused, one
decision per key (the README's "Coming from hls4ml" lists them).

:func:`normalize` runs before the schema check (:func:`nnfpga.config.schema.parse_config`): it maps what has
an nnfpga meaning (a layer's ``exp_table_t`` key is its ``Precision.exp_table``; ``LayerType.InputLayer`` is
``LayerType.Input``), drops what changes nothing here, and emits one :class:`Hls4mlKeyWarning` listing the
dropped keys whose value would have changed hls4ml's output. A key hls4ml does not know either still reaches
the schema check and its did-you-mean error. Precision slots an op lacks (hls4ml writes ``table`` on every
activation) are the business of :func:`slot_ignored`, called where the op is known.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nnfpga.errors import ConfigError, Hls4mlKeyWarning, ShapeError
from nnfpga.fixed import FixedType


@dataclass(frozen=True)
class Ignored:
    """A key nnfpga accepts and ignores: ``reason`` says why; ``harmless(value)`` whether the value is one that
    changes nothing in hls4ml either (then no warning)."""

    reason: str
    harmless: Callable[[Any], bool]


def _is(*values: Any) -> Callable[[Any], bool]:
    """A check that the value is one of ``values`` (``None`` and booleans by identity: ``1`` is not ``True``)."""
    return lambda v: any(v is x if x is None or isinstance(x, bool) else (v == x and not isinstance(v, bool))
                         for x in values)


def _any(_: Any) -> bool:
    return True


def _empty(v: Any) -> bool:
    return not v


def _huge(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and (v >= 1e9 or math.isinf(v))


NO_PIPELINE = "nnfpga runs its own pass pipeline"
# top-level HLSConfig keys
SECTION_KEYS: dict[str, Ignored] = {
    "Flows": Ignored(NO_PIPELINE + " (hls4ml's flows do not exist here)", _empty),
    "Optimizers": Ignored(NO_PIPELINE + " (hls4ml's optimizers do not exist here)", _empty),
    "SkipOptimizers": Ignored(NO_PIPELINE + " (hls4ml's optimizers do not exist here)", _empty),
    "PytorchModel": Ignored("config_from_pytorch_model stores the model here; the converter takes it as an "
                            "argument (hls4ml ignores this key too)", _any),
    "InputShape": Ignored("read by convert_from_pytorch_model, not by the layer config", _any),
}
# keys of Model (and, where hls4ml reads them per layer, of LayerType/LayerName entries)
MODEL_KEYS: dict[str, Ignored] = {
    "BramFactor": Ignored("weights are always constants in the generated code (no external-BRAM weight ports)",
                          _huge),
    "BitExact": Ignored("nnfpga's 'auto' types are always derived exactly from the graph", _is(None, True)),
    "ChannelsLastConversion": Ignored("the PyTorch frontend always converts to channels-last internally and "
                                      "takes channels-first inputs", _is("full")),
    "TransposeOutputs": Ignored("outputs are returned channels-last", _is(False)),
    "PipelineStyle": Ignored("the HLS backend chooses its pipeline pragmas", _is("auto")),
    "PipelineInterval": Ignored("the HLS backend chooses its pipeline pragmas", _is(None)),
    "AllowDAFallback": Ignored("nnfpga has no fallback converters: an unsupported layer is an error", _any),
    "AllowV2Fallback": Ignored("nnfpga has no fallback converters: an unsupported layer is an error", _any),
}
LAYER_KEYS: dict[str, Ignored] = {
    "TargetCycles": Ignored("no target-cycles mode; the latency follows ReuseFactor", _is(None)),
    "ConvImplementation": Ignored("the HLS backend does not build convolutions yet; the emulator's bits do not "
                                  "depend on it", _is("LineBuffer", None)),
    "Compression": Ignored("no compressed-weight Dense (zero weights cost no multiplier anyway)",
                           _is(False, 0, None)),
    "ParallelizationFactor": Ignored("the HLS backend does not build convolutions yet; the emulator's bits do not "
                                     "depend on it", _is(1, None)),
    "BramFactor": MODEL_KEYS["BramFactor"],
    "Implementation": Ignored("nnfpga builds one softmax (the stable form, see nnfpga.ops.softmax)",
                              _is("stable")),
}
for _k in ("TargetCycles", "ConvImplementation", "Compression"):
    MODEL_KEYS[_k] = LAYER_KEYS[_k]

# hls4ml layer classes nnfpga has no op for: a LayerType entry for one matches no layer here (a model with such a
# layer is refused by its frontend), as in hls4ml for a type the model lacks
HLS4ML_ONLY_TYPES = frozenset((
    "ThresholdedReLU", "PReLU", "HardActivation", "ParametrizedActivation", "UnaryLUT", "TernaryTanh",
    "Pooling1D", "Pooling2D", "GlobalPooling1D", "GlobalPooling2D",
    "Resize", "Embedding", "Bidirectional",
    "TimeDistributed", "Dot", "Merge", "Einsum", "EinsumDense", "MultiHeadAttention", "LayerNormalization",
    "BatchNormOnnx", "ApplyAlpha", "Constant", "Quant", "SymbolicExpression", "GarNet", "GarNetStack",
))
TYPE_ALIASES = {"InputLayer": "Input"}  # hls4ml's Keras input class -> nnfpga's type name
# hls4ml types of layers that nnfpga's frontends split into two nodes, each with its own type
SPLIT_TYPES = {f"SeparableConv{n}D": (f"DepthwiseConv{n}D", f"Conv{n}D") for n in (1, 2)}

# precision slots of hls4ml's layers that an nnfpga op may lack, with the defaults hls4ml's configs write
# (hls4ml's str of FixedPrecisionType, parsed); every activation class of hls4ml has a table type
ACTIVATION_SLOTS = ("table", "param", "slope", "shift")
SOFTMAX_SLOTS = ("table", "exp_table", "inv_table", "inv_inp", "accum")
HLS4ML_DEFAULTS = {"table": "ap_fixed<18,8>", "exp_table": "ap_fixed<18,8,AP_RND,AP_SAT>",
                   "inv_table": "ap_fixed<18,8,AP_RND,AP_SAT>", "inv_inp": "ap_fixed<18,8,AP_RND,AP_SAT>",
                   "accum": "ap_fixed<18,8,AP_RND,AP_SAT>"}
SLOT_ALIASES = {"BatchNormalization": {"scale": "weight"}}  # hls4ml slot -> nnfpga slot, per config type
SLOT_REASON = {
    "table": "this activation computes without a table here",
    "accum": "nnfpga's softmax sums its exponentials exactly",
    "inv_inp": "nnfpga's softmax indexes its inverse table with the exact sum",
}


def normalize(cfg: dict[str, Any]) -> dict[str, Any]:
    """A copy of the hls4ml-style ``cfg`` in nnfpga's own keys (see the module docstring); warns once about the
    dropped keys whose value matters in hls4ml."""
    notes: list[str] = []
    out = {k: v for k, v in cfg.items() if not _drop(k, v, SECTION_KEYS, k, notes)}
    if isinstance(out.get("Model"), dict):
        out["Model"] = _model(out["Model"], notes)
    if isinstance(out.get("LayerType"), dict):
        types: dict[str, Any] = {}
        for name, entry in out["LayerType"].items():
            if name in HLS4ML_ONLY_TYPES:
                continue
            if name in SPLIT_TYPES:
                dw, pw = SPLIT_TYPES[name]
                raise ConfigError(f"LayerType.{name}: nnfpga splits a separable convolution into a depthwise and a "
                                  f"pointwise convolution (layers '<name>_depthwise' and '<name>_pointwise'); "
                                  f"configure LayerType.{dw} and LayerType.{pw}, or those two layers by LayerName")
            types[TYPE_ALIASES.get(name, name)] = _layer(entry, f"LayerType.{name}", notes)
        out["LayerType"] = types
    if isinstance(out.get("LayerName"), dict):
        out["LayerName"] = {n: _layer(e, f"LayerName.{n}", notes) for n, e in out["LayerName"].items()}
    if notes:
        warnings.warn("hls4ml config keys that nnfpga ignores: " + "; ".join(notes), Hls4mlKeyWarning, stacklevel=4)
    return out


def slot_ignored(config_type: str, category: str, slot: str, t: FixedType | None) -> str | None:
    """For a precision ``slot`` that a layer's op (of config type ``config_type`` and op ``category``) lacks:
    ``"unknown"`` when hls4ml's layer has no such slot either (a typo: the caller refuses it); else None to ignore
    it silently (``auto``, or hls4ml's own default: nothing changes there either), or a note when its value
    matters in hls4ml."""
    known = (SOFTMAX_SLOTS if config_type == "Softmax" else
             ACTIVATION_SLOTS if category in ("activation", "table") or config_type == "Dropout" else ())
    if slot not in known:
        return "unknown"
    default = HLS4ML_DEFAULTS.get(slot)
    if t is None or (default is not None and t == FixedType.parse(default)):
        return None
    why = SLOT_REASON.get(slot, f"a {config_type} layer has no {slot} type here")
    return f"Precision.{slot} = {t} ({why})"


def _model(model: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    out = {k: v for k, v in model.items() if not _drop(k, v, MODEL_KEYS, f"Model.{k}", notes)}
    prec = out.get("Precision")
    if isinstance(prec, dict) and "maximum" in prec:
        out["Precision"] = {k: v for k, v in prec.items() if k != "maximum"}
        if prec["maximum"] is not None:
            notes.append(f"Model.Precision.maximum = {prec['maximum']} ('auto' types are exact here, never capped)")
    return out


def _layer(entry: Any, where: str, notes: list[str]) -> Any:
    if not isinstance(entry, dict):
        return entry  # the schema reports it
    out: dict[str, Any] = {}
    typed: dict[str, Any] = {}
    for key, value in entry.items():
        if key == "Implementation" and value == "argmax":
            raise ConfigError(f"{where}.Implementation: 'argmax' (a softmax that outputs a one-hot) is not "
                              "available in nnfpga; expected 'stable' (or remove the Softmax layer)")
        if key == "Skip":
            if value is True:
                raise ConfigError(f"{where}.Skip: true (hls4ml drops the softmax) is not supported; remove the "
                                  "Softmax layer from the model instead, or set Skip: false")
            continue
        if isinstance(key, str) and key.endswith("_t") and isinstance(value, str):
            typed[key[:-2]] = value  # hls4ml reads any '<slot>_t' key as the slot's precision (over Precision's)
            continue
        if not _drop(key, value, LAYER_KEYS, f"{where}.{key}", notes):
            out[key] = value
    if typed:
        prec = out.get("Precision", {})
        if not isinstance(prec, dict):
            raise ConfigError(f"{where}: Precision is the string {prec!r} and {', '.join(k + '_t' for k in typed)} "
                              "sets a slot too; give Precision as a mapping of slots instead")
        out["Precision"] = {**prec, **typed}
    return out


def _drop(key: Any, value: Any, table: dict[str, Ignored], where: str, notes: list[str]) -> bool:
    """Whether ``key`` is one of ``table``'s (then a note unless the value is harmless)."""
    if key not in table:
        return False
    rule = table[key]
    try:
        harmless = rule.harmless(value)
    except TypeError:
        harmless = False
    if not harmless:
        notes.append(f"{where} = {value!r} ({rule.reason})")
    return True


def input_shape_of(hls_config: dict[str, Any] | None) -> tuple[int, ...]:
    """The per-sample input shape of an hls4ml PyTorch config (a tuple, or a list holding one tuple)."""
    shape = (hls_config or {}).get("InputShape")
    if shape is None:
        raise ConfigError("convert_from_pytorch_model needs the input shape in hls_config['InputShape'] (as "
                          "config_from_pytorch_model(model, input_shape) writes it), e.g. (16,); it has none")
    if isinstance(shape, list) and shape and all(isinstance(s, (list, tuple)) for s in shape):
        if len(shape) != 1:
            raise ShapeError(f"InputShape lists {len(shape)} inputs {shape}; nnfpga supports one input")
        shape = shape[0]
    if isinstance(shape, list):
        shape = tuple(shape)
    return shape
