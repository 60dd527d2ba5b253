"""Squeeze: axes attribute (opset 1-12, negative from 11), axes input (13+); none = all 1-dims."""
from refruntime.ops._common import ints, normalize_axes
from refruntime.ops.base import OpRun


class _SqueezeBase(OpRun):
    def _squeeze(self, data, axes):
        if axes is None:
            axes = [i for i, d in enumerate(data.shape) if d == 1]
        axes = normalize_axes(self, axes, data.ndim)
        for a in axes:
            if data.shape[a] != 1:
                self.fail(f"cannot squeeze axis {a} of shape {data.shape}: its size is {data.shape[a]}, not 1")
        new = [d for i, d in enumerate(data.shape) if i not in axes]
        return (data.reshape(new),)


class Squeeze_1(_SqueezeBase):
    def _run(self, data, axes=None):
        return self._squeeze(data, axes)


class Squeeze_13(_SqueezeBase):
    def _run(self, data, axes=None):
        return self._squeeze(data, ints(axes))
