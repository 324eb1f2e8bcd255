"""HLS C simulation: nnfpga's compile time and batched csim throughput vs hls4ml's compile() and predict().

For the jet MLP and the MNIST MLP (ReuseFactor 128, fc1 112, Resource): compile seconds and csim samples/s
with nnfpga's own ap_types headers and with Xilinx's (from the hls4ml wheel), beside hls4ml 1.3 on the same
Keras model; every csim output checked bit for bit against the emulator.
Targets (issue 3): compile <= 1/3 of hls4ml's, csim throughput >= 10x hls4ml's predict().
Run: .venv/bin/python benchmarks/csim.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")

import nnfpga
from nnfpga.model import format_table

sys.path.insert(0, str(Path(__file__).parent))
from emulate import hls4ml_rate, jet_case, mnist_case

N = {"jet": 20_000, "mnist": 2_000}


def xilinx_dir() -> str | None:
    import importlib.util

    spec = importlib.util.find_spec("hls4ml")
    if spec is None:
        return None
    path = Path(spec.submodule_search_locations[0]) / "templates" / "vivado" / "ap_types"
    return str(path) if (path / "ap_fixed.h").is_file() else None


def main() -> int:
    rows = [("model", "headers", "compile s", "csim samples/s", "bit-exact", "hls4ml compile s", "hls4ml samples/s",
             "compile ratio", "speedup")]
    ok = True
    for name, case in (("jet", jet_case), ("mnist", mnist_case)):
        model, x, cfg, _ = case()
        x = x[: N[name]]
        rf = {k: v["ReuseFactor"] for k, v in cfg["LayerName"].items() if v.get("ReuseFactor", 1) > 1}
        h = hls4ml_rate(model, x, rf)
        for headers, ap in (("nnfpga", None), ("xilinx", xilinx_dir())):
            if headers == "xilinx" and ap is None:
                continue
            with tempfile.TemporaryDirectory() as d:
                hw = nnfpga.convert_from_keras_model(model, hls_config=cfg, output_dir=Path(d) / "prj")
                hw.write()
                t = time.perf_counter()
                hw.compile(ap_types_dir=ap)
                compile_s = time.perf_counter() - t
                hw.predict(x[:100], engine="csim")
                t = time.perf_counter()
                y = hw.predict(x, engine="csim")
                rate = len(x) / (time.perf_counter() - t)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    exact = bool(np.array_equal(y, hw.predict(x)))
            hc, hr = (h[0], h[1]) if h else (None, None)
            c_ratio = f"{hc / compile_s:.1f}x faster" if hc else "n/a"
            speed = f"{rate / hr:.0f}x" if hr else "n/a"
            if headers == "nnfpga" and h:
                ok &= exact and compile_s <= hc / 3 and rate >= 10 * hr
            rows.append((name, headers, f"{compile_s:.2f}", f"{rate:,.0f}", "yes" if exact else "NO",
                         f"{hc:.2f}" if hc else "n/a", f"{hr:,.0f}" if hr else "n/a", c_ratio, speed))
    print(format_table(rows))
    print("targets (nnfpga headers): compile <= 1/3 of hls4ml, csim >= 10x hls4ml, bit-exact:",
          "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
