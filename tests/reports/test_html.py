"""The HTML report: its tables against the model (read back by Python's HTML parser, and by headless Chromium
from the DOM), the layer graph's layout, escaping of hostile names, the figure hook, synthesis results, the
command line, and its refusals (wrong input shape, unwritable paths, no half-written file)."""

from __future__ import annotations

import itertools
import os
import warnings
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from browser import render
from nnfpga.cli import main
from nnfpga.errors import ConfigError, EmulationError, OutputDirError, OverflowWarning
from nnfpga.fixed import FixedType
from nnfpga.ir.graph import Graph, Node
from nnfpga.model import HWModel
from nnfpga.ops import OPS
from nnfpga.passes import infer_types
from nnfpga.reports import HardwareReport
from nnfpga.reports.graph_svg import display_name
from tooling import chromium

HOSTILE = ['<script>alert("x")</script>', "a&b \"q\" 'x'", "new\nline", "日本語", "$x$ \\frac{", "\u202eevil",
           "</svg><!--", "out", "soft max"]


def residual_graph(names: list[str] = HOSTILE, n: int = 3, softmax: bool = True) -> Graph:
    """input -> dense -> relu -> add(skip from the input); input -> dense -> tanh; concatenate(add, tanh, input)
    -> dense [-> softmax]: a residual and a three-way merge, with the given layer names."""
    rng = np.random.default_rng(0)
    i, a, r, b, t, skip, cat, out, sm = names
    g = Graph(name="residual")
    g.add(Node(i, "input", [], (n,), types={"result": FixedType.parse("ap_fixed<8,3>")}))
    g.add(Node(a, "dense", [i], (n,), weights={"kernel": rng.normal(size=(n, n)), "bias": rng.normal(size=n)},
               attrs={"reuse_factor": 1, "strategy": "Latency"}))
    g.add(Node(r, "relu", [a], (n,)))
    g.add(Node(b, "dense", [i], (2,), weights={"kernel": rng.normal(size=(n, 2)), "bias": rng.normal(size=2)},
               attrs={"reuse_factor": n, "strategy": "Resource"}))
    g.add(Node(t, "tanh", [b], (2,), attrs={"table_size": 256}))
    g.add(Node(skip, "add", [r, i], (n,)))
    g.add(Node(cat, "concatenate", [skip, t, i], (2 * n + 2,), attrs={"axis": 0}))
    g.add(Node(out, "dense", [cat], (2,), weights={"kernel": rng.normal(size=(2 * n + 2, 2)),
                                                  "bias": rng.normal(size=2)},
               attrs={"reuse_factor": 1, "strategy": "Latency"}))
    g.outputs = [out]
    if softmax:
        g.add(Node(sm, "softmax", [out], (2,), attrs={"table_size": 256}))
        g.outputs = [sm]
    infer_types(g, FixedType(8, 3))
    return g


def mlp(tmp_path: Path, widths: tuple[int, ...] = (4, 6, 3)) -> HWModel:
    rng = np.random.default_rng(1)
    g = Graph(name="mlp")
    g.add(Node("x", "input", [], (widths[0],), types={"result": FixedType.parse("ap_fixed<10,4>")}))
    prev = "x"
    for k, (m, n) in enumerate(itertools.pairwise(widths)):
        g.add(Node(f"fc{k}", "dense", [prev], (n,), weights={"kernel": rng.normal(size=(m, n)),
                                                              "bias": rng.normal(size=n)},
                   attrs={"reuse_factor": 1, "strategy": "Latency"}))
        g.add(Node(f"relu{k}", "relu", [f"fc{k}"], (n,)))
        prev = f"relu{k}"
    g.outputs = [prev]
    infer_types(g, FixedType(10, 4))
    return HWModel(g, {}, output_dir=tmp_path / "prj")


