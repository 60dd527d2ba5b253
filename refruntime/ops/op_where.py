import numpy as np

from refruntime.ops.base import OpRun


class Where_9(OpRun):
    def _run(self, condition, x, y):
        result = np.where(condition, x, y)
        return (result if result.dtype == x.dtype else result.astype(x.dtype),)
