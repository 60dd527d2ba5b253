"""Quantization arithmetic shared by the quantized kernels (standard and com.microsoft).

The ONNX definitions, computed exactly:
    quantize:    y = saturate(round_half_even(x / scale) + zero_point)
    dequantize:  y = (x - zero_point) * scale
x / scale is computed in float64 from the stored values and rounded once (half to even), so the
result is the integer nearest to the exact quotient (float32 division can land on a .5 that the
exact quotient is not). Integer sums and products are accumulated in int64, never wrapping.
Scales and zero points are per tensor (scalar or 1-element), per axis (1-D along `axis`), or
blocked (opset 21: the shape of x with `axis` divided by `block_size`).

Parameter checks (`check_scale`, `check_zero_point`, `check_param_shape`) raise through the
kernel's `refuse` (a ModelError naming node and input) when the values are known at plan time, and
through `fail` (a KernelError) when they arrive at run time.
"""
from __future__ import annotations

import numpy as np

INT_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "uint16": (0, 65535),
              "int32": (-(2 ** 31), 2 ** 31 - 1), "uint32": (0, 2 ** 32 - 1),
              "int4": (-8, 7), "uint4": (0, 15), "int2": (-2, 1), "uint2": (0, 3)}


def int_range(dtype) -> tuple[int, int]:
    """(min, max) of an integer element type, int4/uint4 (ml_dtypes) included."""
    name = np.dtype(dtype).name
    if name not in INT_RANGES:
        raise ValueError(f"{name} is not a quantized integer type")
    return INT_RANGES[name]


def is_float8(dtype) -> bool:
    return np.dtype(dtype).name.startswith(("float8", "float4"))


def round_half_even(x: np.ndarray) -> np.ndarray:
    """np.rint rounds half to even (IEEE's default), as ONNX's QuantizeLinear requires."""
    return np.rint(x)


def saturate(values: np.ndarray, dtype) -> np.ndarray:
    """Integer-valued float64 `values` clipped to `dtype`'s range and converted exactly."""
    lo, hi = int_range(dtype)
    return np.clip(values, lo, hi).astype(np.int64).astype(dtype)


def broadcast_param(param: np.ndarray, x_shape: tuple, axis: int | None, block_size: int = 0) -> np.ndarray:
    """A scale or zero point shaped to broadcast against x: scalar, per-axis (1-D) or blocked."""
    param = np.asarray(param)
    if param.size == 1 and not block_size:
        return param.reshape(())
    rank = len(x_shape)
    axis = _axis(axis, rank)
    if block_size:
        return np.repeat(param, block_size, axis=axis).take(range(x_shape[axis]), axis=axis)
    shape = [1] * rank
    shape[axis] = param.size
    return param.reshape(shape)


def _axis(axis: int | None, rank: int) -> int:
    axis = 1 if axis is None else int(axis)
    return axis + rank if axis < 0 else axis


def param_shape_error(param: np.ndarray, x_shape: tuple, axis: int | None, block_size: int = 0) -> str | None:
    """Why `param` (scale or zero point) does not fit x, or None when it does."""
    param = np.asarray(param)
    rank = len(x_shape)
    if block_size < 0:
        return f"block_size must be positive, got {block_size}"
    if param.size == 1 and param.ndim <= 1 and not block_size:
        return None
    a = _axis(axis, rank)
    if not 0 <= a < rank:
        return f"axis {axis} is out of range for an input of rank {rank}"
    if block_size:
        want = list(x_shape)
        want[a] = -(-x_shape[a] // block_size)
        if list(param.shape) != want:
            return (f"blocked quantization (axis {axis}, block_size {block_size}) needs shape {want} for an "
                    f"input of shape {list(x_shape)}, got {list(param.shape)}")
        return None
    if param.ndim != 1 or param.size != x_shape[a]:
        return (f"per-axis quantization along axis {axis} needs a 1-D tensor of {x_shape[a]} values for an "
                f"input of shape {list(x_shape)}, got shape {list(param.shape)}")
    return None


def scale_error(scale: np.ndarray) -> str | None:
    """Why a scale is invalid (ONNX: a positive, finite number), or None."""
    s = np.asarray(scale)
    if s.dtype.kind not in "fV" and not is_float8(s.dtype):
        return f"scale must be a float tensor, got {s.dtype}"
    values = s.astype(np.float64)
    if not np.isfinite(values).all():
        return "scale has a non-finite value"
    if (values <= 0).any():
        bad = values[values <= 0].reshape(-1)[0]
        return f"scale must be positive, got {bad:g}"
    return None


def zero_point_error(zero_point: np.ndarray, dtype=None) -> str | None:
    """Why a zero point is invalid (its type, or the quantized type it must match), or None."""
    zp = np.asarray(zero_point)
    if dtype is not None and zp.dtype != np.dtype(dtype):
        return f"zero point is {zp.dtype} but the quantized type is {np.dtype(dtype)}"
    if zp.dtype.kind in "iu" or zp.dtype.name in INT_RANGES:
        lo, hi = int_range(zp.dtype)
        v = zp.astype(np.int64)
        if ((v < lo) | (v > hi)).any():
            return f"zero point outside {zp.dtype}'s range [{lo}, {hi}]"
    return None


def quantize(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, out_dtype, axis: int | None = 1,
             block_size: int = 0, saturate_float8: bool = True) -> np.ndarray:
    """ONNX QuantizeLinear: saturate(round_half_even(x / scale) + zero_point) in `out_dtype`."""
    s = broadcast_param(scale, x.shape, axis, block_size).astype(np.float64)
    q = x.astype(np.float64) / s
    if is_float8(out_dtype):
        return _to_float8(q, zero_point, x.shape, axis, block_size, out_dtype, saturate_float8)
    q = round_half_even(q)
    if zero_point is not None:
        q = q + broadcast_param(zero_point, x.shape, axis, block_size).astype(np.float64)
    return saturate(q, out_dtype)


def _to_float8(q, zero_point, shape, axis, block_size, out_dtype, saturate_float8: bool):
    import ml_dtypes

    if zero_point is not None:
        q = q + broadcast_param(zero_point, shape, axis, block_size).astype(np.float64)
    if saturate_float8:
        info = ml_dtypes.finfo(out_dtype)
        q = np.where(np.isinf(q), q, np.clip(q, float(info.min), float(info.max)))
    return q.astype(out_dtype)


def dequantize(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int | None = 1,
               block_size: int = 0, out_dtype=None) -> np.ndarray:
    """ONNX DequantizeLinear: (x - zero_point) * scale, in the scale's type (or `out_dtype`)."""
    v = x.astype(np.float64)
    if zero_point is not None:
        v = v - broadcast_param(zero_point, x.shape, axis, block_size).astype(np.float64)
    y = v * broadcast_param(scale, x.shape, axis, block_size).astype(np.float64)
    return y.astype(out_dtype if out_dtype is not None else np.asarray(scale).dtype)


def as_int64(x: np.ndarray, zero_point=None) -> np.ndarray:
    """x - zero_point as exact int64 (the operand of an integer MatMul/Conv)."""
    v = np.asarray(x).astype(np.int64)
    if zero_point is not None:
        v = v - np.asarray(zero_point).astype(np.int64)
    return v
