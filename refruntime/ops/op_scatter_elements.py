"""ScatterElements (opsets 11, 13: bfloat16, 16: reduction add/mul, 18: max/min), from the spec:

    output = copy(data); for every position p of indices (= of updates):
        t = p with t[axis] = indices[p];  output[t] = f(output[t], updates[p])

data, indices and updates have the same rank; indices and updates the same shape, no larger than
data on the axes other than `axis`. Negative indices count from the end; one outside [-s, s-1]
is a KernelError. Repeats: reduction="none" keeps the last update in index order (the spec
leaves it undefined); add/mul/max/min apply every one, float16/bfloat16 accumulating in float32.
"""
import numpy as np

from refruntime.kernels.scatter import checked_indices, refuse_reduction, scatter_rows
from refruntime.ops._common import normalize_axis
from refruntime.ops.base import OpRun


class ScatterElements_11(OpRun):
    def prepare(self):
        refuse_reduction(self)

    def _run(self, data, indices, updates, axis=0, reduction="none"):
        ax = normalize_axis(self, axis, data.ndim)
        if indices.ndim != data.ndim or updates.shape != indices.shape:
            self.fail(f"data {data.shape}, indices {indices.shape} and updates {updates.shape} must have the "
                      "same rank, and indices and updates the same shape")
        if any(n > d for i, (n, d) in enumerate(zip(indices.shape, data.shape)) if i != ax):
            self.fail(f"indices of shape {indices.shape} exceed data {data.shape} on an axis other than {ax}")
        if updates.dtype != data.dtype:
            self.fail(f"updates has dtype {updates.dtype}, data {data.dtype}")
        idx = checked_indices(self, indices[..., None], (data.shape[ax],))[..., 0]
        strides = np.cumprod((1,) + data.shape[:0:-1], dtype=np.int64)[::-1]  # row-major, in elements
        rows = idx * strides[ax]
        for d, n in enumerate(indices.shape):
            if d != ax:
                rows += (np.arange(n, dtype=np.int64) * strides[d]).reshape((n,) + (1,) * (indices.ndim - d - 1))
        out = scatter_rows(self, data.reshape(-1).copy(), rows.reshape(-1), updates.reshape(-1), reduction)
        return (out.reshape(data.shape),)
