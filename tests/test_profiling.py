"""Numerical profiling (nnfpga.profiling and ``nnfpga profile``): the figures' content against the emulator's own
overflow counts and independently computed ranges, quantiles and errors; bad input; the directory on disk."""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnfpga
from nnfpga.cli import main
from nnfpga.errors import ConfigError, EmulationError, Hls4mlKeyWarning, MissingDependencyError, NnfpgaError
from nnfpga.examples import load_example
from nnfpga.fixed import from_float, to_float
from nnfpga.model import HWModel
from nnfpga.profiling import QUANTILES, compare, numerical, write_profile

N = 4000  # test jets: every overflowing layer overflows hundreds of times on them


@pytest.fixture(scope="module")
def jets() -> tuple[Any, np.ndarray]:
    model, X, _ = load_example()
    return model, X[:N]


@pytest.fixture(scope="module")
def hw8(jets: tuple[Any, np.ndarray]) -> HWModel:
    """The jet MLP at ap_fixed<8,3> everywhere (Model.Precision): several layers overflow."""
    return nnfpga.convert_from_keras_model(jets[0], hls_config={"Model": {"Precision": "ap_fixed<8,3>"}})


def quiet(fn: Any, *args: Any, **kw: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        return fn(*args, **kw)


def table_counts(hw: HWModel) -> dict[tuple[str, str], tuple[int, int]]:
    """``hw.overflow_table()`` read back: (layer, slot) -> (overflowed, of)."""
    rows = [line.split() for line in hw.overflow_table().splitlines()[2:]]
    return {(r[0], r[1]): (int(r[3]), int(r[4])) for r in rows}


def artists(fig: Any) -> dict[str, Any]:
    ax = fig.axes[0]
    return {a.get_gid(): a for a in [*ax.patches, *ax.lines, *ax.texts] if a.get_gid()}


def test_profile_shows_the_overflows_the_emulator_counts(hw8: HWModel, jets: tuple[Any, np.ndarray]) -> None:
    prof = quiet(numerical, None, hw8, jets[1])
    quiet(hw8.predict, jets[1])  # a run of its own: the overflow table the user sees
    table = table_counts(hw8)
    flagged = {(r.layer, r.slot): (r.n_overflow, r.n) for r in prof.activations if r.n_overflow}
    assert flagged == {k: v for k, v in table.items() if v[0]}
    assert {"input_layer", "fc1", "fc2", "fc3", "output"} == {layer for layer, _ in flagged}
    for r in prof.activations:  # every activation row: its count, of as many values, as the table
        assert (r.n_overflow, r.n) == table[(r.layer, "result")]
    notes = artists(prof.figures["activations"])
    for r in prof.activations:
        share = f"overflow {r.n_overflow}/{r.n} ({r.n_overflow / r.n:.2%})"
        assert notes[f"note:{r.layer}"].get_text().startswith(share)
        red = notes[f"box:{r.layer}"].get_facecolor()[:3] == pytest.approx((0.839, 0.153, 0.157), abs=1e-3)
        assert red == bool(r.n_overflow)


def test_activation_rows_are_the_values_cast_into_each_type(hw8: HWModel, jets: tuple[Any, np.ndarray]) -> None:
    """The plotted values: fc1's accumulator computed here from the quantized weights and the input layer's
    output; each layer's output is them cast into its type; quantiles, band and counts read off the figure."""
    X = jets[1]
    trace = quiet(hw8.trace, X)
    g = hw8.graph["fc1"]
    w = to_float(from_float(np.clip(g.weights["kernel"], g.types["weight"].min_value, g.types["weight"].max_value),
                            g.types["weight"])[0], g.types["weight"])
    b = to_float(from_float(g.weights["bias"], g.types["bias"])[0], g.types["bias"])
    np.testing.assert_array_equal(trace["fc1"].precast, trace["input_layer"].fixed @ w + b)  # exact: few bits
    for t in trace.values():
        assert np.array_equal(to_float(from_float(t.precast, t.type)[0], t.type), t.fixed), t.name
    prof = quiet(numerical, None, hw8, X)
    arts = artists(prof.figures["activations"])
    for r in prof.activations:
        v = np.abs(trace[r.layer].precast).ravel()
        nz = v[v > 0]
        assert r.log2_quantiles == pytest.approx(np.quantile(np.log2(nz), QUANTILES))
        assert r.n_below_lsb == np.count_nonzero(nz < r.type.lsb) and r.n_zero == v.size - nz.size
        band = arts[f"band:{r.layer}"]
        assert band.get_x() == math.log2(r.type.lsb)
        assert band.get_x() + band.get_width() == pytest.approx(math.log2(r.type.max_value))
        assert arts[f"median:{r.layer}"].get_xdata()[0] == pytest.approx(r.log2_quantiles[2])
    rows = {r.layer: r for r in prof.activations}
    assert rows["fc1_relu"].type.lsb == 2.0**-5 and rows["fc1_relu"].max_value == 3.96875


def test_weight_rows_count_clamped_and_sub_lsb_constants(jets: tuple[Any, np.ndarray]) -> None:
    model = jets[0]
    cfg = nnfpga.config_from_keras_model(model, granularity="name", default_precision="ap_fixed<8,3>")
    cfg["LayerName"]["fc1"]["Precision"]["weight"] = "ap_fixed<6,-1>"  # max 0.2421875, LSB 2**-7
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg)
    prof = numerical(None, hw)  # no inputs: weights only
    assert list(prof.figures) == ["weights"] and prof.activations == []
    kernel = model.get_layer("fc1").get_weights()[0].astype(np.float64)
    r = next(r for r in prof.weights if (r.layer, r.kind) == ("fc1", "weight"))
    assert r.n == kernel.size and 0 < r.n_overflow == np.count_nonzero((kernel > 0.2421875) | (kernel < -0.25))
    assert r.n_below_lsb == np.count_nonzero((kernel != 0) & (np.abs(kernel) < 2.0**-7))
    assert {(w.layer, w.kind) for w in prof.weights} == {(n, k) for n in ("fc1", "fc2", "fc3", "output")
                                                         for k in ("weight", "bias")}
    arts = artists(prof.figures["weights"])
    assert arts["band:fc1 weight"].get_x() == -7
    assert arts["band:fc1 weight"].get_width() == pytest.approx(math.log2(0.2421875) + 7)
    assert arts["note:fc1 weight"].get_text().startswith(f"overflow {r.n_overflow}/{r.n}")


