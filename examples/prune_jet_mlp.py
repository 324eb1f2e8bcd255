"""Pruning while training on the jet MLP: accuracy and hardware, dense vs pruned, Keras 3 and PyTorch.

Usage::

    python examples/prune_jet_mlp.py [--sparsity 0.75] [--samples 100000] [--epochs 8] [--seed 42] [--no-synth]

Trains the jet-tagging MLP (16-64-32-32-5) with the recipe of ``nnfpga.examples.train_jet_mlp`` twice per
framework: dense, and pruned while training with ``nnfpga.compress`` (sparsity from 0 at 1/4 of the steps to the
target at 3/4, see :mod:`nnfpga.compress.recipes`). For each model: float test accuracy, the converted model's
accuracy at ``ap_fixed<16,6>`` and at ``ap_fixed<8,3>`` (calibrated), its multipliers (nonzero quantized weights)
at ReuseFactor 1 and 4 and the adders of the Verilog backend's shift-and-add graph, and, for the Keras models
(unless ``--no-synth``), Yosys ``synth_xilinx -family xc7`` of the 8-bit Verilog design at ReuseFactor 1 and 4:
LUT, FF, DSP and cost = LUT + 55*DSP (the README's hardware figures). The Yosys runs take minutes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import torch
from tqdm.auto import tqdm

import nnfpga
from nnfpga.compress import cost_table, dense_costs, recipes
from nnfpga.examples import JET_EPOCHS, JET_SAMPLES, JET_SEED
from nnfpga.model import format_table

PRECISIONS = ("ap_fixed<16,6>", "ap_fixed<8,3>")
SYNTH_PRECISION = "ap_fixed<8,3>"


def convert(run: recipes.JetRun, framework: str, precision: str, rf: int = 1) -> nnfpga.HWModel:
    calib = run.X_test[:5000] if precision != PRECISIONS[0] else None
    out = tempfile.mkdtemp(prefix="nnfpga-prune-")
    if framework == "keras":
        cfg = nnfpga.config_from_keras_model(run.model, granularity="name", default_precision=precision,
                                             default_reuse_factor=rf, calibration_data=calib)
        return nnfpga.convert_from_keras_model(run.model, hls_config=cfg, backend="verilog", output_dir=out,
                                               project_name="jet")
    cfg = nnfpga.config_from_pytorch_model(run.model, input_shape=(16,), granularity="name",
                                           default_precision=precision, default_reuse_factor=rf,
                                           calibration_data=calib)
    return nnfpga.convert_from_pytorch_model(run.model, input_shape=(16,), hls_config=cfg, backend="verilog",
                                             output_dir=out, project_name="jet")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sparsity", type=float, default=0.75)
    parser.add_argument("--samples", type=int, default=JET_SAMPLES)
    parser.add_argument("--epochs", type=int, default=JET_EPOCHS)
    parser.add_argument("--seed", type=int, default=JET_SEED)
    parser.add_argument("--no-synth", action="store_true", help="skip the Yosys runs (minutes)")
    args = parser.parse_args(argv)
    # One thread: this small MLP trains fastest so, and several threads collapse on a busy machine.
    torch.set_num_threads(1)

    fits = {("keras", "dense"): lambda: recipes.fit_keras(n_samples=args.samples, epochs=args.epochs, seed=args.seed),
            ("keras", "pruned"): lambda: recipes.fit_keras(target_sparsity=args.sparsity, n_samples=args.samples,
                                                           epochs=args.epochs, seed=args.seed),
            ("torch", "dense"): lambda: recipes.fit_torch(n_samples=args.samples, epochs=args.epochs, seed=args.seed),
            ("torch", "pruned"): lambda: recipes.fit_torch(target_sparsity=args.sparsity, n_samples=args.samples,
                                                           epochs=args.epochs, seed=args.seed)}
    runs = {key: fn() for key, fn in tqdm(fits.items(), desc="training", disable=None)}

    rows = [("framework", "model", "train [s]", "float acc", *(f"{p} acc" for p in PRECISIONS), "mult RF1 (16/8-bit)",
             "mult RF4 (8-bit)", "adders (8-bit)")]
    synth_rows = [("model (Keras, 8-bit)", "RF", "LUT", "FF", "DSP", "LUT+55*DSP", "latency [cyc]", "yosys [s]")]
    for (fw, kind), run in tqdm(runs.items(), desc="converting", disable=None):
        hws = {p: convert(run, fw, p) for p in PRECISIONS}
        accs = [float(np.mean(hws[p].predict(run.X_test).argmax(axis=1) == run.y_test)) for p in PRECISIONS]
        rf4 = convert(run, fw, SYNTH_PRECISION, rf=4)
        costs8 = dense_costs(hws[SYNTH_PRECISION], adders=True)
        mult1 = "/".join(str(sum(c.multipliers for c in dense_costs(hws[p]))) for p in PRECISIONS)
        rows.append((fw, kind, f"{run.seconds:.1f}", f"{run.accuracy:.2%}", *(f"{a:.2%}" for a in accs), mult1,
                     str(sum(c.multipliers for c in dense_costs(rf4))), str(sum(c.adders or 0 for c in costs8))))
        if kind == "pruned":
            print(f"\n{fw} pruned, {SYNTH_PRECISION}:\n{cost_table(hws[SYNTH_PRECISION], adders=True)}",
                  file=sys.stderr)
        if fw == "keras" and not args.no_synth:
            for rf, hw in ((1, hws[SYNTH_PRECISION]), (4, rf4)):
                t = time.perf_counter()
                r = hw.synthesize("xc7", save=False, progress=sys.stderr.isatty())
                synth_rows.append((kind, str(rf), str(r.lut), str(r.ff), str(r.dsp), str(r.lut + 55 * r.dsp),
                                   str(r.latency_cycles), f"{time.perf_counter() - t:.0f}"))
    print(format_table(rows))
    if len(synth_rows) > 1:
        print()
        print(format_table(synth_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
