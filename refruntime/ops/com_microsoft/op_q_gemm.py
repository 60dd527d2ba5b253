"""com.microsoft QGemm (ContribOperators.md, "com.microsoft.QGemm", opset 1): the quantized Gemm

    Y = alpha * a_scale * b_scale * ((A' - a_zero_point) @ (B' - b_zero_point) + C)

where A' = A (M, K), or its transpose with transA; B' = B (K, N), or its transpose with transB;
a_scale and a_zero_point are per tensor; b_scale and b_zero_point per tensor or per column of B'
(N values, the same shape for both); C (optional, int32) is broadcast unidirectionally to (M, N)
and is already in units of alpha * a_scale * b_scale. Without y_scale the output is that value in
float32; with y_scale and y_zero_point (per tensor) it is quantized:
saturate(round(Y / y_scale) + y_zero_point) in y_zero_point's type. A, B and y_zero_point are
uint8 or int8, each independently.

Exact: the accumulator is an exact integer (int64, never wrapping; _common.int_matmul), and the
quantized output rounds the exact value of alpha * a_scale * b_scale[n] * acc / y_scale half to
even (_common.round_half_even). The float output is that product computed in float64 (a relative
error of a few 2**-53) and rounded to float32.

Where runtimes disagree: onnxruntime accumulates in int32 (the bias C added first, so a sum
outside int32 would wrap) and multiplies by the float32 alpha * a_scale * b_scale / y_scale,
rounding its result with nearbyint: near a tie one step away from the exact result; its float
output is acc * (the float32 product of the scales), a float32 rounding away. It registers only
A, B of (uint8, uint8/int8) and (int8, int8), with y_zero_point of A's type; refruntime takes
every combination.
"""
from fractions import Fraction

import numpy as np

from refruntime.ops._quant import as_int64, scale_error, zero_point_error
from refruntime.ops.com_microsoft._common import (
    EIGHT_BIT,
    FLOAT,
    INT,
    QuantizedOp,
    check_node,
    int_matmul,
    requantized,
    round_half_even,
    value,
)


class QGemm(QuantizedOp):
    SCALES = (1, 7)
    ZERO_POINTS = ((2, 0), (8, None))

    def prepare(self):
        check_node(self, inputs=(6, 9), required_inputs=(0, 1, 2, 3, 4, 5),
                   attributes={"alpha": FLOAT, "transA": INT, "transB": INT})
        inputs = list(self.node.input) + [""] * (9 - len(self.node.input))
        if bool(inputs[7]) != bool(inputs[8]):
            self.refuse("y_scale and y_zero_point go together: both (quantized output) or neither (float)")
        alpha = self.attributes.get("alpha", 1.0)
        if not np.isfinite(alpha):
            self.refuse(f"alpha must be finite, got {alpha}")

    def check_constants(self, constants):
        super().check_constants(constants)
        self._check_b_params(constants.get(4), constants.get(5), constants.get(3), self.refuse)

    def _check_b_params(self, b_scale, b_zero_point, b, report):
        if b_scale is not None:
            problem = scale_error(b_scale)
            if problem:
                report(problem, 4)
        if b_zero_point is not None:
            if np.asarray(b_zero_point).dtype not in EIGHT_BIT:
                report(f"must be uint8 or int8, got {np.asarray(b_zero_point).dtype}", 5)
            problem = zero_point_error(b_zero_point, None if b is None else b.dtype)
            if problem:
                report(problem, 5)
        if b_scale is not None and b_zero_point is not None and np.shape(b_scale) != np.shape(b_zero_point):
            report(f"b_scale has shape {list(np.shape(b_scale))} but b_zero_point {list(np.shape(b_zero_point))}: "
                   "they have the same shape", 5)

    def _run(self, a, a_scale, a_zero_point, b, b_scale, b_zero_point, c=None, y_scale=None, y_zero_point=None,
             alpha=1.0, transA=0, transB=0):
        self.check_data(a, 0)
        self.check_data(b, 3)
        self.check_params((a, a_scale, a_zero_point, b, None, None, c, y_scale, y_zero_point))
        self._check_b_params(b_scale, b_zero_point, b, self._fail_at)
        if a.ndim != 2 or b.ndim != 2:
            self.fail(f"A and B must be matrices, got shapes {a.shape} and {b.shape}")
        a2 = a.T if transA else a
        b2 = b.T if transB else b
        (m, k), (k2, n) = a2.shape, b2.shape
        if k != k2:
            self.fail(f"A' (M, K) = {a2.shape} and B' (K, N) = {b2.shape} disagree on K (transA={transA}, "
                      f"transB={transB})")
        b_scale, b_zero_point = np.asarray(b_scale), np.asarray(b_zero_point)
        if b_scale.size != 1 and b_scale.shape != (n,):
            self.fail(f"b_scale must be a single value or one per column of B' ({n}), got shape {b_scale.shape}")
        acc = int_matmul(as_int64(a2, value(a_zero_point)), as_int64(b2, b_zero_point.reshape(-1)))
        if c is not None:
            if c.dtype != np.int32:
                self.fail(f"C must be int32, got {c.dtype}")
            try:
                np.broadcast_to(c, (m, n))
            except ValueError:
                self.fail(f"C of shape {c.shape} does not broadcast to (M, N) = ({m}, {n})")
            acc = acc + c.astype(np.int64)
        sa = float(value(a_scale))
        sb = b_scale.astype(np.float64).reshape(-1)
        if y_scale is None:
            out_dtype = np.asarray(a_scale).dtype
            return ((acc * (sa * sb) * alpha).astype(out_dtype),)  # sa * sb exact in float64
        sy = float(value(y_scale))
        exact_scales = [Fraction(alpha) * Fraction(sa) * Fraction(s) / Fraction(sy) for s in sb.tolist()]
        column = np.arange(n) if sb.size > 1 else np.zeros(n, dtype=np.int64)
        rounded = round_half_even(acc * (sa * sb) * alpha / sy, lambda v, j: v * exact_scales[j], acc, column)
        return (requantized(rounded, y_zero_point, np.asarray(y_zero_point).dtype),)