def test_compare_plots_each_layers_error_and_the_models_own(hw8: HWModel, jets: tuple[Any, np.ndarray]) -> None:
    model, X = jets
    trace = quiet(hw8.trace, X)
    comp = quiet(compare, model, hw8, X)
    assert [r.layer for r in comp.layers] == [*trace, "Keras output"]
    for r in comp.layers[:-1]:
        d = np.abs(trace[r.layer].fixed - trace[r.layer].float)
        assert (r.max_abs, r.mean_abs, r.n_overflow) == (d.max(), pytest.approx(d.mean()), trace[r.layer].overflow)
    keras_y = model.predict(X[:1000], verbose=0)  # Keras's own batching, on fewer rows (32-row steps are slow)
    small = quiet(compare, model, hw8, X[:1000]).layers[-1]
    assert small.max_abs == pytest.approx(np.abs(quiet(hw8.predict, X[:1000]) - keras_y).max(), rel=1e-6)
    assert small.mean_abs == pytest.approx(np.abs(quiet(hw8.predict, X[:1000]) - keras_y).mean(), rel=1e-6)
    arts = artists(comp.figure)
    assert list(arts["max"].get_ydata()) == [r.max_abs for r in comp.layers]  # all nonzero at 8 bits
    assert list(arts["lsb"].get_ydata()) == [r.type.lsb for r in comp.layers]
    red = {t.get_text() for t in comp.figure.axes[0].get_xticklabels() if t.get_color() == "#d62728"}
    assert red == {"input_layer", "fc1", "fc2", "fc3", "output"}


def test_exact_layers_and_pytorch_models(keras: Any) -> None:
    import torch
    from torch import nn

    torch.manual_seed(0)
    tm = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    hw = nnfpga.convert_from_pytorch_model(tm, (6,), hls_config={"Model": {"Precision": "ap_fixed<24,8>"}})
    x = np.round(np.random.default_rng(0).normal(size=(50, 6)) * 8) / 8  # on the input type's grid: exact
    comp = compare(tm, hw, x)
    assert comp.layers[0].max_abs == 0 and "exact:" + comp.layers[0].layer in artists(comp.figure)
    assert comp.layers[-1].layer == "PyTorch output"
    with torch.no_grad():
        want = tm(torch.tensor(x, dtype=torch.float32)).numpy()
    assert comp.layers[-1].max_abs == pytest.approx(np.abs(hw.predict(x) - want).max())
    other = nn.Sequential(nn.Linear(6, 3))
    with pytest.warns(UserWarning, match="float reference differs from the PyTorch model"):
        numerical(other, hw, x)


def test_bad_input_and_missing_matplotlib(hw8: HWModel, monkeypatch: pytest.MonkeyPatch) -> None:
    for fn in (numerical, compare):
        with pytest.raises(EmulationError, match=r"input shape \(7, 5\) does not match the model: expected "
                                                 r"\(batch, 16\)"):
            fn(None, hw8, np.zeros((7, 5)))
    with pytest.raises(ConfigError, match="hw must be an nnfpga HWModel"):
        numerical(None, "prj", np.zeros((7, 16)))
    with pytest.raises(ConfigError, match=r"must be a Keras model, a PyTorch nn\.Module or None, got str"):
        compare("model.keras", hw8, np.zeros((7, 16)))
    for mod in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, mod, None)
    for fn in (numerical, compare):
        with pytest.raises(MissingDependencyError, match=r"pip install 'nnfpga\[plot\]'") as info:
            fn(None, hw8, np.zeros((7, 16)))
        assert isinstance(info.value, NnfpgaError) and isinstance(info.value, ImportError)


