"""One self-contained HTML file about a converted model: its layer graph (inline SVG), the types of every layer,
the overflow table and the per-layer trace error of a run on ``X``, figures (PNG data URIs) and the resources
and latency of the last synthesis. Inline CSS and a few lines of inline JS (sortable tables); a
Content-Security-Policy forbids loading anything from outside the file. Every user string is escaped.
"""

from __future__ import annotations

import base64
import os
import stat
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnfpga.config.apply import pinned_types
from nnfpga.errors import ModelLoadError, OutputDirError
from nnfpga.ops import OPS
from nnfpga.project import write_file_atomic
from nnfpga.reports.figures import report_figures
from nnfpga.reports.graph_svg import esc, graph_svg
from nnfpga.reports.hardware import HardwareReport, parse_vitis_csynth, path_line

if TYPE_CHECKING:
    from nnfpga.model import HWModel, Trace

GENERATOR = '<meta name="generator" content="nnfpga html report">'  # marks a file this module may replace
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
HW_FIELDS = [("tool", "tool"), ("target", "target"), ("clock_period_ns", "clock period (ns)"),
             ("estimated_clock_period_ns", "estimated clock period (ns)"), ("fmax_mhz", "Fmax (MHz)"),
             ("latency_cycles", "latency (cycles)"), ("latency_best_cycles", "best-case latency (cycles)"),
             ("latency_ns", "latency (ns)"), ("ii", "II (cycles)"), ("lut", "LUT"), ("ff", "FF"), ("dsp", "DSP"),
             ("bram_18k", "BRAM 18k"), ("uram", "URAM"), ("critical_path_ns", "critical path (ns)"),
             ("critical_path", "critical path")]

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1c2833;background:#fbfcfc}
header{background:#1b4f72;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;opacity:.85}nav{padding:6px 24px;background:#d6eaf8}nav a{margin-right:16px;color:#1b4f72}
main{padding:0 24px 40px}section{margin-top:26px}h2{font-size:17px;border-bottom:2px solid #d6eaf8;padding-bottom:3px}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #d5dbdb;padding:3px 8px;text-align:left;
vertical-align:top}th{background:#eaf2f8;white-space:nowrap}table.sortable th{cursor:pointer}
th[data-dir=asc]::after{content:" \\25B2"}th[data-dir=desc]::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.type,td.name{font-family:ui-monospace,monospace;
white-space:pre}td.na{background:#f4f6f6}tr.bad td{background:#fadbd8}tr:target td{background:#fcf3cf}
.note{color:#7b7d7d;font-style:italic}.scroll{overflow:auto;max-width:100%}img{max-width:100%;
border:1px solid #d5dbdb}figure{margin:14px 0}figcaption{font-weight:600;margin-bottom:4px}
svg.graph{max-width:100%;height:auto}svg.graph text{font:12px ui-monospace,monospace;fill:#1c2833}
svg.graph text.name{font-weight:700}svg.graph text.type{fill:#566573}svg.graph rect{stroke:#5d6d7e;
stroke-width:1.2}svg.graph a.output rect{stroke-width:3}svg.graph a:hover rect{stroke:#c0392b}
.cat-io rect{fill:#e8f8f5}.cat-linear rect{fill:#d6eaf8}.cat-activation rect{fill:#fef9e7}
.cat-table rect{fill:#fdebd0}.cat-shape rect{fill:#f4f6f6}.cat-merge rect{fill:#e8daef}.cat-pool rect{fill:#d5f5e3}
path.edge{fill:none;stroke:#5d6d7e;stroke-width:1.4}path.arrowhead{fill:#5d6d7e}
"""

JS = """
for (const table of document.querySelectorAll("table.sortable")) {
  const heads = table.tHead.rows[0].cells;
  for (let i = 0; i < heads.length; i++) {
    heads[i].addEventListener("click", () => {
      const body = table.tBodies[0], rows = Array.from(body.rows);
      const dir = heads[i].dataset.dir === "asc" ? -1 : 1;
      for (const h of heads) delete h.dataset.dir;
      heads[i].dataset.dir = dir === 1 ? "asc" : "desc";
      const key = (r) => r.cells[i].dataset.v !== undefined ? parseFloat(r.cells[i].dataset.v) : r.cells[i].textContent;
      rows.sort((a, b) => {
        const x = key(a), y = key(b);
        return dir * (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y)));
      });
      for (const r of rows) body.appendChild(r);
    });
  }
}
"""


# -- public -------------------------------------------------------------------------------------------------
def report_html(hw: HWModel, path: str | os.PathLike[str], x: Any = None, *, figures: Any = None,
                model: Any = None, hardware: HardwareReport | Sequence[HardwareReport] | None = None,
                force: bool = False) -> Path:
    """Write the report of ``hw`` to ``path`` (see :meth:`nnfpga.model.HWModel.report_html`); returns the path."""
    target = check_output(path, force=force)
    text = render_html(hw, x, figures=figures, model=model, hardware=hardware)
    _write_report(target, text.encode("utf-8"))
    return target


def render_html(hw: HWModel, x: Any = None, *, figures: Any = None, model: Any = None,
                hardware: HardwareReport | Sequence[HardwareReport] | None = None) -> str:
    """The report as a string. ``x`` (a batch of inputs) adds the overflow table, the trace and the figures;
    without it, the overflow table is that of the last run (``hw.predict``) if any."""
    from nnfpga import __version__
    from nnfpga.model import HWModel

    if x is not None:
        x = hw.interpreter.check_input(x)  # the EmulationError of predict, before any work
    # the bit-exact run whose overflow the table counts (HWModel.trace: not HLSModel's hls4ml-style tuple)
    trace = HWModel.trace(hw, x) if x is not None else None
    pngs, notes = report_figures(hw, x, trace, figures, model)
    reports, hw_notes = _hardware(hw, hardware)
    s = hw.settings
    n_samples = f"{len(x)} samples" if x is not None else "the last run"
    sections = [
        ("graph", "Layer graph", f'<div class="scroll">{graph_svg(hw.graph)}</div>'),
        ("layers", "Layers and types", layers_table(hw)),
        ("overflow", f"Overflow ({n_samples})", overflow_table(hw)),
        ("trace", f"Trace: fixed point vs float ({n_samples})", trace_table(trace)),
        ("figures", "Figures", _figures_html(pngs, notes)),
        ("hardware", "Synthesis: resources and latency", hardware_table(reports, hw_notes)),
    ]
    facts = [("project", s["project_name"]), ("backend", s["backend"]), ("io_type", s["io_type"]),
             ("part", s["part"]), ("clock period", f"{s['clock_period']:g} ns"), ("layers", len(hw.graph.nodes)),
             ("inputs", f"{len(x)} x {'x'.join(map(str, hw.graph[hw.graph.inputs[0]].shape))}" if x is not None
              else "none given")]
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', GENERATOR,
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>nnfpga report: {esc(s['project_name'])}</title><style>{CSS}</style></head><body>",
        f"<header><h1>nnfpga report: {esc(s['project_name'])}</h1>",
        f"<p>{' · '.join(f'{k}: {esc(v)}' for k, v in facts)} · nnfpga {esc(__version__)}</p></header>",
        "<nav>" + "".join(f'<a href="#sec-{k}">{esc(title.split(" (")[0])}</a>' for k, title, _ in sections) + "</nav>",
        "<main>",
        *(f'<section id="sec-{key}"><h2>{esc(title)}</h2>\n{body}</section>' for key, title, body in sections),
        f"</main><script>{JS}</script></body></html>", ""])


# -- tables -------------------------------------------------------------------------------------------------
def _table(table_id: str, heads: list[tuple[str, str]], rows: list[str]) -> str:
    head = "".join(f'<th data-col="{esc(k)}">{esc(t)}</th>' for k, t in heads)
    return (f'<div class="scroll"><table id="{table_id}" class="sortable"><thead><tr>{head}</tr></thead>'
            f"<tbody>\n" + "\n".join(rows) + "\n</tbody></table></div>")


def _num(value: float, text: str | None = None) -> str:
    return f'<td class="num" data-v="{float(value)!r}">{esc(text if text is not None else value)}</td>'


def slot_columns(hw: HWModel) -> list[str]:
    """Every type slot of the graph's ops, in order of first appearance."""
    return list(dict.fromkeys(s for n in hw.graph for s in OPS[n.op].slots))


def layers_table(hw: HWModel) -> str:
    slots = slot_columns(hw)
    heads = [("layer", "layer"), ("op", "op"), ("shape", "shape"), *((f"slot:{s}", s) for s in slots),
             ("reuse", "ReuseFactor"), ("strategy", "Strategy")]
    rows = []
    for i, n in enumerate(hw.graph):
        op = OPS[n.op]
        cells = [f'<td class="name">{esc(n.name)}</td>', f"<td>{esc(n.op)}</td>",
                 f"<td>{esc('x'.join(map(str, n.shape)))}</td>"]
        cells += [f'<td class="type">{esc(n.types[s])}</td>' if s in op.slots else '<td class="na"></td>'
                  for s in slots]
        cells += [f"<td>{esc(n.attrs.get('reuse_factor', ''))}</td>" if op.reuse else '<td class="na"></td>',
                  f"<td>{esc(n.attrs.get('strategy', ''))}</td>" if op.reuse else '<td class="na"></td>']
        rows.append(f'<tr id="layer-{i}">{"".join(cells)}</tr>')
    return _table("layers", heads, rows)


def overflow_table(hw: HWModel) -> str:
    stats = hw.last_stats
    if stats is None:
        return '<p class="note">no emulation run yet: pass inputs (X / -i) to count overflows</p>'
    heads = [("layer", "layer"), ("slot", "slot"), ("type", "type"), ("overflowed", "overflowed"), ("of", "of"),
             ("share", "share"), ("note", "note")]
    rows = []
    for (name, slot), o in stats.overflow.items():
        t = hw.graph[name].types[slot]
        pinned = pinned_types(hw.graph[name]).get(slot) == t
        share = o.count / o.total if o.total else 0.0
        rows.append(f'<tr class="{"bad" if o.count else "ok"}"><td class="name">{esc(name)}</td><td>{esc(slot)}</td>'
                    f'<td class="type">{esc(t)}</td>{_num(o.count)}{_num(o.total)}{_num(share, f"{share:.3%}")}'
                    f"<td>{'pinned by quantization-aware training' if pinned else ''}</td></tr>")
    total = sum(o.count for o in stats.overflow.values())
    summary = (f'<p>{total} value(s) overflowed.</p>' if total else
               '<p>No value overflowed (every slot the emulator checks is listed).</p>')
    return summary + _table("overflow", heads, rows)


def trace_table(trace: Trace | None) -> str:
    if trace is None:
        return '<p class="note">no trace: pass inputs (X / -i) to compare every layer with float</p>'
    heads = [("layer", "layer"), ("op", "op"), ("type", "type"), ("max_abs_error", "max |fixed - float|"),
             ("lsbs", "in LSBs of the type"), ("overflow", "overflow")]
    rows = []
    for t in trace.values():
        err = t.max_abs_error
        rows.append(f'<tr class="{"bad" if t.overflow else "ok"}"><td class="name">{esc(t.name)}</td>'
                    f'<td>{esc(t.op)}</td><td class="type">{esc(t.type)}</td>{_num(err, f"{err:.3g}")}'
                    f'{_num(err / t.type.lsb, f"{err / t.type.lsb:.3g}")}{_num(t.overflow)}</tr>')
    return _table("trace", heads, rows)


def _figures_html(pngs: list[tuple[str, bytes]], notes: list[str]) -> str:
    parts = [f'<p class="note">{esc(n)}</p>' for n in notes]
    parts += [f'<figure><figcaption>{esc(title)}</figcaption><img alt="{esc(title)}" '
              f'src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}"></figure>'
              for title, data in pngs]
    return "\n".join(parts) or '<p class="note">no figures: pass inputs (X / -i) for the trace-error plot</p>'


# -- hardware -----------------------------------------------------------------------------------------------
def _hardware(hw: HWModel, given: HardwareReport | Sequence[HardwareReport] | None
              ) -> tuple[list[tuple[str, HardwareReport]], list[str]]:
    """(source, report) to show: the ones given, else the last synthesis of this session and the reports saved
    in the project (``reports/<target>.json`` of ``nnfpga synth``, a Vitis ``csynth.xml``)."""
    if given is not None:
        items = [given] if isinstance(given, HardwareReport) else list(given)
        return [(f"given ({r.target})", r) for r in items], []
    out: list[tuple[str, HardwareReport]] = []
    notes: list[str] = []
    last = getattr(hw, "last_report", None)
    if last is not None:
        out.append(("last synthesis of this session", last))
    from nnfpga.backends.hls.cpp import project_identifier

    prj = Path(hw.output_dir)
    csynth = prj / f"{project_identifier(hw.settings['project_name'])}_prj/solution1/syn/report/csynth.xml"
    saved = sorted(prj.glob("reports/*.json"), key=lambda p: -p.stat().st_mtime)
    for p in saved + ([csynth] if csynth.is_file() else []):
        try:
            r = parse_vitis_csynth(p) if p == csynth else HardwareReport.from_json(p.read_text())
        except (OSError, ModelLoadError) as exc:
            notes.append(f"{p}: unreadable ({exc})")
            warnings.warn(f"the HTML report leaves out the synthesis report {str(p)!r}: {exc}", stacklevel=5)
            continue
        if last is None or r.to_dict() != last.to_dict():
            out.append((f"saved: {p.relative_to(prj)}", r))
    return out, notes


def _fmt(v: object) -> str:
    if v is None or v == {}:
        return "–"
    if isinstance(v, dict):  # a critical path summary
        return path_line(v)
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def hardware_table(reports: list[tuple[str, HardwareReport]], notes: list[str]) -> str:
    parts = [f'<p class="note">{esc(n)}</p>' for n in notes]
    if not reports:
        parts.append('<p class="note">no synthesis report: run <code>hw.synthesize()</code> / '
                     "<code>nnfpga synth PROJECT</code> (Verilog backend, Yosys) or <code>hw.build()</code> "
                     "(Vitis HLS)</p>")
        return "\n".join(parts)
    dicts = [r.to_dict() for _, r in reports]
    extra = sorted({k for _, r in reports for k in r.extra})
    heads = [("field", "")] + [(f"report:{k}", src) for k, (src, _) in enumerate(reports)]
    rows = [f"<tr><th>{esc(label)}</th>" + "".join(f'<td class="num" data-field="{key}">{esc(_fmt(d[key]))}</td>'
                                                   for d in dicts) + "</tr>" for key, label in HW_FIELDS]
    rows += [f"<tr><th>{esc(key)}</th>" + "".join(
        f'<td class="num" data-field="{esc(key)}">{esc(_fmt(r.extra.get(key)))}</td>' for _, r in reports) + "</tr>"
        for key in extra]
    head = "".join(f'<th data-col="{esc(k)}">{esc(t)}</th>' for k, t in heads)
    parts.append(f'<div class="scroll"><table id="hardware"><thead><tr>{head}</tr></thead><tbody>\n'
                 + "\n".join(rows) + "\n</tbody></table></div>")
    return "\n".join(parts)


# -- writing ------------------------------------------------------------------------------------------------
def check_output(path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """The report's path, checked before any work: its parent is created; an existing entry must be a regular
    file (not a directory, link or device), and one that is not an nnfpga report is replaced only with
    ``force``."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise OutputDirError(f"the report path must be a file name like 'report.html', got {path!r}")
    target = Path(path)
    try:
        st = target.lstat()
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputDirError(f"cannot write the report to {str(target)!r}: {exc.strerror}") from None
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            raise OutputDirError(f"{str(target)!r} exists and is not a regular file (a directory, link or device): "
                                 "choose another path for the report")
        if not force and not _is_report(target):
            raise OutputDirError(f"{str(target)!r} exists and is not an nnfpga HTML report; choose another path or "
                                 "pass force=True (--force) to replace it")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputDirError(f"cannot create the directory {str(target.parent)!r} for the report: "
                             f"{exc.strerror or exc}") from None
    return target


def _is_report(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return GENERATOR.encode() in f.read(4096)
    except OSError:
        return False


def _write_report(target: Path, data: bytes) -> None:
    """``data`` as ``target``, atomically (:func:`nnfpga.project.write_file_atomic`); a failure is an
    OutputDirError naming the file."""
    def write(tmp: str) -> None:
        with open(tmp, "xb") as f:
            f.write(data)

    try:
        write_file_atomic(target, write)
    except OSError as exc:
        raise OutputDirError(f"cannot write the report to {str(target)!r}: {exc.strerror or exc}") from None
