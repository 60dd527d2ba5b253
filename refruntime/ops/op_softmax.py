"""Softmax, and the axis rules it shares with LogSoftmax and Hardmax.

- opset 1 and 11: the input is coerced to 2-D at `axis` (default 1): shape (prod(shape[:axis]),
  prod(shape[axis:])), and the function runs along the second axis of that matrix, i.e. over
  every axis from `axis` on together. Opset 11 only widened the accepted (negative) axes.
- opset 13: the function runs along the single axis `axis` (default -1).

float32: D = X - max(X) and exp(D) in float32 (the body's Sub and Exp), the sum and the quotient in
float64, rounded once (kernels/softmax_rows.py for rows along the last axis, numpy otherwise).
"""
import numpy as np

from refruntime.kernels.floats import as_compute, compute_dtype
from refruntime.ops.base import OpRun


class _AxisFunction(OpRun):
    """Base of Softmax/LogSoftmax/Hardmax: `_along(x, axis)` applies the op along one axis."""

    coerce_2d = False

    def _apply(self, x, axis):
        rank = x.ndim
        if not -rank <= axis < max(rank, 1):
            self.fail(f"axis {axis} is out of range for an input of shape {x.shape} (rank {rank})")
        axis = axis + rank if axis < 0 else axis
        if x.size == 0 or rank == 0:
            return x.copy()
        dtype = compute_dtype(x.dtype)
        work = as_compute(x, dtype)
        if self.coerce_2d:
            rows = int(np.prod(x.shape[:axis], dtype=np.int64))
            y = self._along(work.reshape(rows, -1), 1).reshape(x.shape)
        else:
            y = self._along(work, axis)
        return y if y.dtype == x.dtype else y.astype(x.dtype)

    def _along(self, x, axis):  # pragma: no cover - abstract
        raise NotImplementedError


class _Softmax(_AxisFunction):
    def _along(self, x, axis):
        if x.dtype == np.float32 and axis == x.ndim - 1 and x.shape[-1] and x.flags.c_contiguous:
            return float32_rows(x)
        e = np.exp(x - x.max(axis=axis, keepdims=True))  # the body's Sub and Exp, in x's dtype
        y = e / e.sum(axis=axis, keepdims=True, dtype=np.float64)  # float32: a float64 sum, as the rows
        return y if y.dtype == x.dtype else y.astype(x.dtype)


class Softmax(_Softmax):
    coerce_2d = True

    def _run(self, x, axis=1):
        return (self._apply(x, axis),)


class Softmax_13(_Softmax):
    def _run(self, x, axis=-1):
        if self.rows_case(x):  # attention scores: straight to the rows kernel
            return (float32_rows(x),)
        return (self._apply(x, axis),)

    def rows_case(self, x) -> bool:
        """Whether x is a C-contiguous float32 array this node normalizes along its last axis."""
        axis = self.attributes.get("axis", -1)
        return (x.dtype is _FLOAT32 and (axis == -1 or axis == x.ndim - 1) and x.ndim > 0 and x.shape[-1] > 0
                and x.flags.c_contiguous)


_FLOAT32 = np.dtype(np.float32)
_rows_kernels = None  # kernels/softmax_rows, imported on first use (it imports numba)


def float32_rows(x, nan_to=None):
    """Softmax along the last axis of a C-contiguous float32 array (kernels/softmax_rows.py); with
    `nan_to` (a float32), NaN results replaced by it in the division's pass."""
    global _rows_kernels
    kernels = _rows_kernels
    if kernels is None:
        from refruntime.kernels import softmax_rows as kernels

        _rows_kernels = kernels
    y = np.empty(x.shape, np.float32)
    rows = y.reshape(-1, x.shape[-1])
    kernels.subtract_row_max(x.reshape(-1, x.shape[-1]), rows)
    np.exp(rows, out=rows)
    if nan_to is None:
        kernels.divide_by_row_sum(rows, rows)
    else:
        kernels.divide_by_row_sum_nan_to(rows, rows, nan_to)
    return y
