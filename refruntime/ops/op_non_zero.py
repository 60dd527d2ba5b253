import numpy as np

from refruntime.ops.base import OpRun


class NonZero_9(OpRun):
    def _run(self, x):
        if x.ndim == 0:
            return (np.zeros((0, int(bool(x))), dtype=np.int64),)
        return (np.array(np.nonzero(x), dtype=np.int64).reshape(x.ndim, -1),)
