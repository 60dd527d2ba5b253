"""ArgMax and ArgMin (select_last_index from opset 12); int64 indices."""
import numpy as np

from refruntime.ops._common import normalize_axis
from refruntime.ops.base import OpRun


def _arg(kernel, fn, data, axis, keepdims, select_last_index):
    ax = normalize_axis(kernel, axis, data.ndim)
    if data.shape[ax] == 0:
        kernel.fail(f"cannot take {kernel.op_type} over empty axis {axis} of shape {data.shape}")
    if select_last_index:
        flipped = np.flip(data, axis=ax)
        result = data.shape[ax] - 1 - fn(flipped, axis=ax)
    else:
        result = fn(data, axis=ax)
    result = np.asarray(result, dtype=np.int64)
    return (np.expand_dims(result, ax) if keepdims else result,)


class ArgMax(OpRun):
    def _run(self, data, axis=0, keepdims=1, select_last_index=0):
        return _arg(self, np.argmax, data, axis, keepdims, select_last_index)


class ArgMin(OpRun):
    def _run(self, data, axis=0, keepdims=1, select_last_index=0):
        return _arg(self, np.argmin, data, axis, keepdims, select_last_index)
