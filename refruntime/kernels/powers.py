"""x**2 and x**3 of float32 arrays in one numba pass (Pow with GELU's and variance's exponents).

numpy's route (cast to float64, multiply, cast back) makes three passes and two float64 arrays;
on GPT-2's GELU at sequence 128 (65,536 values) it cost ~110 us of a ~2 ms run. Same numerics as
that route: the products in float64, rounded once to float32 as each value is stored.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def float32_power(x, y, cube):
    """y = x*x (or x*x*x when `cube`) for flat float32 x and y, computed in float64."""
    for i in range(x.size):
        v = np.float64(x[i])
        y[i] = v * v * v if cube else v * v