def test_cli_writes_the_profile_atomically(hw8: HWModel, jets: tuple[Any, np.ndarray], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from matplotlib.image import imread

    prj = HWModel(hw8.graph, hw8.config, output_dir=tmp_path / "prj").write()
    x = tmp_path / "x.npy"
    np.save(x, jets[1][:1000])
    out = tmp_path / "prof"
    assert quiet(main, ["profile", str(prj), "-i", str(x), "-o", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / f) for f in ("weights.png", "activations.png", "errors.png")]
    assert all(imread(p).ndim == 3 for p in printed)
    numbers = json.loads((out / "profile.json").read_text())
    prof = quiet(numerical, None, nnfpga.load_project(prj), jets[1][:1000])
    assert numbers["activations"] == [r.to_dict() for r in prof.activations]
    assert quiet(main, ["profile", str(prj), "-i", str(x), "-o", str(out)]) == 0  # ours: replaced
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert quiet(main, ["profile", str(prj), "-i", str(x), "-o", str(mine)]) == 2
    assert "is not empty and is not an nnfpga profile" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    np.save(x, np.zeros((3, 15)))
    assert quiet(main, ["profile", str(prj), "-i", str(x), "-o", str(tmp_path / "new")]) == 2
    assert "input shape (3, 15) does not match the model: expected (batch, 16)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "prj", "prof", "x.npy"]  # nothing half-written
    with pytest.raises(EmulationError):
        write_profile(hw8, np.zeros((3, 15)), tmp_path / "new2")


def test_every_op_reports_what_it_casts(keras: Any) -> None:
    """Branches, concatenation, merges, tables and softmax at a narrow type: each layer's output is its plotted
    values cast into its type, and the profile's overflow counts are the emulator's, layer by layer."""
    L = keras.layers
    keras.utils.set_random_seed(3)
    inp = keras.Input((6,), name="x")
    c = L.Concatenate(name="cat")([L.Dense(5, activation="tanh", name="a")(inp), L.Dense(5, name="b")(inp)])
    s = L.Add(name="add")([L.Dense(4, name="p")(c), L.Dense(4, activation="sigmoid", name="q")(c)])
    model = keras.Model(inp, L.Softmax(name="sm")(L.Multiply(name="mul")([s, s])))
    narrow = {"Precision": {"result": "ap_fixed<5,1>"}}  # the merges' exact default types would never overflow
    cfg = {"Model": {"Precision": "ap_fixed<6,2>"}, "LayerName": {"cat": narrow, "add": narrow, "mul": narrow}}
    hw = nnfpga.convert_from_keras_model(model, hls_config=cfg)
    X = np.random.default_rng(3).normal(size=(500, 6)) * 3
    trace = quiet(hw.trace, X)
    assert {"cat", "add", "mul", "sm", "a_tanh", "q_sigmoid"} <= set(trace)
    for t in trace.values():
        assert np.array_equal(to_float(from_float(t.precast, t.type)[0], t.type), t.fixed), t.name
    prof = quiet(numerical, None, hw, X)
    quiet(hw.predict, X)
    table = table_counts(hw)
    assert {(r.layer, r.slot): (r.n_overflow, r.n) for r in prof.activations} == \
        {k: v for k, v in table.items() if k[1] == "result" or v[0]}
    assert {r.layer for r in prof.activations if r.n_overflow} >= {"x", "a", "cat", "add", "mul"}


def test_hls4ml_spellings(jets: tuple[Any, np.ndarray], hw8: HWModel) -> None:
    """hls4ml's ``numerical(model=..., hls_model=..., X=..., plot=...)`` runs unchanged."""
    hw, x = hw8, jets[1]
    prof = numerical(model=None, hls_model=hw, X=x[:200], plot="boxplot")
    assert {r.layer for r in prof.activations} == {r.layer for r in numerical(None, hw, x[:200]).activations}
    with pytest.warns(Hls4mlKeyWarning, match=r"plot='violinplot': nnfpga draws box plots"):
        numerical(hls_model=hw, plot="violinplot")
    with pytest.raises(ConfigError, match="give the converted model once"):
        compare(None, hw, x[:10], hls_model=hw)


def test_hls4ml_style_model_from_the_converters(jets: tuple[Any, np.ndarray]) -> None:
    """``nnfpga.converters`` returns an HLSModel whose ``trace()`` has hls4ml's tuple form: profiling and the HTML
    report still get the full trace."""
    model, x = jets
    cfg = {"Model": {"Precision": "ap_fixed<8,3>"}}
    hm = nnfpga.converters.convert_from_keras_model(model, hls_config=cfg, backend="Vitis")
    ref = nnfpga.convert_from_keras_model(model, hls_config=cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnfpga.OverflowWarning)
        got, want = numerical(model, hm, x[:300]), numerical(model, ref, x[:300])
        assert [(r.layer, r.n_overflow) for r in got.activations] == [(r.layer, r.n_overflow) for r in want.activations]
        layers = [r.layer for r in compare(None, ref, x[:300]).layers]
        assert [r.layer for r in compare(None, hm, x[:300]).layers] == layers
