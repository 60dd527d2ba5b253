"""External tensor data, read safely. Shared with graphkit (which imports the path checks from here:
refruntime must not import graphkit).

A tensor's `location` must be a relative path that stays inside the model's folder. Absolute paths,
any `..` component, and symlinks whose target leaves the folder are refused before anything is
opened; so are a missing file, a folder, and a region past the end of the file. Every refusal is an
`UnsafeExternalData` (a ValueError) whose message names the tensor and the location; callers turn
it into their own error type (refruntime: ModelError, graphkit: LoadError).

Memory: each data file is mapped read-only once per process, however many tensors (and sessions)
read it; tensors are views of that one map (no copy, one file descriptor per file). The map is
unmapped when the last view is gone. A resident page of a map counts in the process's RSS, and two
maps of the same file count it twice; `release_pages(arrays)` drops the resident pages of views
the caller will not read again soon (they stay in the page cache: a later read is a minor fault).
"""
from __future__ import annotations

import mmap
import os
import re
import weakref
from functools import cache

import numpy as np
import onnx
from onnx import numpy_helper

_TP = onnx.TensorProto
_TWO_BIT = frozenset(getattr(_TP, n) for n in ("INT2", "UINT2") if hasattr(_TP, n))
_FOUR_BIT = frozenset(getattr(_TP, n) for n in ("INT4", "UINT4", "FLOAT4E2M1") if hasattr(_TP, n))


class UnsafeExternalData(ValueError):
    """An external-data reference that is unsafe, missing or inconsistent (message says which)."""


def check_location(location: str) -> None:
    """Raise ValueError if `location` is not a plain relative path inside the model folder."""
    if not location:
        raise ValueError("empty location")
    if "\0" in location:
        raise ValueError(f"location {location!r} contains a NUL byte")
    if os.path.isabs(location) or location.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", location):
        raise ValueError(f"absolute location {location!r} is not allowed")
    if any(part == ".." for part in re.split(r"[\\/]", location)):
        raise ValueError(f"location {location!r} contains '..'")


def resolve_location(base_dir: str, location: str, tensor: str = "?") -> str:
    """The real path of `location` under `base_dir`, after every safety check (see module doc).
    Returns the path of an existing regular file, else raises UnsafeExternalData."""
    try:
        check_location(location)
    except ValueError as exc:
        raise UnsafeExternalData(f"tensor {tensor!r}: unsafe external data location refused: {exc}") from None
    base_real = os.path.realpath(base_dir)
    real = os.path.realpath(os.path.join(base_dir, location))
    if os.path.commonpath([real, base_real]) != base_real:
        raise UnsafeExternalData(f"tensor {tensor!r}: external data location {location!r} resolves outside "
                                 f"the model folder (to {real}); refused")
    if not os.path.exists(real):
        raise UnsafeExternalData(f"tensor {tensor!r}: external data file {location!r} not found in "
                                 f"{base_dir or '.'}")
    if not os.path.isfile(real):
        raise UnsafeExternalData(f"tensor {tensor!r}: external data location {location!r} is not a file")
    return real


def storage_nbytes(elem_type: int, size: int) -> int:
    """Bytes of `size` elements in ONNX raw_data layout (4-bit and 2-bit types are packed)."""
    if elem_type in _TWO_BIT:
        return (size + 3) // 4
    if elem_type in _FOUR_BIT:
        return (size + 1) // 2
    if elem_type == _TP.STRING or not elem_type:
        return 0
    return size * _itemsize(elem_type)


@cache
def _itemsize(elem_type: int) -> int:
    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)).itemsize
    except (KeyError, ValueError, TypeError):
        from refruntime.errors import ModelError

        raise ModelError(f"unknown ONNX tensor element type {elem_type}") from None


def external_region(proto: onnx.TensorProto, base_dir: str | None) -> tuple[str, int, int]:
    """(real path, offset, length) of an external tensor's bytes, checked against the file size."""
    name = proto.name
    info = {e.key: e.value for e in proto.external_data}
    location = info.get("location", "")
    if not base_dir:
        raise UnsafeExternalData(f"tensor {name!r} uses external data ({location!r}) but the model was not "
                                 "loaded from a file, so there is no folder to read it from")
    real = resolve_location(base_dir, location, name)
    if proto.data_type == _TP.STRING:
        raise UnsafeExternalData(f"tensor {name!r}: string tensors cannot use external data")
    if any(d < 0 for d in proto.dims):
        raise UnsafeExternalData(f"tensor {name!r}: negative dimension in shape {list(proto.dims)}")
    try:
        elements = 1
        for d in proto.dims:
            elements *= int(d)
        expected = storage_nbytes(proto.data_type, elements)
        offset = int(info.get("offset", 0))
        length = int(info["length"]) if "length" in info else expected
    except (ValueError, KeyError, TypeError) as exc:
        raise UnsafeExternalData(f"tensor {name!r}: bad external data entry {info} "
                                 f"(data type {proto.data_type}): {exc}") from None
    if offset < 0 or length < 0:
        raise UnsafeExternalData(f"tensor {name!r}: negative offset/length in external data entry {info}")
    if length != expected:
        raise UnsafeExternalData(f"tensor {name!r}: external data length {length} does not match its "
                                 f"dtype/shape ({expected} bytes)")
    size = os.path.getsize(real)
    if offset + length > size:
        raise UnsafeExternalData(f"tensor {name!r}: external data file {location!r} is truncated: needs bytes "
                                 f"{offset}..{offset + length}, file has {size}")
    return real, offset, length


