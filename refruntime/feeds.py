"""Check feeds against the graph's declared inputs before anything runs."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from onnx import GraphProto, ValueInfoProto

from refruntime.dtypes import to_numpy_dtype
from refruntime.errors import FeedError, ModelError


@dataclass(frozen=True)
class InputSpec:
    name: str
    dtype: np.dtype | None          # None: not a tensor, or element type unknown
    shape: tuple | None             # ints for static dims, str/None for symbolic ones; None: rank unknown
    optional: bool = False          # has an initializer providing a default

    def describe(self) -> str:
        dims = "?" if self.shape is None else "x".join(str(d) if d is not None else "?" for d in self.shape)
        return f"{self.name}: {self.dtype if self.dtype is not None else '?'}[{dims}]"


def input_spec(vi: ValueInfoProto, optional: bool = False) -> InputSpec:
    t = vi.type
    if t.WhichOneof("value") != "tensor_type":
        return InputSpec(vi.name, None, None, optional)
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
        if spec.dtype is None:  # sequences, optionals, maps: passed through unchecked
            checked[name] = value
            continue
        array = value if isinstance(value, np.ndarray) else _as_array(name, value, spec)
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
    if array.dtype == object:
        raise FeedError(f"input {name!r}: expected a {spec.dtype} array, got {type(value).__name__}")
    return array


def _fmt(shape: tuple) -> str:
    return "(" + ", ".join(str(d) if d is not None else "?" for d in shape) + ")"
