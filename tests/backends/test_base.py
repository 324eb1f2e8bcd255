"""The Backend protocol and registry: names, conversion-time validation, files, engines, and the methods that
belong to one backend."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import nnfpga
from graphs import dense_graph
from nnfpga.backends import base
from nnfpga.backends.base import Backend, Engine, Prep, backend_names, get_backend
from nnfpga.backends.hls.backend import VitisBackend
from nnfpga.backends.rtl.backend import VerilogBackend
from nnfpga.errors import ConfigError, GraphError
from nnfpga.examples import DEFAULT_JET_MODEL
from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Graph
from nnfpga.model import HWModel
from nnfpga.passes import infer_types

JET = str(DEFAULT_JET_MODEL)


def small_graph() -> Graph:
    g = dense_graph(np.arange(6.0).reshape(3, 2) / 8, np.zeros(2))
    infer_types(g, FixedType(12, 4))
    return g


def test_registry_names_are_case_insensitive() -> None:
    assert backend_names()[:2] == ("vitis", "verilog")
    for name, cls in (("vitis", VitisBackend), ("VITIS", VitisBackend), ("Verilog", VerilogBackend)):
        b = get_backend(name)
        assert type(b) is cls and b.name == name.lower()
    assert get_backend("vitis") is not get_backend("vitis")  # one instance per model: engines keep state in it
    with pytest.raises(ConfigError, match=r"^unknown backend 'vivado'; expected one of vitis, verilog$"):
        get_backend("vivado")
    with pytest.raises(ConfigError, match=r"^unknown backend None; expected one of vitis, verilog$"):
        HWModel(small_graph(), {}, backend=None)  # type: ignore[arg-type]


def test_model_holds_a_backend_object() -> None:
    hw = HWModel(small_graph(), {}, backend="Verilog")
    assert isinstance(hw.backend, VerilogBackend) and hw.settings["backend"] == "verilog"
    assert set(hw.backend.engines()) == {"rtl"} and set(get_backend("vitis").engines()) == {"csim"}


def test_verilog_refuses_at_conversion_what_it_cannot_build() -> None:
    """ReuseFactor 32 on the jet MLP's 16-input fc1 is valid for the HLS backend (it divides 16*64) but not for
    the Verilog one: the refusal comes from the conversion, not from write()."""
    cfg = nnfpga.config_from_keras_model(JET, granularity="name")
    cfg["LayerName"]["fc1"]["ReuseFactor"] = 32
    cfg["LayerName"]["fc1"]["Strategy"] = "Resource"
    with pytest.raises(ConfigError) as err:
        nnfpga.convert_from_keras_model(JET, hls_config=cfg, backend="verilog")
    assert str(err.value) == ("Dense layer 'fc1': ReuseFactor 32 does not divide its 16 inputs, which the Verilog "
                              "backend needs (each multiplier takes one input per cycle); valid: 1, 2, 4, 8, 16")
    assert nnfpga.convert_from_keras_model(JET, hls_config=cfg).graph["fc1"].attrs["reuse_factor"] == 32


def test_verilog_checks_its_node_attributes_at_conversion() -> None:
    g = small_graph()
    g["fc"].attrs["pipeline_stages"] = -1
    with pytest.raises(ConfigError, match=r"^pipeline_stages of dense 'fc'.* must be an integer >= 0, got -1$"):
        HWModel(g, {}, backend="verilog")
    g["fc"].attrs.update(pipeline_stages=1, multipliers="dsp")
    with pytest.raises(ConfigError, match=r"^multipliers of dense 'fc'.* must be one of auto, shared, csd, operator, "
                                          r"got 'dsp'$"):
        HWModel(g, {}, backend="verilog")
    HWModel(g, {}, backend="vitis")  # the HLS backend has no such knob


def test_verilog_refuses_graphs_it_cannot_wire() -> None:
    g = small_graph()
    g.outputs.append("x")
    with pytest.raises(GraphError, match=r"^the Verilog backend needs exactly one input and one output"):
        HWModel(g, {}, backend="verilog")


def test_files_of_each_backend(tmp_path: Any) -> None:
    for name, expected, absent in (("vitis", "firmware/myproject.cpp", "rtl/myproject.v"),
                                   ("verilog", "rtl/myproject.v", "firmware/myproject.cpp")):
        prj = HWModel(small_graph(), {}, backend=name, output_dir=tmp_path / name).write()
        assert (prj / expected).is_file() and not (prj / absent).exists() and (prj / "nnfpga.json").is_file()


def test_methods_of_another_backend_say_which_backend_has_them(tmp_path: Any) -> None:
    verilog = HWModel(small_graph(), {}, backend="verilog", output_dir=tmp_path / "v")
    vitis = HWModel(small_graph(), {}, output_dir=tmp_path / "h")
    x = np.zeros((1, 3))
    cases = [
        (lambda: verilog.compile(), "compile() builds the HLS C simulation; this project's backend is 'verilog': "
                                    "convert with backend='vitis'"),
        (lambda: verilog.predict(x, engine="csim"), "compile() builds the HLS C simulation; this project's backend "
                                                    "is 'verilog': convert with backend='vitis'"),
        (lambda: verilog.build(), "build() runs Vitis HLS; this project's backend is 'verilog': convert with "
                                  "backend='vitis'"),
        (lambda: vitis.synthesize("xc7"), "synthesize() runs Yosys on the Verilog design; this project's backend "
                                          "is 'vitis': convert with backend='verilog'"),
        (lambda: vitis.predict(x, engine="rtl"), "engine 'rtl' simulates the Verilog design; this project's backend "
                                                 "is 'vitis': convert with backend='verilog'"),
        (lambda: vitis.predict(x, engine="fpga"), "unknown engine 'fpga'; available here: emulator, csim, rtl"),
    ]
    for call, message in cases:
        with pytest.raises(ConfigError) as err:
            call()
        assert str(err.value) == message
    assert not (tmp_path / "v").exists() and not (tmp_path / "h").exists()  # refused before writing anything


class EchoBackend(Backend):
    """A backend of this test: refuses graphs with more than 4 inputs, writes one file, and its engine returns
    the emulator's outputs plus one."""

    name = "echo"
    description = "a test backend"

    def validate(self, graph: Graph, settings: dict[str, Any], prep: Prep) -> None:
        n_in = graph[graph.inputs[0]].shape[0]
        if n_in > 4:
            raise ConfigError(f"echo takes at most 4 inputs, got {n_in}")

    def files(self, hw: HWModel, tb_inputs: np.ndarray | None = None) -> dict[str, bytes]:
        return {"echo.txt": hw.settings["project_name"].encode()}

    def engines(self) -> dict[str, Engine]:
        return {"plus_one": Engine("plus_one", "emulator + 1", lambda hw, x: hw.predict(x) + 1, "plus_one needs echo")}


def test_a_registered_backend_plugs_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))  # registered for this test only
    base.register(EchoBackend)
    assert backend_names() == ("vitis", "verilog", "echo")
    hw = HWModel(small_graph(), {}, backend="Echo", output_dir=tmp_path / "prj")
    assert (hw.write() / "echo.txt").read_text() == "myproject"
    x = np.ones((2, 3))
    np.testing.assert_array_equal(hw.predict(x, engine="plus_one"), hw.predict(x) + 1)
    with pytest.raises(ConfigError, match=r"^plus_one needs echo; this project's backend is 'vitis': convert with "
                                          r"backend='echo'$"):
        HWModel(small_graph(), {}).predict(x, engine="plus_one")
    g = dense_graph(np.ones((5, 2)), np.zeros(2))
    infer_types(g, FixedType(12, 4))
    with pytest.raises(ConfigError, match=r"^echo takes at most 4 inputs, got 5$"):
        HWModel(g, {}, backend="echo")
