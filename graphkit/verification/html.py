"""A verification report as one self-contained HTML page that opens offline.

At the top, the verdict and what happened in words; then the model as a graph, nodes coloured by
their own (local) error: origins red, amplifiers orange with their factor, within tolerance green,
not compared grey. Hover or click a node for its inputs, outputs and statistics per runtime. Then
the origins and amplifiers as tables, a sortable and filterable per-node table, the outputs, the
oracles in words, quantization per layer, the ORT bisection, refruntime's self-check and the
reduced repro bundle (relative links).

The layout is dagre's (@dagrejs/dagre, MIT; the layout library Netron uses), vendored in
report_assets/ and inlined with the page's own script and style, so nothing is fetched. The data
is one JSON object (report_data.py, ~165 bytes a node); the page draws it. Large models stay
usable: past 400 nodes the graph starts with the first 150 nodes and the neighbourhood of the
origins and strongest amplifiers, with controls to move through the topological order and to open
a node's neighbours (at most 1,500 nodes laid out at once: about a second of dagre), and the
table is paginated.
"""
from __future__ import annotations

import html
import json
import math
import os
from importlib.resources import files

from graphkit.verification import report_sections as sections
from graphkit.verification.report_data import page_data

ASSETS = "report_assets"
LEGEND = (("origin", "origin: computes differently on its own"),
          ("amplifier", "amplifier: passes on (and grows) what it inherited; ×factor"),
          ("out", "out of tolerance, not replayed"),
          ("ok", "within tolerance"),
          ("none", "not compared"))


def render(report, path: str | os.PathLike | None = None) -> str:
    """The page. `path`: where it will be written, so the links to the reduced repro are relative
    to its folder (without it, to the working directory, and the page fixes them when opened)."""
    e = html.escape
    page_dir = os.path.dirname(os.path.abspath(path)) if path is not None else None
    body = [sections.header(report), sections.summary(report), _nav(report)]
    if report.per_node is not None:
        body += [_graph_section(), sections.origins(report), sections.amplifiers(report), _table_section(),
                 sections.outputs(report)]
    else:
        body += [sections.outputs(report),
                 ("<h2 id='graph'>Graph</h2><p>Run with <code>--per-node</code> to see the model as a graph coloured "
                  "by each node's own error, and the per-node table.</p>")]
    body += [sections.oracles(report.oracle), sections.quantization(report.quantization),
             sections.ort_bisect(report.ort_bisect), sections.self_check(report.self_check),
             sections.reduced(report.reduced, page_dir, report.runtimes), sections.notes(report)]
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             f"<title>graphkit verify: {e(os.path.basename(str(report.model)))} — {report.verdict.upper()}</title>",
             f"<style>{_asset('report.css')}</style></head><body>", *body]
    if report.per_node is not None:
        parts += [f"<script type='application/json' id='gk-data'>{_json(page_data(report))}</script>",
                  f"<script>{_asset('dagre.min.js')}</script>", f"<script>{_asset('report.js')}</script>"]
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)


def write(report, path: str | os.PathLike) -> str:
    """Write the page to `path` atomically (links relative to its folder). Returns the path."""
    from graphkit.atomic import atomic_open

    text = render(report, path)
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return os.fspath(path)


def _nav(report) -> str:
    links = []
    if report.per_node is not None:
        links += [("graph", "graph")]
        if report.origins:
            links.append(("origins", "origins"))
        if report.amplifiers:
            links.append(("amplifiers", "amplifiers"))
        links.append(("per-node", "per-node table"))
    links.append(("outputs", "outputs"))
    for key, anchor, name in (("oracle", "oracle", "oracles"), ("quantization", "quantization", "quantization"),
                              ("ort_bisect", "ort-bisect", "ORT bisect"), ("self_check", "self-check", "self-check"),
                              ("reduced", "reduced", "reduced repro")):
        if getattr(report, key) is not None and getattr(report, key) != {}:
            links.append((anchor, name))
    if report.notes:
        links.append(("notes", "notes"))
    return "<nav>" + "".join(f"<a href='#{a}'>{n}</a>" for a, n in links) + "</nav>"


def _graph_section() -> str:
    legend = "".join(f"<span><i class='pill st-{k}'></i>{html.escape(text)}</span>" for k, text in LEGEND)
    return (
        "<h2 id='graph'>The graph, coloured by each node's own error</h2>"
        f"<div class='legend'>{legend}</div>"
        "<div class='controls'><span id='gk-shown'></span><button id='gk-earlier'>200 earlier nodes</button>"
        "<button id='gk-more'>200 more nodes</button><button id='gk-all'>show all</button>"
        "<button id='gk-fit'>fit</button>"
        " <span class='muted'>drag to pan, wheel to zoom; hover or click a node; +N: hidden neighbours</span></div>"
        "<div class='graph-wrap'><svg id='gk-graph' xmlns='http://www.w3.org/2000/svg'>"
        "<defs><marker id='gk-arrow' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' markerHeight='7' "
        "orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' fill='#666'/></marker></defs>"
        "<g id='gk-viewport'></g></svg>"
        "<aside id='gk-details'><p class='muted'>Hover over a node for its inputs, outputs and statistics per runtime; "
        "click to keep it here.</p></aside></div>"
        "<noscript><p>The graph and the per-node table need JavaScript.</p></noscript>"
        "<h3>Error along the graph</h3><p class='muted'>Each compared node in topological order: its largest "
        "normalized error (|a - e| / (atol + rtol |e|); at most 1 is within tolerance, log scale). Click to show "
        "that node.</p><canvas id='gk-strip'></canvas>")


def _table_section() -> str:
    options = "".join(f"<option value='{k}'>{k}</option>" for k in ("origin", "amplifier", "out", "ok"))
    return ("<h2 id='per-node'>Per-node table</h2><p class='muted'>One row per compared node; click a header to sort, "
            "a row to show the node in the graph. Errors are the worst output's, against the baseline.</p>"
            "<div class='controls'><input id='gk-filter' type='search' placeholder='filter by node or op' size='30'>"
            f" status <select id='gk-status'><option value=''>any</option>{options}</select></div>"
            "<div class='scroll'><table id='gk-table' class='num'><thead id='gk-thead'></thead><tbody id='gk-tbody'>"
            "</tbody></table></div>"
            "<div class='pager'><span id='gk-page'></span><button id='gk-prev'>previous</button>"
            "<button id='gk-next'>next</button></div>")


def _asset(name: str) -> str:
    text = files("graphkit.verification").joinpath(ASSETS, name).read_text(encoding="utf-8")
    return text.replace("</script", "<\\/script")


def _json(data: dict) -> str:
    try:
        text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    except ValueError:  # a non-finite number that escaped rounding: as a string, like the rest
        text = json.dumps(_finite(data), separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/").replace("<!--", "\\u003c!--")


def _finite(x):
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x
