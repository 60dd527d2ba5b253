import numpy as np

from refruntime.ops._common import normalize_axis
from refruntime.ops.base import OpRun


class Gather(OpRun):
    def _run(self, data, indices, axis=0):
        ax = normalize_axis(self, axis, data.ndim)
        dim = data.shape[ax]
        idx = np.asarray(indices).astype(np.int64, copy=False)
        if idx.size and (idx.min() < -dim or idx.max() >= dim):
            self.fail(f"indices out of range [{-dim}, {dim - 1}] for axis {axis} of shape {data.shape} "
                      f"(min {idx.min()}, max {idx.max()})")
        idx = np.where(idx < 0, idx + dim, idx)
        return (np.take(data, idx, axis=ax),)
