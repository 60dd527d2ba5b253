"""com.microsoft QLinearSigmoid (ContribOperators.md, "com.microsoft.QLinearSigmoid", opset 1):
Y = quantize(Sigmoid(dequantize(X))), Sigmoid(x) = 1 / (1 + exp(-x)), element-wise; X_scale,
X_zero_point, Y_scale, Y_zero_point per tensor (absent zero points are 0), X and Y of one type T
(uint8 or int8).

Computed as onnxruntime does, through a 256-entry table over T's values, but each entry exactly
as the formula says: dequantize (exact), sigmoid in float64, divide by Y_scale in float64, round
half to even, add the zero point, saturate (see _common.LookupTableOp).

Where runtimes disagree: onnxruntime builds its table in float32 (MLAS's logistic approximation,
then x / Y_scale in float32 and nearbyint), so an entry whose exact value lies near a tie can be
one step away from refruntime's.
"""
import numpy as np

from refruntime.ops.com_microsoft._common import LookupTableOp


class QLinearSigmoid(LookupTableOp):
    def _run(self, x, x_scale, x_zero_point=None, y_scale=None, y_zero_point=None):
        return (self.lookup(x, x_scale, x_zero_point, y_scale, y_zero_point),)

    def function(self, v):
        return 1.0 / (1.0 + np.exp(-v))
