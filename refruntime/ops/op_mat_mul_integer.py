"""MatMulInteger (opset 10): Y = (A - a_zero_point) @ (B - b_zero_point) as int32, numpy.matmul's
broadcasting; A and B int8 or uint8 (any pairing).

Zero points: one value, or per row of A (M values: 1-D or [..., M, 1]) and per column of B (N
values: 1-D or [..., 1, N]). The sum is exact (kernels/integer.py: float BLAS when every partial
sum provably stays an integer the type holds, int64 otherwise); "the accumulation may overflow if
and only if in 32 bits" is read as wrapping modulo 2**32, which only happens for K above 33,025
(255 * 255 * K >= 2**31).

Where runtimes disagree: onnxruntime's u8 x s8 kernel on AVX2 CPUs without VNNI (vpmaddubsw)
saturates pairwise 16-bit partial sums, so large u8 x s8 values come out wrong there (seen: 591 of
1,024 elements off, by up to 22,798); refruntime keeps the exact sum.
"""
from __future__ import annotations

import numpy as np

from refruntime.kernels.integer import int_matmul, wrap_int32
from refruntime.ops._common import check_alloc
from refruntime.ops._quant import EIGHT_BIT, QuantParamChecks, matmul_param
from refruntime.ops.base import OpRun


def matmul_shape(kernel: OpRun, a: np.ndarray, b: np.ndarray) -> tuple[int, ...]:
    """numpy.matmul's output shape for a and b, or kernel.fail naming the mismatch."""
    if a.ndim == 0 or b.ndim == 0:
        kernel.fail(f"operands must have rank >= 1, got shapes {a.shape} and {b.shape}")
    k_a, k_b = a.shape[-1], (b.shape[0] if b.ndim == 1 else b.shape[-2])
    if k_a != k_b:
        kernel.fail(f"A of shape {a.shape} and B of shape {b.shape}: inner dimensions {k_a} and {k_b} differ")
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        kernel.fail(f"batch dimensions of A {a.shape[:-2]} and B {b.shape[:-2]} do not broadcast")
    cols = b.shape[-1:] if b.ndim > 1 else ()
    return (*batch, *a.shape[-2:-1], *cols)


class MatMulInteger(QuantParamChecks, OpRun):
    DATA_TYPES = ((0, EIGHT_BIT), (1, EIGHT_BIT))
    PARAMS = ((None, 2, 0, "row"), (None, 3, 1, "column"))

    def _run(self, a, b, a_zero_point=None, b_zero_point=None):
        self.check_inputs(a, b, a_zero_point, b_zero_point)
        shape = matmul_shape(self, a, b)
        check_alloc(self, shape, np.float64)
        a_zp = None if a_zero_point is None else matmul_param(a_zero_point, a.shape, "row")
        b_zp = None if b_zero_point is None else matmul_param(b_zero_point, b.shape, "column")
        return (wrap_int32(int_matmul(a, a_zp, b, b_zp)),)
