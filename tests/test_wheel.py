"""The package as users get it: a wheel built from this checkout, installed, used without the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ("nnfpga/data/jet_mlp.keras", "nnfpga/data/jet_mlp_norm.npz", "nnfpga/data/mnist_mlp.keras")

# Run in a subprocess whose only way to nnfpga is the installed wheel (PYTHONPATH=<target>).
CHECK = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    import nnfpga, nnfpga.examples as ex
    from nnfpga.examples import load_example
    target = Path(sys.argv[1]).resolve()
    for p in (Path(nnfpga.__file__), ex.DEFAULT_JET_MODEL, ex.DEFAULT_MNIST_MODEL):
        assert p.resolve().is_relative_to(target) and p.is_file(), f"{p} is not the installed package's"
    model, X, y = load_example()
    assert model.name == "jet_mlp" and X.shape == (20000, 16) and y.shape == (20000,), (model.name, X.shape)
    assert not os.path.exists(os.path.join(os.environ["XDG_CACHE_HOME"], "nnfpga")), "trained instead of loading"
    print("ok", model.count_params())
""")


def build_wheel(out: Path) -> Path:
    """``pip wheel`` of a copy of the checkout's package sources (the build writes build/ and egg-info where it
    runs, so not in the checkout)."""
    src = out / "src-copy"
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=out)
    assert res.returncode == 0, res.stdout + res.stderr
    (wheel,) = out.glob("nnfpga-*.whl")
    return wheel


@pytest.mark.slow
def test_installed_wheel_loads_the_bundled_example(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert [b for b in BUNDLED if b not in names] == []
    target = tmp_path / "site"
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                          str(wheel)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(PYTHONPATH=str(target), XDG_CACHE_HOME=str(tmp_path / "cache"), KERAS_BACKEND="torch")
    run = tmp_path / "cwd"
    run.mkdir()
    res = subprocess.run([sys.executable, "-c", CHECK, str(target)], capture_output=True, text=True, cwd=run,
                         env=env, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.startswith("ok ")
