"""com.microsoft QLinearLeakyRelu (ContribOperators.md, "com.microsoft.QLinearLeakyRelu", opset 1):
f(x) = quantize(alpha * dequantize(x)) where dequantize(x) < 0, quantize(dequantize(x)) elsewhere,
element-wise; alpha defaults to 0.01f (a float32); X_scale, X_zero_point, Y_scale, Y_zero_point per tensor
(absent zero points are 0), X and Y of one type T (uint8 or int8).

Computed as onnxruntime does, through a 256-entry table over T's values, each entry exact: the
value alpha * X_scale * (x - X_zero_point) / Y_scale is rational, so it is rounded half to even
exactly (_common.round_half_even), then the zero point added and the result saturated.

Where runtimes disagree: onnxruntime builds the table in float32 (alpha * v rounded, then v /
Y_scale rounded, then nearbyint), so an entry near a tie can be one step away from the exact one.
"""
from fractions import Fraction

import numpy as np

from refruntime.ops.com_microsoft._common import FLOAT, LookupTableOp

#: the attribute is a float32: its default 0.01f is 0.009999999776482582, the value used when absent
DEFAULT_ALPHA = float(np.float32(0.01))


class QLinearLeakyRelu(LookupTableOp):
    ATTRIBUTES = (("alpha", FLOAT),)
    has_exact = True

    def _run(self, x, x_scale, x_zero_point=None, y_scale=None, y_zero_point=None, alpha=DEFAULT_ALPHA):
        return (self.lookup(x, x_scale, x_zero_point, y_scale, y_zero_point, alpha=alpha),)

    def function(self, v, alpha):
        return np.where(v >= 0, v, alpha * v)

    def exact_function(self, v, alpha):
        return v if v >= 0 else Fraction(alpha) * v
