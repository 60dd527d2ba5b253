"""CumSum (opsets 11 and 14: 14 adds float16 and bfloat16), from the operator spec: the running
sum of x along `axis` (a 0-D tensor; a one-element 1-D tensor is accepted, as onnxruntime does).
exclusive=1 leaves the current element out (the j-th output is the sum of the first j - 1
elements: the first is 0); reverse=1 sums from the end of the axis.

Integers sum exactly, wrapping on overflow as the spec's fixed-width type does. float32/float64
accumulate sequentially in their own type (the order the spec's definition implies, and
onnxruntime's); float16/bfloat16 accumulate in float32, each output rounded once.
"""
import numpy as np

from refruntime.kernels.floats import compute_dtype, is_float
from refruntime.ops._common import fp_ignored, normalize_axis
from refruntime.ops.base import OpRun


class CumSum_11(OpRun):
    """Also the base of CumProd (op_cum_prod.py): the same axis, exclusive and reverse rules with
    another accumulation and its identity element."""

    accumulate = staticmethod(np.cumsum)
    identity = 0  # the first output of an exclusive scan

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
        with fp_ignored(over="ignore"):  # integers wrap, floats overflow to inf, as the types do
            y = self.accumulate(work, axis=ax, dtype=dtype)
        if exclusive and y.shape[ax]:
            shifted = np.full_like(y, self.identity)
            head = [slice(None)] * y.ndim
            tail = [slice(None)] * y.ndim
            head[ax], tail[ax] = slice(1, None), slice(0, -1)
            shifted[tuple(head)] = y[tuple(tail)]
            y = shifted
        if reverse:
            y = np.flip(y, axis=ax)
        y = np.ascontiguousarray(y)
        return (y if y.dtype == x.dtype else y.astype(x.dtype),)
