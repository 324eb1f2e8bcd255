"""``make demo`` / ``nnfpga demo``: the bundled jet-tagging MLP from Keras to a bit-exact fixed-point project."""

from __future__ import annotations

import time
import warnings

import numpy as np

import nnfpga
from nnfpga.errors import OverflowWarning
from nnfpga.model import format_table

SWEEP = ("ap_fixed<16,6>", "ap_fixed<12,4>", "ap_fixed<10,4>", "ap_fixed<8,3>", "ap_fixed<6,2>")


def run_demo(output_dir: str = "demo_out/jet_prj") -> None:
    from nnfpga.examples import load_example

    t0 = time.perf_counter()
    model, x, y = load_example()
    print(f"Model: jet-tagging MLP 16->64->32->32->5 (ReLU, softmax), {model.count_params()} parameters; "
          f"{len(x)} test jets (synthetic, nnfpga.datasets.make_jets). Loaded in {time.perf_counter() - t0:.1f} s.")
    y_keras = model.predict(x, verbose=0)

    print('\n1. Default config: config_from_keras_model(model, granularity="name") -- no other argument')
    config = nnfpga.config_from_keras_model(model, granularity="name")
    hw = nnfpga.convert_from_keras_model(model, hls_config=config, output_dir=output_dir, backend="vitis")
    print(hw.summary())

    t = time.perf_counter()
    y_fixed = hw.predict(x)
    dt = time.perf_counter() - t
    agree = np.mean(y_fixed.argmax(1) == y_keras.argmax(1))
    print(f"\n2. Bit-exact emulation of {len(x)} jets in {dt * 1e3:.0f} ms ({len(x) / dt:,.0f} samples/s)")
    acc_float, acc_fixed = np.mean(y_keras.argmax(1) == y), np.mean(y_fixed.argmax(1) == y)
    print(f"   accuracy: float (Keras) {acc_float:.2%}   fixed {acc_fixed:.2%}   argmax agreement {agree:.2%}")
    print("\n3. Overflow per layer (values wrapped or saturated):")
    print(hw.overflow_table())

    print("\n4. Per-layer trace (first 1000 jets): fixed vs float of the same graph")
    print(hw.trace(x[:1000]).table())

    print("\n5. Precision sweep, with the ranges calibrated on 5000 training-like jets:")
    rows = [("default precision", "accuracy", "agreement", "overflowed values")]
    for prec in SWEEP:
        cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision=prec,
                                             calibration_data=x[:5000])
        h = nnfpga.convert_from_keras_model(model, hls_config=cfg)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OverflowWarning)
            yp = h.predict(x)
        n_ov = sum(o.count for o in h.last_stats.overflow.values()) if h.last_stats else 0
        rows.append((prec, f"{np.mean(yp.argmax(1) == y):.2%}", f"{np.mean(yp.argmax(1) == y_keras.argmax(1)):.2%}",
                     str(n_ov)))
    print(format_table(rows))

    out = hw.write()
    print(f"\n6. Project written to {out}/ (nnfpga.json, weights.npz, config.yml); "
          f"run: nnfpga predict {out} -i inputs.npy")
    print(f"Done in {time.perf_counter() - t0:.1f} s.")
