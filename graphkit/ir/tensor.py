"""Tensor: constant data, lazy until `.numpy()`.

A Tensor wraps one of three sources and never converts between them until asked:

* a ``TensorProto`` (an initializer or a Constant's ``value`` as it was loaded),
* a region of an external-data file (``ExternalRegion``; memory-mapped on first ``.numpy()``),
* a numpy array (a tensor built in a script).

``dtype``, ``elem_type``, ``shape``, ``size`` and ``nbytes`` are read from the proto's header
fields, so asking them never touches the data.
"""
from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import helper, numpy_helper

from refruntime.external_data import storage_nbytes

_TP = onnx.TensorProto
# element types stored as packed nibbles: two elements per byte


def np_dtype(elem_type: int) -> np.dtype | None:
    """numpy dtype of an ONNX element type (None for UNDEFINED)."""
    if not elem_type:
        return None
    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, ValueError, TypeError):
        from graphkit.errors import GraphError

        raise GraphError(f"unknown ONNX element type {elem_type}") from None


def elem_type_of(dtype) -> int:
    """ONNX element type of a numpy dtype (or of an int that already is one)."""
    if isinstance(dtype, (int, np.integer)):
        return int(dtype)
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


class Tensor:
    """Constant tensor data. See the module docstring for the lazy sources."""

    __slots__ = ("_array", "_external", "_name", "_proto", "doc_string")

    def __init__(self, array=None, name: str = "", doc_string: str = ""):
        self._proto = None
        self._external = None
        self._array = None if array is None else np.asarray(array)
        self._name = name
        self.doc_string = doc_string

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_proto(cls, proto: onnx.TensorProto, external=None) -> Tensor:
        """Wrap a TensorProto without copying it; `external` is an ExternalRegion or None."""
        t = cls.__new__(cls)
        t._proto = proto
        t._array = None
        t._external = external
        t._name = None  # read from the proto on demand
        t.doc_string = None
        return t

    @classmethod
    def from_numpy(cls, array, name: str = "") -> Tensor:
        return cls(np.asarray(array), name=name)

    # -- header -----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._proto.name if self._name is None else self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    @property
    def elem_type(self) -> int:
        if self._array is not None:
            return elem_type_of(self._array.dtype) if self._array.dtype != object else _TP.STRING
        return self._proto.data_type

    @property
    def dtype(self) -> np.dtype | None:
        if self._array is not None:
            return self._array.dtype
        return np_dtype(self._proto.data_type)

    @property
    def shape(self) -> tuple[int, ...]:
        if self._array is not None:
            return tuple(self._array.shape)
        dims = self._proto.dims
        return tuple([dims[i] for i in range(len(dims))])

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes of the data as stored (packed for 4-bit types; 0 for strings)."""
        if self._array is not None:
            return 0 if self._array.dtype == object else int(self._array.nbytes)
        np_dtype(self._proto.data_type)  # an unknown element type is a GraphError here
        return storage_nbytes(self._proto.data_type, self.size)

    def _approx_bytes(self) -> int:
        """Cheap upper-bound-ish size for save decisions (no dims decoding)."""
        if self._array is not None:
            return int(self._array.nbytes)
        if self._external is not None:
            return self._external.length
        return self._proto.ByteSize()

    @property
    def is_external(self) -> bool:
        """True while the data still lives in an external file (not yet copied in memory)."""
        return self._external is not None and self._array is None

    @property
    def external_path(self) -> str | None:
        return self._external.path if self.is_external else None

    # -- data -------------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The data as a numpy array. External data comes back as a read-only memory-mapped view."""
        if self._array is not None:
            return self._array
        if self._external is not None:
            return self._external.array(self._proto.data_type, self.shape, self.size)
        try:
            return numpy_helper.to_array(self._proto)
        except Exception as exc:  # noqa: BLE001 - a header that does not match the data, unknown dtype...
            from graphkit.errors import GraphError

            proto = self._proto
            raise GraphError(f"tensor {proto.name!r} (data type {proto.data_type}, shape {list(proto.dims)}) is "
                             f"malformed: {type(exc).__name__}: {exc}") from None

    def __array__(self, dtype=None, copy=None):
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def raw_bytes(self):
        """The data in ONNX raw_data layout (a memoryview for mapped data, else bytes)."""
        if self._array is None and self._external is not None:
            return self._external.buffer()
        if self._array is None and self._proto.HasField("raw_data"):
            return self._proto.raw_data
        array = self.numpy()
        if array.dtype.kind in "biufc" and array.dtype.byteorder in "=<|" and np.little_endian:
            # plain numbers: raw_data is the array's own bytes; a view, not two copies via a proto
            return memoryview(np.ascontiguousarray(array).reshape(-1)).cast("B")
        return _from_array(array).raw_data

    def to_proto(self, name: str | None = None, *, inline: bool = False) -> onnx.TensorProto:
        """A TensorProto of this tensor. The loaded proto itself is returned when nothing changed
        (callers copy it into their own message); `inline=True` resolves external data."""
        name = self.name if name is None else name
        if self._array is None and (self._external is None or not inline):
            proto = self._proto
            if proto.name == name and self.doc_string is None:
                return proto
            proto = _copy(proto)
        elif self._array is None:  # external, inlined
            proto = _copy(self._proto)
            del proto.external_data[:]
            proto.data_location = _TP.DEFAULT
            proto.raw_data = bytes(self._external.buffer())
        else:
            proto = _from_array(self._array)
        proto.name = name
        if self.doc_string is not None:
            proto.doc_string = self.doc_string
        return proto

    def __repr__(self) -> str:
        where = " external" if self.is_external else ""
        return f"Tensor({self.name!r}, {self.dtype}, {list(self.shape)}{where})"


def _copy(proto: onnx.TensorProto) -> onnx.TensorProto:
    out = onnx.TensorProto()
    out.CopyFrom(proto)
    return out


def _from_array(array: np.ndarray) -> onnx.TensorProto:
    if array.dtype == object or array.dtype.kind in "US":
        proto = onnx.TensorProto(data_type=_TP.STRING, dims=array.shape)
        proto.string_data.extend(s.encode() if isinstance(s, str) else bytes(s) for s in array.flat)
        return proto
    return numpy_helper.from_array(np.ascontiguousarray(array))
