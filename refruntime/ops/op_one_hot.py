"""OneHot: indices in [-depth, depth-1] (negative counts from the end) get on_value, everything
else (out-of-range indices included) off_value."""
import numpy as np

from refruntime.ops._common import check_alloc, normalize_axis
from refruntime.ops.base import OpRun


class OneHot_9(OpRun):
    def _run(self, indices, depth, values, axis=-1):
        depth_value = np.asarray(depth).reshape(-1)
        if depth_value.size != 1:
            self.fail(f"depth must hold one value, it has shape {np.shape(depth)}")
        n = int(depth_value[0])
        if n < 1:
            self.fail(f"depth must be positive, got {n}")
        values = np.asarray(values).reshape(-1)
        if values.size != 2:
            self.fail(f"values must be [off_value, on_value], got shape {values.shape}")
        rank = indices.ndim + 1
        ax = normalize_axis(self, axis, rank)
        out_shape = indices.shape[:ax] + (n,) + indices.shape[ax:]
        check_alloc(self, out_shape, values.dtype)
        idx = indices.astype(np.int64) if indices.dtype.kind != "f" else np.trunc(indices).astype(np.int64)
        idx = np.where(idx < 0, idx + n, idx)
        classes = np.arange(n).reshape((n,) + (1,) * (rank - ax - 1))
        hot = np.expand_dims(idx, ax) == classes
        return (np.where(hot, values[1], values[0]).astype(values.dtype),)
