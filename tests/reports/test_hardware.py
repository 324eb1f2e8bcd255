"""The shared hardware report and the Vitis HLS csynth.xml reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnfpga.errors import ModelLoadError
from nnfpga.reports import HardwareReport, parse_vitis_csynth

# The structure of Vitis HLS's solution1/syn/report/csynth.xml (values made up for the test).
CSYNTH = """<?xml version="1.0" encoding="UTF-8"?>
<profile>
  <ReportVersion><Version>2023.2</Version></ReportVersion>
  <UserAssignments>
    <unit>ns</unit><ProductFamily>virtexuplus</ProductFamily><Part>xcvu13p-flga2577-2-e</Part>
    <TopModelName>myproject</TopModelName><TargetClockPeriod>5.00</TargetClockPeriod>
    <ClockUncertainty>1.35</ClockUncertainty><FlowTarget>vivado</FlowTarget>
  </UserAssignments>
  <PerformanceEstimates>
    <SummaryOfTimingAnalysis><unit>ns</unit><EstimatedClockPeriod>4.120</EstimatedClockPeriod></SummaryOfTimingAnalysis>
    <SummaryOfOverallLatency>
      <unit>clock cycles</unit><Best-caseLatency>7</Best-caseLatency><Average-caseLatency>8</Average-caseLatency>
      <Worst-caseLatency>9</Worst-caseLatency><Best-caseRealTimeLatency>35.000 ns</Best-caseRealTimeLatency>
      <Interval-min>1</Interval-min><Interval-max>2</Interval-max>
    </SummaryOfOverallLatency>
  </PerformanceEstimates>
  <AreaEstimates>
    <Resources><BRAM_18K>4</BRAM_18K><DSP>70</DSP><FF>5123</FF><LUT>21011</LUT><URAM>0</URAM></Resources>
    <AvailableResources><BRAM_18K>5376</BRAM_18K><DSP>12288</DSP><FF>3456000</FF><LUT>1728000</LUT></AvailableResources>
  </AreaEstimates>
</profile>
"""


def test_parse_vitis_csynth(tmp_path: Path) -> None:
    p = tmp_path / "csynth.xml"
    p.write_text(CSYNTH)
    r = parse_vitis_csynth(p)
    assert (r.tool, r.target, r.clock_period_ns, r.estimated_clock_period_ns) == \
        ("vitis_hls", "xcvu13p-flga2577-2-e", 5.0, 4.12)
    assert (r.latency_cycles, r.latency_best_cycles, r.ii) == (9, 7, 2)
    assert (r.lut, r.ff, r.dsp, r.bram_18k, r.uram) == (21011, 5123, 70, 4, 0)
    assert r.latency_ns == pytest.approx(9 * 4.12)
    assert '"lut": 21011' in r.to_json() and "latency_ns" in r.table()


def test_older_reports_name_dsps_dsp48e(tmp_path: Path) -> None:
    p = tmp_path / "csynth.xml"
    p.write_text(CSYNTH.replace("<DSP>70</DSP>", "<DSP48E>12</DSP48E>"))
    assert parse_vitis_csynth(p).dsp == 12


def test_unreadable_report_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "csynth.xml"
    p.write_text("<profile><unclosed>")
    with pytest.raises(ModelLoadError, match="cannot read the Vitis HLS report"):
        parse_vitis_csynth(p)


def test_latency_ns_needs_a_period() -> None:
    assert HardwareReport("yosys", "xc7").latency_ns is None
    assert HardwareReport("yosys", "xc7", clock_period_ns=2.0, latency_cycles=5).latency_ns == 10.0
