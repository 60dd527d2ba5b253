"""Range: start + i * delta for i < max(ceil((limit - start) / delta), 0)."""
import math

import numpy as np

from refruntime.ops._common import check_alloc
from refruntime.ops.base import OpRun


class Range_11(OpRun):
    def _run(self, start, limit, delta, stash_type=1):
        dtype = np.asarray(start).dtype
        s, l, d = (np.asarray(v).reshape(()).item() for v in (start, limit, delta))
        if d == 0:
            self.fail("delta is 0")
        if dtype.kind in "iu":
            n = max(-((s - l) // d), 0)  # ceil((l - s) / d) in exact integer arithmetic
            check_alloc(self, (n,), dtype)
            return (np.arange(n, dtype=np.int64).astype(dtype) * dtype.type(d) + dtype.type(s),)
        n = max(math.ceil((float(l) - float(s)) / float(d)), 0)
        check_alloc(self, (n,), dtype)
        if dtype.itemsize < 4 and not stash_type:
            # accumulate in the narrow type, as the spec's loop does with stash_type=0
            out = np.empty(n, dtype=dtype)
            value = dtype.type(s)
            for i in range(n):
                out[i] = value
                value = dtype.type(value + dtype.type(d))
            return (out,)
        return ((np.arange(n, dtype=np.float64) * float(d) + float(s)).astype(dtype),)
