"""A bias added in place to a fresh product (MatMul -> Add fused, Gemm's C), without numba
at import time (the loop is kernels/bias_rows.py, imported on first use)."""
from __future__ import annotations

import numpy as np

_add_bias_rows = None  # kernels/bias_rows' loop, imported on first use (it imports numba)


def row_vector(bias: np.ndarray) -> np.ndarray | None:
    """A float32 bias of one value per output column ((n,), (1, n), ...) as an (n,) array, else None."""
    if bias.dtype == np.float32 and bias.ndim and bias.size == bias.shape[-1]:
        return bias.reshape(-1)
    return None


def add_bias(y: np.ndarray, bias: np.ndarray, row_bias: np.ndarray | None = None) -> None:
    """y += bias in place, for a y the bias broadcasts to (the caller checked): a row bias
    (`row_vector`) on a float32 y through kernels/bias_rows' loop (numpy's broadcast is 4x
    slower), anything else through numpy. Bitwise the same either way."""
    if (row_bias is None or y.dtype != np.float32 or not y.flags.c_contiguous or y.ndim == 0
            or y.shape[-1] != row_bias.size or not row_bias.size):
        np.add(y, bias, out=y)
        return
    add_bias_rows(y.reshape(-1, row_bias.size), row_bias)


def add_bias_rows(y: np.ndarray, row_bias: np.ndarray) -> None:
    """y[r, :] += row_bias for a C-contiguous (rows, n) float32 y and an (n,) float32 row_bias."""
    global _add_bias_rows
    if _add_bias_rows is None:
        from refruntime.kernels.bias_rows import add_bias_rows as _add_bias_rows
    _add_bias_rows(y, row_bias)
