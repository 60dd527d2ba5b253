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

import importlib

# eager: light (numpy only), and `compare` must name the function, not the submodule of that name
from graphkit.verification.compare import Stats, Tolerance, compare

# names -> the module defining them, imported on first use: `graphkit run` needs feeds.py, not the
# whole of verify (replay, oracles, reports) at start-up
_EXPORTS = {
    "verify": "api", "Report": "report",
    "RUNTIME_NAMES": "runtimes", "Runtime": "runtimes", "RuntimeFailure": "runtimes", "make_runtime": "runtimes",
}

__all__ = ["RUNTIME_NAMES", "Report", "Runtime", "RuntimeFailure", "Stats", "Tolerance", "compare", "make_runtime",
           "verify"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"graphkit.verification.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'graphkit.verification' has no attribute {name!r}")
