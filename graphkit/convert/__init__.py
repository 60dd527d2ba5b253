"""ONNX -> TensorFlow SavedModel / TFLite, by graphkit's own op mapping (docs/convert.md).

    from graphkit.convert import to_saved_model, to_tflite
    to_saved_model("model.onnx", "model_tf")       # a SavedModel folder, signature serving_default
    to_tflite("model.onnx", "model.tflite")        # float32, TFLite builtin ops only

- tfenv.py   — TensorFlow imported on demand, quietly (nothing else in graphkit imports it)
- graph.py   — the ONNX graph emitted as TensorFlow ops node by node; layouts (NHWC inside)
- ops_nn.py, ops_math.py, ops_shape.py — the op mappings
- api.py     — writing the SavedModel / .tflite file

Importing this package imports neither TensorFlow nor numpy's heavier users; the functions do.
"""
from __future__ import annotations

from graphkit.convert.tfenv import ConversionError, TensorFlowMissing


def to_saved_model(model, out_dir, shapes=None):
    """See graphkit.convert.api.to_saved_model."""
    from graphkit.convert.api import to_saved_model as convert

    return convert(model, out_dir, shapes=shapes)


def to_tflite(model, out_path, shapes=None):
    """See graphkit.convert.api.to_tflite."""
    from graphkit.convert.api import to_tflite as convert

    return convert(model, out_path, shapes=shapes)


__all__ = ["ConversionError", "TensorFlowMissing", "to_saved_model", "to_tflite"]
