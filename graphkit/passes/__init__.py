"""Graph passes. Each mutates the model in place and returns a Report of what it changed.

    import graphkit as gk
    report = gk.simplify(model)            # fold -> prune -> fuse until nothing changes
    print(report); report.to_json()
    gk.fold_constants(model, size_limit=1e7, verify=True)

The functions (gk.fold_constants, ...) are in api.py; the pass classes (for composing) are here:
FoldConstants, Prune, Fuse, Toposort, Simplify(), with Sequential and FixedPoint from base.py.
One module per pass; the rewriter patterns of the fusions live in fuse.py, verification in check.py.
"""
from __future__ import annotations

from graphkit.passes.base import FixedPoint, Pass, PassResult, Report, Sequential
from graphkit.passes.fold_constants import DEFAULT_SIZE_LIMIT, FoldConstants
from graphkit.passes.fuse import Fuse
from graphkit.passes.prune import Prune
from graphkit.passes.simplify import Simplify
from graphkit.passes.toposort import Toposort

__all__ = [
           "DEFAULT_SIZE_LIMIT",
           "FixedPoint",
           "FoldConstants",
           "Fuse",
           "Pass",
           "PassResult",
           "Prune",
           "Report",
           "Sequential",
           "Simplify",
           "Toposort",
]
