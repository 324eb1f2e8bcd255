"""Train the hls4ml jet-tagging MLP on synthetic jets and save it.

Usage::

    python examples/train_jet_mlp.py [OUT.keras] [--epochs N] [--seed S]

Writes ``OUT.keras`` (default: the bundled ``src/nnfpga/data/jet_mlp.keras`` of
this checkout) and ``OUT_norm.npz``
(the standardization mean/std). The training itself lives in
:func:`nnfpga.examples.train_jet_mlp`, re-exported here.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

from nnfpga.examples import JET_EPOCHS, JET_SEED, jet_norm_path, train_jet_mlp

BUNDLED = Path(__file__).resolve().parents[1] / "src" / "nnfpga" / "data"  # package data

__all__ = ["main", "train_jet_mlp"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(BUNDLED / "jet_mlp.keras"))
    parser.add_argument("--epochs", type=int, default=JET_EPOCHS)
    parser.add_argument("--seed", type=int, default=JET_SEED)
    parser.add_argument("--verbose", type=int, default=0, help="Keras fit verbosity (0, 1 or 2)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    _, acc = train_jet_mlp(args.out, epochs=args.epochs, seed=args.seed, verbose=args.verbose)
    print(f"test accuracy: {acc:.4f}  ({time.perf_counter() - t0:.1f} s)")
    print(f"saved {args.out} and {jet_norm_path(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
