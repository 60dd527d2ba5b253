"""ConvInteger (opset 10): Y = conv(X - x_zero_point, W - w_zero_point) as int32, Conv's geometry
(1-D to 3-D, group, pads/auto_pad, strides, dilations); X and W int8 or uint8 (any pairing).

x_zero_point is one value; w_zero_point one value or one per output channel (M). Padding adds
zeros to X - x_zero_point, i.e. pads X with its zero point (as onnxruntime and onnx.reference do).
The sum is exact (kernels/integer.py: Conv's paths on floats whose partial sums provably stay
integers) and wraps modulo 2**32 when it exceeds int32 ("the accumulation may overflow if and only
if in 32 bits"; reached only for K = C/group * kernel size above 33,025 with 8-bit data).
"""
from __future__ import annotations

import math

import numpy as np

from refruntime.kernels.integer import conv_geometry, int_conv, wrap_int32
from refruntime.kernels.spatial import check_window_attributes
from refruntime.ops._common import check_alloc
from refruntime.ops._quant import EIGHT_BIT, QuantParamChecks
from refruntime.ops.base import OpRun


def prepare_conv(kernel: OpRun) -> None:
    """Plan-time checks of Conv's attributes (shared with QLinearConv)."""
    a = kernel.attributes
    check_window_attributes(kernel, a.get("auto_pad", "NOTSET"), strides=a.get("strides"),
                            dilations=a.get("dilations"), pads=a.get("pads"), kernel_shape=a.get("kernel_shape"))
    if a.get("group", 1) < 1:
        kernel.refuse(f"group must be >= 1, got {a['group']}")


def conv_accumulate(kernel: OpRun, x, x_zero_point, w, w_zero_point):
    """The exact integer convolution (integer-valued floats, N x M x *out) after Conv's checks."""
    geometry = conv_geometry(kernel, x, w)
    out = (x.shape[0], w.shape[0], *geometry.out)
    check_alloc(kernel, out, np.float64)
    if not math.prod(out):
        return np.zeros(out, dtype=np.float32)
    return int_conv(x, x_zero_point, w, w_zero_point, kernel.attributes.get("group", 1), geometry)


class ConvInteger(QuantParamChecks, OpRun):
    DATA_TYPES = ((0, EIGHT_BIT), (1, EIGHT_BIT))
    PARAMS = ((None, 2, 0, "tensor"), (None, 3, 1, "channel"))

    def prepare(self):
        prepare_conv(self)

    def _run(self, x, w, x_zero_point=None, w_zero_point=None, auto_pad="NOTSET", dilations=None, group=1,
             kernel_shape=None, pads=None, strides=None):
        self.check_inputs(x, w, x_zero_point, w_zero_point)
        return (wrap_int32(conv_accumulate(self, x, x_zero_point, w, w_zero_point)),)
