"""gk.load: a path, bytes or ModelProto -> Model, with external data memory-mapped lazily."""
from __future__ import annotations

import gc
import os

import onnx

from graphkit.errors import LoadError
from graphkit.io.from_proto import model_from_proto
from graphkit.ir.model import Model


def load(source, *, base_dir: str | os.PathLike | None = None, check: bool = False) -> Model:
    """Load a model.

    `source` is a path, the bytes of a model, or an onnx.ModelProto (not copied: the IR keeps
    references into it, so do not mutate it afterwards). External data is resolved against the
    model file's folder (or `base_dir`), checked for safety and size, and mapped on first use.
    Raises LoadError (one line) for unreadable input, unsafe or missing external data.

    A malformed graph still loads (so that surgery can repair it). `check=True` refuses it instead:
    opset versions onnx does not know, a value produced twice, a node reading a value nothing
    defines, a cycle (its nodes named), a graph output nothing produces, and then everything
    `onnx.checker.check_model(full_check=True)` finds (attribute types, required attributes and
    inputs, tensor sizes, shape inference) -- each a LoadError.
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
    if check:
        check_proto(proto, path, base_dir)
    was_enabled = gc.isenabled()
    gc.disable()  # building ~1M small objects: the cyclic GC would rescan them over and over
    try:
        model = model_from_proto(proto, base_dir=None if base_dir is None else os.fspath(base_dir))
    finally:
        if was_enabled:
            gc.enable()
    model.source_path = os.path.abspath(path) if path else None
    return model


def check_proto(proto: onnx.ModelProto, path: str | None = None, base_dir=None) -> None:
    """The checks of `load(check=True)` (see there); raises LoadError."""
    from refruntime.errors import RefRuntimeError
    from refruntime.plan import topological_order
    from refruntime.registry import normalize_domain
    from refruntime.validate import check_opsets

    where = path or "the model"
    graph = proto.graph
    try:
        check_opsets({normalize_domain(o.domain): o.version for o in proto.opset_import})
        available = {i.name for i in graph.input} | {t.name for t in graph.initializer}
        available |= {t.values.name for t in graph.sparse_initializer}
        topological_order(graph, available)
        produced = available | {n for node in graph.node for n in node.output if n}
        for out in graph.output:
            if out.name not in produced:
                raise LoadError(f"graph output {out.name!r} is not produced by any node nor is it an input")
    except (RefRuntimeError, LoadError) as exc:
        raise LoadError(f"{where}: {exc}") from None
    from refruntime.external_data import UnsafeExternalData, has_external_data, inline_external_data

    try:
        if not has_external_data(proto):
            onnx.checker.check_model(proto, full_check=True)
        elif path is not None:  # the checker reads external data relative to the model file
            onnx.checker.check_model(path, full_check=True)
        else:
            onnx.checker.check_model(inline_external_data(proto, None if base_dir is None else os.fspath(base_dir)),
                                     full_check=True)
    except UnsafeExternalData as exc:
        raise LoadError(f"{where}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - ValidationError, ValueError, InferenceError...
        detail = " ".join(str(exc).split())[:400] or type(exc).__name__
        raise LoadError(f"{where}: onnx.checker: {detail}") from None


def _parse(data: bytes, where: str) -> onnx.ModelProto:
    try:
        proto = onnx.ModelProto.FromString(data)
    except Exception as exc:  # noqa: BLE001 - protobuf raises DecodeError, RuntimeError, ...
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LoadError(f"{where}: not an ONNX model (protobuf cannot parse it: {detail})") from None
    return proto
