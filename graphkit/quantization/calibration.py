"""Calibration samples: the inputs quantize_static's calibrator runs the model on (and --verify's).

A sample is one complete feed, {input name: array}. Samples come from

- an .npz file or a dict of arrays, one array per data input of the model, with a leading
  **sample axis**: `x` of shape (N, *S) holds N samples `x[0]`, ..., `x[N-1]`, each of a shape S
  the model accepts. Shorthand: an array of the model input's own rank (N, D1, D2, ...) is N samples
  of batch 1 (`x[i:i+1]`), allowed when the model's first dimension is symbolic or 1 -- so
  `np.savez("calib.npz", input=images)` works for a (batch, 1, 28, 28) input and images of shape
  (N, 1, 28, 28). The rank tells the two forms apart. Every input must have the same N; names,
  element types and fixed dimensions must match the model (UsageError otherwise, naming the input,
  expected vs found).
- N seeded random samples (`random_samples`): sample i is what `graphkit verify --seed S+i` would
  feed (floats ~ N(0, 1), integers in [0, 10)); symbolic dimensions take `shapes`, else 1 for the
  first one. Random inputs are a smoke test: they do not have the ranges of real data.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import onnx
from onnx import helper

from graphkit.errors import UsageError
from graphkit.verification.graph import data_inputs

Sample = dict[str, np.ndarray]


def random_samples(model: onnx.ModelProto, count: int, seed: int = 0,
                   shapes: Mapping[str, tuple[int, ...]] | None = None) -> list[Sample]:
    """`count` samples; sample i uses seed `seed + i` (graphkit.verification.feeds.make_feeds)."""
    from graphkit.verification.feeds import make_feeds

    if count < 1:
        raise UsageError(f"--random needs a positive number of samples, got {count}")
    check_shapes(model, shapes)
    return [make_feeds(model, None, seed + i, shapes) for i in range(count)]


def check_shapes(model: onnx.ModelProto, shapes: Mapping[str, tuple[int, ...]] | None) -> None:
    names = [vi.name for vi in data_inputs(model.graph)]
    unknown = sorted(set(shapes or {}) - set(names))
    if unknown:
        raise UsageError(f"--shape for unknown input(s) {unknown}; inputs are {names}")


def load_samples(model: onnx.ModelProto, source) -> list[Sample]:
    """Samples from an .npz path or a {name: array} mapping (leading sample axis; see the module doc)."""
    where = "calibration data"
    if isinstance(source, (str, os.PathLike)):
        where = os.fspath(source)
        arrays = _read_npz(where)
    elif isinstance(source, Mapping):
        arrays = {str(k): np.asarray(v) for k, v in source.items()}
    else:
        raise UsageError(f"calibration must be an .npz path, a dict of arrays or a sample count, "
                         f"got {type(source).__name__}")
    specs = {vi.name: vi for vi in data_inputs(model.graph)}
    missing = sorted(set(specs) - set(arrays))
    if missing:
        raise UsageError(f"{where} lacks model input(s) {missing}; it has {sorted(arrays)}")
    unknown = sorted(set(arrays) - set(specs))
    if unknown:
        raise UsageError(f"{where} has array(s) {unknown} that are not model inputs ({sorted(specs)})")
    per_input = {name: _split(where, specs[name], arrays[name]) for name in specs}
    counts = {name: len(samples) for name, samples in per_input.items()}
    if len(set(counts.values())) > 1:
        raise UsageError(f"{where}: inputs hold different numbers of samples {counts}; the leading axis "
                         f"counts samples and must agree")
    count = next(iter(counts.values()), 0)
    if count == 0:
        raise UsageError(f"{where} holds no samples (the leading sample axis has length 0)")
    return [{name: per_input[name][i] for name in specs} for i in range(count)]


def _read_npz(path: str) -> dict[str, np.ndarray]:
    if not os.path.isfile(path):
        raise UsageError(f"calibration file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise ValueError("a single .npy array, not an .npz archive of named arrays")
            return {k: data[k] for k in data.files}
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - zip/npy/pickle errors come in many types
        raise UsageError(f"{path}: not a readable .npz file ({_first_line(exc)})") from None


def _split(where: str, vi: onnx.ValueInfoProto, array: np.ndarray) -> list[np.ndarray]:
    """The samples of one input, checked against its declared element type and shape."""
    tt = vi.type.tensor_type
    if not vi.type.HasField("tensor_type") or not tt.elem_type:
        raise UsageError(f"input {vi.name!r} is not a typed tensor; it cannot be calibrated")
    want = np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type))
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim] if tt.HasField("shape") else None
    if array.dtype != want:
        raise UsageError(f"{where}: array {vi.name!r} has dtype {array.dtype}, the model input is {want}")
    declared = _describe(dims)
    if dims is None or array.ndim == len(dims) + 1:
        if array.ndim == 0:
            raise UsageError(f"{where}: array {vi.name!r} is a scalar; it needs a leading sample axis")
        samples = list(array)
    elif array.ndim == len(dims) and dims and dims[0] in (None, 1):
        samples = [array[i:i + 1] for i in range(array.shape[0])]
    else:
        rows = f" or (N, {_describe(dims[1:])[1:-1]}): N rows of batch 1" if dims and dims[0] in (None, 1) else ""
        raise UsageError(f"{where}: array {vi.name!r} has shape {list(array.shape)}; the model input is "
                         f"{declared}, so expected (N, {declared[1:-1]}) with a leading sample axis{rows}")
    if dims is not None and samples:
        shape = samples[0].shape
        if any(d is not None and d > 0 and d != s for d, s in zip(dims, shape)):
            raise UsageError(f"{where}: a sample of {vi.name!r} has shape {list(shape)}; the model input is "
                             f"{declared}")
    return samples


def _describe(dims) -> str:
    if dims is None:
        return "of unknown rank"
    return "[" + ", ".join("?" if d in (None, 0) else str(d) for d in dims) + "]"


def reader(samples: list[Sample]):
    """An onnxruntime.quantization CalibrationDataReader over `samples` (made on demand: the class
    derives from onnxruntime's, which is imported only here)."""
    from onnxruntime.quantization import CalibrationDataReader

    class SampleReader(CalibrationDataReader):
        """Yields each sample once, then None (what MinMax calibration reads)."""

        def __init__(self, items: list[Sample]):
            self.items = items
            self.position = 0

        def get_next(self):
            if self.position >= len(self.items):
                return None
            self.position += 1
            return self.items[self.position - 1]

        def __len__(self):
            return len(self.items)

    return SampleReader(samples)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
