"""Hardware reports (latency, II, resources, Fmax) shared by the HLS and RTL backends."""

from nnfpga.reports.hardware import HardwareReport, parse_vitis_csynth

__all__ = ["HardwareReport", "parse_vitis_csynth"]
