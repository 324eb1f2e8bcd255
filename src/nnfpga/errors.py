"""Every error nnfpga raises derives from :class:`NnfpgaError`.

Messages say what was expected and what was found; tests pin them.
"""

from __future__ import annotations


class NnfpgaError(Exception):
    """Base class of every error raised by nnfpga."""


class PrecisionError(NnfpgaError, ValueError):
    """A precision string or fixed-point type is invalid."""


class ConfigError(NnfpgaError, ValueError):
    """The configuration dict/YAML has an unknown key or an invalid value."""


class BackendSupportError(ConfigError):
    """The chosen backend cannot build some layers of the model (each one named, with the reason); the emulator
    (``predict``, ``trace``) may still run them."""


class PruningError(ConfigError):
    """Pruning was asked for with invalid settings (sparsity, steps) or a model it cannot prune (no Dense or
    Linear layer, a model type it cannot rebuild); the message quotes the value and says what is valid."""


class ModelLoadError(NnfpgaError):
    """A model file could not be read (missing, corrupt or not a model of the expected kind)."""


class UnsupportedLayerError(NnfpgaError):
    """The model contains layers nnfpga cannot convert; all of them are listed at once."""

    def __init__(self, layers: list[tuple[str, str]], framework: str = "Keras", *,
                 supported: tuple[str, ...] = (), activations: tuple[str, ...] = ()) -> None:
        self.layers = list(layers)
        lines = "\n".join(f"  - {name!r} ({kind})" for name, kind in self.layers)
        hint = "Remove or replace them"
        if supported:
            hint += f"; supported {framework} layers: {', '.join(supported)}"
        if activations:
            hint += f"; activations: {', '.join(activations)}"
        super().__init__(f"{len(self.layers)} unsupported {framework} layer(s):\n{lines}\n{hint}.")


class ShapeError(NnfpgaError, ValueError):
    """A tensor shape the IR cannot handle."""


class GraphError(NnfpgaError):
    """The graph is malformed (dangling input, cycle, duplicate name...)."""


class PassError(NnfpgaError, RuntimeError):
    """A graph pass failed, left an invalid graph, or the pipeline did not settle (names the pass)."""


class EmulationError(NnfpgaError, ValueError):
    """Invalid input to the emulator (wrong shape, non-finite values...)."""


class OutputDirError(NnfpgaError):
    """An output directory cannot be written safely."""


class ToolNotFoundError(NnfpgaError):
    """An external tool (g++, Verilator, Yosys...) is not installed (or too old); the message says what to install."""


class ToolError(NnfpgaError):
    """An external tool failed or ran past its time limit; the message has its last output lines and the command to
    reproduce."""


class DatasetError(NnfpgaError, ValueError):
    """A data set file is missing, has the wrong format or lacks expected columns/arrays."""


class TuneError(NnfpgaError, ValueError):
    """Invalid input to a search of :mod:`nnfpga.tune` (its model, data or budget), or a budget that no config it
    tries can meet; the message says what to change."""


class OverflowWarning(UserWarning):
    """Values wrapped or saturated during emulation."""


class WeightError(NnfpgaError, ValueError):
    """A weight, bias or other constant of the model is unusable (NaN or infinite); the layer is named."""


class Hls4mlKeyWarning(UserWarning):
    """A config key or argument of hls4ml that nnfpga accepts but does not use, with a value that matters in
    hls4ml (see the README's "Coming from hls4ml")."""


class ClusterError(NnfpgaError, ConnectionError):
    """A Dask scheduler could not be reached (or a sweep lost its cluster); the message has the address."""


class MissingDependencyError(NnfpgaError, ImportError):
    """An optional Python package is not installed; the message names the ``pip install 'nnfpga[extra]'`` to run."""
