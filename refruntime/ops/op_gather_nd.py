"""GatherND (opsets 11, 12: batch_dims, 13: bfloat16), from the operator spec.

data has rank r >= 1, indices rank q >= 1, k = indices.shape[-1] with 1 <= k <= r - b, where
b = batch_dims < min(q, r) and the first b dimensions of data and indices are equal. Each k-tuple
of indices (per batch) selects data[batch, i0, ..., ik-1] - a scalar when k = r - b, else a slice
of the remaining axes. The output has shape indices.shape[:-1] + data.shape[b + k:].
Index values may be negative (counted from the end); one outside [-s, s-1] is a KernelError.
"""
import math

import numpy as np

from refruntime.kernels.scatter import checked_indices, linear_rows
from refruntime.ops.base import OpRun


class GatherND_11(OpRun):
    def _run(self, data, indices, batch_dims=0):
        r, q, b = data.ndim, indices.ndim, batch_dims
        if r < 1 or q < 1:
            self.fail(f"data and indices must have rank >= 1, got shapes {data.shape} and {indices.shape}")
        if not 0 <= b < min(q, r):
            self.fail(f"batch_dims={b} must be in [0, min(rank(indices), rank(data))) = [0, {min(q, r)})")
        if data.shape[:b] != indices.shape[:b]:
            self.fail(f"the first {b} dimensions of data {data.shape} and indices {indices.shape} differ")
        k = indices.shape[-1]
        if not 1 <= k <= r - b:
            self.fail(f"indices.shape[-1] = {k} must be in [1, rank(data) - batch_dims] = [1, {r - b}] "
                      f"(data {data.shape}, indices {indices.shape})")
        dims = data.shape[b:b + k]
        rest = data.shape[b + k:]
        rows = linear_rows(checked_indices(self, indices, dims), dims)  # indices.shape[:-1]
        per_batch = math.prod(dims)
        if b:  # row numbers into data viewed as (batch * prod(dims), *rest)
            batch = math.prod(data.shape[:b])
            rows = rows + (np.arange(batch, dtype=np.int64) * per_batch).reshape(data.shape[:b] + (1,) * (q - 1 - b))
        table = data.reshape((math.prod(data.shape[:b]) * per_batch,) + rest)
        return (np.take(table, rows.reshape(-1), axis=0).reshape(indices.shape[:-1] + rest),)
