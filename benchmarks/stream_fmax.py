"""ECP5 Fmax and resources of the streaming (image-model) Verilog top, measured with Yosys ``synth_ecp5`` and
nextpnr-ecp5 (85k, CABGA381, speed 6, router2): the 8x8x1 CNN of tests/backends/rtl/test_rtl_stream.py and issue
14's small CNN (16x16x1: conv 8 3x3, max-pool 2, conv 16 3x3, dense 10), with the cycles per image the design
states. The data ports go through a shift-register wrapper (as ``hw.synthesize("ecp5")`` does for MLPs).

Run: PYTHONPATH=src python benchmarks/stream_fmax.py [--models small8,cnn16] [--bits 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

WRAPPER = """// Place-and-route wrapper: the data ports shift one bit per clock (din / dout); valid/ready are pins.
module {top}_pnr (input wire clk, input wire rst, input wire in_valid, output wire in_ready, input wire din,
                  output wire out_valid, input wire out_ready, output wire dout);
  reg [{iw}:0] sin;
  reg [{ow}:0] sout;
  wire [{ow}:0] od;
  wire ov;
  always @(posedge clk) sin <= (sin << 1) | din;
  {top} dut (.clk(clk), .rst(rst), .in_valid(in_valid), .in_ready(in_ready), .in_data(sin), .out_valid(ov),
             .out_ready(out_ready), .out_data(od));
  always @(posedge clk) sout <= (ov && out_ready) ? od : (sout << 1);
  assign dout = sout[{ow}];
  assign out_valid = ov;
endmodule
"""


def model(name: str, keras, bits: int):
    import nnfpga

    L = keras.layers
    keras.utils.set_random_seed(3)
    if name == "small8":
        inp = keras.Input((8, 8, 1), name="x")
        h = L.Conv2D(3, 3, padding="same", activation="relu", name="conv1")(inp)
        h = L.MaxPooling2D(2, name="pool1")(h)
        h = L.Conv2D(4, 3, activation="relu", name="conv2")(h)
    else:
        inp = keras.Input((16, 16, 1), name="x")
        h = L.Conv2D(8, 3, activation="relu", name="conv1")(inp)
        h = L.MaxPooling2D(2, name="pool1")(h)
        h = L.Conv2D(16, 3, activation="relu", name="conv2")(h)
    m = keras.Model(inp, L.Dense(10, name="out")(L.Flatten(name="flat")(h)), name=name)
    cfg = {"Model": {"Precision": f"ap_fixed<{bits},{min(bits, 6) if bits >= 12 else 3}>"}}
    return nnfpga.convert_from_keras_model(m, hls_config=cfg, backend="verilog")


def simulate(hw, d, images: int) -> dict:
    """Verilator: cycles per image measured without stalls, and mismatches against the emulator with random
    input stalls and output backpressure."""
    from nnfpga.backends.rtl import stream
    from nnfpga.backends.rtl.timing import measured
    from nnfpga.fixed import from_float, to_float

    g = hw.graph
    x = np.random.default_rng(0).uniform(-1.5, 1.5, (images, *g[g.inputs[0]].shape))
    m = np.asarray(from_float(x, g[g.inputs[0]].types["result"])[0], dtype=np.int64)
    want = hw.predict(x)
    out = {}
    for seed in (0, 2026):
        y, cycles, (i_at, o_at) = stream.simulate_stream_timed(d, m, stream.output_beats(g), seed=seed)
        out[f"mismatches_seed{seed}"] = int(np.sum(to_float(y, d.out_type).reshape(want.shape) != want))
        out[f"cycles_seed{seed}"] = cycles
        if seed == 0:
            out["measured_latency"], out["measured_ii"] = measured(i_at, o_at, images)
    return out


def run(name: str, bits: int, freq: float, images: int = 0, pnr: bool = True) -> dict:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    from nnfpga import tools
    from nnfpga.backends.rtl.lower import build_design
    from nnfpga.backends.rtl.synth import NEXTPNR_ARGS

    t0 = time.time()
    hw = model(name, keras, bits)
    d = build_design(hw.graph, "top", prep=hw.interpreter.prep)
    out = {"model": name, "bits": bits, "build_s": round(time.time() - t0, 1),
           "ii": d.ii, "latency": d.latency}
    if images:
        out.update(simulate(hw, d, images))
    if not pnr:
        return out
    with tempfile.TemporaryDirectory(prefix="nnfpga-fmax-") as tmp:
        work = Path(tmp)
        files = list(d.sources())
        for f, text in d.sources().items():
            (work / f).write_text(text)
        (work / "wrap.v").write_text(WRAPPER.format(top=d.name, iw=d.in_width - 1, ow=d.out_width - 1))
        reads = "\n".join(f"read_verilog {f}" for f in [*files, "wrap.v"])
        (work / "s.ys").write_text(f"{reads}\nhierarchy -check -top {d.name}_pnr\n"
                                   f"synth_ecp5 -top {d.name}_pnr -json net.json\ntee -q -o stat.json stat -json\n")
        t0 = time.time()
        subprocess.run([tools.find("yosys"), "-q", "-l", "y.log", "-s", "s.ys"], cwd=work, check=True)
        out["synth_s"] = round(time.time() - t0, 1)
        cells = json.loads((work / "stat.json").read_text())["design"]["num_cells_by_type"]
        out["lut4"] = cells.get("LUT4", 0)
        out["ff"] = sum(v for k, v in cells.items() if k.startswith("TRELLIS_FF")) - d.in_width - d.out_width
        out["dp16kd"] = cells.get("DP16KD", 0)
        out["trellis_dpr16x4"] = cells.get("TRELLIS_DPR16X4", 0)
        t0 = time.time()
        subprocess.run([tools.find("nextpnr-ecp5"), *NEXTPNR_ARGS, "--freq", f"{freq:g}", "--json", "net.json",
                        "--report", "rep.json", "--log", "pnr.log", "-q"], cwd=work, check=True)
        out["pnr_s"] = round(time.time() - t0, 1)
        rep = json.loads((work / "rep.json").read_text())
        out["fmax_mhz"] = round(min(float(v["achieved"]) for v in rep["fmax"].values()), 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="small8,cnn16")
    ap.add_argument("--bits", default="16,8", help="precision width per model (ap_fixed<16,6>, ap_fixed<8,3>)")
    ap.add_argument("--freq", type=float, default=100.0)
    ap.add_argument("--images", type=int, default=0, help="also simulate this many images in Verilator")
    ap.add_argument("--no-pnr", action="store_true", help="skip synthesis and place-and-route")
    a = ap.parse_args()
    for name, bits in zip(a.models.split(","), a.bits.split(","), strict=True):
        print(json.dumps(run(name, int(bits), a.freq, a.images, not a.no_pnr)), flush=True)


if __name__ == "__main__":
    main()
