"""com.microsoft QuantizeLinear (ContribOperators.md, "com.microsoft.QuantizeLinear", opset 1):
y = saturate(round(x / y_scale) + y_zero_point), rounding half to even. Without the `axis`
attribute the quantization is per tensor and y_scale, y_zero_point must be single values; with it,
they are 1-D tensors along `axis` (negative counts from the end). y_zero_point has y_scale's shape
and gives y's type (int8, uint8, int16, uint16, int4, uint4); absent, y is uint8 with zero point 0.
x and y_scale are float16 or float32.

x / y_scale is divided in y_scale's type and then rounded half to even, as the standard
QuantizeLinear does (its opset-23 text: "the type of y_scale determines the precision of the
division"; onnx's conformance data for DynamicQuantizeLinear needs it) and as onnxruntime does.

Where runtimes disagree: onnxruntime accepts a 1-D y_scale without `axis` (quantizing along axis
1); the doc does not, and refruntime refuses it.
"""
import numpy as np

from refruntime.ops._quant import quantize
from refruntime.ops.base import OpRun
from refruntime.ops.com_microsoft._common import INT, check_linear_params, check_node

TYPES = ("int8", "uint8", "int16", "uint16", "int4", "uint4")


class QuantizeLinear(OpRun):
    def prepare(self):
        check_node(self, inputs=(2, 3), required_inputs=(0, 1), attributes={"axis": INT})

    def check_constants(self, constants):
        check_linear_params(self, constants.get(0), constants.get(1), constants.get(2), TYPES, self.refuse)

    def _run(self, x, y_scale, y_zero_point=None, axis=None):
        if x.dtype.kind != "f":
            self.fail(f"x must be float16 or float32, got {x.dtype}")
        check_linear_params(self, x, y_scale, y_zero_point, TYPES, self.fail_at)
        out_dtype = np.uint8 if y_zero_point is None else y_zero_point.dtype
        return (quantize(x, y_scale, y_zero_point, out_dtype, axis, precision=np.asarray(y_scale).dtype),)

    def fail_at(self, message, index=None):
        self.fail(message if index is None else f"input {index} {self.node.input[index]!r}: {message}")
