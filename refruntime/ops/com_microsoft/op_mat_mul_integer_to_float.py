"""com.microsoft MatMulIntegerToFloat (ContribOperators.md, "com.microsoft.MatMulIntegerToFloat",
opset 1): Y = (A - a_zero_point) @ (B - b_zero_point) * a_scale * b_scale + bias, with numpy matmul
semantics (batch axes broadcast); A and B uint8 or int8 (independently), the zero points of their
operand's type (absent: 0), the scales, bias and Y of one float type T3 (float32 or float16); bias
has one value per column of B.

The doc describes each scale and zero point as "a scalar or a 1-D tensor" per column of its
operand. A zero point is subtracted from its operand, so any shape that broadcasts to it works
(per column of A: K values; per column of B: N values). A scale cannot be taken out of the sum
over K unless it is constant along K, so refruntime (like onnxruntime, which moves a 1-D a_scale
to B's side) multiplies the product by each scale broadcast against Y: per tensor, per column of
Y (N values) or per row ((M, 1)); any other shape is a KernelError.

Exact: the integer product is exact (int64; _common.int_matmul), scaled and biased in float64 and
rounded once to T3. onnxruntime accumulates in int32 and scales in float32 (a float32 rounding of
a_scale * b_scale, then of the product, then of the bias sum): within a few float32 ulps.
"""
from refruntime.ops.base import OpRun
from refruntime.ops.com_microsoft._common import (
    check_node,
    check_scale_and_zero_point,
    integer_matmul_to_float,
)

EIGHT_BIT = ("uint8", "int8")


class MatMulIntegerToFloat(OpRun):
    SCALES = (2, 3)
    ZERO_POINTS = ((4, 0), (5, 1))

    def prepare(self):
        check_node(self, inputs=(4, 7), required_inputs=(0, 1, 2, 3))

    def check_constants(self, constants):
        check_scale_and_zero_point(self, self.SCALES, self.ZERO_POINTS, constants, self.refuse)

    def _run(self, a, b, a_scale, b_scale, a_zero_point=None, b_zero_point=None, bias=None):
        for index, x in ((0, a), (1, b)):
            if x.dtype.name not in EIGHT_BIT:
                self.fail(f"input {index} {self.node.input[index]!r} must be uint8 or int8, got {x.dtype}")
        if a_scale.dtype != b_scale.dtype or (bias is not None and bias.dtype != a_scale.dtype):
            self.fail(f"a_scale ({a_scale.dtype}), b_scale ({b_scale.dtype}) and bias have the one type T3")
        check_scale_and_zero_point(self, self.SCALES, self.ZERO_POINTS,
                                   dict(enumerate((a, b, a_scale, b_scale, a_zero_point, b_zero_point))),
                                   self._fail_at)
        return (integer_matmul_to_float(self, a, a_zero_point, b, b_zero_point, ((a_scale, 2), (b_scale, 3)),
                                        bias, a_scale.dtype),)

    def _fail_at(self, message, index=None):
        self.fail(message if index is None else f"input {index} {self.node.input[index]!r}: {message}")
