"""float64 sums of float32 rows for numba kernels, with four partial sums.

One float64 accumulator makes every addition wait for the previous one (4 cycles): 1.3 ns per
element, most of a LayerNormalization or Softmax row on a transformer. Four independent partial
sums let the additions overlap; the result is a float64 sum in another order, whose difference
from the one-accumulator sum is far below a float32 ulp.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def float64_sum(row):
    """sum(row) of a 1-D float32 array, accumulated in float64."""
    n = row.size
    s0 = s1 = s2 = s3 = 0.0
    c = 0
    while c + 4 <= n:
        s0 += np.float64(row[c])
        s1 += np.float64(row[c + 1])
        s2 += np.float64(row[c + 2])
        s3 += np.float64(row[c + 3])
        c += 4
    while c < n:
        s0 += np.float64(row[c])
        c += 1
    return (s0 + s1) + (s2 + s3)


@numba.njit(cache=True, inline="always")
def float64_sum_of_squares(row, mean):
    """sum(float32(d * d)) for d = float32(row - mean), accumulated in float64 (a variance's sum)."""
    n = row.size
    s0 = s1 = s2 = s3 = 0.0
    c = 0
    while c + 4 <= n:
        d0 = np.float32(row[c] - mean)
        d1 = np.float32(row[c + 1] - mean)
        d2 = np.float32(row[c + 2] - mean)
        d3 = np.float32(row[c + 3] - mean)
        s0 += np.float64(np.float32(d0 * d0))
        s1 += np.float64(np.float32(d1 * d1))
        s2 += np.float64(np.float32(d2 * d2))
        s3 += np.float64(np.float32(d3 * d3))
        c += 4
    while c < n:
        d = np.float32(row[c] - mean)
        s0 += np.float64(np.float32(d * d))
        c += 1
    return (s0 + s1) + (s2 + s3)
