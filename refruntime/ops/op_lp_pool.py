"""LpPool (opsets 1, 2, 11, 18, 22), from the operator spec: y = (sum over the window of
|x|^p)^(1/p), 1-D/2-D/3-D, with pads, auto_pad and strides; opset 18 adds ceil_mode and
dilations, opset 22 bfloat16. p is a float in opset 1 (default 2.0), an int from opset 2.

Padding holds zeros, which add nothing to the sum. The window geometry is shared with MaxPool/
AveragePool (kernels/spatial.py): SAME_* pads give out = ceil(in / stride), and with ceil_mode a
last window that would start in the end padding is dropped (onnxruntime's and PyTorch's rule; the
spec's formula alone would keep it). Sums are taken in the compute type (float32 for float16/
bfloat16, rounded once), one strided view per kernel tap (plain numpy).
"""
import numpy as np

from refruntime.kernels.floats import as_compute, compute_dtype
from refruntime.kernels.spatial import (
    check_pool_attributes,
    padded_input,
    pool_geometry,
    to_3d_shape,
    window_views,
)
from refruntime.ops._common import fp_ignored
from refruntime.ops.base import OpRun


def lp_power(v, p):
    """|v|^p, with the usual p=1 and p=2 written exactly."""
    if p == 1:
        return np.abs(v)
    if p == 2:
        return np.square(v)
    return np.abs(v) ** v.dtype.type(p)


def lp_root(s, p):
    """s^(1/p), the inverse of lp_power."""
    if p == 1:
        return s
    if p == 2:
        return np.sqrt(s)
    return s ** s.dtype.type(1.0 / p)


class _LpPoolBase(OpRun):
    def prepare(self):
        check_pool_attributes(self)
        p = self.attributes.get("p", 2)
        if p <= 0:
            self.refuse(f"p must be positive, got {p}")

    def _pool(self, x, p, kernel_shape, strides=None, dilations=None, pads=None, auto_pad="NOTSET",
              ceil_mode=0):
        geometry = pool_geometry(self, x, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode)
        dtype = compute_dtype(x.dtype)
        g3 = geometry.as_3d()
        with fp_ignored():
            powered = lp_power(as_compute(x, dtype), p).reshape(to_3d_shape(x.shape))
            xp = padded_input(powered, g3, dtype.type(0))
            total = np.zeros(x.shape[:2] + g3.out, dtype=dtype)
            for _, view in window_views(xp, g3):
                total += view
            y = lp_root(total, p).reshape(x.shape[:2] + geometry.out)
        return (y if y.dtype == x.dtype else y.astype(x.dtype),)


class LpPool_1(_LpPoolBase):
    def _run(self, x, auto_pad="NOTSET", kernel_shape=None, p=2.0, pads=None, strides=None):
        return self._pool(x, p, kernel_shape, strides, None, pads, auto_pad)


class LpPool_2(_LpPoolBase):
    def _run(self, x, auto_pad="NOTSET", kernel_shape=None, p=2, pads=None, strides=None):
        return self._pool(x, p, kernel_shape, strides, None, pads, auto_pad)


class LpPool_18(_LpPoolBase):
    def _run(self, x, auto_pad="NOTSET", ceil_mode=0, dilations=None, kernel_shape=None, p=2, pads=None,
             strides=None):
        return self._pool(x, p, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode)
