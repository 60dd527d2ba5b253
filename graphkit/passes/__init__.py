"""Graph passes. Each mutates the model in place and returns a Report of what it changed.

    import graphkit as gk
    report = gk.simplify(model)            # fold -> fuse -> prune until nothing changes
    print(report); report.to_json()
    gk.fold_constants(model, size_limit=1e7, verify=True)

The functions (gk.fold_constants, ...) are in api.py; the pass classes (for composing) are here:
FoldConstants, FoldShapes, RemoveNoOps, MergeLayoutOps, Prune, Fuse, FuseTransformer, Toposort,
OrtFusion, Simplify(), with Sequential and FixedPoint from base.py.
One module per pass; the rewriter patterns of the fusions live in fuse.py / fuse_transformer.py,
verification in check.py. What the shape passes know of values (symbolic dims, small integer
tensors, constant fills) is ShapeInfo (shape_info.py; rules in shape_rules.py and
shape_rules_nn.py; dims in sym_dims.py).
"""
from __future__ import annotations

from graphkit.passes.base import FixedPoint, Pass, PassResult, Report, Sequential
from graphkit.passes.fold_constants import DEFAULT_SIZE_LIMIT, FoldConstants
from graphkit.passes.fold_shapes import FoldShapes
from graphkit.passes.fuse import Fuse
from graphkit.passes.fuse_transformer import FuseTransformer
from graphkit.passes.merge_layout import MergeLayoutOps
from graphkit.passes.ort_fusion import OrtFusion
from graphkit.passes.prune import Prune
from graphkit.passes.remove_noops import RemoveNoOps
from graphkit.passes.shape_info import ShapeInfo
from graphkit.passes.simplify import Simplify
from graphkit.passes.toposort import Toposort

__all__ = [
           "DEFAULT_SIZE_LIMIT",
           "FixedPoint",
           "FoldConstants",
           "FoldShapes",
           "Fuse",
           "FuseTransformer",
           "MergeLayoutOps",
           "OrtFusion",
           "Pass",
           "PassResult",
           "Prune",
           "RemoveNoOps",
           "Report",
           "Sequential",
           "ShapeInfo",
           "Simplify",
           "Toposort",
]
