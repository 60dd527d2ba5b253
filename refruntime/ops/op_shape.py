import numpy as np

from refruntime.ops.base import OpRun


class Shape(OpRun):
    def _run(self, data, start=0, end=None):
        shape = np.asarray(np.shape(data), dtype=np.int64)
        rank = len(shape)
        start = min(max(start + rank if start < 0 else start, 0), rank)
        end = rank if end is None else min(max(end + rank if end < 0 else end, 0), rank)
        return (shape[start:end].copy(),)
