"""TopK: k attribute (opset 1-9), k input (10+), largest/sorted (11+). Ties keep the lower index
first; the output is always sorted."""
import numpy as np

from refruntime.ops._common import normalize_axis
from refruntime.ops.base import OpRun


class _TopKBase(OpRun):
    def _topk(self, x, k, axis, largest):
        ax = normalize_axis(self, axis, x.ndim)
        k = int(np.asarray(k).reshape(-1)[0])
        dim = x.shape[ax]
        if not 0 <= k <= dim:
            self.fail(f"k={k} is outside [0, {dim}] for axis {axis} of shape {x.shape}")
        if largest:
            # stable ascending sort of the reversed axis, read backwards: descending values,
            # and among equal values the lower original index first
            order = np.argsort(np.flip(x, axis=ax), axis=ax, kind="stable")
            order = dim - 1 - np.flip(order, axis=ax)
        else:
            order = np.argsort(x, axis=ax, kind="stable")
        idx = np.take(order, np.arange(k), axis=ax)
        return (np.take_along_axis(x, idx, axis=ax), idx.astype(np.int64))


class TopK_1(_TopKBase):
    def _run(self, x, axis=-1, k=None):
        return self._topk(x, k, axis, True)


class TopK_10(_TopKBase):
    def _run(self, x, k, axis=-1):
        return self._topk(x, k, axis, True)


class TopK_11(_TopKBase):
    def _run(self, x, k, axis=-1, largest=1, sorted=1):
        return self._topk(x, k, axis, largest)
