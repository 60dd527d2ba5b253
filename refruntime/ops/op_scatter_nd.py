"""ScatterND (opsets 11, 13: bfloat16, 16: reduction add/mul, 18: max/min), from the spec:

    output = copy(data); for idx over indices.shape[:-1]:
        output[indices[idx]] = f(output[indices[idx]], updates[idx])     (f = replace, +, *, max, min)

k = indices.shape[-1] <= rank(data) indexes the leading k axes: a whole slice of the trailing
axes is updated per index tuple, and updates must have shape indices.shape[:-1] + data.shape[k:].
Negative indices count from the end; one outside [-s, s-1] is a KernelError. Repeated index
tuples: the spec leaves reduction="none" undefined; here the last update in index order wins.
add/mul apply every repeat; float16/bfloat16 accumulate in float32 and round once.
"""
import math

from refruntime.kernels.scatter import checked_indices, linear_rows, refuse_reduction, scatter_rows
from refruntime.ops.base import OpRun


class ScatterND_11(OpRun):
    def prepare(self):
        refuse_reduction(self)

    def _run(self, data, indices, updates, reduction="none"):
        if data.ndim < 1 or indices.ndim < 1:
            self.fail(f"data and indices must have rank >= 1, got shapes {data.shape} and {indices.shape}")
        k = indices.shape[-1]
        if not 1 <= k <= data.ndim:
            self.fail(f"indices.shape[-1] = {k} must be in [1, rank(data)] = [1, {data.ndim}]")
        want = indices.shape[:-1] + data.shape[k:]
        if updates.shape != want:
            self.fail(f"updates has shape {updates.shape}, expected indices.shape[:-1] + data.shape[k:] = {want} "
                      f"(data {data.shape}, indices {indices.shape})")
        if updates.dtype != data.dtype:
            self.fail(f"updates has dtype {updates.dtype}, data {data.dtype}")
        dims = data.shape[:k]
        idx = checked_indices(self, indices, dims)
        rows = linear_rows(idx, dims).reshape(-1)
        rest = math.prod(data.shape[k:])
        out = data.reshape(math.prod(dims), rest).copy()
        out = scatter_rows(self, out, rows, updates.reshape(rows.size, rest), reduction)
        return (out.reshape(data.shape),)
