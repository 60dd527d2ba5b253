"""Reading an ONNX file as a proto: `read_proto` (weights left in their files: the inputs' types
and shapes, a command's up-front checks) and `load_whole_proto` (weights included, for tools that
hand the model to another library in one piece: onnxruntime.quantization, the TensorFlow
converter). graphkit's own loader (graphkit/io/load.py) keeps weights lazy instead; `graphkit
verify` reads them from their file (verification/api.py).
"""
from __future__ import annotations

import os

import onnx

from graphkit.errors import LoadError, UsageError


def read_proto(path: str) -> onnx.ModelProto:
    """The model file's proto without its external data; LoadError if it is not an ONNX model."""
    try:
        proto = onnx.load(path, load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError, RuntimeError, ...
        raise LoadError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
    if not proto.HasField("graph"):
        raise LoadError(f"{path}: not an ONNX model (no graph)")
    return proto


def load_whole_proto(model) -> tuple[onnx.ModelProto, str | None]:
    """(proto with external data inlined, its absolute path or None) of a path, an onnx.ModelProto
    or a graphkit Model. LoadError for a missing, unreadable or graph-less file and for external
    data that fails refruntime's safety checks; UsageError for anything else."""
    from refruntime.external_data import UnsafeExternalData, inline_external_data

    base_dir, path = None, None
    if isinstance(model, onnx.ModelProto):
        proto = model
    elif isinstance(model, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(model))
        if not os.path.isfile(path):
            raise LoadError(f"model file not found: {os.fspath(model)}")
        proto = read_proto(path)
        base_dir = os.path.dirname(path)
    elif hasattr(model, "to_proto"):  # a graphkit Model
        proto = model.to_proto()
        path = getattr(model, "source_path", None)
        base_dir = os.path.dirname(path) if path else None
    else:
        raise UsageError(f"model must be a path, an onnx.ModelProto or a graphkit Model, got {type(model).__name__}")
    if not proto.HasField("graph"):
        raise LoadError(f"{path or 'the given model'}: not an ONNX model (no graph)")
    try:
        return inline_external_data(proto, base_dir), path
    except UnsafeExternalData as exc:
        raise LoadError(f"{path or 'the given model'}: {exc}") from None
