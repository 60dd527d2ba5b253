"""com.microsoft DequantizeLinear (ContribOperators.md, "com.microsoft.DequantizeLinear", opset 1):
y = (x - x_zero_point) * x_scale, in x_scale's type (float16 or float32). Without the `axis`
attribute the dequantization is per tensor and x_scale, x_zero_point must be single values; with
it, they are 1-D tensors along `axis` (negative counts from the end). x and x_zero_point are
int8, uint8, int16, uint16, int32, int4 or uint4; an absent zero point is 0.

Computed in float64 and rounded to x_scale's type (refruntime/ops/_quant.py): the float64 product
is exact for 8- and 16-bit x (and int32 x with |x - x_zero_point| <= 2**29), so the result is the
exact value rounded once; beyond that the float64 product is rounded first.

Where runtimes disagree: onnxruntime converts x - x_zero_point to float32 (rounded above 2**24)
and multiplies in float32; the same result for 8- and 16-bit x.
onnxruntime also accepts a 1-D x_scale without `axis` (along axis 1); the doc does not, and
refruntime refuses it.
"""
from refruntime.ops._quant import dequantize
from refruntime.ops.base import OpRun
from refruntime.ops.com_microsoft._common import INT, check_linear_params, check_node

TYPES = ("int8", "uint8", "int16", "uint16", "int32", "int4", "uint4")


class DequantizeLinear(OpRun):
    def prepare(self):
        check_node(self, inputs=(2, 3), required_inputs=(0, 1), attributes={"axis": INT})

    def check_constants(self, constants):
        check_linear_params(self, constants.get(0), constants.get(1), constants.get(2), TYPES, self.refuse,
                            zero_point_is_data=True)

    def _run(self, x, x_scale, x_zero_point=None, axis=None):
        check_linear_params(self, x, x_scale, x_zero_point, TYPES, self.fail_at, zero_point_is_data=True)
        return (dequantize(x, x_scale, x_zero_point, axis),)

    def fail_at(self, message, index=None):
        self.fail(message if index is None else f"input {index} {self.node.input[index]!r}: {message}")
