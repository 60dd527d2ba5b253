import numpy as np

from refruntime.ops._common import check_alloc, ints
from refruntime.ops.base import OpRun


class Tile_6(OpRun):
    def _run(self, x, repeats):
        reps = ints(repeats)
        if len(reps) != x.ndim or any(r < 0 for r in reps):
            self.fail(f"repeats {reps} must be {x.ndim} non-negative values for input of shape {x.shape}")
        check_alloc(self, [d * r for d, r in zip(x.shape, reps)], x.dtype)
        return (np.tile(x, reps),)
