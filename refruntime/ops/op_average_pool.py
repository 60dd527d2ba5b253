"""AveragePool (opsets 1, 7, 10, 11, 19, 22): 1/2/3-D, pads, auto_pad, strides, ceil_mode,
count_include_pad (7+), dilations (19+).

The divisor is the number of window positions inside the input, or with count_include_pad the
number inside the padded input (explicit or auto pads); positions that only a ceil_mode window
reaches past the end padding never count.
"""
import numpy as np

from refruntime.kernels.floats import as_compute, compute_dtype
from refruntime.kernels.spatial import check_pool_attributes, pool_geometry, to_3d_shape
from refruntime.ops.base import OpRun


class AveragePool(OpRun):
    def prepare(self):
        check_pool_attributes(self)

    def _run(self, x, auto_pad="NOTSET", ceil_mode=0, count_include_pad=0, dilations=None,
             kernel_shape=None, pads=None, strides=None):
        from refruntime.kernels.pool import average_pool

        geometry = pool_geometry(self, x, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode)
        work = as_compute(x, compute_dtype(x.dtype))
        g3 = geometry.as_3d()
        y = np.empty(x.shape[:2] + g3.out, dtype=work.dtype)
        average_pool(np.ascontiguousarray(work).reshape(to_3d_shape(x.shape)), y, bool(count_include_pad),
                     *g3.kernel, *g3.strides, *g3.dilations, *g3.pads_begin, *g3.pads_end)
        y = y.reshape(x.shape[:2] + geometry.out)
        return (y if y.dtype == x.dtype else y.astype(x.dtype),)
