import numpy as np

from refruntime.ops._common import normalize_axis
from refruntime.ops.base import OpRun


class Gather(OpRun):
    def _run(self, data, indices, axis=0):
        ax = normalize_axis(self, axis, data.ndim)
        if indices.dtype.kind == "i":
            try:  # np.take checks the range itself and takes negative indices from the end, as Gather
                return (np.asarray(np.take(data, indices, axis=ax)),)
            except IndexError:
                pass  # the message below names the range
        dim = data.shape[ax]
        idx = np.asarray(indices).astype(np.int64, copy=False)
        if idx.size and (idx.min() < -dim or idx.max() >= dim):
            self.fail(f"indices out of range [{-dim}, {dim - 1}] for axis {axis} of shape {data.shape} "
                      f"(min {idx.min()}, max {idx.max()})")
        idx = np.where(idx < 0, idx + dim, idx)
        return (np.take(data, idx, axis=ax),)
