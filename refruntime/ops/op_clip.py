"""Clip: y = min(max(x, min), max), so y == max everywhere when min > max (as the spec says).

Opset 1 and 6: min/max are float attributes (6 defaults them to the float32 range).
Opset 11+: min/max are optional scalar inputs; 12 adds integer types.
"""
import numpy as np

from refruntime.ops._common import fp_ignored
from refruntime.ops.base import OpRun


class _ClipBase(OpRun):
    def _clip(self, x, low, high):
        y = x
        if low is not None:
            y = np.maximum(y, low)
        if high is not None:
            y = np.minimum(y, high)
        if y is x:
            y = x.copy()
        return y if y.dtype == x.dtype else y.astype(x.dtype)

    def _bound(self, value, x, name):
        if value is None:
            return None
        value = np.asarray(value)
        if value.size != 1:
            self.fail(f"{name} must be a scalar, got shape {value.shape}")
        return value.reshape(()).astype(x.dtype)


class Clip(_ClipBase):
    def _run(self, x, min=None, max=None, consumed_inputs=None):
        return (self._clip(x, self._bound(min, x, "min"), self._bound(max, x, "max")),)


class Clip_6(_ClipBase):
    def _run(self, x, min=-3.4028234663852886e38, max=3.4028234663852886e38):
        if x.dtype.kind == "f" and x.dtype.itemsize < 4:
            with fp_ignored(over="ignore"):  # the float32 range is +-inf in float16
                low, high = np.asarray(min).astype(x.dtype), np.asarray(max).astype(x.dtype)
        else:
            low, high = self._bound(min, x, "min"), self._bound(max, x, "max")
        return (self._clip(x, low, high),)


class Clip_11(_ClipBase):
    def _run(self, x, min=None, max=None):
        return (self._clip(x, self._bound(min, x, "min"), self._bound(max, x, "max")),)
