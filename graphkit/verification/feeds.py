"""The inputs every runtime is fed: from the caller, an .npz file, or seeded random data."""
from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import onnx
from onnx import helper

from graphkit.errors import UsageError
from graphkit.verification.graph import data_inputs


def make_feeds(model: onnx.ModelProto, inputs=None, seed: int = 0,
               shapes: Mapping[str, tuple] | None = None) -> dict[str, np.ndarray]:
    """Feeds for the data inputs of `model`.

    `inputs` may be a dict of arrays, a path to an .npz file, or None for seeded random values
    (floats ~ N(0, 1), integers in [0, 10), booleans). Symbolic dimensions take their size from
    `shapes`, else 1 for the first (batch) dimension; any other unknown size is an error that
    tells the user which --shape to pass.
    """
    specs = data_inputs(model.graph)
    if inputs is not None:
        feeds = _load(inputs)
        names = {vi.name for vi in specs}
        unknown = sorted(set(feeds) - names)
        if unknown:
            raise UsageError(f"inputs {unknown} are not inputs of the model; it expects {sorted(names)}")
        missing = sorted(names - set(feeds))
        if missing:
            raise UsageError(f"no value given for model input(s) {missing}")
        return feeds
    rng = np.random.default_rng(seed)
    shapes = dict(shapes or {})
    feeds = {}
    for vi in specs:
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type") or not tt.elem_type:
            raise UsageError(f"input {vi.name!r} is not a typed tensor; pass its value with --inputs")
        try:
            dtype = helper.tensor_dtype_to_np_dtype(tt.elem_type)
        except Exception:  # noqa: BLE001 - unknown enum values raise KeyError/ValueError
            raise UsageError(f"input {vi.name!r} has an unknown element type {tt.elem_type}") from None
        shape = shapes.get(vi.name) or _static_shape(vi)
        feeds[vi.name] = _random(rng, dtype, shape)
    return feeds


def _static_shape(vi: onnx.ValueInfoProto) -> tuple[int, ...]:
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        raise UsageError(f"input {vi.name!r} has no declared shape; pass --shape {vi.name}=D1,D2,...")
    dims = []
    for i, d in enumerate(tt.shape.dim):
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(d.dim_value)
        elif i == 0:
            dims.append(1)
        else:
            raise UsageError(
                f"input {vi.name!r} dimension {i} is {d.dim_param or '?'!r}; pass --shape {vi.name}=D1,D2,...")
    return tuple(dims)


MAX_RANDOM_INPUT_BYTES = 1 << 31  # a model declaring a huge input must not make us allocate it


def _random(rng: np.random.Generator, dtype: np.dtype, shape: tuple) -> np.ndarray:
    dtype = np.dtype(dtype)
    nbytes = dtype.itemsize
    for d in shape:
        nbytes *= int(d)
    if nbytes > MAX_RANDOM_INPUT_BYTES:
        raise UsageError(f"a random input of shape {tuple(shape)} would need {nbytes} bytes (limit "
                         f"{MAX_RANDOM_INPUT_BYTES}); pass a smaller --shape or --inputs")
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype.kind in "iu":
        return rng.integers(0, 10, size=shape).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    raise UsageError(f"cannot make random values of dtype {dtype}; pass the inputs with --inputs")


def _load(inputs) -> dict[str, np.ndarray]:
    if isinstance(inputs, (str, os.PathLike)):
        path = os.fspath(inputs)
        if not os.path.isfile(path):
            raise UsageError(f"inputs file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except Exception as exc:
            raise UsageError(f"{path}: not a readable .npz file ({exc})") from exc
    if isinstance(inputs, Mapping):
        return {k: np.asarray(v) for k, v in inputs.items()}
    raise UsageError(f"inputs must be a dict of arrays or an .npz path, got {type(inputs).__name__}")


def save_feeds(path: str, feeds: Mapping[str, np.ndarray]) -> None:
    np.savez(path, **{k: np.asarray(v) for k, v in feeds.items()})