def read_external(proto: onnx.TensorProto, base_dir: str | None) -> np.ndarray:
    """The array of an external tensor, read after every check (see module doc). Regular dtypes
    are read-only views of the file's one shared map (no copy); packed 4-/2-bit types are
    unpacked through onnx."""
    path, offset, length = external_region(proto, base_dir)
    dims = tuple(int(d) for d in proto.dims)
    dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(proto.data_type))
    count = 1
    for d in dims:
        count *= d
    if length == 0:
        return np.zeros(dims, dtype=dtype)
    if proto.data_type not in _TWO_BIT and proto.data_type not in _FOUR_BIT:
        return np.frombuffer(mapped_file(path), dtype=dtype, count=count, offset=offset).reshape(dims)
    with open(path, "rb") as f:
        f.seek(offset)
        raw = f.read(length)
    inline = onnx.TensorProto(data_type=proto.data_type, dims=dims, raw_data=raw)
    return numpy_helper.to_array(inline)


# (real path, device, inode, size, mtime) -> the whole file as a read-only uint8 array over one
# mmap, for as long as any view of it lives
_MAPS: weakref.WeakValueDictionary[tuple, np.ndarray] = weakref.WeakValueDictionary()


def mapped_file(path: str) -> np.ndarray:
    """The file at `path` (already checked) as a read-only uint8 array over one shared mmap. A
    file replaced since (another inode, size or mtime) gets a new map."""
    st = os.stat(path)
    key = (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    whole = _MAPS.get(key)
    if whole is None:
        with open(path, "rb") as f:  # the map keeps its own descriptor
            whole = np.frombuffer(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ), dtype=np.uint8)
        _MAPS[key] = whole
    return whole


def release_pages(arrays) -> int:
    """Drop the resident pages of those `arrays` that are views of a shared map (others are
    skipped), so they stop counting in this process's RSS; the data stays in the page cache and
    a later read maps it back. Returns the bytes released (0 where madvise does not exist)."""
    maps = [(whole.ctypes.data, whole.nbytes, whole.base.obj) for whole in list(_MAPS.values())]
    if not maps or not hasattr(mmap, "MADV_DONTNEED"):
        return 0
    released = 0
    for arr in arrays:
        if not isinstance(arr, np.ndarray) or not arr.nbytes:
            continue
        start = arr.__array_interface__["data"][0]
        for base, size, mm in maps:
            if base <= start and start + arr.nbytes <= base + size:
                first = (start - base) // mmap.PAGESIZE * mmap.PAGESIZE
                end = min(size, -(-(start - base + arr.nbytes) // mmap.PAGESIZE) * mmap.PAGESIZE)
                mm.madvise(mmap.MADV_DONTNEED, first, end - first)
                released += end - first
                break
    return released


def inline_external_data(model: onnx.ModelProto, base_dir: str | None,
                         keep_from: int | None = None) -> onnx.ModelProto:
    """A copy of `model` whose external tensors (in every graph, subgraphs included) are read
    safely and stored inline; `model` itself is not touched. Raises UnsafeExternalData.

    With `keep_from`, the main graph's initializers of at least that many bytes stay external:
    their references are checked all the same (safe location, file present and long enough) but
    nothing is read, so the copy holds no weights and readers map them from `base_dir`."""
    if not has_external_data(model):
        return model
    out = onnx.ModelProto()
    out.CopyFrom(model)
    for t in out.graph.initializer:
        if t.data_location == _TP.EXTERNAL:
            region = external_region(t, base_dir)
            if keep_from is None or region[2] < keep_from:
                _inline(t, *region)
    for t in _nested_tensors(out.graph):
        if t.data_location == _TP.EXTERNAL:
            _inline(t, *external_region(t, base_dir))
    return out


def _inline(t: onnx.TensorProto, path: str, offset: int, length: int) -> None:
    with open(path, "rb") as f:
        f.seek(offset)
        raw = f.read(length)
    del t.external_data[:]
    t.data_location = _TP.DEFAULT
    t.raw_data = raw


def has_external_data(model: onnx.ModelProto) -> bool:
    return any(t.data_location == _TP.EXTERNAL for t in _all_tensors(model.graph))


def _all_tensors(graph: onnx.GraphProto):
    yield from graph.initializer
    yield from _nested_tensors(graph)


def _nested_tensors(graph: onnx.GraphProto):
    """Tensors of node attributes, and every tensor of subgraphs."""
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _all_tensors(attr.g)
            for g in attr.graphs:
                yield from _all_tensors(g)
