import numpy as np

from refruntime.ops.base import OpRun


class Transpose(OpRun):
    _checked_rank = -1  # the rank `perm` was last checked against

    def _run(self, data, perm=None):
        if perm is None:
            return (np.transpose(data),)
        if data.ndim != self._checked_rank:
            if sorted(perm) != list(range(data.ndim)):
                self.fail(f"perm {perm} is not a permutation of the {data.ndim} axes of shape {data.shape}")
            self._checked_rank = data.ndim
        return (data.transpose(perm),)
