"""A design space: which config keys a sweep varies, over which values, model-wide or per layer.

The space is keyed by the config's own names (the hls4ml keys a user already writes), plus ``Sparsity`` (the
fraction of each Dense kernel's smallest weights set to zero before conversion) and ``ClockPeriod`` (ns, the
converter's ``clock_period``)::

    Precision: [ap_fixed<8,3>, ap_fixed<6,2>]    # model-wide: a list of values, or one value kept fixed
    ReuseFactor: [1, 2, 4]
    Sparsity: [0, 0.5, 0.75]
    LayerName:
      fc1: {ReuseFactor: [1, 4]}                 # per layer, over the model-wide value

:func:`load_space` reads such a mapping (or a YAML file of it) and checks it whole before any point runs: an
unknown key (with a did-you-mean hint), an empty list or an empty space, and every value the config would refuse
(quoted with where it is) raise :class:`~nnfpga.errors.ConfigError`. A value that depends on the model (a
ReuseFactor a layer's size does not divide, a layer name the model lacks) is the sweep's to record per point.

:meth:`Space.points` enumerates the grid (every combination, in a fixed order) or a seeded random sample of it;
:meth:`Point.config` applies a point to a base config, and :attr:`Point.key` names it stably (the sweep's cache).
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import itertools
import json
import math
import os
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnfpga.backends.base import all_knobs
from nnfpga.config.schema import LAYER_KEYS, MODEL_KEYS, parse_config, read_yaml
from nnfpga.errors import ConfigError

SPARSITY = "Sparsity"
CLOCK_PERIOD = "ClockPeriod"
LAYER_SECTION = "LayerName"

Path_ = tuple[str, ...]  # ("Model", key) or ("LayerName", layer, key)


def model_keys() -> tuple[str, ...]:
    """The keys a space may vary model-wide."""
    return (*MODEL_KEYS, *all_knobs(), SPARSITY, CLOCK_PERIOD)


def layer_keys() -> tuple[str, ...]:
    """The keys a space may vary under ``LayerName.<layer>``."""
    return (*LAYER_KEYS, *all_knobs(), SPARSITY)


@dataclass(frozen=True)
class Point:
    """One design of a space: (path, value) pairs in the space's order."""

    items: tuple[tuple[Path_, Any], ...]

    def __getitem__(self, path: Path_) -> Any:
        return dict(self.items)[path]

    @property
    def label(self) -> str:
        """``Precision=ap_fixed<8,3> ReuseFactor=2 fc1.ReuseFactor=4``: what a table shows."""
        return " ".join(f"{'.'.join(p[1:])}={v}" for p, v in self.items)

    @property
    def key(self) -> str:
        """A stable name of this point's choices (16 hex digits), the same in every process and run."""
        text = json.dumps([[list(p), v] for p, v in sorted(self.items)], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def sparsity(self) -> tuple[float, dict[str, float]]:
        """The model-wide pruned fraction (0 when the space has none) and the per-layer ones."""
        whole = 0.0
        layers: dict[str, float] = {}
        for p, v in self.items:
            if p[-1] == SPARSITY:
                if p[0] == LAYER_SECTION:
                    layers[p[1]] = float(v)
                else:
                    whole = float(v)
        return whole, layers

    def clock_period(self) -> float | None:
        """The point's clock period (ns), None when the space does not vary it."""
        return next((float(v) for p, v in self.items if p == ("Model", CLOCK_PERIOD)), None)

    def config(self, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``base`` (an hls4ml-style config dict, not modified) with this point's config keys set: model-wide
        ones under ``Model``, per-layer ones under ``LayerName.<layer>`` (Sparsity and ClockPeriod are not config
        keys: :meth:`sparsity`, :meth:`clock_period`)."""
        cfg = copy.deepcopy(dict(base or {}))
        for p, v in self.items:
            if p[-1] in (SPARSITY, CLOCK_PERIOD):
                continue
            if p[0] == LAYER_SECTION:
                entry = cfg.setdefault(LAYER_SECTION, {}).setdefault(p[1], {})
                if p[2] == "Precision" and isinstance(v, dict) and "Precision" in entry:
                    entry["Precision"] = {**_slots(entry["Precision"]), **v}  # the slots it names, over the rest
                else:
                    entry[p[2]] = v
            else:
                cfg.setdefault("Model", {})[p[1]] = v
                if p[1] == "Precision":  # a model-wide precision replaces the per-layer ones a base config has
                    for entry in (cfg.get(LAYER_SECTION) or {}).values():
                        if isinstance(entry, dict) and "Precision" in entry:
                            entry["Precision"] = v
        return cfg


def _slots(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {"result": value, "weight": value, "bias": value,
                                                        "param": value}


@dataclass(frozen=True)
class Space:
    """The axes of a sweep: (path, values) in the order written."""

    axes: tuple[tuple[Path_, tuple[Any, ...]], ...]

    @property
    def size(self) -> int:
        """How many points the grid has."""
        return math.prod(len(vals) for _, vals in self.axes)

    def grid(self) -> Iterator[Point]:
        """Every combination, the last axis varying fastest."""
        paths = [p for p, _ in self.axes]
        for combo in itertools.product(*(vals for _, vals in self.axes)):
            yield Point(tuple(zip(paths, combo, strict=True)))

    def points(self, n: int | None = None, *, seed: int = 0) -> list[Point]:
        """The whole grid (``n`` None), or ``n`` distinct points drawn from it at random (seeded: the same list
        every run); ``n`` at least the grid's size gives the grid."""
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ConfigError(f"the number of points must be a positive integer, got {n!r}")
        if n is None or n >= self.size:
            return list(self.grid())
        rng = random.Random(seed)
        picks = sorted(rng.sample(range(self.size), n))
        sizes = [len(vals) for _, vals in self.axes]
        out = []
        for index in picks:
            combo = []
            for size in reversed(sizes):  # mixed radix: the last axis varies fastest, as in grid()
                index, digit = divmod(index, size)
                combo.append(digit)
            combo.reverse()
            out.append(Point(tuple((p, vals[i]) for (p, vals), i in zip(self.axes, combo, strict=True))))
        return out

    def layers(self) -> set[str]:
        """The layer names the space refers to (the sweep checks them against the model)."""
        return {p[1] for p, _ in self.axes if p[0] == LAYER_SECTION}


def load_space(space: Mapping[str, Any] | str | os.PathLike[str]) -> Space:
    """The space in ``space`` (a mapping, or the path of a YAML file holding one), checked whole: see the
    module docstring. Raises :class:`ConfigError` naming the key or value at fault."""
    where = "the space"
    if isinstance(space, (str, os.PathLike)):
        where = f"space file {Path(space)}"
        space = read_yaml(space)
    if not isinstance(space, Mapping):
        raise ConfigError(f"{where} must be a mapping of config keys to lists of values, got "
                          f"{type(space).__name__} {space!r}")
    section = dict(space)
    model_part = dict(section.pop("Model", None) or {})  # a Model section is the same as top-level keys
    layer_part = section.pop(LAYER_SECTION, None) or {}
    for key in section:
        if key in model_part:
            raise ConfigError(f"{where}: {key!r} is given both at the top and under Model")
    model_part.update(section)
    axes: list[tuple[Path_, tuple[Any, ...]]] = []
    _check_keys(model_part, model_keys(), where)
    for key, vals in model_part.items():
        axes.append((("Model", key), _values(vals, f"{where}: {key}")))
    if not isinstance(layer_part, Mapping):
        raise ConfigError(f"{where}: {LAYER_SECTION} must map layer names to their keys, got {layer_part!r}")
    for layer, entry in layer_part.items():
        at = f"{where}: {LAYER_SECTION}.{layer}"
        if not isinstance(entry, Mapping) or not entry:
            raise ConfigError(f"{at} must map config keys to lists of values, got {entry!r}")
        _check_keys(entry, layer_keys(), at)
        for key, vals in entry.items():
            axes.append(((LAYER_SECTION, str(layer), key), _values(vals, f"{at}.{key}")))
    if not axes:
        raise ConfigError(f"{where} is empty: give at least one key with its values, e.g. "
                          "{'ReuseFactor': [1, 2, 4]}")
    for path, vals in axes:
        for v in vals:
            _check_value(path, v, where)
    return Space(tuple(axes))


def _check_keys(d: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    bad = [k for k in d if k not in allowed]
    if bad:
        hints = []
        for k in bad:
            close = difflib.get_close_matches(str(k), allowed, n=1)
            hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(f"{where}: unknown key{'s' if len(bad) > 1 else ''} {', '.join(hints)}; allowed keys: "
                          f"{', '.join(allowed)}")


def _values(vals: Any, where: str) -> tuple[Any, ...]:
    if isinstance(vals, (list, tuple)):
        if not vals:
            raise ConfigError(f"{where} has no values: give a list of at least one")
        out = tuple(vals)
    else:
        out = (vals,)  # one value, kept fixed over the sweep
    seen = []
    for v in out:
        if v in seen:
            raise ConfigError(f"{where} lists {v!r} twice")
        seen.append(v)
    return out


def _check_value(path: Path_, value: Any, where: str) -> None:
    """Refuse a value the config (or the sweep) would refuse, whatever the model."""
    key = path[-1]
    at = f"{where}: {'.'.join(path[1:] if path[0] == 'Model' else path)} value {value!r}"
    if key == SPARSITY:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ConfigError(f"{at}: Sparsity must be a fraction in [0, 1) of each Dense kernel's weights")
        return
    if key == CLOCK_PERIOD:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ConfigError(f"{at}: ClockPeriod must be a positive number of ns")
        return
    probe = Point(((path, value),)).config()
    try:
        parse_config(probe)
    except ConfigError as exc:
        raise ConfigError(f"{at}: {exc}") from None


__all__ = ["CLOCK_PERIOD", "SPARSITY", "Point", "Space", "layer_keys", "load_space", "model_keys"]
