"""ECP5 Fmax and resources of the streaming (image-model) Verilog top, through ``hw.synthesize("ecp5")`` (the
path MLP designs take: Yosys ``synth_ecp5``, nextpnr-ecp5 85k, CABGA381, speed 6, router2; the data ports go
through the shift-register wrapper, whose flip-flops are left out of FF): the 8x8x1 CNN of
tests/backends/rtl/test_rtl_stream.py and issue 14's small CNN (16x16x1: conv 8 3x3, max-pool 2, conv 16 3x3,
dense 10), with the cycles per image the design states, at one or more ``adders_per_stage`` settings.

Run: PYTHONPATH=src python benchmarks/stream_fmax.py [--models small8,cnn16] [--bits 16,8] [--aps 1,2]

Measured (2026-12-05, the same Yosys 0.23 synth_ecp5 + yowasp nextpnr-ecp5 0.11.1 flow at --freq 100, 2 shared
cores): small8 at ap_fixed<8,3>, adders_per_stage 1, went from 43.5 MHz routed (layer-wide stall enables; critical
path: the flatten buffer's 32-bit count * 28 part-select, through a MULT18X18D and carry chains; 3,765 LUT4 +
2,813 CCU2C, 8,059 FF) to 115.3 MHz (free-running kernels with output FIFOs, shift-register line buffers and
flatten; 1,047 LUT4 + 2,774 CCU2C, 7,960 FF, 40 TRELLIS_DPR16X4; now limited by a window generator's skid-register
enable, 8.67 ns, 7.44 of it routing). II 81 either way; latency 103 -> 108 cycles (each output FIFO adds one).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


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


def run(name: str, bits: int, freq: float, images: int = 0, pnr: bool = True, aps: int | None = 1) -> dict:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    from nnfpga.backends.rtl.lower import build_design

    t0 = time.time()
    hw = model(name, keras, bits)
    d = build_design(hw.graph, hw.settings["project_name"], prep=hw.interpreter.prep, adders_per_stage=aps)
    out = {"model": name, "bits": bits, "adders_per_stage": aps, "build_s": round(time.time() - t0, 1),
           "ii": d.ii, "latency": d.latency}
    if images:
        out.update(simulate(hw, d, images))
    if not pnr:
        return out
    hw.settings["clock_period"] = 1000.0 / freq  # nextpnr's target clock
    r = hw.synthesize("ecp5", design=d, progress=False, save=False)
    out.update(lut4=r.lut, ff=r.ff, bram18=r.bram_18k, lutram=r.extra.get("lutram", 0),
               carry=r.extra.get("carry", 0), synth_s=r.extra.get("synth_s"), pnr_s=r.extra.get("pnr_s"),
               fmax_mhz=None if r.fmax_mhz is None else round(r.fmax_mhz, 1), report_ii=r.ii,
               report_latency=r.latency_cycles)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="small8,cnn16")
    ap.add_argument("--bits", default="16,8", help="precision width per model (ap_fixed<16,6>, ap_fixed<8,3>)")
    ap.add_argument("--freq", type=float, default=100.0)
    ap.add_argument("--images", type=int, default=0, help="also simulate this many images in Verilator")
    ap.add_argument("--no-pnr", action="store_true", help="skip synthesis and place-and-route")
    ap.add_argument("--aps", default="1", help="adders_per_stage values to sweep ('none': no registers inside)")
    a = ap.parse_args()
    sweep = [None if v.lower() == "none" else int(v) for v in a.aps.split(",")]
    for name, bits in zip(a.models.split(","), a.bits.split(","), strict=True):
        for aps in sweep:
            print(json.dumps(run(name, int(bits), a.freq, a.images, not a.no_pnr, aps)), flush=True)


if __name__ == "__main__":
    main()
