"""Softmax's row reductions as numba loops (float32 rows, the attention case).

numpy's `x.max(axis=-1)` and `.sum(axis=-1)` on short rows cost more than the exponentials: on a
BERT's (1, 2, 16, 16) attention scores, 4 and 3 us of the op's 12. The exponentials stay numpy's
(vectorized; numba's math.exp is a scalar libm call without SVML).

Numerics: D = X - max(X) is the float32 subtraction of the op's body; from there exp, the row sum
and the quotient are float64 and Y is rounded once to float32, so Y is within ~0.5 ulp of the
exact softmax of D (numpy's float32 exp alone is off by up to ~2 ulps, measured in
tests/refruntime/test_small_step_paths.py). A NaN in a row makes that row's max NaN, hence the
whole row NaN, as numpy's max does.
"""
from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True)
def subtract_row_max(x, d):
    """d[r] = float32(x[r] - max(x[r])) stored in float64, for (rows, n) float32 x."""
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
            d[r, c] = np.float64(x[r, c] - top)


@numba.njit(cache=True)
def divide_by_row_sum(e, y):
    """y[r] = float32(e[r] / sum(e[r])) for (rows, n) float64 e and float32 y."""
    rows, n = e.shape
    for r in range(rows):
        total = 0.0
        for c in range(n):
            total += e[r, c]
        for c in range(n):
            y[r, c] = e[r, c] / total
