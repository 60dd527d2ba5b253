"""Trilu (opset 14), from the operator spec: the upper (upper=1, the default) or lower triangular
part of each matrix in the last two axes of X, every other element set to zero. With k (a 0-D
tensor, default 0): upper keeps the elements with column - row >= k, lower those with
column - row <= k. k may lie beyond the matrix (everything or nothing kept). Strings are
"zeroed" to the empty string, booleans to False.
"""
import numpy as np

from refruntime.ops.base import OpRun


class Trilu_14(OpRun):
    def check_constants(self, constants):
        k = constants.get(1)
        if k is not None and k.size != 1:
            self.refuse(f"k must hold a single value (a 0-D tensor), got shape {k.shape}", 1)

    def _run(self, x, k=None, upper=1):
        if x.ndim < 2:
            self.fail(f"input must have rank 2 or more, got shape {x.shape}")
        if k is None:
            diagonal = 0
        else:
            k = np.asarray(k)
            if k.size != 1:
                self.fail(f"k must hold a single value (a 0-D tensor), got shape {k.shape}")
            diagonal = int(k.reshape(()))
        rows, cols = x.shape[-2:]
        offset = np.arange(cols)[None, :] - np.arange(rows)[:, None]  # column - row
        keep = offset >= diagonal if upper else offset <= diagonal
        zero = "" if x.dtype == object else np.zeros((), x.dtype)
        return (np.where(keep, x, zero).astype(x.dtype, copy=False),)
