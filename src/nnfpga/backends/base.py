"""What a backend is to the rest of nnfpga, and the registry that names them.

A :class:`Backend` has a name (matched case-insensitively), the config keys it reads (:class:`Knob`: an
hls4ml-style key that sets a node attribute its lowering reads), a check of what it can build (``validate``, run
when the model is converted, so a refusal comes before anything is written), the project files it adds
(``files``) and the engines that run its generated code (``engines``). :class:`~nnfpga.model.HWModel` holds one
and never looks at its name.

The built-in backends are loaded on first use (``vitis``: HLS C++, ``verilog``: Verilog RTL); :func:`register`
adds another.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from nnfpga.errors import ConfigError

if TYPE_CHECKING:
    from nnfpga.ir.graph import Graph
    from nnfpga.model import HWModel
    from nnfpga.ops.base import Plan

Prep = dict[str, "Plan"]  # layer name -> the plan its op's ``prepare`` returned


@dataclass(frozen=True)
class Knob:
    """A backend setting in the config: ``key`` (as in ``LayerName.fc1.PipelineStages``) sets node attribute
    ``attr`` on layers whose op is in ``ops`` (None: every op). ``parse(value, where)`` returns the attribute's
    value or raises ConfigError quoting the value and listing the valid ones."""

    key: str
    attr: str
    parse: Callable[[Any, str], Any]
    ops: tuple[str, ...] | None = None

    def applies_to(self, op: str) -> bool:
        return self.ops is None or op in self.ops


def _recurrent_reuse(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where} must be an integer >= 1 (how many times each multiplier of the recurrent cell's "
                          f"state product is used), got {value!r}")
    return value


RECURRENT_OPS = ("lstm", "gru", "simple_rnn")
# hls4ml's RecurrentReuseFactor (its ConfigurableAttribute recurrent_reuse_factor): the state product's reuse, as
# ReuseFactor is the input product's; both backends read it (validated against the layer in config/apply.py)
RECURRENT_REUSE = Knob("RecurrentReuseFactor", "recurrent_reuse_factor", _recurrent_reuse, RECURRENT_OPS)


@dataclass(frozen=True)
class Engine:
    """A way to run a backend's generated code on a batch: ``predict(hw, x)`` -> outputs shaped like the
    emulator's. ``requires`` starts the error for a model of another backend (``"... ; this project's backend is
    'verilog': convert with backend='vitis'"``)."""

    name: str
    description: str
    predict: Callable[[HWModel, Any], np.ndarray]
    requires: str


class Backend(ABC):
    """One code generator. A fresh instance per converted model (an engine may keep state in it, such as a
    compiled library)."""

    name: ClassVar[str]
    description: ClassVar[str]
    knobs: ClassVar[tuple[Knob, ...]] = ()

    @abstractmethod
    def validate(self, graph: Graph, settings: dict[str, Any], prep: Prep) -> None:
        """Raise ConfigError naming every layer (or setting) this backend cannot build."""

    @abstractmethod
    def files(self, hw: HWModel, tb_inputs: np.ndarray | None = None) -> dict[str, bytes]:
        """The files ``hw.write()`` adds to the project (relative path -> bytes)."""

    @abstractmethod
    def engines(self) -> dict[str, Engine]:
        """Engine name -> :class:`Engine`, the ways to run this backend's code."""


_BUILTIN = {"vitis": "nnfpga.backends.hls.backend:VitisBackend",
            "verilog": "nnfpga.backends.rtl.backend:VerilogBackend"}
_REGISTRY: dict[str, type[Backend]] = {}


def register(cls: type[Backend]) -> type[Backend]:
    """Add a backend class to the registry (usable as a class decorator)."""
    _REGISTRY[cls.name.lower()] = cls
    return cls


def backend_names() -> tuple[str, ...]:
    return tuple(dict.fromkeys([*_BUILTIN, *_REGISTRY]))


def backend_class(name: str) -> type[Backend]:
    """The backend class called ``name`` (any case). Raises ConfigError listing the known ones."""
    key = name.lower() if isinstance(name, str) else name
    if key not in _REGISTRY and key in _BUILTIN:
        module, cls = _BUILTIN[key].split(":")
        register(getattr(importlib.import_module(module), cls))
    if key not in _REGISTRY:
        raise ConfigError(f"unknown backend {name!r}; expected one of {', '.join(backend_names())}")
    return _REGISTRY[key]


def get_backend(name: str) -> Backend:
    """A new instance of the backend called ``name`` (any case)."""
    return backend_class(name)()


def all_knobs() -> dict[str, Knob]:
    """Config key -> :class:`Knob`, over every known backend (the config is parsed before a backend is chosen)."""
    out: dict[str, Knob] = {}
    for name in backend_names():
        for knob in backend_class(name).knobs:
            out[knob.key] = knob
    return out
