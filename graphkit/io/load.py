"""gk.load: a path, bytes or ModelProto -> Model, with external data memory-mapped lazily."""
from __future__ import annotations

import gc
import os

import onnx

from graphkit.errors import LoadError
from graphkit.io.from_proto import model_from_proto
from graphkit.ir.model import Model


def load(source, *, base_dir: str | os.PathLike | None = None) -> Model:
    """Load a model.

    `source` is a path, the bytes of a model, or an onnx.ModelProto (not copied: the IR keeps
    references into it, so do not mutate it afterwards). External data is resolved against the
    model file's folder (or `base_dir`), checked for safety and size, and mapped on first use.
    Raises LoadError (one line) for unreadable input, unsafe or missing external data.
    """
    path = None
    if isinstance(source, onnx.ModelProto):
        proto = source
    elif isinstance(source, (bytes, bytearray, memoryview)):
        proto = _parse(bytes(source), "the given bytes")
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.exists(path):
            raise LoadError(f"model file not found: {path}")
        if os.path.isdir(path):
            raise LoadError(f"{path} is a folder, not an .onnx file")
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise LoadError(f"cannot read {path}: {exc.strerror or exc}") from None
        proto = _parse(data, path)
        if base_dir is None:
            base_dir = os.path.dirname(os.path.abspath(path))
    else:
        raise LoadError(f"gk.load needs a path, bytes or an onnx.ModelProto, got {type(source).__name__}")
    if not proto.HasField("graph"):
        where = path or "the given model"
        raise LoadError(f"{where}: not an ONNX model (no graph)")
    was_enabled = gc.isenabled()
    gc.disable()  # building ~1M small objects: the cyclic GC would rescan them over and over
    try:
        model = model_from_proto(proto, base_dir=None if base_dir is None else os.fspath(base_dir))
    finally:
        if was_enabled:
            gc.enable()
    model.source_path = os.path.abspath(path) if path else None
    return model


def _parse(data: bytes, where: str) -> onnx.ModelProto:
    try:
        proto = onnx.ModelProto.FromString(data)
    except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError, RuntimeError, ...
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LoadError(f"{where}: not an ONNX model (protobuf cannot parse it: {detail})") from None
    return proto
