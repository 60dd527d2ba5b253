"""CumProd (opset 26), from the operator spec: the running product of x along `axis` (a 0-D
tensor; a one-element 1-D tensor is accepted, as for CumSum). exclusive=1 leaves the current
element out (the first output is 1); reverse=1 multiplies from the end of the axis.

Integers multiply exactly, wrapping on overflow as numpy (and the spec's fixed-width type) does.
float32/float64 accumulate sequentially in their own type; float16/bfloat16 accumulate in float32,
each output rounded once.
"""
import numpy as np

from refruntime.kernels.floats import compute_dtype, is_float
from refruntime.ops._common import normalize_axis
from refruntime.ops.base import OpRun


class CumProd_26(OpRun):
    def check_constants(self, constants):
        axis = constants.get(1)
        if axis is not None and (axis.size != 1 or axis.ndim > 1):
            self.refuse(f"axis must be a 0-D tensor, got shape {axis.shape}", 1)

    def _run(self, x, axis, exclusive=0, reverse=0):
        axis = np.asarray(axis)
        if axis.size != 1 or axis.ndim > 1 or axis.dtype.kind not in "iu":
            self.fail(f"axis must be a 0-D integer tensor, got {axis.dtype} of shape {axis.shape}")
        if x.ndim == 0:
            self.fail("x must have rank >= 1, got a 0-D tensor")
        ax = normalize_axis(self, int(axis.reshape(())), x.ndim)
        dtype = compute_dtype(x.dtype) if is_float(x) else x.dtype
        work = x if x.dtype == dtype else x.astype(dtype)
        if reverse:
            work = np.flip(work, axis=ax)
        if exclusive:
            # the product of the elements before each position: a leading 1, the last one dropped
            ones = np.ones(work.shape[:ax] + (1,) + work.shape[ax + 1:], dtype=dtype)
            head = [slice(None)] * work.ndim
            head[ax] = slice(0, max(work.shape[ax] - 1, 0))
            work = np.concatenate([ones, work[tuple(head)]], axis=ax)
            if x.shape[ax] == 0:
                work = work[tuple(head)]
        with np.errstate(over="ignore"):
            y = np.cumprod(work, axis=ax, dtype=dtype)
        if reverse:
            y = np.flip(y, axis=ax)
        y = np.ascontiguousarray(y)
        return (y if y.dtype == x.dtype else y.astype(x.dtype),)
