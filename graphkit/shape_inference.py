"""onnx's shape inference, called only on graphs it can survive.

onnx's C++ inference dereferences a missing input's type for some ops: an EyeLike reading an
undefined or empty name crashes the whole process (segmentation fault), which no `except` catches.
Every graphkit call goes through `infer_shapes` here, which first runs refruntime's structure check
(refruntime/validate.py check_structure: defined names, schema arity, attributes) and raises its
ModelError, naming the node, instead. Callers that treat inference as best effort catch it like
any inference failure.
"""
from __future__ import annotations

import onnx


def infer_shapes(model: onnx.ModelProto, **kwargs) -> onnx.ModelProto:
    """onnx.shape_inference.infer_shapes(model, **kwargs) after the structure check."""
    from refruntime.validate import check_structure

    check_structure(model)
    return onnx.shape_inference.infer_shapes(model, **kwargs)
