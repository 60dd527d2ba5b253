"""MeanVarianceNormalization (opsets 9 and 13: 13 adds bfloat16), from the operator spec:
y = (x - E[x]) / sqrt(E[(x - E[x])^2]), the expectations taken over `axes` (default [0, 2, 3]:
per channel of an NCHW tensor).

The spec's function body adds epsilon 1e-9 to the standard deviation before dividing (so a
constant slice gives 0, not NaN); we follow the spec. onnxruntime 1.32's CPU kernel does not (a
constant slice gives NaN there); elsewhere the two agree to float32 rounding. The variance is taken as
the mean of squared deviations (two passes: the function body's E[x^2] - E[x]^2 is the same value
in exact arithmetic, with less cancellation). float16/bfloat16 compute in float32.
"""
import numpy as np

from refruntime.kernels.floats import elementwise
from refruntime.ops._common import normalize_axes
from refruntime.ops.base import OpRun

EPSILON = 1e-9


class MeanVarianceNormalization_9(OpRun):
    def _run(self, x, axes=(0, 2, 3)):
        axes = normalize_axes(self, axes, x.ndim)

        def mvn(v):
            deviation = v - v.mean(axis=axes, keepdims=True)
            std = np.sqrt(np.square(deviation).mean(axis=axes, keepdims=True))
            return deviation / (std + v.dtype.type(EPSILON))

        return (elementwise(x, mvn),)
