"""PRelu: y = x for x >= 0, slope * x otherwise.

Before opset 7 the slope was per channel: a 1-D slope of length C applies along axis 1. Since 7
it broadcasts to X numpy-style (unidirectionally: the result has X's shape).
"""
import numpy as np

from refruntime.ops.base import OpRun


class _PReluBase(OpRun):
    def _prelu(self, x, slope):
        try:
            shape = np.broadcast_shapes(x.shape, slope.shape)
        except ValueError:
            shape = None
        if shape != x.shape:
            self.fail(f"slope of shape {slope.shape} does not broadcast to X of shape {x.shape}")
        if x.dtype.kind in "iu":
            return np.where(x >= 0, x, x * slope).astype(x.dtype, copy=False)
        slope = slope if slope.dtype == x.dtype else slope.astype(x.dtype)
        return np.where(x >= 0, x, x * slope)


class PRelu(_PReluBase):
    def _run(self, x, slope, consumed_inputs=None):
        if slope.ndim == 1 and x.ndim >= 2 and slope.size == x.shape[1] and slope.size != 1:
            slope = slope.reshape((-1,) + (1,) * (x.ndim - 2))  # per-channel (opset 1 and 6)
        return (self._prelu(x, slope),)


class PRelu_7(_PReluBase):
    def _run(self, x, slope):
        return (self._prelu(x, slope),)
