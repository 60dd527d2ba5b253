"""QLinearConv (opset 10): y = saturate(round(conv(x - x_zp, w - w_zp) + B) * x_scale * w_scale / y_scale) + y_zp),
Conv's geometry (1-D to 3-D, group, pads/auto_pad, strides, dilations).

x, w, y int8 or uint8; x's and y's scale and zero point one value, w's one value or one per output
channel (M); B (optional) int32 of M values, "quantized using scale = x_scale * w_scale and zero
point 0", so it is added to the integer accumulation. Padding pads x with its zero point.

The accumulation is exact (kernels/integer.py), and the rounding is that of the exact real value
(x_scale * w_scale[m] / y_scale) * (acc + B[m]): the spec states the formula in real numbers and
names no precision for it (see op_q_linear_mat_mul.py), so `_quant.requantize` computes a float64
estimate and decides its near-ties exactly; onnx's conformance case test_qlinearconv agrees. onnxruntime applies a float32 multiplier in float32, so where the real value is
within a float32 rounding of a tie (k + 1/2) it can land one step away; refruntime keeps the
exact value (tests/refruntime/test_quantize_kernels.py checks each such element against exact
rational arithmetic).
"""
from __future__ import annotations

import numpy as np

from refruntime.ops._quant import EIGHT_BIT, QuantParamChecks, requantize
from refruntime.ops.base import OpRun
from refruntime.ops.op_conv_integer import conv_accumulate, prepare_conv

_INT32 = (np.dtype(np.int32),)


class QLinearConv(QuantParamChecks, OpRun):
    DATA_TYPES = ((0, EIGHT_BIT), (3, EIGHT_BIT), (8, _INT32))
    PARAMS = ((1, 2, 0, "tensor"), (4, 5, 3, "channel"), (6, 7, None, "tensor"))

    def prepare(self):
        prepare_conv(self)

    def param_problems(self, values):
        problems = super().param_problems(values)
        bias, w = values.get(8), values.get(3)
        if bias is not None and (bias.ndim != 1 or (w is not None and w.ndim and bias.size != w.shape[0])):
            want = f"{w.shape[0]} values (one per output channel)" if w is not None and w.ndim else "a 1-D tensor"
            problems.append((f"B must be {want}, got shape {list(bias.shape)}", 8))
        return problems

    def _run(self, x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B=None,
             auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None, pads=None, strides=None):
        self.check_inputs(x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B)
        acc = conv_accumulate(self, x, x_zero_point, w, w_zero_point)
        channel = (1, -1) + (1,) * (x.ndim - 2)  # per output channel, against (N, M, *out)
        f64 = np.float64
        bias = None if B is None else B.astype(f64).reshape(channel)
        w_scale = w_scale.astype(f64).reshape(channel if w_scale.size > 1 else ())
        scale_product = x_scale.astype(f64).reshape(()) * w_scale
        return (requantize(acc, scale_product, y_scale.astype(f64).reshape(()), y_zero_point.reshape(()),
                           y_zero_point.dtype, bias),)
