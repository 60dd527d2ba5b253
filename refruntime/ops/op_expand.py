import numpy as np

from refruntime.ops._common import check_alloc, ints
from refruntime.ops.base import OpRun


class Expand_8(OpRun):
    _checked: tuple = ()  # (data.shape, requested, output shape) of the last call whose checks passed

    def _run(self, data, shape):
        requested = tuple(ints(shape))
        if self._checked[:2] == (data.shape, requested):
            out_shape = self._checked[2]
        else:
            try:
                out_shape = np.broadcast_shapes(data.shape, requested)
            except ValueError:
                self.fail(f"cannot broadcast input of shape {data.shape} to shape {requested}")
            check_alloc(self, out_shape, data.dtype)
            self._checked = (data.shape, requested, out_shape)
        y = np.empty(out_shape, data.dtype)
        np.copyto(y, data)
        return (y,)
