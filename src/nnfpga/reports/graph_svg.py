"""The layer graph as an inline SVG, laid out by our own code (no Graphviz): a layered drawing.

Each node goes to the row of its longest path from an input, so a chain is a vertical column. An edge that skips
rows passes through a narrow placeholder in every row it crosses, so it runs beside the nodes, not through them;
a few up and down sweeps order each row by the mean position of its neighbours (fewer crossings), and each row
is centred. Nodes link to their row of the layers table (``#layer-<index>``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from itertools import pairwise

from nnfpga.ir.graph import Graph
from nnfpga.ops import OPS

NODE_W, NODE_H, DUMMY_W, GAP, ROW_GAP, MARGIN = 210, 58, 14, 26, 44, 16
CHARS = 27  # characters of a name that fit in a node box (12 px monospace)
SWEEPS = 4


def display_name(text: str) -> str:
    """``text`` as the report shows it: printable characters as they are, every other one (newline, tab, zero
    width or bidi controls, lone surrogates) as its Python escape, so nothing in a name is invisible."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def esc(text: object) -> str:
    """A user string made safe for HTML and SVG text and attribute values."""
    return escape(display_name(str(text)), quote=True)


def _short(text: str, n: int = CHARS) -> str:
    text = display_name(text)
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass
class _Item:
    key: str  # a node name, or "<edge index>/<row>" for a placeholder
    node: bool
    width: int
    up: list[str] = field(default_factory=list)  # neighbours in the row above
    down: list[str] = field(default_factory=list)  # neighbours in the row below
    x: float = 0.0


def _layout(graph: Graph) -> tuple[list[list[_Item]], dict[str, _Item], dict[str, int],
                                    list[tuple[str, str, list[str]]]]:
    rank: dict[str, int] = {}
    for node in graph:
        rank[node.name] = 1 + max((rank[i] for i in node.inputs), default=-1)
    rows: list[list[_Item]] = [[] for _ in range(max(rank.values(), default=-1) + 1)]
    items: dict[str, _Item] = {}
    for node in graph:
        items[node.name] = _Item(node.name, True, NODE_W)
        rows[rank[node.name]].append(items[node.name])
    edges: list[tuple[str, str, list[str]]] = []  # (source, target, placeholders in order)
    for node in graph:
        for src in dict.fromkeys(node.inputs):  # a node reading one input twice gets one edge
            chain: list[str] = []
            for r in range(rank[src] + 1, rank[node.name]):
                key = f"{len(edges)}/{r}"
                items[key] = _Item(key, False, DUMMY_W)
                rows[r].append(items[key])
                chain.append(key)
            for a, b in zip([src, *chain], [*chain, node.name], strict=True):
                items[a].down.append(b)
                items[b].up.append(a)
            edges.append((src, node.name, chain))
    for sweep in range(SWEEPS):
        order = rows[1:] if sweep % 2 == 0 else rows[-2::-1]
        for row in order:
            _place(row)
            row.sort(key=lambda it: _mean([items[k].x for k in (it.up if sweep % 2 == 0 else it.down)], it.x))
            _place(row)
    for row in rows:
        _place(row)
    return rows, items, rank, edges


def _mean(values: list[float], default: float) -> float:
    return sum(values) / len(values) if values else default


def _place(row: list[_Item]) -> None:
    """Left to right, centred on x = 0."""
    total = sum(it.width for it in row) + GAP * (len(row) - 1)
    x = -total / 2
    for it in row:
        it.x = x + it.width / 2
        x += it.width + GAP


def graph_svg(graph: Graph) -> str:
    """The SVG element (a string) drawing ``graph``."""
    rows, items, rank, edges = _layout(graph)
    left = min((it.x - it.width / 2 for row in rows for it in row), default=0.0)
    right = max((it.x + it.width / 2 for row in rows for it in row), default=0.0)
    width = right - left + 2 * MARGIN
    height = len(rows) * (NODE_H + ROW_GAP) - ROW_GAP + 2 * MARGIN

    def cx(key: str) -> float:
        return items[key].x - left + MARGIN

    def top(r: int) -> float:
        return MARGIN + r * (NODE_H + ROW_GAP)

    # where each edge meets its target: spread over the top of a node with several inputs, ordered by x
    arrivals: dict[tuple[str, int], float] = {}
    for node in graph:
        incoming = sorted((i for i, e in enumerate(edges) if e[1] == node.name),
                          key=lambda i: cx(edges[i][2][-1] if edges[i][2] else edges[i][0]))
        for k, i in enumerate(incoming):
            arrivals[(node.name, i)] = cx(node.name) + (k + 1) / (len(incoming) + 1) * NODE_W - NODE_W / 2
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="layer graph">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>']
    for i, (src, dst, chain) in enumerate(edges):
        pts = [(cx(src), top(rank[src]) + NODE_H)]
        for key in chain:
            r = int(key.split("/")[1])
            pts += [(cx(key), top(r)), (cx(key), top(r) + NODE_H)]
        pts.append((arrivals[(dst, i)], top(rank[dst])))
        d = f"M{pts[0][0]:.1f},{pts[0][1]:.1f}"
        for (x0, y0), (x1, y1) in pairwise(pts):
            if x0 == x1 or y1 - y0 == NODE_H:  # straight down (inside a row it crosses)
                d += f" L{x1:.1f},{y1:.1f}"
            else:
                ym = (y0 + y1) / 2
                d += f" C{x0:.1f},{ym:.1f} {x1:.1f},{ym:.1f} {x1:.1f},{y1:.1f}"
        out.append(f'<path class="edge" data-from="{esc(src)}" data-to="{esc(dst)}" d="{d}" '
                   'marker-end="url(#arrow)"/>')
    outputs = set(graph.outputs)
    for index, node in enumerate(graph):
        x, y = cx(node.name) - NODE_W / 2, top(rank[node.name])
        cls = f"node cat-{OPS[node.op].category}" + (" output" if node.name in outputs else "")
        result = node.types.get("result")
        lines = [(_short(node.name), "name"), (_short(f"{node.op} · {'x'.join(map(str, node.shape))}"), "op"),
                 (_short(str(result)) if result is not None else "", "type")]
        text = "".join(f'<text x="{x + 10:.1f}" y="{y + 18 + 16 * k:.1f}" class="{c}">{escape(t)}</text>'
                       for k, (t, c) in enumerate(lines))
        out.append(f'<a href="#layer-{index}" class="{cls}" data-layer="{esc(node.name)}">'
                   f'<title>{esc(node.name)} ({esc(node.op)})</title>'
                   f'<rect x="{x:.1f}" y="{y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="6"/>{text}</a>')
    out.append("</svg>")
    return "\n".join(out)
