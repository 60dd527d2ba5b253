"""Unsqueeze: axes attribute (opset 1-12, negative from 11), axes input (13+). Axes refer to the
output's rank."""
from refruntime.ops._common import ints, normalize_axes
from refruntime.ops.base import OpRun


class _UnsqueezeBase(OpRun):
    def _unsqueeze(self, data, axes):
        if axes is None:
            self.fail("axes are required")
        rank = data.ndim + len(axes)
        axes = normalize_axes(self, axes, rank)
        dims = iter(data.shape)
        new = [1 if i in axes else next(dims) for i in range(rank)]
        return (data.reshape(new),)


class Unsqueeze_1(_UnsqueezeBase):
    def _run(self, data, axes=None):
        return self._unsqueeze(data, axes)


class Unsqueeze_13(_UnsqueezeBase):
    def _run(self, data, axes=None):
        return self._unsqueeze(data, ints(axes))
