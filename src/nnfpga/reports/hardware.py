"""One report object for every backend: Vitis HLS csynth results and (later) Yosys/nextpnr results."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from nnfpga.errors import ModelLoadError

DSP_LUTS = 55  # one DSP counted as 55 LUTs in the figure of merit LUT + 55 x DSP (the benchmarks, estimates, sweeps)


@dataclass
class HardwareReport:
    tool: str
    target: str
    clock_period_ns: float | None = None
    estimated_clock_period_ns: float | None = None
    latency_cycles: int | None = None  # worst case
    latency_best_cycles: int | None = None
    ii: int | None = None  # initiation interval (worst case)
    lut: int | None = None
    ff: int | None = None
    dsp: int | None = None
    bram_18k: int | None = None
    uram: int | None = None
    fmax_mhz: float | None = None
    extra: dict[str, float] = field(default_factory=dict)
    critical_path_ns: float | None = None  # placed-and-routed slowest register-to-register path (ECP5)
    critical_path: dict[str, Any] = field(default_factory=dict)  # its breakdown: backends.rtl.ecp5_paths.summarize

    @property
    def latency_ns(self) -> float | None:
        period = self.estimated_clock_period_ns or self.clock_period_ns
        return None if self.latency_cycles is None or period is None else self.latency_cycles * period

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "latency_ns": self.latency_ns}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> HardwareReport:
        """The inverse of :meth:`to_dict` (derived keys such as ``latency_ns`` are ignored)."""
        names = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in names})  # type: ignore[arg-type]
        except TypeError as exc:
            raise ModelLoadError(f"not a hardware report: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> HardwareReport:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ModelLoadError(f"a hardware report is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ModelLoadError("a hardware report must be a JSON object")
        return cls.from_dict(data)

    def table(self) -> str:
        rows = [(k, "-" if v is None else str(v)) for k, v in self.to_dict().items()
                if k not in ("extra", "critical_path")]
        if self.critical_path:
            rows.append(("critical_path", path_line(self.critical_path)))
        rows += [(k, f"{v:g}" if isinstance(v, float) else str(v)) for k, v in sorted(self.extra.items())]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def path_line(path: dict[str, Any]) -> str:
    """One line for a critical path summary: its ends, clock-to-out, logic per cell type, routing, setup."""
    logic = ", ".join(f"{k} {v:.2f}" for k, v in (path.get("logic_ns_by_type") or {}).items())
    return (f"{path.get('start') or path.get('start_cell')} -> {path.get('end') or path.get('end_cell')}: "
            f"clk-to-q {path.get('clk_to_q_ns', 0):.2f} + logic {path.get('logic_ns', 0):.2f} ({logic}) + routing "
            f"{path.get('routing_ns', 0):.2f} ({path.get('routing_hops', 0)} hops) + setup "
            f"{path.get('setup_ns', 0):.2f} ns")


def _int(node: ET.Element | None) -> int | None:
    if node is None or node.text is None:
        return None
    text = node.text.strip()
    return int(text) if text.lstrip("-").isdigit() else None


def _float(node: ET.Element | None) -> float | None:
    try:
        return float(node.text.split()[0]) if node is not None and node.text else None
    except ValueError:
        return None


def parse_vitis_csynth(path: str | Path) -> HardwareReport:
    """Read Vitis HLS ``csynth.xml`` (``<prj>/solution1/syn/report/csynth.xml``)."""
    p = Path(path)
    try:
        root = ET.parse(p).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ModelLoadError(f"cannot read the Vitis HLS report {str(p)!r}: {exc}") from None
    lat = root.find("PerformanceEstimates/SummaryOfOverallLatency")
    res = root.find("AreaEstimates/Resources")
    user = root.find("UserAssignments")

    def get(parent: ET.Element | None, tag: str) -> ET.Element | None:
        return None if parent is None else parent.find(tag)

    dsp = get(res, "DSP")
    if dsp is None:
        dsp = get(res, "DSP48E")
    return HardwareReport(
        tool="vitis_hls",
        target=(get(user, "Part").text or "").strip() if get(user, "Part") is not None else "",
        clock_period_ns=_float(get(user, "TargetClockPeriod")),
        estimated_clock_period_ns=_float(root.find("PerformanceEstimates/SummaryOfTimingAnalysis/EstimatedClockPeriod")),
        latency_cycles=_int(get(lat, "Worst-caseLatency")),
        latency_best_cycles=_int(get(lat, "Best-caseLatency")),
        ii=_int(get(lat, "Interval-max")),
        lut=_int(get(res, "LUT")),
        ff=_int(get(res, "FF")),
        dsp=_int(dsp),
        bram_18k=_int(get(res, "BRAM_18K")),
        uram=_int(get(res, "URAM")),
    )
