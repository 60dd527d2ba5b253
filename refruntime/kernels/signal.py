"""Shared helpers of the signal ops (DFT, STFT, the cosine windows, MelWeightMatrix).

Plain numpy (no numba): the op files import it at top. Transforms are computed in float64
(complex128) whatever the input type, and each result is rounded once to the output type.
"""
from __future__ import annotations

import numpy as np
import onnx

#: output_datatype values the window ops and MelWeightMatrix accept (their T2/T3 constraints)
WINDOW_OUTPUT_TYPES = {
    onnx.TensorProto.UINT8, onnx.TensorProto.UINT16, onnx.TensorProto.UINT32, onnx.TensorProto.UINT64,
    onnx.TensorProto.INT8, onnx.TensorProto.INT16, onnx.TensorProto.INT32, onnx.TensorProto.INT64,
    onnx.TensorProto.FLOAT16, onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16,
}


def output_dtype(kernel, output_datatype: int) -> np.dtype:
    """numpy dtype of an output_datatype attribute, refused (plan time) outside the op's list."""
    if output_datatype not in WINDOW_OUTPUT_TYPES:
        names = sorted(onnx.TensorProto.DataType.Name(t) for t in WINDOW_OUTPUT_TYPES)
        kernel.refuse(f"output_datatype must be one of {names}, got {output_datatype}")
    return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(output_datatype))


def scalar_int(kernel, value, what: str) -> int:
    """The value of a scalar integer input (0-D, or a one-element 1-D tensor as onnxruntime
    accepts), or fail saying what was found."""
    value = np.asarray(value)
    if value.size != 1 or value.ndim > 1 or value.dtype.kind not in "iu":
        kernel.fail(f"{what} must be a scalar integer, got {value.dtype} of shape {value.shape}")
    return int(value.reshape(()))


def scalar_float(kernel, value, what: str) -> float:
    value = np.asarray(value)
    if value.size != 1 or value.ndim > 1:
        kernel.fail(f"{what} must be a scalar, got shape {value.shape}")
    return float(value.reshape(()).astype(np.float64))


def round_to(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float64 values rounded once to `dtype`; integer types truncate toward zero, as Cast does."""
    if dtype.kind in "iu":
        values = np.trunc(values) + 0.0  # + 0.0 turns -0.0 into 0.0
    return np.ascontiguousarray(values.astype(dtype))


def cosine_window(kernel, size, periodic: int, dtype: np.dtype, a0: float, a1: float, a2: float):
    """w[n] = a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N), n < size, N = size (periodic) or
    size - 1 (symmetric): the function body of HannWindow/HammingWindow/BlackmanWindow-17,
    computed in float64 and rounded once (integer types: through float32, the body's type).
    A symmetric window of size 1 is 0/0 in that body: NaN (as onnxruntime), which an integer
    output type cannot hold (a KernelError)."""
    from refruntime.ops._common import check_alloc

    n = scalar_int(kernel, size, "size")
    if n < 0:
        kernel.fail(f"size must be >= 0, got {n}")
    check_alloc(kernel, (n,), dtype)
    denominator = float(n if periodic else n - 1)
    k = np.arange(n, dtype=np.float64)
    angle = k * (2.0 * np.pi / denominator) if denominator else k * np.nan
    w = a0 - a1 * np.cos(angle) + a2 * np.cos(2.0 * angle)
    if dtype.kind in "iu":
        if np.isnan(w).any():
            kernel.fail(f"a symmetric window of size {n} is 0/0 (NaN), which {dtype} cannot represent")
        # the body computes in float32 and Casts that to the integer type: truncating the float64
        # value would turn a peak of 1 computed as 0.9999999999999999 (25/46 + 21/46) into 0
        w = w.astype(np.float32).astype(np.float64)
    return round_to(w, dtype)


def check_flag(kernel, name: str, value) -> None:
    """Plan-time check of a 0/1 attribute."""
    if value not in (0, 1):
        kernel.refuse(f"attribute {name} must be 0 or 1, got {value}")
