"""The result of a verification: verdict, output and per-node statistics, origin of divergence.

`report.to_json()` has the stable top-level keys documented in docs/verify.md: `runtimes`,
`outputs`, `per_node`, `origins`, `amplifiers`, `explanation`, `first_divergence`, `oracle`,
`self_check`, `ort_bisect`, `quantization`, `verdict` (plus `model`, `baseline`, `tolerance`, `inputs`, `reduced`,
`errors`, `notes`). `report.table()` is the terminal view; `report.to_html()` a page.

The verdict is about the graph outputs only (and runtimes that failed): the same with and without
--per-node. What per-node finds inside the graph (origins, amplifiers, refruntime self-check
defects) is reported beside it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from graphkit.verification.compare import Stats
from graphkit.verification.findings import amplifier_dict, origin_dict, reason, strongest
from graphkit.verification.per_node import NodeComparison
from graphkit.verification.replay import NodeReplay
from graphkit.verification.tolerance import Tolerances


@dataclass
class OutputComparison:
    name: str
    runtime: str
    stats: Stats

    def to_dict(self) -> dict:
        return {"name": self.name, "runtime": self.runtime, **self.stats.to_dict()}


@dataclass
class Report:
    model: str
    runtimes: list[str]
    baseline: str
    tolerance: Tolerances
    inputs: dict = field(default_factory=dict)
    outputs: list[OutputComparison] = field(default_factory=list)
    per_node: list[NodeComparison] | None = None
    origins: list[NodeReplay] = field(default_factory=list)
    amplifiers: list[NodeReplay] = field(default_factory=list)
    explanation: str | None = None
    first_divergence: dict | None = None
    oracle: dict | None = None
    self_check: list[dict] | None = None
    ort_bisect: dict | None = None
    quantization: dict | None = None
    reduced: dict | None = None
    errors: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    against_model: str | None = None

    @property
    def verdict(self) -> str:
        if self.errors:
            return "error"
        if any(not o.stats.within for o in self.outputs):
            return "mismatch"
        return "pass"

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def __bool__(self) -> bool:
        return self.passed

    # ------------------------------------------------------------------ json

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "against_model": self.against_model,
            "runtimes": list(self.runtimes),
            "baseline": self.baseline,
            "tolerance": self.tolerance.to_dict(),
            "inputs": self.inputs,
            "outputs": [o.to_dict() for o in self.outputs],
            "per_node": None if self.per_node is None else [_node_dict(nc) for nc in self.per_node],
            "origins": [origin_dict(o) for o in self.origins],
            "amplifiers": [amplifier_dict(a) for a in self.amplifiers],
            "explanation": self.explanation,
            "first_divergence": self.first_divergence,
            "oracle": self.oracle,
            "self_check": self.self_check,
            "ort_bisect": self.ort_bisect,
            "quantization": self.quantization,
            "reduced": self.reduced,
            "errors": dict(self.errors),
            "notes": list(self.notes),
            "verdict": self.verdict,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)

    def to_html(self) -> str:
        from graphkit.verification.html import render

        return render(self)

    # ------------------------------------------------------------------ terminal

    def table(self) -> str:
        lines = []
        title = f"verify {self.model}"
        if self.against_model:
            title += f" against {self.against_model} (runtime {self.baseline})"
        else:
            title += f": {', '.join(self.runtimes)} (baseline {self.baseline})"
        lines.append(title)
        lines.append(f"tolerance {self.tolerance.describe()}")
        header = f"{'output':<28} {'runtime':<15} {'max_abs':>10} {'max_rel':>10} {'mean_abs':>10} " \
                 f"{'cosine':>9} {'out%':>7} {'nan/inf':>8}  status"
        lines.append(header)
        lines.append("-" * len(header))
        for o in self.outputs:
            lines.append(_stats_row(o.name, o.runtime, o.stats))
        for rt, message in self.errors.items():
            lines.append(f"{'':<28} {rt:<15} ERROR: {message}")
        if self.per_node is not None:
            compared = [nc for nc in self.per_node if nc.stats]
            out = {o.comparison.position for o in self.origins}
            bad_nodes = [nc for nc in compared if any(not s.within for per in nc.stats.values() for s in per.values())]
            lines.append("")
            lines.append(f"per-node: {len(compared)} nodes compared, {len(bad_nodes)} out of tolerance, "
                         f"{len(out)} origin(s) of divergence, {len(self.amplifiers)} amplifier(s)")
            for a in strongest(self.amplifiers):
                factor = "?" if a.factor is None else f"{a.factor:.3g}"
                lines.append(f"  amplifier {a.info.label!r} ({a.info.op}) [{a.runtime}] x{factor}: {reason(a)}")
            if self.explanation:
                lines.append(f"  {self.explanation}")
        if self.first_divergence:
            fd = self.first_divergence
            lines.append("")
            lines.append(f"first divergence: node {fd['node']!r} ({fd['op']}) at position {fd['position']}, "
                         f"runtime(s) {', '.join(fd['runtimes'])}")
            if fd.get("attributes"):
                lines.append(f"  attributes: {_short(fd['attributes'])}")
            for name, summary in (fd.get("inputs") or {}).items():
                lines.append(f"  input {name}: {_summary_text(summary)}")
            for rt, per in fd["outputs"].items():
                for name, s in per.items():
                    lines.append(f"  output {name} [{rt}]: max_abs={_num(s['max_abs'])} max_rel={_num(s['max_rel'])} "
                                 f"out={100 * s['frac_out']:.2f}% {s['note']}".rstrip())
            for rt, per in (fd.get("local") or {}).items():
                for name, s in per.items():
                    lines.append(f"  run alone from the baseline's inputs, {name} [{rt}]: max_abs={_num(s['max_abs'])}")
            if fd.get("oracle"):
                o = fd["oracle"]
                errs = ", ".join(f"{rt}={_num(e)}" for rt, e in o["errors"].items())
                lines.append(f"  float64 from the same inputs sides with: {', '.join(o['sides_with']) or 'neither'}"
                             f"  (error vs float64: {errs})")
        elif self.per_node is None and self.verdict == "mismatch":
            lines.append("")
            lines.append("outputs differ; run with --per-node to find the first node that diverges")
        if self.oracle:
            from graphkit.verification.oracle import summary

            lines.append("")
            lines.extend(summary(self.oracle))
        if self.self_check:
            lines.append("")
            for d in self.self_check:
                lines.append(f"REFRUNTIME DEFECT: fused step {d.get('fused_step')} differs from its unfused nodes "
                             f"at {d.get('output')} (max_abs={_num(d.get('max_abs'))}) {d.get('error', '')}".rstrip())
        if self.ort_bisect:
            b = self.ort_bisect
            lines.append("")
            lines.append(f"onnxruntime optimizer: {b.get('optimizer') or 'none found'}"
                         + (f" (level {b['level']})" if b.get("level") else "")
                         + (f", rewrote {', '.join(b['nodes'][:8])}" if b.get("nodes") else "")
                         + (f": {b['note']}" if b.get("note") else ""))
        if self.quantization:
            from graphkit.verification.quant_report import table

            lines.append("")
            lines.extend(table(self.quantization))
        if self.reduced:
            r = self.reduced
            lines.append("")
            where = f" saved to {r['model_path']} + {r['inputs_path']}" if r.get("model_path") else ""
            lines.append(f"reduced to {len(r['nodes'])} node(s) {r['nodes']}: "
                         f"{'reproduces' if r['reproduces'] else 'does NOT reproduce'} the mismatch{where}")
        for note in self.notes:
            lines.append(f"note: {note}")
        lines.append(f"verdict: {self.verdict.upper()}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _node_dict(nc: NodeComparison) -> dict:
    return {
        "position": nc.position, "node": nc.info.label, "op": nc.info.op, "outputs": nc.info.outputs,
        "runtimes": {rt: {name: s.to_dict() for name, s in per.items()} for rt, per in nc.stats.items()},
    }


def _num(x) -> str:
    if isinstance(x, str):
        return x
    if x is None:
        return "-"
    return f"{x:.3g}"


def _stats_row(name: str, runtime: str, s: Stats) -> str:
    status = "ok" if s.within else "MISMATCH" + (f" ({s.note})" if s.note else "")
    nonfinite = f"{sum(s.nan[1:]) + sum(s.inf[1:])}"
    return (f"{name[:28]:<28} {runtime[:15]:<15} {_num(s.max_abs):>10} {_num(s.max_rel):>10} "
            f"{_num(s.mean_abs):>10} {s.cosine:>9.6f} {100 * s.frac_out:>6.2f}% {nonfinite:>8}  {status}")


def _summary_text(summary: dict) -> str:
    text = f"{summary.get('dtype', summary.get('type'))}{summary.get('shape', '')}"
    if "min" in summary:
        text += (f" min={summary['min']:.4g} max={summary['max']:.4g} mean={summary['mean']:.4g} "
                 f"std={summary['std']:.4g}")
    if summary.get("nan") or summary.get("inf"):
        text += f" nan={summary['nan']} inf={summary['inf']}"
    return text


def _short(attrs: dict) -> str:
    text = ", ".join(f"{k}={v}" for k, v in attrs.items())
    return text if len(text) < 200 else text[:197] + "..."
