"""The HTML report's sections in words and tables: verdict, outputs, oracles, origins, amplifiers,
refruntime's self-check, ORT bisection, quantization per layer, the reduced repro bundle, notes.

Each function takes the Report (or one of its parts) and returns an HTML fragment; html.py puts
them in order around the graph and the per-node table. Node names carry `data-goto` (the node's
position) so a click shows the node in the graph.
"""
from __future__ import annotations

import html
import math
import os
from urllib.parse import quote

from graphkit.verification.findings import SHOWN_AMPLIFIERS, amplifier_dict, origin_dict, strongest

SHOWN_AMPLIFIER_ROWS = 20
e = html.escape


def num(x) -> str:
    """A number as a reader wants it: 3 significant digits; '-' for nothing."""
    if x is None:
        return "-"
    if isinstance(x, str):
        return e(x)
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.3g}"


def pct(x) -> str:
    return "-" if x is None or isinstance(x, str) else f"{100 * x:.2f}%"


def table(head: list[str], rows: list[list[str]], cls: str = "", row_classes: list[str] | None = None) -> str:
    """Cells are HTML already."""
    out = [f"<div class='scroll'><table class='{cls}'><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"]
    for k, row in enumerate(rows):
        rc = f" class='{row_classes[k]}'" if row_classes and row_classes[k] else ""
        out.append(f"<tr{rc}>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def node_link(label: str, position: int | None) -> str:
    if position is None:
        return f"<b>{e(label)}</b>"
    return f"<a href='#graph' class='goto' data-goto='{position}'>{e(label)}</a>"


# ---------------------------------------------------------------------------------------- summary

def summary(report) -> str:
    """The verdict, what it is about, and the findings in words."""
    verdict = report.verdict
    bad = [o for o in report.outputs if not o.stats.within]
    if verdict == "pass":
        said = (f"All {len(report.outputs)} output comparison(s) agree within tolerance"
                + (f" ({', '.join(e(r) for r in report.runtimes)} against {e(report.baseline)})."
                   if not report.against_model else "."))
    elif verdict == "mismatch":
        worst = ", ".join(f"<b>{e(o.name)}</b> on {e(o.runtime)} (max abs {num(o.stats.max_abs)}, "
                          f"{pct(o.stats.frac_out)} of its elements out of tolerance"
                          f"{', ' + e(o.stats.note) if o.stats.note else ''})" for o in bad[:5])
        said = f"{len(bad)} of {len(report.outputs)} output comparison(s) are out of tolerance: {worst}."
    else:
        said = "A runtime failed: " + "; ".join(f"<b>{e(rt)}</b>: {e(msg)}" for rt, msg in report.errors.items())
    parts = [f"<div class='verdict {verdict}'><span class='badge'>{verdict.upper()}</span> {said}</div>"]
    if report.explanation:
        parts.append(f"<p class='explanation'>{e(report.explanation)}</p>")
    elif report.per_node is None and verdict == "mismatch":
        parts.append("<p class='explanation'>The outputs differ. Run with <code>--per-node</code> to find the "
                     "node where the difference starts and the ones that only pass it on.</p>")
    elif report.per_node is not None:
        compared = sum(1 for nc in report.per_node if nc.stats)
        where = ""
        if verdict == "mismatch":
            where = (" The outputs differ all the same, so the difference arises in values that were not compared "
                     "(see the notes)" + ("; the ORT bisection below names the optimization responsible"
                                          if report.ort_bisect and report.ort_bisect.get("optimizer") else "") + ".")
        parts.append(f"<p class='explanation'>Inside the graph, all {compared} compared node(s) agree within "
                     f"tolerance.{where}</p>")
    if report.oracle:
        parts.extend(f"<p class='oracle-line'>{line}</p>" for line in oracle_sentences(report.oracle)[:2])
    if report.reduced and report.reduced.get("model_path"):
        parts.append("<p>A reduced repro is saved: see <a href='#reduced'>Reduced repro</a>.</p>")
    return "".join(parts)


def header(report) -> str:
    what = (f"<code>{e(report.model)}</code> against <code>{e(report.against_model)}</code> on "
            f"{e(report.baseline)}" if report.against_model else
            f"<code>{e(report.model)}</code> on {', '.join(e(r) for r in report.runtimes)} (baseline "
            f"{e(report.baseline)})")
    inputs = ", ".join(f"{e(k)}: {e(v.get('dtype', ''))}[{','.join(map(str, v.get('shape', [])))}]"
                       for k, v in report.inputs.items())
    return (f"<h1>graphkit verify</h1><p class='meta'>{what}<br>tolerance {e(report.tolerance.describe())}"
            + (f"<br>inputs {inputs}" if inputs else "") + "</p>")


# ---------------------------------------------------------------------------------------- outputs

def outputs(report) -> str:
    rows, classes = [], []
    for o in report.outputs:
        s = o.stats
        rows.append([e(o.name), e(o.runtime), num(s.max_abs), num(s.max_rel), num(s.mean_abs), f"{s.cosine:.6f}",
                     pct(s.frac_out), "ok" if s.within else "MISMATCH" + (f" ({e(s.note)})" if s.note else "")])
        classes.append("ok" if s.within else "bad")
    for rt, msg in report.errors.items():
        rows.append(["", e(rt), "", "", "", "", "", f"ERROR: {e(msg)}"])
        classes.append("bad")
    return ("<h2 id='outputs'>Outputs</h2>"
            + table(["output", "runtime", "max abs", "max rel", "mean abs", "cosine", "out of tol", "status"],
                    rows, "num", classes))


# ---------------------------------------------------------------------------------------- oracles

def oracle_sentences(oracle: dict) -> list[str]:
    """What the exact and spec oracles say, in words (HTML)."""
    lines = []
    names = {"exact": "Exact maths (float64 throughout)", "spec": "The ONNX spec (each op in float64, rounded "
             "to its declared type)"}
    for kind in ("exact", "spec"):
        entry = oracle.get(kind)
        if not entry:
            continue
        if "error" in entry:
            lines.append(f"{names[kind]} could not be computed: {e(entry['error'])}.")
            continue
        sides = entry.get("sides_with") or []
        errors = entry.get("errors") or {}
        others = [f"{e(rt)} is off by {num(err)}" for rt, err in errors.items() if rt not in sides]
        lines.append(f"{names[kind]} sides with <b>{', '.join(e(s) for s in sides) or 'nobody'}</b>"
                     + (f"; {', '.join(others)}" if others else "") + ".")
    exact, spec = (oracle.get("exact") or {}).get("sides_with"), (oracle.get("spec") or {}).get("sides_with")
    if exact and spec and set(exact) != set(spec):
        lines.append(f"So {', '.join(map(e, spec))} follow(s) ONNX's per-op rounding, while "
                     f"{', '.join(map(e, exact))} is/are closer to exact maths (e.g. keeping float32 between "
                     "float16 ops).")
    if oracle.get("not_independent"):
        ni = oracle["not_independent"]
        withheld = oracle.get("withheld") or []
        lines.append(f"The oracles are not independent at {len(ni)} node(s) ({', '.join(map(e, ni[:8]))}"
                     f"{' ...' if len(ni) > 8 else ''}): refruntime runs them through onnx.reference, the same code "
                     "the oracle would use, so "
                     + (f"output(s) {', '.join(map(e, withheld))} computed from them get no oracle verdict."
                        if withheld else "they are not judged (no output depends on them)."))
    return lines


def oracles(oracle: dict | None) -> str:
    if not oracle:
        return ""
    parts = ["<h2 id='oracle'>Oracles: who is right</h2>"]
    parts.extend(f"<p>{line}</p>" for line in oracle_sentences(oracle))
    rows = []
    for kind in ("exact", "spec"):
        entry = oracle.get(kind) or {}
        for rt, err in (entry.get("errors") or {}).items():
            rows.append([e(kind), e(entry.get("meaning", "")), e(rt), num(err), num((entry.get("closeness") or {}).get(rt)),
                         "yes" if rt in (entry.get("within") or []) else "no",
                         "yes" if rt in (entry.get("sides_with") or []) else ""])
    if rows:
        parts.append(table(["oracle", "meaning", "runtime", "max abs error vs oracle", "mean error / scale",
                            "within tolerance", "sides with"], rows, "num"))
    return "".join(parts)


# ---------------------------------------------------------------------------------------- origins

def origins(report) -> str:
    if not report.origins:
        return ""
    rows = []
    for r in report.origins:
        d = origin_dict(r)
        f64 = d.get("float64") or {}
        rows.append([node_link(d["node"], d["position"]), e(d["op"]), e(d["runtime"]), str(d["position"]),
                     num(d["local_error"]) if d["replayed"] else "not replayed", num(d["inherited_error"]),
                     (", ".join(map(e, f64.get("sides_with") or [])) or "neither") if f64 else "-",
                     e(d.get("note", ""))])
    parts = ["<h2 id='origins'>Where it starts: origins of divergence</h2>",
             ("<p>An origin computes differently on its own: run alone from the baseline's values of its inputs, "
              "its output still differs (local error). The inherited error is what the full run shows at its "
              "output.</p>"),
             table(["node", "op", "runtime", "position", "local error (run alone)", "error in the full run",
                    "float64 replay sides with", "note"], rows, "num")]
    if report.first_divergence:
        parts.append(first_divergence(report.first_divergence))
    return "".join(parts)


def first_divergence(fd: dict) -> str:
    parts = [(f"<h3>First divergence: {node_link(fd['node'], fd.get('position'))} ({e(fd['op'])}) on "
              f"{', '.join(map(e, fd['runtimes']))}</h3>")]
    if fd.get("attributes"):
        parts.append(table(["attribute", "value"], [[e(k), e(_short(v))] for k, v in fd["attributes"].items()]))
    if fd.get("inputs"):
        rows = []
        for name, s in fd["inputs"].items():
            rows.append([e(name), e(str(s.get("dtype", s.get("type", "")))), e(str(s.get("shape", ""))),
                         num(s.get("min")), num(s.get("max")), num(s.get("mean")), num(s.get("std")),
                         f"{s.get('nan', 0)}/{s.get('inf', 0)}"])
        parts.append("<p>Its inputs (the baseline's values):</p>"
                     + table(["input", "dtype", "shape", "min", "max", "mean", "std", "nan/inf"], rows, "num"))
    rows = []
    for rt, per in (fd.get("outputs") or {}).items():
        local = (fd.get("local") or {}).get(rt, {})
        for name, s in per.items():
            loc = local.get(name) or {}
            rows.append([e(name), e(rt), num(s.get("max_abs")), num(s.get("max_rel")), pct(s.get("frac_out")),
                         num(loc.get("max_abs")) if loc else "-",
                         ("yes" if loc.get("within") else "no") if loc else "-"])
    if rows:
        parts.append(table(["output", "runtime", "max abs (full run)", "max rel (full run)", "out of tol",
                            "max abs (run alone)", "within alone"], rows, "num"))
    if fd.get("oracle"):
        o = fd["oracle"]
        errs = ", ".join(f"{e(rt)} {num(v)}" for rt, v in o.get("errors", {}).items())
        parts.append(f"<p>The same node in float64 from the same inputs sides with "
                     f"<b>{', '.join(map(e, o.get('sides_with') or [])) or 'neither'}</b> (error against it: {errs}).</p>")
    return "".join(parts)


def amplifiers(report) -> str:
    if not report.amplifiers:
        return ""
    shown = strongest(report.amplifiers, SHOWN_AMPLIFIER_ROWS)
    rows = []
    for r in shown:
        d = amplifier_dict(r)
        rows.append([node_link(d["node"], d["position"]), e(d["op"]), e(d["runtime"]),
                     "?" if d["factor"] is None else "&times;" + num(d["factor"]), num(d["input_error"]),
                     num(d["output_error"]), num(d["input_scale"]), e(d["reason"])])
    more = len(report.amplifiers) - len(shown)
    return ("<h2 id='amplifiers'>Amplifiers: nodes that only pass the difference on</h2>"
            "<p>Their inputs already differ; run alone from the same inputs they agree. The factor is (relative "
            f"output error) / (relative input error). The {min(len(shown), SHOWN_AMPLIFIERS)} strongest are named "
            "in the explanation.</p>"
            + table(["node", "op", "runtime", "factor", "input rel error", "output rel error", "input scale",
                     "why"], rows, "num")
            + (f"<p>{more} more in the per-node table (status amplifier).</p>" if more > 0 else ""))


# ---------------------------------------------------------------------------------------- the rest

def self_check(checks: list[dict] | None) -> str:
    if checks is None:
        return ""
    if not checks:
        return ("<h2 id='self-check'>refruntime self-check</h2><p>refruntime's fused fast path matches its "
                "unfused steps bit for bit on these inputs.</p>")
    rows = [[e(str(d.get("fused_step"))), e(str(d.get("output"))), num(d.get("max_abs")),
             e(str(d.get("mismatched", ""))), e(d.get("error", ""))] for d in checks]
    return ("<h2 id='self-check'>refruntime self-check: DEFECTS</h2><p>These fused steps differ from their unfused "
            "nodes (a refruntime defect):</p>"
            + table(["fused step", "output", "max abs", "mismatched", "error"], rows, "num"))


def ort_bisect(b: dict | None) -> str:
    if not b:
        return ""
    if b.get("optimizer"):
        said = (f"onnxruntime's <b>{', '.join(map(e, b.get('optimizers') or [b['optimizer']]))}</b>"
                + (f" (on from level {e(b['level'])})" if b.get("level") else "") + " changes the outputs.")
    else:
        said = "No single onnxruntime optimizer was found to change the outputs."
    rows = []
    if b.get("nodes"):
        rows.append(["nodes it rewrote", e(", ".join(b["nodes"][:40]) + (" ..." if len(b["nodes"]) > 40 else ""))])
    if b.get("created"):
        ops = dict.fromkeys(f"{c.get('domain')}.{c.get('op')}" if c.get("domain") else str(c.get("op"))
                            for c in b["created"])
        rows.append(["ops it created", e(", ".join(ops))])
    if b.get("sessions") is not None:
        rows.append(["sessions built", e(str(b["sessions"]))])
    return ("<h2 id='ort-bisect'>Which onnxruntime optimization changed the numbers</h2>"
            f"<p>{said}</p>" + (f"<p>{e(b['note'])}</p>" if b.get("note") else "") + (table(["", ""], rows) if rows else ""))


def quantization(q: dict | None) -> str:
    if not q or not q.get("layers"):
        return "" if not q else (f"<h2 id='quantization'>Quantization error per layer</h2><p>{e(q.get('note', ''))}</p>")
    rows, classes = [], []
    worst = set(q.get("worst") or [])
    for r in q["layers"]:
        fused = f" (+{e(r['fused'])} fused)" if r.get("fused") else ""
        rows.append([e(r["value"]), e(r.get("twin", "")) + fused, e(r["kind"]), e(str(r.get("shape", ""))),
                     num(r.get("max_error_steps")), num(r.get("mean_error_steps")), num(r.get("sqnr_db")),
                     num(r.get("max_abs")), e(r.get("note", ""))])
        classes.append("worst" if r["value"] in worst else "")
    return ("<h2 id='quantization'>Quantization error per layer</h2><p>Each quantized tensor against its float "
            "twin: error in quantization steps and as signal-to-quantization-noise ratio (higher is better). "
            f"Costs most at: <b>{', '.join(map(e, q.get('worst') or [])) or '-'}</b>.</p>"
            + table(["tensor", "float twin", "kind", "shape", "max steps", "mean steps", "SQNR dB", "max abs", "note"],
                    rows, "num", classes)
            + (f"<p>{e(q['note'])}</p>" if q.get("note") else ""))


def reduced(r: dict | None, page_dir: str | None, runtimes: list[str] | None = None) -> str:
    """The reduced repro bundle, linked relative to the page's folder (the working directory when
    the page's place is not known; report.js then fixes the links from their absolute paths)."""
    if not r:
        return ""
    nodes = ", ".join(map(e, r.get("nodes") or []))
    said = (f"{len(r.get('nodes') or [])} node(s) ({nodes}) {'reproduce' if r.get('reproduces') else 'do NOT reproduce'}"
            " the mismatch on their own.")
    links = []
    for key, what in (("model_path", "model"), ("inputs_path", "inputs"), ("against_path", "reference model")):
        if r.get(key):
            links.append(f"{what}: {_file_link(r[key], page_dir)}")
    rerun = ""
    if r.get("model_path") and r.get("inputs_path"):
        rerun = (f"<p>Rerun it: <code>graphkit verify {e(os.path.basename(r['model_path']))} --inputs "
                 f"{e(os.path.basename(r['inputs_path']))}"
                 + (f" --against-model {e(os.path.basename(r['against_path']))}" if r.get("against_path") else "")
                 + (f" --runtimes {e(','.join(runtimes))}" if runtimes else "") + "</code> in its folder.</p>")
    return (f"<h2 id='reduced'>Reduced repro</h2><p>{said}</p>"
            + (f"<ul>{''.join(f'<li>{link}</li>' for link in links)}</ul>" if links else "") + rerun
            + (f"<p>{e(r['error'])}</p>" if r.get("error") else ""))


def _file_link(path: str, page_dir: str | None) -> str:
    absolute = os.path.abspath(path)
    base = page_dir if page_dir is not None else os.getcwd()
    try:
        rel = os.path.relpath(absolute, base)
    except ValueError:  # another drive
        rel = absolute
    fixed = "" if page_dir is not None else f" data-abs='{e(quote(absolute))}'"
    return f"<a class='file' href='{e(quote(rel.replace(os.sep, '/')))}'{fixed}>{e(os.path.basename(path))}</a>" \
           f" <span class='path'>({e(rel)})</span>"


def notes(report) -> str:
    if not report.notes:
        return ""
    return "<h2 id='notes'>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in report.notes) + "</ul>"


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 200 else text[:197] + "..."
