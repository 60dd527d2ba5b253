"""Check feeds against the graph's declared inputs before anything runs.

Tensors are numpy arrays (a string tensor: an object array of str; arrays of numpy's own str dtype
are accepted and converted). Inputs declared as other ONNX types take their Python forms, as in
onnxruntime: a sequence is a list (or tuple) of values of its element type, a map a dict whose keys
are int or str as declared; a map's values are made numpy scalars of its declared value type (so
DictVectorizer knows a map(string, double) from a map(string, float)). Optional inputs pass through.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from onnx import GraphProto, TensorProto, TypeProto, ValueInfoProto

from refruntime.dtypes import to_numpy_dtype
from refruntime.errors import FeedError, ModelError


@dataclass(frozen=True)
class InputSpec:
    name: str
    dtype: np.dtype | None          # None: not a tensor, or element type unknown
    shape: tuple | None             # ints for static dims, str/None for symbolic ones; None: rank unknown
    optional: bool = False          # has an initializer providing a default
    onnx_type: TypeProto | None = None  # the declared type of a sequence, map or optional (None: tensor)

    def describe(self) -> str:
        if self.onnx_type is not None:
            return f"{self.name}: {type_text(self.onnx_type)}"
        dims = "?" if self.shape is None else "x".join(str(d) if d is not None else "?" for d in self.shape)
        return f"{self.name}: {self.dtype if self.dtype is not None else '?'}[{dims}]"


def input_spec(vi: ValueInfoProto, optional: bool = False) -> InputSpec:
    t = vi.type
    if t.WhichOneof("value") != "tensor_type":
        return InputSpec(vi.name, None, None, optional, t if t.WhichOneof("value") else None)
    tt = t.tensor_type
    try:
        dtype = to_numpy_dtype(tt.elem_type) if tt.elem_type else None
    except Exception:  # noqa: BLE001 - onnx raises KeyError/ValueError for unknown enum values
        raise ModelError(f"graph input {vi.name!r} has an unknown element type {tt.elem_type}") from None
    if not tt.HasField("shape"):
        return InputSpec(vi.name, dtype, None, optional)
    dims = []
    for d in tt.shape.dim:
        which = d.WhichOneof("value")
        dims.append(d.dim_value if which == "dim_value" else (d.dim_param or None))
    return InputSpec(vi.name, dtype, tuple(dims), optional)


def graph_input_specs(graph: GraphProto) -> list[InputSpec]:
    initialized = {t.name for t in graph.initializer} | {t.values.name for t in graph.sparse_initializer}
    return [input_spec(vi, vi.name in initialized) for vi in graph.input]


def validate_feeds(feeds: Mapping[str, object], specs: list[InputSpec]) -> dict[str, object]:
    """Return the feeds as numpy arrays; raise FeedError naming the input and expected vs got."""
    if not isinstance(feeds, Mapping):
        raise FeedError(f"feeds must be a dict of input name -> array, got {type(feeds).__name__}")
    by_name = {s.name: s for s in specs}
    unknown = [n for n in feeds if n not in by_name]
    if unknown:
        expected = ", ".join(s.describe() for s in specs if not s.optional) or "(none)"
        raise FeedError(f"unknown input name(s) {unknown}; the model's inputs are: {expected}")
    missing = [s.name for s in specs if not s.optional and s.name not in feeds]
    if missing:
        raise FeedError(
            "missing input(s): " + ", ".join(s.describe() for s in specs if s.name in missing)
        )
    checked: dict[str, object] = {}
    for name, value in feeds.items():
        spec = by_name[name]
        if spec.onnx_type is not None:
            checked[name] = _check_value(f"input {name!r}", value, spec.onnx_type)
            continue
        if spec.dtype is None:  # element type unknown: passed through unchecked
            checked[name] = value
            continue
        array = value if isinstance(value, np.ndarray) else _as_array(name, value, spec)
        if spec.dtype == object and array.dtype.kind == "U":
            array = array.astype(object)
        if array.dtype != spec.dtype:
            raise FeedError(f"input {name!r}: expected dtype {spec.dtype}, got {array.dtype}")
        if spec.shape is not None:
            if array.ndim != len(spec.shape):
                raise FeedError(
                    f"input {name!r}: expected rank {len(spec.shape)} (shape {_fmt(spec.shape)}), "
                    f"got rank {array.ndim} (shape {tuple(array.shape)})"
                )
            for axis, (want, got) in enumerate(zip(spec.shape, array.shape)):
                if isinstance(want, int) and want > 0 and want != got:
                    raise FeedError(
                        f"input {name!r}: dimension {axis} must be {want} (shape {_fmt(spec.shape)}), "
                        f"got {got} (shape {tuple(array.shape)})"
                    )
        checked[name] = array
    return checked


def _as_array(name: str, value: object, spec: InputSpec) -> np.ndarray:
    try:
        array = np.asarray(value)
    except Exception as exc:
        raise FeedError(f"input {name!r}: cannot convert {type(value).__name__} to an array: {exc}") from exc
    if array.dtype == object and spec.dtype != object:
        raise FeedError(f"input {name!r}: expected a {spec.dtype} array, got {type(value).__name__}")
    return array


def type_text(t: TypeProto) -> str:
    """An ONNX type as onnx writes it: tensor(float), seq(map(int64,tensor(float))), optional(...)."""
    which = t.WhichOneof("value")
    if which == "tensor_type":
        return f"tensor({_elem_name(t.tensor_type.elem_type)})"
    if which == "sequence_type":
        return f"seq({type_text(t.sequence_type.elem_type)})"
    if which == "map_type":
        return f"map({_elem_name(t.map_type.key_type)},{type_text(t.map_type.value_type)})"
    if which == "optional_type":
        return f"optional({type_text(t.optional_type.elem_type)})"
    return which or "?"


def _elem_name(elem_type: int) -> str:
    from refruntime.dtypes import elem_type_name

    try:
        return elem_type_name(elem_type)
    except ValueError:
        return f"type {elem_type}"


def _check_value(where: str, value, t: TypeProto):
    """`value` checked against type `t` (sequences and maps recursively); returns it in refruntime's form."""
    which = t.WhichOneof("value")
    if which == "sequence_type":
        if not isinstance(value, (list, tuple)):
            raise FeedError(f"{where}: expected {type_text(t)} (a list), got {type(value).__name__}")
        return [_check_value(f"{where} element {i}", v, t.sequence_type.elem_type) for i, v in enumerate(value)]
    if which == "map_type":
        if not isinstance(value, Mapping):
            raise FeedError(f"{where}: expected {type_text(t)} (a dict), got {type(value).__name__}")
        strings = t.map_type.key_type == TensorProto.STRING
        out = {}
        for key, v in value.items():
            if strings != isinstance(key, str) or not isinstance(key, (str, int, np.integer)) or isinstance(key, bool):
                raise FeedError(f"{where}: expected {type_text(t)}, got key {key!r} ({type(key).__name__})")
            out[key if strings else int(key)] = _map_value(f"{where} key {key!r}", v, t.map_type.value_type)
        return out
    if which == "tensor_type" and t.tensor_type.elem_type:
        try:
            dtype = to_numpy_dtype(t.tensor_type.elem_type)
            array = value if isinstance(value, np.ndarray) else np.asarray(value)
        except Exception as exc:  # noqa: BLE001 - unknown element types, ragged lists
            raise FeedError(f"{where}: expected {type_text(t)}, got {type(value).__name__} ({exc})") from None
        if dtype == object and array.dtype.kind == "U":
            array = array.astype(object)
        if array.dtype != dtype:
            raise FeedError(f"{where}: expected {type_text(t)}, got {array.dtype}")
        return array
    return value  # optional and other types: passed through


def _map_value(where: str, value, t: TypeProto):
    """A map's value as a numpy scalar of its declared tensor type (str for strings)."""
    if t.WhichOneof("value") != "tensor_type" or not t.tensor_type.elem_type:
        return _check_value(where, value, t)
    try:
        dtype = to_numpy_dtype(t.tensor_type.elem_type)
    except Exception:  # noqa: BLE001 - onnx raises KeyError/ValueError for unknown enum values
        raise FeedError(f"{where}: the map's value type {type_text(t)} is unknown") from None
    if dtype == object:
        if not isinstance(value, str):
            raise FeedError(f"{where}: expected a string value, got {type(value).__name__}")
        return value
    try:
        if isinstance(value, (str, bytes)) or np.ndim(value) != 0:
            raise TypeError(type(value).__name__)
        return dtype.type(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise FeedError(f"{where}: expected a {dtype} number, got {value!r} ({exc})") from None


def _fmt(shape: tuple) -> str:
    return "(" + ", ".join(str(d) if d is not None else "?" for d in shape) + ")"
