"""The ``rtl/`` files of a project with ``backend="verilog"``.

```
rtl/<project>.v        top module <project>: ports, layout of in_data/out_data, latency (header comment)
rtl/<project>_lib.v    its submodules: casts (requantize in logic) and ROMs (table activations, softmax)
rtl/filelist.f         the Verilog files in compile order (for simulators and synthesis scripts)
```
All files are deterministic functions of the graph and the project name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nnfpga.backends.rtl.lower import Design, build_design, timing_settings

if TYPE_CHECKING:
    from nnfpga.model import HWModel


def design_files(design: Design) -> dict[str, bytes]:
    sources = design.sources()
    files = {f"rtl/{name}": text.encode() for name, text in sources.items()}
    files["rtl/filelist.f"] = "".join(f"{name}\n" for name in sources).encode()
    return files


def rtl_files(hw: HWModel, *, pipeline_stages: dict[str, int] | None = None) -> dict[str, bytes]:
    """The Verilog project files of ``hw`` (top module named after ``hw.settings["project_name"]``).
    Raises :class:`nnfpga.errors.ConfigError` naming every layer the Verilog backend cannot build yet."""
    design = build_design(hw.graph, hw.settings["project_name"], prep=hw.interpreter.prep,
                          pipeline_stages=pipeline_stages, **timing_settings(hw.settings))
    return design_files(design)
