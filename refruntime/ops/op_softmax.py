"""Softmax, and the axis rules it shares with LogSoftmax and Hardmax.

- opset 1 and 11: the input is coerced to 2-D at `axis` (default 1): shape (prod(shape[:axis]),
  prod(shape[axis:])), and the function runs along the second axis of that matrix, i.e. over
  every axis from `axis` on together. Opset 11 only widened the accepted (negative) axes.
- opset 13: the function runs along the single axis `axis` (default -1).
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
        y = x - x.max(axis=axis, keepdims=True)
        np.exp(y, out=y)
        y /= y.sum(axis=axis, keepdims=True)
        return y


class Softmax(_Softmax):
    coerce_2d = True

    def _run(self, x, axis=1):
        return (self._apply(x, axis),)


class Softmax_13(_Softmax):
    def _run(self, x, axis=-1):
        return (self._apply(x, axis),)
