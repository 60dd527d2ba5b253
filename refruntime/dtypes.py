"""ONNX element types <-> numpy dtypes, in one place."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper


def to_numpy_dtype(elem_type: int) -> np.dtype:
    """numpy dtype of an ONNX TensorProto element type (float8/int4 types come from ml_dtypes)."""
    return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))


def to_onnx_elem_type(dtype) -> int:
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def elem_type_name(elem_type: int) -> str:
    return onnx.TensorProto.DataType.Name(elem_type).lower()


FLOAT_TYPES = frozenset({np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)})
