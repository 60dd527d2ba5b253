"""SplitToSequence (opsets 11 and 24: 24 adds types), from the operator spec: `input` split along
`axis` into a sequence (a list) of tensors.

- no `split`: pieces of size 1; with keepdims=0 the split axis is removed from each;
- a 0-D `split`: pieces of that size, the last one smaller when it does not divide the dimension
  (keepdims is ignored whenever split is given);
- a 1-D `split`: one piece per entry, the entries summing to the dimension.

The spec asks for positive sizes; like onnxruntime, a 1-D split may hold zeros (empty pieces),
while a 0-D split must be positive. An axis of size 0 without split gives an empty sequence.
"""
import numpy as np

from refruntime.ops._common import ints, normalize_axis
from refruntime.ops.base import OpRun


class SplitToSequence_11(OpRun):
    def _run(self, x, split=None, axis=0, keepdims=1):
        if x.ndim == 0:
            self.fail("input must have rank >= 1, got a 0-D tensor")
        ax = normalize_axis(self, axis, x.ndim)
        dim = x.shape[ax]
        if split is None:
            pieces = np.split(x, dim, axis=ax) if dim else []
            if not keepdims:
                pieces = [np.squeeze(p, axis=ax) for p in pieces]
            return (pieces,)
        if split.dtype.kind not in "iu":
            self.fail(f"split must be int32 or int64, got {split.dtype}")
        if split.ndim == 0:
            size = int(split)
            if size <= 0:
                self.fail(f"a scalar split must be positive, got {size}")
            sizes = [size] * (dim // size) + ([dim % size] if dim % size else [])
        elif split.ndim == 1:
            sizes = ints(split)
            if any(s < 0 for s in sizes) or sum(sizes) != dim:
                self.fail(f"split sizes {sizes} must be non-negative and add up to dimension {dim} of "
                          f"shape {x.shape} (axis {axis})")
        else:
            self.fail(f"split must be a 0-D or 1-D tensor, got shape {split.shape}")
        bounds = np.cumsum(sizes)[:-1]
        return (list(np.split(x, bounds, axis=ax)) if sizes else [],)
