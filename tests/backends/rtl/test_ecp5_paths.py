"""nextpnr-ecp5 critical paths read back into our Verilog's names (backends/rtl/ecp5_paths), without the tools:
the path below is the one nextpnr reported for the 16x8 8-bit Dense at adders_per_stage 2 (its numbers and
cell names as written, the zero-delay carry links between slices kept)."""

from __future__ import annotations

from typing import Any

from nnfpga.backends.rtl import ecp5_paths
from nnfpga.reports import HardwareReport

CLK = "posedge $glbnet$clk$TRELLIS_IO_IN"
VERILOG = """
    reg [9:0] fc_q66;
    wire [12:0] fc_a67 = {fc_q66[9], fc_q66} + fc_q65;
    wire [14:0] fc_a147h = fc_a67 - {fc_q70[12], fc_q70};
    wire [15:0] fc_a147 = {fc_a147h, fc_q70[0]};
    reg [15:0] fc_q151;
"""


def seg(kind: str, delay: float, src: str, sport: str, dst: str, dport: str, net: str | None = None,
        locs: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))) -> dict[str, Any]:
    out = {"type": kind, "delay": delay, "from": {"cell": src, "port": sport, "loc": list(locs[0])},
           "to": {"cell": dst, "port": dport, "loc": list(locs[1])}}
    if net is not None:
        out["net"] = net
    return out


def aps2_path() -> dict[str, Any]:
    ff, a67, a147 = "dut.fc_q66_TRELLIS_FF_Q_6", "dut.fc_a67_CCU2C_S0", "dut.fc_a147h_CCU2C_S0"
    lut, end = "dut.fc_a147h_CCU2C_S0_B0_LUT4_Z_1", "dut.fc_q151_TRELLIS_FF_Q"
    return {"from": CLK, "to": CLK, "path": [
        seg("clk-to-q", 0.525, ff, "Q", ff, "Q"),
        seg("routing", 2.774, ff, "Q", f"{a67}_1$CCU2_COMB0", "A", "dut.fc_q66[6]", ((55, 7), (58, 16))),
        seg("logic", 0.447, f"{a67}_1$CCU2_COMB0", "A", f"{a67}_1$CCU2_COMB0", "FCO"),
        seg("routing", 0.0, f"{a67}_1$CCU2_COMB0", "FCO", f"{a67}_1$CCU2_COMB1", "FCI", "x$CCU2_FCI_INT"),
        seg("logic", 0.0, f"{a67}_1$CCU2_COMB1", "FCI", f"{a67}_1$CCU2_COMB1", "FCO"),
        seg("routing", 0.0, f"{a67}_1$CCU2_COMB1", "FCO", f"{a67}$CCU2_COMB0", "FCI", "dut.fc_a67_COUT[1]"),
        seg("logic", 0.071, f"{a67}$CCU2_COMB0", "FCI", f"{a67}$CCU2_COMB0", "FCO"),
        seg("logic", 0.071, f"{a67}_5$CCU2_COMB0", "FCI", f"{a67}_5$CCU2_COMB0", "FCO"),
        seg("logic", 0.443, f"{a67}_4$CCU2_COMB0", "FCI", f"{a67}_4$CCU2_COMB0", "F"),
        seg("routing", 1.511, f"{a67}_4$CCU2_COMB0", "F", lut, "B", "dut.fc_a67[12]", ((58, 16), (59, 17))),
        seg("logic", 0.236, lut, "B", lut, "F"),
        seg("routing", 1.435, lut, "F", f"{a147}_5$CCU2_COMB1", "B", "dut.fc_a147h_CCU2C_S0_B0[10]",
            ((59, 17), (62, 16))),
        seg("logic", 0.447, f"{a147}_5$CCU2_COMB1", "B", f"{a147}_5$CCU2_COMB1", "FCO"),
        seg("logic", 0.443, f"{a147}_4$CCU2_COMB0", "FCI", f"{a147}_4$CCU2_COMB0", "F"),
        seg("routing", 0.130, f"{a147}_4$CCU2_COMB0", "F", end, "DI", "dut.fc_a147[15]", ((62, 16), (62, 16))),
        seg("setup", 0.0, end, "DI", end, "DI"),
    ]}


def test_cell_types_and_verilog_names() -> None:
    assert ecp5_paths.cell_type("dut.fc_a67_CCU2C_S0_1$CCU2_COMB0") == "CCU2C"
    assert ecp5_paths.cell_type("dut.fc_a147h_CCU2C_S0_B0_LUT4_Z_1") == "LUT4"  # the rightmost marker
    assert ecp5_paths.cell_type("dout_TRELLIS_FF_Q_DI_LUT4_Z") == "LUT4"
    assert ecp5_paths.cell_type("dut.fc_q151_TRELLIS_FF_Q") == "TRELLIS_FF"
    assert ecp5_paths.cell_type("$abc$123$lut", ("A", "F")) == "LUT4"
    assert ecp5_paths.cell_type("$auto$x", ("A0", "B3", "P12")) == "MULT18X18D"
    assert ecp5_paths.cell_type("$auto$y", ("DOA3",)) == "DP16KD"
    assert ecp5_paths.cell_type("$auto$z", ()) == "other"
    names = ecp5_paths.verilog_identifiers([VERILOG])
    assert ecp5_paths.verilog_name("dut.fc_q151_TRELLIS_FF_Q", names) == "fc_q151"
    assert ecp5_paths.verilog_name("dut.fc_a147h_CCU2C_S0_B0_LUT4_Z_1", names) == "fc_a147h"
    assert ecp5_paths.verilog_name("hold_TRELLIS_FF_Q_65", names) is None  # the wrapper's, not the design's
    assert ecp5_paths.verilog_name("hold_TRELLIS_FF_Q_65") == "hold"
    assert ecp5_paths.verilog_name("$abc$123$auto$lut") is None


