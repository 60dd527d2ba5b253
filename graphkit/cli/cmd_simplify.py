"""`graphkit simplify MODEL -o OUT`: fold -> fuse -> prune until nothing changes (--target ort: then
onnxruntime's transformer fusions, checked on onnxruntime)."""
from __future__ import annotations

from graphkit.cli._transform import add_common, run_transform

HELP = "fold constants and shapes, remove no-ops, prune and fuse until nothing changes"


def add_arguments(parser) -> None:
    add_common(parser, size_limit=True, target=True)


def run(args) -> int:
    from graphkit.passes.api import simplify

    return run_transform(args, lambda m, **kw: simplify(m, size_limit=args.size_limit,
                                                        fold_dequantize=args.fold_dequantize, target=args.target,
                                                        ort_model_type=args.ort_model_type, **kw))
