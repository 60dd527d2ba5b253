"""A self-contained HTML page for a verification report (inline SVG, no external assets)."""
from __future__ import annotations

import html
import math

import numpy as np

from graphkit.verification.compare import Stats

COLORS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"]
FLOOR = 1e-12  # zero error is drawn at this height on the log scale
STYLE = ("<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}"
         "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}"
         "td:first-child,td:nth-child(2){text-align:left}tr.bad{background:#fde0e0}tr.ok{background:#eef8ee}"
         ".verdict{font-size:20px;font-weight:bold}.pass{color:#2a7d2a}.mismatch,.error{color:#c62828}"
         "pre{background:#f6f6f6;padding:8px}</style></head><body>")


def render(report) -> str:
    e = html.escape
    rows = []
    for o in report.outputs:
        s = o.stats
        rows.append(f"<tr class='{'ok' if s.within else 'bad'}'><td>{e(o.name)}</td><td>{e(o.runtime)}</td>"
                    f"<td>{_n(s.max_abs)}</td><td>{_n(s.max_rel)}</td><td>{_n(s.mean_abs)}</td>"
                    f"<td>{s.cosine:.6f}</td><td>{100 * s.frac_out:.2f}%</td>"
                    f"<td>{'ok' if s.within else 'MISMATCH ' + e(s.note)}</td></tr>")
    for rt, msg in report.errors.items():
        rows.append(f"<tr class='bad'><td></td><td>{e(rt)}</td><td colspan=6>ERROR: {e(msg)}</td></tr>")
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>graphkit verify: {e(report.model)}</title>",
        STYLE,
        f"<h1>graphkit verify</h1><p>model <code>{e(report.model)}</code>"
        + (f" against <code>{e(report.against_model)}</code>" if report.against_model else "")
        + f"; runtimes {e(', '.join(report.runtimes))} (baseline {e(report.baseline)}); "
        f"tolerance {e(report.tolerance.describe())}</p>",
        f"<p class='verdict {report.verdict}'>verdict: {report.verdict.upper()}</p>",
        ("<h2>Outputs</h2><table><tr><th>output</th><th>runtime</th><th>max abs</th><th>max rel</th>"
         "<th>mean abs</th><th>cosine</th><th>out of tol</th><th>status</th></tr>"),
        *rows, "</table>",
    ]
    if report.per_node is not None:
        parts.append("<h2>Per-node max abs error (log scale, topological order)</h2>")
        parts.append(chart(report))
    if report.explanation:
        parts.append(f"<h2>What happened inside the graph</h2><p>{e(report.explanation)}</p>")
    if report.first_divergence:
        fd = report.first_divergence
        parts.append(f"<h2>Origin of divergence</h2><p>node <b>{e(fd['node'])}</b> ({e(fd['op'])}) at "
                     f"position {fd['position']}, runtime(s) {e(', '.join(fd['runtimes']))}</p>")
        detail = {k: fd[k] for k in ("attributes", "inputs", "outputs", "oracle") if fd.get(k)}
        import json

        parts.append(f"<pre>{e(json.dumps(detail, indent=2, default=str))}</pre>")
    if report.quantization and report.quantization.get("layers"):
        q = report.quantization
        rows = "".join(f"<tr><td>{e(r['value'])}</td><td>{e(r['kind'])}</td><td>{_n(r.get('max_error_steps', '-'))}</td>"
                       f"<td>{_n(r.get('mean_error_steps', '-'))}</td><td>{_n(r.get('sqnr_db', '-'))}</td></tr>"
                       for r in q["layers"])
        parts.append("<h2>Quantization error per layer</h2><table><tr><th>tensor</th><th>kind</th>"
                     f"<th>max steps</th><th>mean steps</th><th>SQNR dB</th></tr>{rows}</table>"
                     f"<p>costs most at: {e(', '.join(q.get('worst', [])))}</p>")
    if report.reduced:
        r = report.reduced
        parts.append(f"<h2>Reduced</h2><p>{len(r['nodes'])} node(s) {e(str(r['nodes']))}: "
                     f"{'reproduces' if r['reproduces'] else 'does not reproduce'} the mismatch"
                     f"{' — ' + e(r['model_path']) if r.get('model_path') else ''}</p>")
    for note in report.notes:
        parts.append(f"<p><i>note: {e(note)}</i></p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def chart(report, width: int = 900, height: int = 320) -> str:
    nodes = [nc for nc in report.per_node]
    runtimes = sorted({rt for nc in nodes for rt in nc.stats})
    left, right, top, bottom = 60, 20, 20, 40
    n = max(len(nodes) - 1, 1)
    errors = [s.error for nc in nodes for rt in runtimes if (s := nc.worst(rt)) is not None]
    finite = [x for x in errors if math.isfinite(x) and x > 0]
    lo = math.floor(math.log10(max(min(finite, default=FLOOR), FLOOR)))
    atol = report.tolerance.for_float(np.dtype(np.float32)).atol or 1e-5
    hi = math.ceil(math.log10(max(max(finite, default=1.0), atol * 10)))
    hi = max(hi, lo + 1)

    def x(i):
        return left + (width - left - right) * i / n

    def y(err):
        v = math.log10(max(err, 10.0 ** lo)) if math.isfinite(err) else hi
        return top + (height - top - bottom) * (hi - min(v, hi)) / (hi - lo)

    svg = [(f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
            f"style='background:#fff;border:1px solid #ddd'>")]
    for p in range(lo, hi + 1):
        svg.append(f"<line x1='{left}' x2='{width - right}' y1='{y(10.0 ** p):.1f}' y2='{y(10.0 ** p):.1f}' "
                   f"stroke='#eee'/><text x='{left - 6}' y='{y(10.0 ** p) + 4:.1f}' font-size='10' "
                   f"text-anchor='end'>1e{p}</text>")
    ya = y(atol)
    svg.append(f"<line x1='{left}' x2='{width - right}' y1='{ya:.1f}' y2='{ya:.1f}' stroke='#999' "
               f"stroke-dasharray='4 3'/><text x='{width - right}' y='{ya - 3:.1f}' font-size='10' "
               f"text-anchor='end'>atol</text>")
    for o in report.origins[:20]:
        xo = x(o.comparison.position)
        svg.append(f"<line x1='{xo:.1f}' x2='{xo:.1f}' y1='{top}' y2='{height - bottom}' stroke='#c62828' "
                   f"stroke-width='1.5'><title>origin: {html.escape(o.comparison.info.label)} "
                   f"({o.comparison.info.op}) [{html.escape(o.runtime)}]</title></line>")
    for k, rt in enumerate(runtimes):
        color = COLORS[k % len(COLORS)]
        points = []
        for nc in nodes:
            s: Stats | None = nc.worst(rt)
            if s is None:
                continue
            points.append(f"{x(nc.position):.1f},{y(s.error):.1f}")
            label = html.escape(f"{nc.info.label} ({nc.info.op}) [{rt}] max_abs={s.max_abs:.3g}")
            fill = color if s.within else "#000"
            svg.append(f"<circle cx='{x(nc.position):.1f}' cy='{y(s.error):.1f}' r='2.5' fill='{fill}'>"
                       f"<title>{label}</title></circle>")
        svg.append(f"<polyline fill='none' stroke='{color}' stroke-width='1' points='{' '.join(points)}'/>")
        svg.append(f"<text x='{left + 10 + 110 * k}' y='{height - 10}' font-size='12' fill='{color}'>"
                   f"{html.escape(rt)}</text>")
    svg.append(f"<text x='{width - right}' y='{height - 10}' font-size='11' text-anchor='end'>node position "
               f"(0..{len(nodes) - 1}); red line: origin of divergence; black dot: out of tolerance</text>")
    svg.append("</svg>")
    return "".join(svg)


def _n(x) -> str:
    return f"{x:.3g}" if isinstance(x, (int, float)) else str(x)
