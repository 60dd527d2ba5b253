"""Which float type a kernel computes in (plain Python, no numba: op files import it at top).

float32 and float64 are computed as they are (float64 is the oracle mode). Narrow floats
(float16, bfloat16) are computed in float32 and cast back, as onnxruntime does on CPU.
"""
from __future__ import annotations

import numpy as np

_NATIVE = (np.dtype(np.float32), np.dtype(np.float64))


def compute_dtype(dtype) -> np.dtype:
    """float32/float64 stay; every other float type (float16, bfloat16, ...) computes in float32."""
    dtype = np.dtype(dtype)
    return dtype if dtype in _NATIVE else np.dtype(np.float32)


def as_compute(array, dtype: np.dtype):
    """`array` in `dtype`, without a copy when it already is (None stays None)."""
    if array is None:
        return None
    return array if array.dtype == dtype else array.astype(dtype)


def is_float(array) -> bool:
    """True for every floating dtype, bfloat16 and float8 (ml_dtypes) included."""
    dtype = np.dtype(array.dtype)
    return dtype.kind == "f" or (dtype.kind == "V" and "float" in dtype.name) or "float" in dtype.name


def elementwise(x, fn):
    """fn(x) computed in x's compute dtype and returned in x's dtype (for float activations)."""
    dtype = compute_dtype(x.dtype)
    y = np.asarray(fn(as_compute(x, dtype)))
    return y if y.dtype == x.dtype else y.astype(x.dtype)