def test_critical_path_summary() -> None:
    names = ecp5_paths.verilog_identifiers([VERILOG])
    async_path = {"from": "<async>", "to": CLK, "path": [seg("source", 0.0, "rst$tr_io", "O", "rst$tr_io", "O"),
                                                         seg("routing", 9.0, "rst$tr_io", "O", "x_TRELLIS_FF_Q",
                                                             "LSR", "rst")]}
    report = {"critical_paths": [async_path, aps2_path()]}
    (s,) = ecp5_paths.critical_paths(report, names, {"dut.fc_q66[6]": 3, "dut.fc_a67[12]": 1})
    assert s["delay_ns"] == 8.533 and (s["from"], s["to"]) == (CLK, CLK)  # 1000 / 8.533 ns = 117.2 MHz reported
    assert (s["start"], s["end"]) == ("fc_q66", "fc_q151")
    assert (s["start_cell"], s["end_cell"]) == ("dut.fc_q66_TRELLIS_FF_Q_6", "dut.fc_q151_TRELLIS_FF_Q")
    assert (s["clk_to_q_ns"], s["setup_ns"]) == (0.525, 0.0)
    assert s["logic_ns_by_type"] == {"CCU2C": 1.922, "LUT4": 0.236} and s["logic_ns"] == 2.158
    assert s["cells_by_type"] == {"CCU2C": 6, "LUT4": 1}
    assert s["routing_ns"] == 5.85 and s["routing_hops"] == 4
    assert s["routing"] == [[2.774, 3, 12], [1.511, 1, 2], [1.435, None, 4], [0.13, None, 0]]
    assert s["adders"] == [{"name": "fc_a67", "ccu2c": 4}, {"name": "fc_a147h", "ccu2c": 2}]
    assert abs(s["clk_to_q_ns"] + s["logic_ns"] + s["routing_ns"] + s["setup_ns"] - s["delay_ns"]) < 1e-3
    assert ecp5_paths.critical_paths({"critical_paths": [async_path]}) == []


def test_wide_lut_muxes_and_block_ram() -> None:
    """The softmax's exp table (LUT4 -> PFUMX -> L6MUX21 in one slice) into a DP16KD address (its setup)."""
    lut, ram = "dut.sm_esq0_LUT4_B_5_A_L6MUX21_Z_1_D0_L6MUX21_Z_D1_PFUMX_Z_ALUT_LUT4_Z", "dut.sm_iq0_DP16KD_DOA0"
    path = {"from": CLK, "to": CLK, "path": [
        seg("clk-to-q", 0.525, "dut.sm_esq3_TRELLIS_FF_Q_7", "Q", "dut.sm_esq3_TRELLIS_FF_Q_7", "Q"),
        seg("routing", 2.815, "dut.sm_esq3_TRELLIS_FF_Q_7", "Q", lut, "D", "dut.sm_esq3[2]"),
        seg("logic", 0.236, lut, "D", lut, "F"), seg("logic", 0.165, lut, "F1", lut, "OFX"),
        seg("logic", 0.242, lut, "FXB", lut, "OFX"),
        seg("routing", 2.301, lut, "OFX", ram, "ADA12", "dut.sm_sum_s2_0[10]"),
        seg("setup", 0.251, ram, "ADA12", ram, "ADA12")]}
    (s,) = ecp5_paths.critical_paths({"critical_paths": [path]})
    assert s["logic_ns_by_type"] == {"L6MUX21": 0.242, "LUT4": 0.236, "PFUMX": 0.165} and s["setup_ns"] == 0.251
    assert (s["start"], s["end"], s["end_cell"]) == ("sm_esq3", "sm_iq0", ram) and s["delay_ns"] == 6.535
    assert ecp5_paths.cell_type(ram) == "DP16KD"


def test_net_fanout_from_the_yosys_netlist() -> None:
    netlist = {"modules": {"top": {
        "cells": {"a": {"port_directions": {"A": "input", "Z": "output"}, "connections": {"A": [2], "Z": [3]}},
                  "b": {"port_directions": {"A": "input", "B": "input", "Z": "output"},
                        "connections": {"A": [2], "B": [3], "Z": [4]}}},
        "netnames": {"x": {"bits": [5, 2]}, "y": {"bits": [3]}, "dut.w": {"bits": ["0", 4], "offset": 2}}}}}
    fo = ecp5_paths.net_fanout(netlist, "top")
    assert (fo["x[1]"], fo["x[0]"], fo["y"], fo["y[0]"], fo["dut.w[3]"]) == (2, 0, 1, 1, 0)


def test_report_keeps_the_critical_path() -> None:
    s = ecp5_paths.critical_paths({"critical_paths": [aps2_path()]})[0]
    r = HardwareReport(tool="yosys + nextpnr", target="ecp5", clock_period_ns=5.0, fmax_mhz=117.19,
                       critical_path_ns=s["delay_ns"], critical_path=s)
    back = HardwareReport.from_json(r.to_json())
    assert back == r and back.critical_path["adders"][1] == {"name": "fc_a147h", "ccu2c": 2}
    assert "fc_q66 -> fc_q151: clk-to-q 0.53 + logic 2.16 (CCU2C 1.92, LUT4 0.24) + routing 5.85 (4 hops)" in r.table()
    old = HardwareReport.from_json('{"tool": "yosys 0.23", "target": "xc7", "lut": 3}')  # a report saved before
    assert old.critical_path_ns is None and old.critical_path == {}
