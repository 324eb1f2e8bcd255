"""benchmarks/hardware_da4ml.py: da4ml 0.6 pipelined to a given latency. The stage search gives every stage count,
and the pipelined netlist, simulated in Verilator with random inputs, equals nnfpga's emulator exactly at the
stated latency (a wrong latency or a wrong trace of the weights mismatches); Yosys counts its registers."""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import nnfpga
from nnfpga import tools
from tooling import require

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

N_VECTORS = 300


def small_hw(keras) -> nnfpga.HWModel:
    """16 -> Dense 12 + ReLU -> Dense 5, ap_fixed<8,3>: the jet MLP's layer kinds, small enough to simulate fast."""
    require(importlib.util.find_spec("da4ml"), "da4ml", "pip install 'da4ml==0.6.0' (extra [bench])")
    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(12, activation="relu", name="fc1"),
                              keras.layers.Dense(5, name="out")], name="da_small")
    cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision="ap_fixed<8,3>")
    return nnfpga.convert_from_keras_model(model, hls_config=cfg, backend="verilog", project_name="small")


def test_every_stage_count_is_reached(keras, tmp_path: Path) -> None:
    import hardware_da4ml as hd

    hw = small_hw(keras)
    comb = hd.da4ml_trace(hw)
    depth = hd.adder_depth(comb)
    assert depth >= 4
    for stages in range(1, depth + 1):
        pipe, cutoff = hd.pipeline_to(comb, stages)
        assert len(pipe.solutions) == stages, (stages, cutoff)
    with pytest.raises(nnfpga.NnfpgaError, match="stages"):
        hd.pipeline_to(comb, depth + 1)
    # deeper than one adder per stage: the deepest pipeline, its latency stated
    meta = hd.da4ml_verilog(hw, tmp_path / "deep", depth + 5)[2]
    assert (meta["stages"], meta["cycles"]) == (depth, depth + 1)
    with pytest.raises(nnfpga.NnfpgaError, match="latency >= 2"):
        hd.da4ml_verilog(hw, tmp_path / "one", 1)


TESTBENCH = """`timescale 1ns/1ps
module tb;
  reg clk = 0;
  reg [{wi}:0] mem [0:{n}];
  reg [{wi}:0] inp;
  wire [{wo}:0] out;
  integer t, fd;
  {top} dut (.clk(clk), .model_inp(inp), .model_out(out));
  initial begin
    $readmemh("in.hex", mem);
    fd = $fopen("out.hex", "w");
    for (t = 0; t < {n} + {lat} - 1; t = t + 1) begin
      inp = mem[t < {n} ? t : {n} - 1];
      #1 clk = 1;
      #1 clk = 0;
      if (t >= {lat} - 1) $fwrite(fd, "%h\\n", out);
    end
    $fclose(fd);
    $finish;
  end
endmodule
"""


@pytest.mark.slow
@pytest.mark.tools
@pytest.mark.parametrize("latency", [2, 4])
def test_pipelined_netlist_is_bit_exact_at_the_stated_latency(keras, tmp_path: Path, latency: int) -> None:
    import hardware_da4ml as hd
    from da4ml.codegen.rtl.rtl_model import get_io_kifs

    hw = small_hw(keras)
    top, files, meta = hd.da4ml_verilog(hw, tmp_path / "prj", latency)
    assert (meta["stages"], meta["cycles"], meta["latency"]) == (latency - 1, latency, latency - 1)
    pipe = hd.pipeline_to(hd.da4ml_trace(hw), latency - 1)[0]
    kin, kout = get_io_kifs(pipe)
    # da4ml's wrapper: every element in max(k) + max(i) + max(f) bits, its LSB at 2^-max(f), sign-extended
    f_in, f_out = int(kin[2].max()), int(kout[2].max())
    bw_in, bw_out = int(kin[0].max() + kin[1].max() + f_in), int(kout[0].max() + kout[1].max() + f_out)
    assert (bw_in, f_in) == (8, 5)  # ap_fixed<8,3> mantissas go in as they are
    assert kout[0].max() == 1  # a signed output: decoded as two's complement

    rng = np.random.default_rng(1)
    m = rng.integers(-128, 128, size=(N_VECTORS, 16))
    with warnings.catch_warnings():  # full-range inputs: some sums wrap, as they should in both
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        want = hw.predict(m / 32.0)
    (tmp_path / "in.hex").write_text("".join(
        format(sum((int(v) & 0xFF) << (8 * j) for j, v in enumerate(row)), "x") + "\n" for row in m))
    wrapper = tmp_path / "prj" / "src" / f"{top}_wrapper.v"
    (tmp_path / "tb.v").write_text(TESTBENCH.format(wi=16 * 8 - 1, wo=5 * bw_out - 1, n=N_VECTORS, lat=latency,
                                                    top=f"{top}_wrapper"))
    sources = [tmp_path / "tb.v", wrapper, *files]
    for p in sources:  # Debian's Verilator 5.006 does not know da4ml's lint code WIDTHTRUNC
        p.write_text(p.read_text().replace("verilator lint_off WIDTHTRUNC", "").replace(
            "verilator lint_on WIDTHTRUNC", ""))
    tools.run([tools.find("verilator"), "--binary", "--timing", "-Wno-fatal", "-Wno-lint", "-Wno-style",
               "--top-module", "tb", "-Mdir", "obj", "-o", "Vtb", *map(str, sources)], cwd=tmp_path,
              timeout_s=300, name="verilator")
    tools.run([str(tmp_path / "obj" / "Vtb")], cwd=tmp_path, timeout_s=60, name="Vtb")
    lines = (tmp_path / "out.hex").read_text().split()
    assert len(lines) == N_VECTORS
    mask, sign = (1 << bw_out) - 1, 1 << (bw_out - 1)
    got = np.array([[(((int(h, 16) >> (bw_out * j)) & mask) ^ sign) - sign for j in range(5)] for h in lines])
    np.testing.assert_array_equal(got * 2.0 ** -f_out, want)


@pytest.mark.slow
@pytest.mark.tools
def test_synthesis_counts_the_pipeline_registers(keras) -> None:
    import hardware_da4ml as hd

    hw = small_hw(keras)
    comb = hd.da4ml_synth(hw)
    piped = hd.da4ml_synth(hw, latency=4)
    assert comb.latency_cycles == 0 and comb.ff == 0
    assert piped.latency_cycles == 4 and piped.extra["da4ml_stages"] == 3
    # input, stage and output registers: at least the 16 x 8 input and 5 x 8 output bits, at most da4ml's count
    assert 16 * 8 + 5 * 8 <= piped.ff <= piped.extra["da4ml_reg_bits"]
    assert piped.lut > 0 and piped.dsp == 0
