"""LayerNormalization's rows in one numba pass per row (float32 data, the common case).

standardize_rows (kernels/normalization.py) makes about ten numpy calls per op; on a transformer at
batch 1 (a (16, 128) input) their fixed cost, ~2 us each, is most of the op. This loop reads each
row twice and writes it once.

Numerics, per the op's function body with stash_type=1 (a float32 stage one): Mean and Var are
float32 values; here the row sums are accumulated in float64 and rounded once to float32, which
is at least as close to the exact mean of the float32 inputs as numpy's pairwise float32 sum (the
body does not fix a summation order). D = X - Mean, Var = mean(D * D), InvStdDev = 1 / sqrt(Var +
epsilon), Normalized = D * InvStdDev and Y = Normalized * Scale + B are each rounded to float32,
as the body's ops are (no fused multiply-add: fastmath is off).
Where numpy's float32 pairwise sums and this float64 accumulation differ, this one is the closer to
the exact mean and variance; tests compare both with float64 (tests/refruntime/test_fast_paths.py).
"""
from __future__ import annotations

import math

import numba
import numpy as np

from refruntime.kernels.row_sums import float64_sum, float64_sum_of_squares


@numba.njit(cache=True, fastmath=False)
def layer_norm_rows(x, scale, bias, has_bias, epsilon, y, mean_out, inv_std_out):
    """x (rows, cols) float32 C-contiguous; scale, bias (cols,) float32 (bias ignored unless
    has_bias); writes y (rows, cols), mean_out and inv_std_out (rows,), all float32."""
    rows, cols = x.shape
    for r in range(rows):
        mean = np.float32(float64_sum(x[r]) / cols)  # the float64 mean, rounded once
        var = np.float32(float64_sum_of_squares(x[r], mean) / cols)
        inv_std = np.float32(np.float32(1.0) / np.float32(math.sqrt(np.float32(var + epsilon))))
        for c in range(cols):
            d = np.float32(x[r, c] - mean)
            v = np.float32(np.float32(d * inv_std) * scale[c])
            y[r, c] = np.float32(v + bias[c]) if has_bias else v
        mean_out[r] = mean
        inv_std_out[r] = inv_std
