"""com.microsoft DynamicQuantizeMatMul (ContribOperators.md, "com.microsoft.DynamicQuantizeMatMul",
opset 1; the doc gives only the signature). What onnxruntime fuses into it, and computes, is
DynamicQuantizeLinear(A) -> MatMulInteger with B -> times a_scale * b_scale -> plus bias:

    a_scale, a_zero_point = ONNX DynamicQuantizeLinear's parameters for all of A (uint8): the range
        [min(0, min(A)), max(0, max(A))], a_scale = (max - min) / 255 in A's type (1 when the range
        is empty: A all zeros), a_zero_point = saturate(round(0 - min / a_scale))
    A_q = saturate(round(A / a_scale) + a_zero_point)
    Y = (A_q - a_zero_point) @ (B - b_zero_point) * a_scale * b_scale + bias

B is uint8 or int8, b_zero_point of its type (absent: 0), per tensor or per column (N values);
b_scale per tensor, per column of Y (N values) or per row; A, b_scale, bias and Y are float32.

Exact: a_scale is the float32 value of the formula evaluated in float32 (it is an output tensor of
DynamicQuantizeLinear, so of A's type); the zero point and A_q are the exactly rounded quotients
(float64 from float32 operands, _quant.quantize); the integer product is exact (int64), scaled
and biased in float64 and rounded once to float32.

Where runtimes disagree: onnxruntime quantizes A with a float32 division (MLAS), which can put an
element one step away near a tie, and scales the int32 accumulator by the float32 a_scale *
b_scale: within a few float32 ulps plus, for such elements, one step of a_scale * b_scale * |B - zp|.
"""
import numpy as np

from refruntime.ops.base import OpRun
from refruntime.ops.com_microsoft._common import (
    check_node,
    check_scale_and_zero_point,
    integer_matmul_to_float,
)
from refruntime.ops.op_dynamic_quantize_linear import dynamic_quantize


class DynamicQuantizeMatMul(OpRun):
    SCALES = (2,)
    ZERO_POINTS = ((3, 1),)

    def prepare(self):
        check_node(self, inputs=(3, 5), required_inputs=(0, 1, 2))

    def check_constants(self, constants):
        check_scale_and_zero_point(self, self.SCALES, self.ZERO_POINTS, constants, self.refuse)

    def _run(self, a, b, b_scale, b_zero_point=None, bias=None):
        if a.dtype.kind != "f":
            self.fail(f"A must be float32, got {a.dtype}")
        if b.dtype.name not in ("uint8", "int8"):
            self.fail(f"B must be uint8 or int8, got {b.dtype}")
        check_scale_and_zero_point(self, self.SCALES, self.ZERO_POINTS,
                                   {1: b, 2: b_scale, 3: b_zero_point}, self._fail_at)
        if a.size and not np.isfinite(a).all():
            self.fail("A has non-finite values: dynamic quantization has no scale for them")
        a_q, a_scale, a_zero_point = dynamic_quantize(a)
        return (integer_matmul_to_float(self, a_q, a_zero_point, b, b_zero_point, ((a_scale, 0), (b_scale, 2)),
                                        bias, a.dtype),)

    def _fail_at(self, message, index=None):
        self.fail(message if index is None else f"input {index} {self.node.input[index]!r}: {message}")
