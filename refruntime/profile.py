"""Per-node and per-op-type timing from a profiled run (`Session.run(..., profile=True)`)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class OpSummary:
    op_type: str
    kernel: str
    count: int
    seconds: float
    output_bytes: int


class Profile:
    def __init__(self, records: list):
        self.records = list(records)

    @property
    def total_seconds(self) -> float:
        return sum(r.seconds for r in self.records)

    def by_op(self) -> list[OpSummary]:
        table: dict[tuple[str, str], OpSummary] = {}
        for r in self.records:
            s = table.setdefault((r.op_type, r.kernel), OpSummary(r.op_type, r.kernel, 0, 0.0, 0))
            s.count += 1
            s.seconds += r.seconds
            s.output_bytes += r.output_bytes
        return sorted(table.values(), key=lambda s: -s.seconds)

    def to_json(self) -> dict:
        return {
            "total_ms": self.total_seconds * 1e3,
            "nodes": [{"node": r.node, "op": r.op_type, "kernel": r.kernel, "ms": r.seconds * 1e3,
                       "output_bytes": r.output_bytes} for r in self.records],
            "ops": [{"op": s.op_type, "kernel": s.kernel, "count": s.count, "ms": s.seconds * 1e3,
                     "output_bytes": s.output_bytes} for s in self.by_op()],
        }

    def table(self, top: int = 15) -> str:
        total = self.total_seconds or 1e-12
        lines = [f"{'op':<24}{'kernel':<10}{'count':>6}{'ms':>10}{'%':>7}{'out MB':>9}"]
        for s in self.by_op()[:top]:
            lines.append(f"{s.op_type:<24}{s.kernel:<10}{s.count:>6}{s.seconds * 1e3:>10.3f}"
                         f"{100 * s.seconds / total:>7.1f}{s.output_bytes / 1e6:>9.2f}")
        lines.append(f"{'total':<40}{total * 1e3:>10.3f}")
        return "\n".join(lines)
