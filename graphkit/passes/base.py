"""Pass infrastructure: a pass mutates a Model in place and returns PassResult(model, modified, report).

    result = FoldConstants()(model)          # PassResult
    print(result.report)                     # what changed, per action, with details
    Sequential(FoldConstants(), Prune())(model)
    FixedPoint(Sequential(...), max_iterations=10)(model)   # until nothing changes

A Report counts *changes* (`report.add("folded", node=..., op=...)`) and, separately, *notes*
(`report.note("refused", ...)`: things looked at but left alone, e.g. a tensor over the size limit).
Only changes make `report.modified` true. Reports print as a table and serialize to JSON.
"""
from __future__ import annotations

import gc
import json
import time
from collections import Counter
from dataclasses import dataclass

from graphkit.ir.model import Model


class Report:
    """What one pass (and its sub-passes) changed. Counts are exact; `details` keeps the first
    `max_details` changes (a 100k-node prune would otherwise build 100k dicts)."""

    max_details = 2000

    def __init__(self, name: str):
        self.name = name
        self.counts: Counter = Counter()      # action -> number of changes
        self.details: list[dict] = []         # one dict per change
        self.notes: list[dict] = []           # things left alone, with the reason
        self.children: list[Report] = []      # reports of sub-passes (Sequential / FixedPoint)
        self.seconds = 0.0
        self.iterations = 1
        self.verification: dict | None = None  # set by verify=True: runtime and max error per output

    def add(self, action: str, **detail) -> None:
        self.counts[action] += 1
        if len(self.details) < self.max_details:
            self.details.append({"action": action, **detail})

    def note(self, kind: str, **detail) -> None:
        self.notes.append({"kind": kind, **detail})

    @property
    def modified(self) -> bool:
        return any(self.counts.values()) or any(c.modified for c in self.children)

    def total(self, action: str | None = None) -> int:
        """Number of changes (of one action, or all), sub-passes included."""
        own = self.counts.get(action, 0) if action else sum(self.counts.values())
        return own + sum(c.total(action) for c in self.children)

    def all_counts(self) -> Counter:
        out = Counter(self.counts)
        for c in self.children:
            out.update(c.all_counts())
        return out

    def all_notes(self) -> list[dict]:
        return [*self.notes, *(n for c in self.children for n in c.all_notes())]

    def to_dict(self) -> dict:
        return {"pass": self.name, "modified": self.modified, "seconds": round(self.seconds, 6),
                "iterations": self.iterations, "counts": dict(self.counts), "details": self.details,
                "notes": self.notes, "children": [c.to_dict() for c in self.children],
                "verification": self.verification}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)

    def summary(self) -> str:
        counts = self.all_counts()
        what = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()) if v) or "no change"
        return f"{self.name}: {what} ({self.seconds:.3f}s)"

    def table(self, max_details: int = 20) -> str:
        lines = [self.summary()]
        details = [*self.details, *(d for c in self.children for d in _all_details(c))]
        for d in details[:max_details]:
            lines.append("  " + _line(d, "action"))
        if len(details) > max_details:
            lines.append(f"  ... {len(details) - max_details} more (use --json for all)")
        for n in self.all_notes()[:max_details]:
            lines.append("  note " + _line(n, "kind"))
        return "\n".join(lines)

    __str__ = table

    def __repr__(self) -> str:
        return f"Report({self.summary()!r})"


def _all_details(report: Report) -> list[dict]:
    return [*report.details, *(d for c in report.children for d in _all_details(c))]


def _line(d: dict, key: str) -> str:
    rest = " ".join(f"{k}={v}" for k, v in d.items() if k != key)
    return f"{d[key]}: {rest}"


@dataclass
class PassResult:
    model: Model
    modified: bool
    report: Report


class Pass:
    """Base class: subclasses set `name` and implement `run(model, report)` (mutating in place).

    A pass that follows producers and consumers sets `requires_acyclic`: a cyclic graph then raises
    toposort's GraphError naming the cycle before the pass looks at it."""

    name = "pass"
    requires_acyclic = False

    def __call__(self, model: Model) -> PassResult:
        if self.requires_acyclic:
            from graphkit.passes.toposort import check_acyclic

            check_acyclic(model)
        report = Report(self.name)
        start = time.perf_counter()
        was_enabled = gc.isenabled()
        gc.disable()  # passes touch ~every object of a large graph: GC rescans would make them quadratic
        try:
            self.run(model, report)
        finally:
            if was_enabled:
                gc.enable()
        report.seconds = time.perf_counter() - start
        return PassResult(model, report.modified, report)

    def run(self, model: Model, report: Report) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Sequential(Pass):
    """Run passes one after the other; the report holds one child per pass."""

    name = "sequential"

    def __init__(self, *passes: Pass, name: str | None = None):
        self.passes = passes
        if name:
            self.name = name

    def run(self, model: Model, report: Report) -> None:
        for p in self.passes:
            report.children.append(p(model).report)


class FixedPoint(Pass):
    """Repeat a pass until it changes nothing (or `max_iterations`); children are merged per pass."""

    name = "fixed_point"

    def __init__(self, inner: Pass, max_iterations: int = 10, name: str | None = None):
        self.inner, self.max_iterations = inner, max_iterations
        if name:
            self.name = name

    def run(self, model: Model, report: Report) -> None:
        merged: dict[str, Report] = {}
        for i in range(self.max_iterations):
            result = self.inner(model).report
            report.iterations = i + 1
            for child in (result.children or [result]):
                _merge(merged.setdefault(child.name, Report(child.name)), child)
            if not result.modified:
                break
        report.children.extend(merged.values())


def _merge(into: Report, other: Report) -> None:
    into.counts.update(other.counts)
    into.details.extend(other.details)
    into.notes.extend(n for n in other.notes if n not in into.notes)
    into.seconds += other.seconds
    into.children.extend(other.children)


def graphs_of(model: Model):
    """The main graph and every subgraph (depth first, parents first): surgery's `all_graphs`."""
    from graphkit.surgery._util import all_graphs

    return all_graphs(model.graph)


def graph_label(g) -> str:
    """Where a graph sits, for reports: "main" or "<node name>/<attribute graph name>"."""
    parts = []
    while g.parent is not None:
        parts.append(g.parent.name or g.parent.op_type)
        g = g.parent.graph
        if g is None:
            break
    return "/".join(reversed(parts)) or "main"
