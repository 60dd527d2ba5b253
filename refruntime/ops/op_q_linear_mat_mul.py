"""QLinearMatMul (opsets 10, 21): y = saturate(round(((a - a_zp) @ (b - b_zp)) * a_scale * b_scale / y_scale) + y_zp),
numpy.matmul's broadcasting.

Parameters: a's scale and zero point one value or per row (M values: 1-D or [..., M, 1]), b's one
value or per column (N values: 1-D or [..., 1, N]), y's one value. Opset 10: 8-bit a, b, y and
float scales; 21: float16/bfloat16 scales and float8 a, b, y.

Integer a and b: the sum is exact (kernels/integer.py), and "For (x / y_scale), it is rounding to
nearest ties to even" is applied to the exact real value a_scale * b_scale * acc / y_scale:
`_quant.requantize`, a float64 estimate whose near-ties are decided exactly. The spec states it
in real numbers and, unlike QuantizeLinear's one division of two values of one type, the value
combines three scales and an integer sum no float32 holds, so no type is implied; onnx's
conformance cases (test_qlinearmatmul_*) agree with the exact value. A float64 multiplier alone
misjudges some ties (a_scale = b_scale = 1/38, y_scale = 0.1 in float32 and acc = 4693 is just
above 32.5: 33, where float64 gives 32). onnxruntime and onnx.reference apply a float32
multiplier (onnx.reference with float16 scales: a float16 one), so they differ from the exact
value by one step where the product is within a float32 (float16) rounding of a tie (onnxruntime
1.32 gives 32 in the example); refruntime keeps the exact value.

float8 a, b (opset 21): a, b and their zero points are float8 values, their differences exact in
float64; the products are exact and the float64 sum too for float8e4m3 types (values within
2**-18..2**17); float8e5m2 sums that span more than 53 bits are rounded. A float8 y (whatever a
and b are) is saturate(value / y_scale + y_zp) rounded once, saturating (QuantizeLinear's
default); an integer y from float8 a, b rounds that float64 value half to even.
"""
from __future__ import annotations

import numpy as np

from refruntime.kernels.integer import int_matmul
from refruntime.ops._common import check_alloc
from refruntime.ops._quant import (
    EIGHT_BIT,
    QuantParamChecks,
    is_float8,
    matmul_param,
    requantize,
    saturate,
    to_float8,
)
from refruntime.ops.base import OpRun
from refruntime.ops.op_mat_mul_integer import matmul_shape
from refruntime.ops.op_quantize_linear import quant_types


class QLinearMatMul_10(QuantParamChecks, OpRun):
    DATA_TYPES = ((0, EIGHT_BIT), (3, EIGHT_BIT))
    PARAMS = ((1, 2, 0, "row"), (4, 5, 3, "column"), (6, 7, None, "tensor"))

    def _run(self, a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point):
        self.check_inputs(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point)
        shape = matmul_shape(self, a, b)
        check_alloc(self, shape, np.float64)
        sa, za = (matmul_param(p, a.shape, "row") for p in (a_scale, a_zero_point))
        sb, zb = (matmul_param(p, b.shape, "column") for p in (b_scale, b_zero_point))
        if is_float8(a.dtype) != is_float8(b.dtype):
            self.fail(f"a is {a.dtype} and b is {b.dtype}: both integer or both float8")
        if b.ndim == 1 and sa.ndim:  # numpy.matmul drops b's unit column axis: drop it from a's rows too
            sa = sa[..., 0]
        f64 = np.float64
        scale_product = sa.astype(f64) * sb.astype(f64)
        y_scale, zero_point, out = y_scale.astype(f64).reshape(()), y_zero_point.reshape(()), y_zero_point.dtype
        if is_float8(a.dtype):  # the products of float8 differences, summed in float64
            acc = np.matmul(a.astype(f64) - za.astype(f64), b.astype(f64) - zb.astype(f64))
        else:
            acc = int_matmul(a, za, b, zb)
        if not is_float8(out) and not is_float8(a.dtype):
            return (requantize(acc, scale_product, y_scale, zero_point, out),)
        value = acc * (scale_product / y_scale)
        if is_float8(out):
            return (to_float8(value + zero_point.astype(f64), out, True),)
        return (saturate(np.rint(value) + zero_point.astype(f64), out),)


class QLinearMatMul_21(QLinearMatMul_10):
    """Adds float16/bfloat16 scales and float8 a, b, y (types read from the schema)."""

    def prepare(self):
        types = tuple(quant_types("QLinearMatMul", self.opset, "input:0"))
        self.DATA_TYPES = ((0, types), (3, types))
        self.OUTPUT_TYPES = tuple(quant_types("QLinearMatMul", self.opset, "output:0"))
