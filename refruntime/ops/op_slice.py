"""Slice: starts/ends/axes attributes (opset 1-9), starts/ends/axes/steps inputs (10+).
Out-of-range starts and ends are clamped as the spec says; steps may be negative."""

from refruntime.ops._common import ints, normalize_axes
from refruntime.ops.base import OpRun


class _SliceBase(OpRun):
    _last: tuple = ((), None, None)  # (input shape, (starts, ends, axes, steps), index) of the last call

    def _slice(self, data, starts, ends, axes, steps):
        key = (starts, ends, axes, steps)
        last_shape, last_key, last_index = self._last
        if data.shape == last_shape and key == last_key:  # same shapes every run: resolved once
            return (data[last_index],)
        index = self._index(data, starts, ends, axes, steps)
        self._last = (data.shape, key, index)
        return (data[index],)

    def _index(self, data, starts, ends, axes, steps) -> tuple:
        """The numpy index of the spec's clamped starts/ends per axis."""
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
        return tuple(index)


_ALL = slice(None)


class Slice_1(_SliceBase):
    def _run(self, data, starts=None, ends=None, axes=None):
        return self._slice(data, starts, ends, axes, None)


class Slice_10(_SliceBase):
    def _run(self, data, starts, ends, axes=None, steps=None):
        return self._slice(data, ints(starts), ints(ends), ints(axes), ints(steps))
