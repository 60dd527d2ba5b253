"""Slice: starts/ends/axes attributes (opset 1-9), starts/ends/axes/steps inputs (10+).
Out-of-range starts and ends are clamped as the spec says; steps may be negative."""

from refruntime.ops._common import ints, normalize_axes
from refruntime.ops.base import OpRun


class _SliceBase(OpRun):
    def _slice(self, data, starts, ends, axes, steps):
        if axes is None:
            axes = range(len(starts))
        if steps is None:
            steps = (1,) * len(starts)
        if not len(starts) == len(ends) == len(axes) == len(steps):
            self.fail(f"starts {starts}, ends {ends}, axes {list(axes)} and steps {list(steps)} differ in length")
        rank = data.ndim
        if any(not -rank <= a < rank for a in axes) or len({a % rank for a in axes}) != len(axes):
            normalize_axes(self, axes, rank)  # fails, naming the bad axis
        index = [_ALL] * rank
        for start, end, axis, step in zip(starts, ends, axes, steps):
            axis %= rank
            dim = data.shape[axis]
            if step == 0:
                self.fail(f"step 0 on axis {axis}")
            if start < 0:
                start += dim
            if end < 0:
                end += dim
            if step > 0:
                start = min(max(start, 0), dim)
                end = min(max(end, 0), dim)
            else:
                start = min(max(start, 0), dim - 1)
                end = min(max(end, -1), dim - 1)
            index[axis] = slice(start, end if end >= 0 else None, step)
        return (data[tuple(index)],)


_ALL = slice(None)


class Slice_1(_SliceBase):
    def _run(self, data, starts=None, ends=None, axes=None):
        return self._slice(data, starts, ends, axes, None)


class Slice_10(_SliceBase):
    def _run(self, data, starts, ends, axes=None, steps=None):
        return self._slice(data, ints(starts), ints(ends), ints(axes), ints(steps))
