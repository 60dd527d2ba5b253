import numpy as np

from refruntime.ops.base import OpRun


class Transpose(OpRun):
    def _run(self, data, perm=None):
        if perm is None:
            return (np.transpose(data),)
        if sorted(perm) != list(range(data.ndim)):
            self.fail(f"perm {perm} is not a permutation of the {data.ndim} axes of shape {data.shape}")
        return (np.transpose(data, perm),)
