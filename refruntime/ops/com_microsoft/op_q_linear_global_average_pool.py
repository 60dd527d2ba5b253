"""com.microsoft QLinearGlobalAveragePool (ContribOperators.md, "com.microsoft.QLinearGlobalAveragePool",
opset 1): the mean over every spatial position of each channel, Y = quantize(mean(dequantize(X))),
of X (N, C, D1, ...) or, with channels_last=1, (N, D1, ..., C); Y keeps N and C and has 1 on every
spatial axis. x_scale, x_zero_point, y_scale, y_zero_point are per tensor and all four required;
X and Y of one type T (uint8 or int8).

Exact: the sum S of X - x_zero_point over the n spatial positions is an integer (int64), and
x_scale * S / (n * y_scale) is rounded half to even exactly (_common.round_half_even).

Where runtimes disagree: onnxruntime (MLAS) sums in int32 and requantizes with the float32 multiplier
x_scale / (y_scale * n), so near a tie it can land one step away from the exact result; it refuses
a multiplier outside [2**-32, 256) and images of 2**24 positions or more, which the reference
computes.
"""
from fractions import Fraction

import numpy as np

from refruntime.ops.com_microsoft._common import (
    INT,
    QuantizedOp,
    check_node,
    requantized,
    round_half_even,
    value,
)


class QLinearGlobalAveragePool(QuantizedOp):
    SCALES = (1, 3)
    ZERO_POINTS = ((2, 0), (4, 0))

    def prepare(self):
        check_node(self, inputs=(5, 5), required_inputs=(0, 1, 2, 3, 4), attributes={"channels_last": INT})

    def _run(self, x, x_scale, x_zero_point, y_scale, y_zero_point, channels_last=0):
        self.check_data(x, 0)
        self.check_params((x, x_scale, x_zero_point, y_scale, y_zero_point))
        if x.ndim < 3:
            self.fail(f"X must have a batch, a channel and at least one spatial axis, got shape {x.shape}")
        spatial = tuple(range(1, x.ndim - 1)) if channels_last else tuple(range(2, x.ndim))
        n = int(np.prod([x.shape[a] for a in spatial], dtype=np.int64))
        if n == 0:
            self.fail(f"X of shape {x.shape} has no spatial positions to average")
        sx, zx, sy = value(x_scale), value(x_zero_point), value(y_scale)
        sums = (x.astype(np.int64) - zx).sum(axis=spatial, keepdims=True)
        exact_ratio = Fraction(sx) / (n * Fraction(sy))
        rounded = round_half_even(sums * sx / (n * sy), lambda s: s * exact_ratio, sums)
        return (requantized(rounded, y_zero_point, x.dtype),)
