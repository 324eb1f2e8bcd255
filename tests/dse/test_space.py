"""The sweep's design space: loading and checking it whole, the grid and its random samples, points applied to
a config."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnfpga.config.schema import parse_config
from nnfpga.dse import Point, load_space
from nnfpga.errors import ConfigError

SPACE = {"Precision": ["ap_fixed<8,3>", "ap_fixed<6,2>"], "ReuseFactor": [1, 2, 4], "Sparsity": [0, 0.5],
         "LayerName": {"fc1": {"ReuseFactor": [1, 4]}}}


def test_grid_is_every_combination_in_a_fixed_order() -> None:
    space = load_space(SPACE)
    grid = space.points()
    assert space.size == len(grid) == 2 * 3 * 2 * 2
    assert len({p.key for p in grid}) == len(grid)  # distinct names
    assert grid[0].label == "Precision=ap_fixed<8,3> ReuseFactor=1 Sparsity=0 fc1.ReuseFactor=1"
    assert grid[1].label == "Precision=ap_fixed<8,3> ReuseFactor=1 Sparsity=0 fc1.ReuseFactor=4"  # last axis fastest
    assert space.layers() == {"fc1"}


def test_random_points_are_distinct_seeded_and_from_the_grid() -> None:
    space = load_space(SPACE)
    grid = {p.key: p for p in space.points()}
    a, b, c = space.points(5, seed=3), space.points(5, seed=3), space.points(5, seed=4)
    assert [p.key for p in a] == [p.key for p in b] != [p.key for p in c]
    assert len({p.key for p in a}) == 5 and all(grid[p.key] == p for p in a)
    assert len(space.points(100)) == space.size  # more than the grid: the grid
    with pytest.raises(ConfigError, match="positive integer, got 0"):
        space.points(0)


def test_point_key_is_stable_across_runs() -> None:
    p = Point(((("Model", "ReuseFactor"), 2), (("LayerName", "fc1", "Precision"), "ap_fixed<8,3>")))
    assert p.key == Point(tuple(reversed(p.items))).key  # order of the pairs does not matter
    assert p.key == "be51e13b4dbca389"  # the same in every process (a cache name), pinned here


def test_point_config_sets_model_and_layer_keys_without_touching_the_base() -> None:
    base = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1},
            "LayerName": {"fc1": {"Precision": {"weight": "ap_fixed<4,1>", "accum": "auto"}},
                          "fc2": {"Precision": {"weight": "ap_fixed<4,1>"}}}}
    space = load_space({"Precision": "ap_fixed<8,3>", "Sparsity": 0.5, "ClockPeriod": [5, 3.3],
                        "LayerName": {"fc2": {"ReuseFactor": 2, "Precision": {"weight": "ap_fixed<6,2>"}}}})
    p = space.points()[1]
    cfg = p.config(base)
    assert base["LayerName"]["fc1"]["Precision"] == {"weight": "ap_fixed<4,1>", "accum": "auto"}  # unchanged
    assert cfg["Model"] == {"Precision": "ap_fixed<8,3>", "ReuseFactor": 1}
    assert cfg["LayerName"]["fc1"]["Precision"] == "ap_fixed<8,3>"  # the model-wide precision replaces it
    assert cfg["LayerName"]["fc2"] == {"Precision": {"result": "ap_fixed<8,3>", "weight": "ap_fixed<6,2>",
                                                     "bias": "ap_fixed<8,3>", "param": "ap_fixed<8,3>"},
                                       "ReuseFactor": 2}
    parse_config(cfg)  # a valid config
    assert p.sparsity() == (0.5, {}) and p.clock_period() == 3.3


def test_space_from_a_yaml_file_with_a_model_section(tmp_path: Path) -> None:
    f = tmp_path / "space.yml"
    f.write_text("Model:\n  ReuseFactor: [1, 2]\nStrategy: [Latency, Resource]\n"
                 "LayerName:\n  fc1: {Sparsity: [0.75]}\n")
    space = load_space(f)
    assert space.size == 4 and space.points()[3].sparsity() == (0.0, {"fc1": 0.75})


@pytest.mark.parametrize(("space", "message"), [
    ({}, "the space is empty"),
    ({"Precison": ["ap_fixed<8,3>"], "ReuseFactr": [1]},
     "unknown keys 'Precison' \\(did you mean 'Precision'\\?\\), 'ReuseFactr' \\(did you mean 'ReuseFactor'\\?\\)"),
    ({"ReuseFactor": []}, "ReuseFactor has no values"),
    ({"ReuseFactor": [1, 1]}, "ReuseFactor lists 1 twice"),
    ({"ReuseFactor": [1, 0]}, "ReuseFactor value 0: Model.ReuseFactor must be a positive integer, got 0"),
    ({"Precision": ["ap_fixd<8,3>"]}, "Precision value 'ap_fixd<8,3>': Model.Precision: invalid precision"),
    ({"Strategy": ["Fast"]}, "Strategy value 'Fast'"),
    ({"Sparsity": [1.0]}, "Sparsity must be a fraction in \\[0, 1\\)"),
    ({"ClockPeriod": [0]}, "ClockPeriod must be a positive number"),
    ({"LayerName": {"fc1": {"TableSize": [1000]}}}, "LayerName.fc1.TableSize value 1000"),
    ({"LayerName": {"fc1": {"Foo": [1]}}}, "LayerName.fc1: unknown key 'Foo'"),
    ({"LayerName": {"fc1": {}}}, "LayerName.fc1 must map config keys"),
    ({"LayerName": ["fc1"]}, "LayerName must map layer names"),
    ({"ReuseFactor": [1], "Model": {"ReuseFactor": [2]}}, "given both at the top and under Model"),
    (["ReuseFactor"], "must be a mapping"),
])
def test_bad_spaces_are_refused_whole(space: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_space(space)  # type: ignore[arg-type]


def test_unreadable_space_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_space(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("ReuseFactor: [1, 2\n")
    with pytest.raises(ConfigError):
        load_space(bad)
