"""Softmax's row reductions as numba loops (float32 rows, the attention case).

numpy's `x.max(axis=-1)` and `.sum(axis=-1)` on short rows cost more than the exponentials: on a
BERT's (1, 2, 16, 16) attention scores, 4 and 3 us of the op's 12. The exponentials stay numpy's
(vectorized; numba's math.exp is a scalar libm call without SVML).

Numerics: D = X - max(X) and exp(D) are float32 operations (the op body's Sub and Exp; exp is
numpy's, as the Exp op's); the row sum is accumulated in float64 (kernels/row_sums.py) and each
quotient is float64 exp * (1 / sum) rounded once to float32: closer to the exact softmax of
exp(D) than numpy's float32 sum and division (tests/refruntime/test_small_step_paths.py). A NaN
in a row makes that row's max NaN, hence the whole row NaN, as numpy's max does.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from refruntime.kernels.row_sums import float64_sum


@numba.njit(cache=True)
def subtract_row_max(x, d):
    """d[r] = x[r] - max(x[r]) for (rows, n) float32 x and d (d may be x)."""
    rows, n = x.shape
    for r in range(rows):
        top = x[r, 0]
        for c in range(1, n if not math.isnan(top) else 1):
            v = x[r, c]
            if math.isnan(v):
                top = v
                break
            top = max(top, v)  # NaN was handled above
        for c in range(n):
            d[r, c] = x[r, c] - top


@numba.njit(cache=True)
def divide_by_row_sum(e, y):
    """y[r] = float32(e[r] / sum(e[r])) for (rows, n) float32 e and y (y may be e)."""
    rows, n = e.shape
    for r in range(rows):
        inverse = 1.0 / float64_sum(e[r])
        for c in range(n):
            y[r, c] = np.float64(e[r, c]) * inverse


@numba.njit(cache=True)
def divide_by_row_sum_nan_to(e, y, value):
    """divide_by_row_sum, then `value` where the quotient is NaN (fused_ops.softmax_nan_to: the
    Where(IsNaN(s), value, s) exports put after an attention Softmax), in the same pass."""
    rows, n = e.shape
    for r in range(rows):
        inverse = 1.0 / float64_sum(e[r])
        for c in range(n):
            q = np.float32(np.float64(e[r, c]) * inverse)
            y[r, c] = value if math.isnan(q) else q


@numba.njit(cache=True)
def replace_nan(y, value):
    """y[i] = value where y[i] is NaN, in place, for a flat float32 y: the Where(IsNaN(s), value, s)
    that exports put after an attention Softmax, as one pass (fused_ops.softmax_nan_to)."""
    for i in range(y.size):
        v = y[i]
        y[i] = value if math.isnan(v) else v
