"""MatMul: numpy.matmul semantics (batched, broadcasting; a 1-D operand gets a unit axis that is
removed from the result). Narrow floats compute in float32 (BLAS) and are rounded back once, per op.

Speed: a batched A (..., M, K) times a 2-D B (K, N) -- every projection of a transformer -- is one
GEMM of (prod(...) * M, K) x (K, N), not numpy's loop of small GEMMs, and goes through
kernels/blas.matmul, which keeps small products on one BLAS thread (waking OpenBLAS's second
thread costs more than a small product, and far more on a loaded machine).
"""
import math

import numpy as np

from refruntime.kernels.blas import matmul
from refruntime.kernels.floats import as_compute, compute_dtype
from refruntime.ops.base import OpRun

_FLOAT32 = np.dtype(np.float32)


class MatMul(OpRun):
    _checked: tuple = ()  # the last (a.shape, b.shape) that passed the checks
    _flops = 0  # 2*M*N*K times the broadcast batch of those shapes

    def _run(self, a, b):
        shapes = (a.shape, b.shape)
        if shapes == self._checked:
            batch = self._batch
            if a.dtype is _FLOAT32 and b.dtype is _FLOAT32 and a.ndim >= 2:
                if b.ndim == 2:
                    return (_rows_matmul(a, b),)  # the projection case, checks already passed
                if b.ndim > 2:  # attention's batched products
                    return (np.asarray(matmul(a, b, flops=self._flops)),)
        else:
            batch = self._check(a, b)
            self._checked, self._batch = shapes, batch
            self._flops = 2 * math.prod(batch) * a.shape[-1] * (a.shape[-2] if a.ndim > 1 else 1) * (
                b.shape[-1] if b.ndim > 1 else 1)
        if a.dtype.kind in "iub":
            return (np.asarray(np.matmul(a, b)),)
        out_dtype = a.dtype
        dtype = compute_dtype(out_dtype)
        y = _float_matmul(as_compute(a, dtype), as_compute(b, dtype), batch)
        return (y if y.dtype == out_dtype else y.astype(out_dtype),)

    def _check(self, a, b) -> tuple:
        """The broadcast batch shape, or a KernelError naming the shapes."""
        if a.ndim == 0 or b.ndim == 0:
            self.fail(f"MatMul operands must have rank >= 1, got shapes {a.shape} and {b.shape}")
        k_a = a.shape[-1]
        k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if k_a != k_b:
            self.fail(f"A of shape {a.shape} and B of shape {b.shape}: inner dimensions {k_a} and {k_b} "
                      "differ")
        try:
            return np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            self.fail(f"batch dimensions of A {a.shape[:-2]} and B {b.shape[:-2]} do not broadcast")


def _rows_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., M, K) @ (K, N) as one GEMM over all rows."""
    k, n = b.shape
    rows = a.reshape(-1, k)
    return matmul(rows, b, flops=2 * rows.shape[0] * k * n).reshape(*a.shape[:-1], n)


def _float_matmul(a: np.ndarray, b: np.ndarray, batch: tuple) -> np.ndarray:
    if a.ndim < 2 or b.ndim < 2:
        return np.asarray(np.matmul(a, b))
    if b.ndim == 2:
        return _rows_matmul(a, b)
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    count = 1
    for d in batch:
        count *= d
    return np.asarray(matmul(a, b, flops=2 * count * m * k * n))