class Doc(HTMLParser):
    """What the tests read from a report: tables (cell texts and attributes), tags, URLs and the SVG's nodes."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[tuple[str, dict[str, str | None]]]]] = {}
        self.tags: list[str] = []
        self.urls: list[str] = []
        self.nodes: list[dict[str, str | None]] = []  # the <a> of each graph node, with its <rect>'s attributes
        self.edges: list[tuple[str | None, str | None]] = []
        self._table: str | None = None
        self._cell: list[Any] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        self.urls += [v for k, v in attrs if k in ("src", "href") and v is not None]
        if tag == "table":
            self._table = a.get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = ["", a]
            self.tables[self._table][-1].append(self._cell)  # type: ignore[arg-type]
        elif tag == "a" and "data-layer" in a:
            self.nodes.append(dict(a))
        elif tag == "rect" and self.nodes and "x" not in self.nodes[-1]:
            self.nodes[-1].update(a)
        elif tag == "path" and a.get("class") == "edge":
            self.edges.append((a.get("data-from"), a.get("data-to")))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[0] += data

    def rows(self, table: str) -> tuple[list[str], list[list[str]]]:
        """(column keys, body rows as texts)."""
        head, *body = self.tables[table]
        return [str(c[1].get("data-col")) for c in head], [[c[0] for c in r] for r in body]


def expected_layers(hw: HWModel, keys: list[str]) -> list[list[str]]:
    rows = []
    for n in hw.graph:
        op = OPS[n.op]
        cell = {"layer": display_name(n.name), "op": n.op, "shape": "x".join(map(str, n.shape)),
                "reuse": str(n.attrs["reuse_factor"]) if op.reuse else "",
                "strategy": str(n.attrs["strategy"]) if op.reuse else ""}
        cell |= {f"slot:{s}": str(n.types[s]) if s in op.slots else "" for s in {k[5:] for k in keys if ":" in k}}
        rows.append([cell[k] for k in keys])
    return rows


def expected_overflow(hw: HWModel) -> list[list[str]]:
    assert hw.last_stats is not None
    return [[display_name(n), s, str(hw.graph[n].types[s]), str(o.count), str(o.total),
             f"{o.count / o.total:.3%}", ""] for (n, s), o in hw.last_stats.overflow.items()]


def expected_trace(hw: HWModel, x: np.ndarray) -> list[list[str]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OverflowWarning)
        trace = hw.trace(x)
    return [[display_name(t.name), t.op, str(t.type), f"{t.max_abs_error:.3g}",
             f"{t.max_abs_error / t.type.lsb:.3g}", str(t.overflow)] for t in trace.values()]


def check_tables(hw: HWModel, doc: Doc, x: np.ndarray) -> None:
    keys, rows = doc.rows("layers")
    assert keys[:3] == ["layer", "op", "shape"] and keys[-2:] == ["reuse", "strategy"]
    assert {k[5:] for k in keys[3:-2]} == {s for n in hw.graph for s in OPS[n.op].slots}
    assert rows == expected_layers(hw, keys)
    assert doc.rows("overflow")[1] == expected_overflow(hw)
    assert doc.rows("trace")[1] == expected_trace(hw, x)


# -- fast: the HTML as Python's parser reads it --------------------------------------------------------------

def test_tables_graph_and_figure_of_an_mlp(tmp_path: Path) -> None:
    hw = mlp(tmp_path)
    x = np.random.default_rng(2).normal(0, 4, (400, 4))
    with pytest.warns(OverflowWarning):
        out = hw.report_html(tmp_path / "r.html", x)
    doc = Doc(out.read_text(encoding="utf-8"))
    check_tables(hw, doc, x)
    assert sum(int(r[3]) for r in doc.rows("overflow")[1]) > 0  # this input overflows: the table shows it
    assert doc.tags.count("script") == 1 and doc.tags.count("img") == 3 and doc.tags.count("svg") == 1
    assert all(u.startswith(("#", "data:image/png;base64,")) for u in doc.urls), doc.urls
    # a chain is one vertical column, top to bottom in graph order, each node linking to its table row
    assert [n["data-layer"] for n in doc.nodes] == list(hw.graph.nodes)
    assert len({n["x"] for n in doc.nodes}) == 1
    ys = [float(str(n["y"])) for n in doc.nodes]
    assert ys == sorted(ys) and len(set(ys)) == len(ys)
    assert [n["href"] for n in doc.nodes] == [f"#layer-{i}" for i in range(len(ys))]
    assert doc.edges == [(n.inputs[0], n.name) for n in hw.graph if n.inputs]


def test_residual_graph_layout_and_hostile_names(tmp_path: Path) -> None:
    hw = HWModel(residual_graph(), {}, output_dir=tmp_path / "prj", project_name='<b>"prj"</b>')
    x = np.random.default_rng(3).normal(0, 1, (300, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OverflowWarning)
        text = hw.report_html(tmp_path / "r.html", x).read_text(encoding="utf-8")
    doc = Doc(text)
    check_tables(hw, doc, x)
    assert doc.tags.count("script") == 1 and "b" not in doc.tags  # no name became markup
    assert display_name("new\nline") == "new\\nline" and display_name("\u202eevil") == "\\u202eevil"
    assert "<title>nnfpga report: &lt;b&gt;&quot;prj&quot;&lt;/b&gt;</title>" in text
    # layered: every edge goes down; nodes of one row do not overlap; the skip edges pass beside the nodes
    pos = {n["data-layer"]: (float(str(n["x"])), float(str(n["y"]))) for n in doc.nodes}
    assert set(pos) == {display_name(n) for n in hw.graph.nodes}
    assert sorted(doc.edges) == sorted((display_name(i), display_name(n.name)) for n in hw.graph for i in n.inputs)
    assert all(pos[dst][1] > pos[src][1] for src, dst in doc.edges)  # type: ignore[index]
    rows: dict[float, list[float]] = {}
    for x0, y0 in pos.values():
        rows.setdefault(y0, []).append(x0)
    assert max(len(r) for r in rows.values()) == 2 and len(rows) == 7
    assert all(abs(a - b) >= 210 for r in rows.values() for a in r for b in r if a != b)


def test_without_inputs_the_report_says_what_is_missing(tmp_path: Path) -> None:
    hw = mlp(tmp_path)
    doc = Doc(hw.report_html(tmp_path / "r.html").read_text())
    assert set(doc.tables) == {"layers"} and doc.tags.count("img") == 0
    assert doc.rows("layers")[1] == expected_layers(hw, doc.rows("layers")[0])
    text = (tmp_path / "r.html").read_text()
    assert "no trace: pass inputs" in text and "no emulation run yet" in text and "no synthesis report" in text
    hw.predict(np.zeros((5, 4)))  # the overflow table of the last run, when there is one
    assert Doc(hw.report_html(tmp_path / "r.html").read_text()).rows("overflow")[1] == expected_overflow(hw)


def test_figures_given_and_the_profiling_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.figure import Figure

    hw, x = mlp(tmp_path), np.zeros((10, 4))
    fig = Figure()
    fig.add_subplot().set_title("my <plot>")
    doc = Doc(hw.report_html(tmp_path / "a.html", x, figures=[fig]).read_text())
    assert doc.tags.count("img") == 2 and "my &lt;plot&gt;" in (tmp_path / "a.html").read_text()
    assert Doc(hw.report_html(tmp_path / "b.html", x, figures=[]).read_text()).tags.count("img") == 1
    with pytest.raises(ConfigError, match="figures must be matplotlib figures, got str"):
        hw.report_html(tmp_path / "c.html", x, figures=["not a figure"])
    assert not (tmp_path / "c.html").exists()

    # nnfpga.profiling is asked for its figures when none are given: its weights and activations plots
    import nnfpga.profiling as profiling

    text = hw.report_html(tmp_path / "d.html", x).read_text()
    assert Doc(text).tags.count("img") == 3
    assert "<figcaption>Profiling: weights</figcaption>" in text and "<figcaption>Profiling: activations" in text

    def refuses(model: Any, hw_: Any, x_: Any) -> Any:
        raise ConfigError("numerical() needs the framework model")

    monkeypatch.setattr(profiling, "numerical", refuses)
    with pytest.warns(UserWarning, match="no profiling plots: numerical.. needs the framework model"):
        text = hw.report_html(tmp_path / "e.html", x).read_text()
    assert Doc(text).tags.count("img") == 1 and "no profiling plots" in text


def test_saved_synthesis_reports_are_shown(tmp_path: Path) -> None:
    from nnfpga.backends.rtl.synth import save_report

    hw = mlp(tmp_path)
    hw.write()
    xc7 = HardwareReport(tool="yosys 0.23", target="xc7", clock_period_ns=5.0, latency_cycles=4, ii=1, lut=120,
                         ff=80, dsp=0, bram_18k=0, extra={"carry": 12})
    save_report(xc7, hw.output_dir)
    (hw.output_dir / "reports" / "ecp5.json").write_text("{not json")
    with pytest.warns(UserWarning, match="leaves out the synthesis report .*ecp5.json"):
        doc = Doc(hw.report_html(tmp_path / "r.html").read_text())
    head, *body = doc.tables["hardware"]
    assert [c[0] for c in head] == ["", "saved: reports/xc7.json"]
    shown = {c[1]["data-field"]: c[0] for r in body for c in r[1:]}
    assert shown["lut"] == "120" and shown["latency_ns"] == "20" and shown["carry"] == "12" and shown["uram"] == "–"
    (hw.output_dir / "reports" / "ecp5.json").unlink()
    csynth = hw.output_dir / "myproject_prj" / "solution1" / "syn" / "report" / "csynth.xml"
    csynth.parent.mkdir(parents=True)
    csynth.write_text("<profile><UserAssignments><Part>xcvu13p-flga2577-2-e</Part><TargetClockPeriod>5.00"
                      "</TargetClockPeriod></UserAssignments><AreaEstimates><Resources><LUT>2101</LUT><DSP>7</DSP>"
                      "</Resources></AreaEstimates></profile>")  # where hw.build() leaves Vitis HLS's report
    hw.last_report = HardwareReport(tool="yosys", target="ecp5", lut=999)  # as synthesize() leaves it
    doc = Doc(hw.report_html(tmp_path / "r.html").read_text())
    assert [c[0] for c in doc.tables["hardware"][0]][1:] == [
        "last synthesis of this session", "saved: reports/xc7.json",
        "saved: myproject_prj/solution1/syn/report/csynth.xml"]
    luts = [c[0] for r in doc.tables["hardware"] for c in r if c[1].get("data-field") == "lut"]
    assert luts == ["999", "120", "2101"]
    doc = Doc(hw.report_html(tmp_path / "r.html", hardware=xc7).read_text())  # only the one given
    assert [c[0] for c in doc.tables["hardware"][0]][1:] == ["given (xc7)"]


def test_wrong_inputs_are_the_emulation_error_and_write_nothing(tmp_path: Path) -> None:
    hw = mlp(tmp_path)
    for bad, match in ((np.zeros((3, 5)), r"input shape \(3, 5\) does not match the model: expected \(batch, 4\)"),
                       (np.full((2, 4), np.nan), "non-finite"), ("abc", "must be a numeric array")):
        with pytest.raises(EmulationError, match=match):
            hw.report_html(tmp_path / "sub" / "r.html", bad)
    assert not (tmp_path / "sub" / "r.html").exists() and os.listdir(tmp_path / "sub") == []


def test_output_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hw = mlp(tmp_path)
    assert hw.report_html(tmp_path / "new" / "deeper" / "r.html").is_file()  # parents are created
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputDirError, match=r"cannot .*'.*file/r\.html'"):
        hw.report_html(tmp_path / "file" / "r.html")
    (tmp_path / "dir.html").mkdir()
    with pytest.raises(OutputDirError, match="exists and is not a regular file"):
        hw.report_html(tmp_path / "dir.html")
    (tmp_path / "link.html").symlink_to(tmp_path / "file")
    with pytest.raises(OutputDirError, match="exists and is not a regular file"):
        hw.report_html(tmp_path / "link.html")
    assert (tmp_path / "file").read_text() == "x"
    (tmp_path / "notes.html").write_text("my notes")
    with pytest.raises(OutputDirError, match=r"is not an nnfpga HTML report; .*force=True"):
        hw.report_html(tmp_path / "notes.html")
    assert hw.report_html(tmp_path / "notes.html", force=True).read_text().startswith("<!DOCTYPE html>")
    with pytest.raises(OutputDirError, match="the report path must be a file name"):
        hw.report_html(42)  # type: ignore[arg-type]

    # an existing report is replaced, atomically: a failed rename leaves the old one and no temporary file
    old = (tmp_path / "notes.html").read_text()

    def fail(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OutputDirError, match=r"cannot write the report to .*No space left on device"):
        hw.report_html(tmp_path / "notes.html", np.zeros((3, 4)))
    assert (tmp_path / "notes.html").read_text() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.html", "file", "link.html", "new", "notes.html"]


def test_cli_report_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hw = mlp(tmp_path)
    hw.write()
    np.save(tmp_path / "x.npy", np.random.default_rng(4).normal(0, 1, (50, 4)))
    assert main(["report", str(hw.output_dir), "--html", str(tmp_path / "r.html"), "-i", str(tmp_path / "x.npy")]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'r.html'}"
    hw.predict(np.load(tmp_path / "x.npy"))  # the same run in this process: the expected overflow counts
    check_tables(hw, Doc((tmp_path / "r.html").read_text()), np.load(tmp_path / "x.npy"))
    np.save(tmp_path / "bad.npy", np.zeros((5, 3)))
    for argv, message in (
            (["-i", str(tmp_path / "x.npy")], "-i/--input and --force go with --html OUT.html"),
            (["--html", str(tmp_path / "b.html"), "-i", str(tmp_path / "bad.npy")],
             r"input shape (5, 3) does not match the model"),
            (["--html", str(tmp_path / "b.html"), "--json"], "--json prints the synthesis report"),
            (["--html", str(tmp_path / "b.html"), "--target", "xc7"], "no xc7 report in")):
        assert main(["report", str(hw.output_dir), *argv]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "b.html").exists()


# -- headless Chromium: the page as a browser shows it -------------------------------------------------------

DOM = """(() => {
  const tables = {};
  for (const t of document.querySelectorAll("table")) {
    tables[t.id] = {heads: Array.from(t.tHead.rows[0].cells, c => c.dataset.col || c.textContent),
                    rows: Array.from(t.tBodies[0].rows, r => Array.from(r.cells, c => c.textContent)),
                    fields: Array.from(t.tBodies[0].rows, r => r.cells.length > 1 ? r.cells[1].dataset.field : null)};
  }
  const nodes = Array.from(document.querySelectorAll("svg.graph a.node"), a => {
    const b = a.getBoundingClientRect();
    return {name: a.dataset.layer, x: b.x, y: b.y, w: b.width, h: b.height};
  });
  const edges = Array.from(document.querySelectorAll("svg.graph path.edge"), p => [p.dataset.from, p.dataset.to]);
  const images = Array.from(document.images, i => [i.complete, i.naturalWidth, i.naturalHeight]);
  const th = document.querySelector('#trace th[data-col="max_abs_error"]');
  let sorted = null;
  if (th) {
    th.click();
    sorted = Array.from(document.querySelectorAll("#trace tbody tr"), r => parseFloat(r.cells[3].dataset.v));
  }
  return {title: document.title, tables, nodes, edges, images, scripts: document.scripts.length, sorted,
          sections: Array.from(document.querySelectorAll("section h2"), h => h.textContent)};
})()"""


def browse(html: Path, shot: Path) -> dict[str, Any]:
    page = render(chromium(), html, DOM)
    assert page.problems() == []
    shot.write_bytes(page.screenshot)
    assert page.screenshot.startswith(b"\x89PNG") and len(page.screenshot) > 20_000
    return page.value


def check_dom(hw: HWModel, dom: dict[str, Any], x: np.ndarray) -> None:
    t = dom["tables"]
    assert t["layers"]["rows"] == expected_layers(hw, t["layers"]["heads"])
    assert t["overflow"]["rows"] == expected_overflow(hw)
    trace = expected_trace(hw, x)
    assert t["trace"]["rows"] == trace
    assert dom["sorted"] == sorted(dom["sorted"]) and len(dom["sorted"]) == len(trace)  # the column sorts
    assert dom["images"] and all(ok and w > 300 and h > 100 for ok, w, h in dom["images"])
    assert [n["name"] for n in dom["nodes"]] == [display_name(n) for n in hw.graph.nodes]
    assert all(n["w"] > 100 and n["h"] > 30 for n in dom["nodes"])  # drawn, not collapsed
    assert sorted(map(tuple, dom["edges"])) == sorted((display_name(i), display_name(n.name))
                                                      for n in hw.graph for i in dict.fromkeys(n.inputs))
    assert dom["scripts"] == 1


@pytest.mark.tools
def test_browser_helper_sees_what_a_broken_page_does(tmp_path: Path) -> None:
    """The check above can fail: a page with a console message, an exception and an external image."""
    page_file = tmp_path / "bad.html"
    page_file.write_text("<html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                         "script-src 'unsafe-inline'\"></head><body><img src=\"https://example.com/x.png\">"
                         "<script>console.error('boom'); undefinedFunction();</script></body></html>")
    page = render(chromium(), page_file, "document.images.length")
    problems = "\n".join(page.problems())
    assert page.value == 1
    assert "console.error: boom" in problems and "undefinedFunction is not defined" in problems
    assert "violates the following Content Security Policy" in problems


@pytest.mark.tools
@pytest.mark.slow
def test_jet_report_in_chromium(tmp_path: Path) -> None:
    import nnfpga
    from nnfpga.examples import load_example

    model, X, _ = load_example()
    config = nnfpga.config_from_keras_model(model, granularity="name")
    hw = nnfpga.convert_from_keras_model(model, hls_config=config, output_dir=tmp_path / "prj")
    x = X[:2000]
    html = hw.report_html(tmp_path / "jet.html", x)
    dom = browse(html, tmp_path / "jet.png")
    check_dom(hw, dom, x)
    assert dom["title"] == "nnfpga report: myproject" and len(dom["nodes"]) == 9
    assert len({n["x"] for n in dom["nodes"]}) == 1  # the MLP: one vertical chain
    assert len(dom["images"]) == 3 and "hardware" not in dom["tables"]


@pytest.mark.tools
@pytest.mark.slow
def test_residual_report_with_hostile_names_and_a_synthesis_in_chromium(tmp_path: Path) -> None:
    hw = HWModel(residual_graph(softmax=False), {}, output_dir=tmp_path / "prj", backend="verilog")
    hw.write()
    report = hw.synthesize("xc7", progress=False)  # Yosys, saved to prj/reports/xc7.json
    x = np.random.default_rng(5).normal(0, 2, (500, 3))
    with pytest.warns(OverflowWarning):
        html = hw.report_html(tmp_path / "residual.html", x)
    dom = browse(html, tmp_path / "residual.png")
    check_dom(hw, dom, x)
    assert len({n["y"] for n in dom["nodes"]}) == 6 < len(dom["nodes"])  # layered: two rows hold two nodes
    hwt = dom["tables"]["hardware"]
    assert hwt["heads"] == ["field", "report:0"]  # this session's synthesis = the saved one: shown once
    shown = dict(zip(hwt["fields"], (r[1] for r in hwt["rows"]), strict=True))
    for key, value in {**report.to_dict(), **report.extra}.items():
        if key == "extra":
            continue
        if value is None or value == {}:  # critical_path: none from Yosys alone
            assert shown[key] == "–", key
        elif isinstance(value, float):
            assert float(shown[key]) == pytest.approx(value, rel=1e-3), key
        else:
            assert shown[key] == str(value), key
    assert report.lut and report.lut > 0 and shown["lut"] == str(report.lut)
