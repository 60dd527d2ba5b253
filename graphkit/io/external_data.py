"""External data: safe resolution, lazy memory-mapping on load, streaming on save.

Security: a tensor's `location` must be a relative path that stays inside the model's folder.
Absolute paths, any `..` component, and symlinks whose target leaves the folder are refused with
LoadError, before anything is opened. A missing file or a region past the end of the file is a
LoadError naming the tensor and the file. Files are mapped read-only, once per file, on the first
`.numpy()` of any tensor in them; arrays are views of that map (never copies).
"""
from __future__ import annotations

import mmap
import os
import re

import numpy as np
import onnx
from onnx import numpy_helper

from graphkit.errors import LoadError, SaveError
from graphkit.ir.tensor import np_dtype
from refruntime.external_data import UnsafeExternalData, check_location, resolve_location, storage_nbytes

_TP = onnx.TensorProto
ALIGNMENT = 64  # offsets of tensors written to a data file are multiples of this


class MappedFile:
    """One external file, mapped read-only on first use and shared by all its tensors."""

    __slots__ = ("_map", "path", "size")

    def __init__(self, path: str, size: int):
        self.path, self.size, self._map = path, size, None

    def map(self):
        if self._map is None:
            if self.size == 0:
                self._map = b""
            else:
                with open(self.path, "rb") as f:
                    self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        return self._map


class ExternalRegion:
    """Where one tensor's bytes live: (file, offset, length)."""

    __slots__ = ("file", "length", "offset")

    def __init__(self, file: MappedFile, offset: int, length: int):
        self.file, self.offset, self.length = file, offset, length

    @property
    def path(self) -> str:
        return self.file.path

    def buffer(self) -> memoryview:
        return memoryview(self.file.map())[self.offset:self.offset + self.length]

    def array(self, elem_type: int, shape: tuple, size: int) -> np.ndarray:
        dtype = np_dtype(elem_type)
        if storage_nbytes(elem_type, size) == size * dtype.itemsize:
            return np.frombuffer(self.file.map(), dtype=dtype, count=size, offset=self.offset).reshape(shape)
        # packed 4-bit / 2-bit types: unpack through onnx (this copies, as it must)
        proto = onnx.TensorProto(data_type=elem_type, dims=shape, raw_data=bytes(self.buffer()))
        return numpy_helper.to_array(proto)


class Resolver:
    """Validates and resolves the external-data references of one model load."""

    def __init__(self, base_dir: str | None):
        self.base_dir = base_dir
        self._files: dict[str, MappedFile] = {}

    def region(self, proto: onnx.TensorProto) -> ExternalRegion:
        name = proto.name
        info = {e.key: e.value for e in proto.external_data}
        location = info.get("location", "")
        if self.base_dir is None:
            raise LoadError(f"tensor {name!r} uses external data ({location!r}) but the model was not "
                            f"loaded from a file; pass base_dir= to gk.load")
        try:
            real = resolve_location(self.base_dir, location, name)
        except UnsafeExternalData as exc:
            raise LoadError(str(exc)) from None
        mapped = self._files.get(real)
        if mapped is None:
            try:
                st = os.stat(real)
            except OSError as exc:
                raise LoadError(f"tensor {name!r}: cannot read external data file {location!r}: "
                                f"{exc.strerror or exc}") from None
            mapped = self._files[real] = MappedFile(real, st.st_size)
        if any(d < 0 for d in proto.dims):
            raise LoadError(f"tensor {name!r}: negative dimension in shape {list(proto.dims)}")
        try:
            offset = int(info.get("offset", 0))
            elements = 1
            for d in proto.dims:
                elements *= int(d)
            expected = storage_nbytes(proto.data_type, elements)
            length = int(info["length"]) if "length" in info else expected
        except (ValueError, KeyError, TypeError):
            raise LoadError(f"tensor {name!r}: bad offset/length or data type in external data entry "
                            f"{info} (data type {proto.data_type})") from None
        if offset < 0 or length < 0:
            raise LoadError(f"tensor {name!r}: negative offset/length in external data entry {info}")
        if proto.data_type == _TP.STRING:
            raise LoadError(f"tensor {name!r}: string tensors cannot use external data")
        if length != expected:
            raise LoadError(f"tensor {name!r}: external data length {length} does not match its "
                            f"dtype/shape ({expected} bytes)")
        if offset + length > mapped.size:
            raise LoadError(f"tensor {name!r}: external data file {location!r} is truncated: needs bytes "
                            f"{offset}..{offset + length}, file has {mapped.size}")
        return ExternalRegion(mapped, offset, length)


class Writer:
    """Appends tensor bytes to one data file (opened by the caller), aligned to ALIGNMENT."""

    def __init__(self, fh, location: str):
        self.fh, self.location, self.offset = fh, location, 0

    def add(self, tensor, name: str) -> onnx.TensorProto:
        """Write `tensor`'s bytes and return a TensorProto header pointing at them."""
        pad = -self.offset % ALIGNMENT
        if pad:
            self.fh.write(b"\0" * pad)
            self.offset += pad
        data = tensor.raw_bytes()
        length = len(data) if not isinstance(data, memoryview) else data.nbytes
        chunk = 1 << 26
        for start in range(0, length, chunk):  # stream large mapped regions
            self.fh.write(data[start:start + chunk])
        proto = onnx.TensorProto(name=name, data_type=tensor.elem_type, dims=tensor.shape,
                                 data_location=_TP.EXTERNAL)
        src = tensor._proto
        if src is not None:
            if src.doc_string:
                proto.doc_string = src.doc_string
            proto.metadata_props.extend(src.metadata_props)
        if tensor.doc_string:
            proto.doc_string = tensor.doc_string
        for key, value in (("location", self.location), ("offset", str(self.offset)), ("length", str(length))):
            entry = proto.external_data.add()
            entry.key, entry.value = key, value
        self.offset += length
        return proto


def check_save_location(location: str) -> None:
    try:
        check_location(location)
    except ValueError as exc:
        raise SaveError(f"external data location: {exc}") from None
    if re.search(r"[\\/]", location):
        raise SaveError(f"external data location {location!r} must be a file name in the model's folder")
