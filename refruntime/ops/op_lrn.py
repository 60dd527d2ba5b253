"""LRN (opsets 1, 13: same semantics): local response normalization across channels.

    square_sum[n, c, ...] = sum of x[n, i, ...]^2 for i in [c - floor((size-1)/2), c + ceil((size-1)/2)]
    y = x / (bias + alpha / size * square_sum) ^ beta
"""
import numpy as np

from refruntime.kernels.floats import as_compute, compute_dtype
from refruntime.ops.base import OpRun


class LRN(OpRun):
    def prepare(self):
        size = self.attributes.get("size")
        if size is None or size < 1:
            self.fail(f"the size attribute is required and must be >= 1, got {size}")

    def _run(self, x, alpha=0.0001, beta=0.75, bias=1.0, size=None):
        if x.ndim < 3:
            self.fail(f"X must be (N, C, D1, ...), got shape {x.shape}")
        dtype = compute_dtype(x.dtype)
        xc = as_compute(x, dtype)
        channels = x.shape[1]
        before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
        squares = np.square(xc)
        square_sum = squares.copy()
        for offset in range(-before, after + 1):  # `size` shifted adds, exact window sums
            if offset == 0 or abs(offset) >= channels:
                continue
            if offset > 0:
                square_sum[:, :-offset] += squares[:, offset:]
            else:
                square_sum[:, -offset:] += squares[:, :offset]
        base = square_sum
        base *= dtype.type(alpha / size)
        base += dtype.type(bias)
        y = xc / np.power(base, dtype.type(beta))
        return (y if y.dtype == x.dtype else y.astype(x.dtype),)
