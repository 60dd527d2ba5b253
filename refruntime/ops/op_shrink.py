"""Shrink (opset 9), from the operator spec: y = x + bias where x < -lambd, x - bias where
x > lambd, 0 otherwise.

Floats compute in their compute type (float16 in float32, rounded once). Integer inputs follow
onnxruntime: the comparison and the addition are done in floating point (here float64, exact for
every int32 and for int64 below 2**53) and the result is converted back truncating toward zero,
like C's static_cast; results outside the integer type's range wrap as numpy's astype does
(undefined in C).
"""
import numpy as np

from refruntime.kernels.floats import elementwise, is_float
from refruntime.ops.base import OpRun


class Shrink_9(OpRun):
    def _run(self, x, bias=0.0, lambd=0.5):
        def shrink(v):
            b, lam = v.dtype.type(bias), v.dtype.type(lambd)
            return np.where(v < -lam, v + b, np.where(v > lam, v - b, v.dtype.type(0)))

        if is_float(x):
            return (elementwise(x, shrink),)
        with np.errstate(invalid="ignore", over="ignore"):
            y = shrink(x.astype(np.float64))
            return (np.trunc(y).astype(x.dtype),)
