"""simplify: rounds of three stages, repeated until nothing changes:

  fold_constants   FoldConstants, then FoldShapes (shape computations on static dims)
  fuse             Fuse (Conv/BN/MatMul+Add), then FuseTransformer (LayerNormalization, Gelu)
  prune            RemoveNoOps, MergeLayoutOps, then Prune (dead nodes, duplicates, identities)

Fusing comes before deduplication: two Convs with equal weights feeding different
BatchNormalizations each fuse with theirs, where merging them first would leave one Conv read by
three BatchNormalizations that no longer fuse. With target "ort", onnxruntime's transformer
fusions run once at the end (ort_fusion.py).

Each stage's report holds its passes' changes and notes (every detail names the pass that made it).
The shape passes share one ShapeInfo for the whole run (reset when the run starts): each rewrite
replaces a value by an equal one, so what is known about the values that remain stays true.
"""
from __future__ import annotations

from graphkit.passes.base import FixedPoint, Pass, Report, Sequential
from graphkit.passes.edits import SharedShapes
from graphkit.passes.fold_constants import DEFAULT_SIZE_LIMIT, FoldConstants
from graphkit.passes.fold_shapes import FoldShapes
from graphkit.passes.fuse import Fuse
from graphkit.passes.fuse_transformer import FuseTransformer
from graphkit.passes.merge_layout import MergeLayoutOps
from graphkit.passes.prune import Prune
from graphkit.passes.remove_noops import RemoveNoOps


class Stage(Pass):
    """Passes run one after the other, reported as one pass (`name`): counts and notes add up, each
    detail gains a "pass" key naming the pass it comes from."""

    def __init__(self, name: str, *passes: Pass):
        self.name, self.passes = name, passes

    def run(self, model, report: Report) -> None:
        for p in self.passes:
            r = p(model).report
            report.counts.update({k: v for k, v in r.counts.items() if v})
            room = max(report.max_details - len(report.details), 0)
            report.details.extend({**d, "pass": r.name} for d in r.details[:room])
            report.notes.extend(r.notes)
            report.children.extend(r.children)


class _Simplify(FixedPoint):
    requires_acyclic = True  # checked once here: no pass of a round makes a cycle

    def __init__(self, inner, shapes: SharedShapes, max_iterations: int, after: Pass | None = None):
        super().__init__(inner, max_iterations=max_iterations, name="simplify")
        self.shapes, self.after = shapes, after

    def run(self, model, report: Report) -> None:
        self.shapes.reset()
        try:
            super().run(model, report)
        finally:
            self.shapes.reset()
        if self.after is not None:
            report.children.append(self.after(model).report)


def Simplify(size_limit: int = DEFAULT_SIZE_LIMIT, max_iterations: int = 10,
             fold_dequantize: bool = False, target: str | None = None, ort_model_type: str = "bert") -> FixedPoint:
    """The simplify pass (a FixedPoint over one round of the three stages). Quantization is kept: see
    fold_constants (`fold_dequantize`), prune and fuse. `target="ort"` then runs onnxruntime's
    transformer fusions once (ort_fusion.py: checked on onnxruntime, dropped if outputs change)."""
    if target not in (None, "onnx", "ort"):
        from graphkit.errors import UsageError

        raise UsageError(f"simplify target must be 'onnx' (portable ONNX, the default) or 'ort', got {target!r}")
    after = None
    if target == "ort":
        from graphkit.passes.ort_fusion import OrtFusion

        after = OrtFusion(ort_model_type)
    shapes = SharedShapes()
    inner = Sequential(
        Stage("fold_constants", FoldConstants(size_limit=size_limit, fold_dequantize=fold_dequantize, shapes=shapes),
              FoldShapes(shapes)),
        Stage("fuse", Fuse(), FuseTransformer(shapes)),
        Stage("prune", RemoveNoOps(shapes), MergeLayoutOps(shapes), Prune()),
        name="simplify_round")
    for stage in inner.passes:
        for p in stage.passes:
            p.requires_acyclic = False
    return _Simplify(inner, shapes, max_iterations, after)
