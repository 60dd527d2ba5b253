import numpy as np

from refruntime.ops._common import normalize_axis
from refruntime.ops.base import OpRun


class GatherElements_11(OpRun):
    def _run(self, data, indices, axis=0):
        ax = normalize_axis(self, axis, data.ndim)
        if indices.ndim != data.ndim:
            self.fail(f"indices of shape {indices.shape} must have the rank of data {data.shape}")
        dim = data.shape[ax]
        idx = indices.astype(np.int64, copy=False)
        if idx.size and (idx.min() < -dim or idx.max() >= dim):
            self.fail(f"indices out of range [{-dim}, {dim - 1}] for axis {axis} of shape {data.shape}")
        idx = np.where(idx < 0, idx + dim, idx)
        if data.size == 0 or idx.size == 0:
            return (np.empty(idx.shape, dtype=data.dtype),)
        # take_along_axis broadcasts the non-axis dims, which may be smaller than data's
        slices = tuple(slice(0, n) if i != ax else slice(None) for i, n in enumerate(idx.shape))
        return (np.take_along_axis(data[slices], idx, axis=ax),)
