"""Cross-runtime verification: who disagrees, where it starts, and who is right.

    import graphkit as gk
    report = gk.verify("model.onnx", runtimes=("ref", "ort", "torch"), per_node=True, oracle=True)
    report.passed, report.first_divergence, print(report.table())
    gk.verify("new.onnx", against_model="old.onnx", per_node=True)   # two versions, node by node

Modules: runtimes/ (one adapter per runtime; runtimes/torch/ executes ONNX with torch), compare (error
statistics), per_node (memory-bounded streaming comparison, origin of divergence), reduce (smallest
reproducing subgraph), report/html (text, json, html), api (`verify`).
"""
from __future__ import annotations

from graphkit.verification.api import verify
from graphkit.verification.compare import Stats, Tolerance, compare
from graphkit.verification.report import Report
from graphkit.verification.runtimes import RUNTIME_NAMES, Runtime, RuntimeFailure, make_runtime

__all__ = [
    "RUNTIME_NAMES",
    "Report",
    "Runtime",
    "RuntimeFailure",
    "Stats",
    "Tolerance",
    "compare",
    "make_runtime",
    "verify",
]
