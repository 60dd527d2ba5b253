"""com.microsoft QLinearAveragePool (ContribOperators.md, "com.microsoft.QLinearAveragePool", opset 1):
"Output = Dequantize(Input) -> AveragePool on fp32 data -> Quantize(output)", with AveragePool's
attributes (kernel_shape required; strides, pads, auto_pad, ceil_mode, count_include_pad; no
dilations) and channels_last (X and Y are (N, D1, ..., C)). x_scale, y_scale and the optional zero
points (0 when absent) are per tensor; X and Y of one type T (uint8 or int8).

Exact: the window sum S of X - x_zero_point is an integer (padding adds nothing: a padded
position dequantizes to 0), and x_scale * S / (count * y_scale) is rounded half to even exactly
(_common.round_half_even). count follows AveragePool (refruntime/ops/op_average_pool.py): the
window positions inside the input, or with count_include_pad those inside the padded input.

Where runtimes disagree: onnxruntime averages the float32-dequantized values and quantizes as
nearbyint(y / y_scale + y_zero_point) in float32: one step away near ties, and on exact ties
whenever y_zero_point is odd (the tie goes to the even sum, where ONNX rounds y / y_scale to even
before adding the zero point). With count_include_pad it always divides by the
full kernel size, also for a ceil_mode window that reaches past the end padding, where AveragePool
counts only the positions inside the padded input.
"""
from fractions import Fraction

import numpy as np

from refruntime.errors import KernelError, ModelError
from refruntime.kernels.spatial import (
    check_pool_attributes,
    padded_input,
    pool_geometry,
    to_3d_shape,
    window_views,
)
from refruntime.ops.com_microsoft._common import (
    INT,
    INTS,
    STRING,
    QuantizedOp,
    check_node,
    requantized,
    round_half_even,
    value,
)
from refruntime.ops.op_average_pool import _divisors


class QLinearAveragePool(QuantizedOp):
    SCALES = (1, 3)
    ZERO_POINTS = ((2, 0), (4, 0))

    def prepare(self):
        check_node(self, inputs=(4, 5), required_inputs=(0, 1, 3),
                   attributes={"auto_pad": STRING, "ceil_mode": INT, "channels_last": INT, "count_include_pad": INT,
                               "kernel_shape": INTS, "pads": INTS, "strides": INTS},
                   required_attributes=("kernel_shape",))
        try:
            check_pool_attributes(self)
        except KernelError as exc:  # the shared check fails at plan time: a malformed node
            raise ModelError(str(exc)) from None

    def _run(self, x, x_scale, x_zero_point=None, y_scale=None, y_zero_point=None, auto_pad="NOTSET",
             ceil_mode=0, channels_last=0, count_include_pad=0, kernel_shape=None, pads=None, strides=None):
        self.check_data(x, 0)
        self.check_params((x, x_scale, x_zero_point, y_scale, y_zero_point))
        if channels_last and x.ndim >= 3:
            x = np.moveaxis(x, -1, 1)
        geometry = pool_geometry(self, x, kernel_shape, strides, None, pads, auto_pad, ceil_mode)
        g3 = geometry.as_3d()
        d = (x.astype(np.int64) - value(x_zero_point)).reshape(to_3d_shape(x.shape))
        sums = np.zeros(x.shape[:2] + g3.out, dtype=np.int64)
        for _, view in window_views(padded_input(d, g3, 0), g3):
            sums += view
        counts = _divisors(g3, d.shape[2:], bool(count_include_pad), np.float64)
        if np.isnan(counts).any():
            self.fail("a pooling window covers no input position (the mean of nothing)")
        sx, sy = value(x_scale), value(y_scale)
        exact_scales = (Fraction(sx), Fraction(sy))
        rounded = round_half_even(sums * sx / (counts * sy),
                                  lambda s, n: exact_scales[0] * s / (int(n) * exact_scales[1]), sums, counts)
        y = requantized(rounded, y_zero_point, x.dtype).reshape(x.shape[:2] + geometry.out)
        return (np.moveaxis(y, 1, -1) if channels_last else y,)
