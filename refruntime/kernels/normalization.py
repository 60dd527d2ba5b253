"""Row standardization shared by LayerNormalization, RMSNormalization, GroupNormalization and
InstanceNormalization (plain numpy, no numba: op files import it at top, like floats.py).

Each op reshapes its input so that every set of values normalized together is one row of a
C-contiguous 2-D array, then calls one of these. Sums run along the contiguous axis, where numpy
uses pairwise summation; the variance is the two-pass one (mean first, then the mean of squared
deviations), as the ops' function bodies define it.
"""
from __future__ import annotations

import numpy as np

from refruntime.kernels.floats import compute_dtype


def standardize_rows(x: np.ndarray, epsilon: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(normalized, mean, inv_std) of a C-contiguous 2-D float array, row by row:

        mean = ReduceMean(x), d = x - mean, inv_std = 1 / sqrt(ReduceMean(d * d) + epsilon)
        normalized = d * inv_std

    in x's dtype (the caller picks it). mean and inv_std have shape (rows, 1). A fresh array
    is returned; x is not modified. Four passes over x plus one over the result."""
    cols = x.shape[1]
    mean = np.add.reduce(x, axis=1, keepdims=True)
    mean /= cols
    d = np.subtract(x, mean)
    squares = np.square(d)
    var = np.add.reduce(squares, axis=1, keepdims=True)
    del squares
    var /= cols
    var += x.dtype.type(epsilon)
    inv_std = np.sqrt(var, out=var)
    np.reciprocal(inv_std, out=inv_std)
    d *= inv_std
    return d, mean, inv_std


def rms_rows(x: np.ndarray, epsilon: float) -> np.ndarray:
    """x / sqrt(ReduceMean(x * x) + epsilon) row by row, in x's dtype (a fresh array)."""
    cols = x.shape[1]
    ms = np.add.reduce(np.square(x), axis=1, keepdims=True)
    ms /= cols
    ms += x.dtype.type(epsilon)
    np.sqrt(ms, out=ms)
    return np.divide(x, ms)


def stage_one_dtype(x_dtype, stash_type: int = 1) -> np.dtype:
    """The dtype of the standardization stage. stash_type=11 (DOUBLE): float64. stash_type=1
    (FLOAT): float32, except float64 inputs, which stay float64 (the spec's text casts them to
    float32; onnxruntime computes double in double, and refruntime's float64 oracle relies on it)."""
    if stash_type == 11:
        return np.dtype(np.float64)
    return compute_dtype(x_dtype)


def unidirectional(kernel, name: str, param: np.ndarray | None, x_shape: tuple) -> None:
    """Fail (naming the node) unless `param` broadcasts to `x_shape` without growing it."""
    if param is None or param.shape == x_shape[len(x_shape) - param.ndim:]:
        return  # the common case (a trailing block of X's shape), without numpy's broadcast machinery
    try:
        shape = np.broadcast_shapes(param.shape, x_shape)
    except ValueError:
        shape = None
    if shape != tuple(x_shape):
        kernel.fail(f"{name} of shape {param.shape} does not broadcast (unidirectionally) to X of shape "
                    f"{tuple(x_shape)}")


def check_stash_type(kernel) -> None:
    """Refuse (at plan time) a stash_type this runtime does not implement: 1 (FLOAT) and 11
    (DOUBLE) are; a narrow stage one (10 FLOAT16, 16 BFLOAT16) would need every step of the
    function body rounded, which neither onnx.reference nor onnxruntime does either."""
    stash = kernel.attributes.get("stash_type", 1)
    if stash not in (1, 11):
        kernel.refuse(f"stash_type={stash} is not supported: stage one computes in float32 "
                      "(stash_type=1) or float64 (stash_type=11)")
