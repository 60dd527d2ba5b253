"""AveragePool (opsets 1, 7, 10, 11, 19, 22): 1/2/3-D, pads, auto_pad, strides, ceil_mode,
count_include_pad (7+), dilations (19+).

The divisor is the number of window positions inside the input, or with count_include_pad the
number inside the padded input (explicit or auto pads); positions that only a ceil_mode window
reaches past the end padding never count. Sums are taken axis by axis over the zero-padded input
(kernels/pool.py's separable_pool), then divided by the per-position divisor (the product of the
per-axis counts): on Inception v2's 3x3/1 pools, 43 ms per run became a few ms.
"""
import math

import numpy as np

from refruntime.kernels.floats import as_compute, compute_dtype
from refruntime.kernels.spatial import check_pool_attributes, padded_input, pool_geometry, to_3d_shape
from refruntime.ops.base import OpRun


class AveragePool(OpRun):
    def prepare(self):
        check_pool_attributes(self)

    def _run(self, x, auto_pad="NOTSET", ceil_mode=0, count_include_pad=0, dilations=None,
             kernel_shape=None, pads=None, strides=None):
        from refruntime.kernels import pool

        geometry = pool_geometry(self, x, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode)
        work = as_compute(x, compute_dtype(x.dtype))
        g3 = geometry.as_3d()
        y = np.empty(x.shape[:2] + g3.out, dtype=work.dtype)
        if y.size:
            # window sums over the zero-padded input (padding adds nothing), one axis at a time
            xp = padded_input(np.ascontiguousarray(work).reshape(to_3d_shape(x.shape)), g3, work.dtype.type(0))
            big = y.size * math.prod(g3.kernel) >= pool.PARALLEL_MIN_WORK
            (pool.separable_pool if big else pool.separable_pool_serial)(
                xp, y, *g3.kernel, *g3.strides, *g3.dilations, True)
            y /= _divisors(g3, to_3d_shape(x.shape)[2:], bool(count_include_pad), y.dtype)
        y = y.reshape(x.shape[:2] + geometry.out)
        return (y if y.dtype == x.dtype else y.astype(x.dtype),)


def _divisors(g3, sizes, include_pad: bool, dtype):
    """The divisor of every output position, (od, oh, ow): the product over the axes of the
    window positions inside the input, or (include_pad) inside the explicitly padded input; NaN
    where no position counts (the mean of nothing)."""
    per_axis = []
    for size, k, s, d, b, e, o in zip(sizes, g3.kernel, g3.strides, g3.dilations, g3.pads_begin,
                                      g3.pads_end, g3.out):
        positions = np.arange(o)[:, None] * s - b + np.arange(k)[None, :] * d
        limit = (-b, size + e) if include_pad else (0, size)
        per_axis.append(((positions >= limit[0]) & (positions < limit[1])).sum(axis=1))
    counts = per_axis[0][:, None, None] * per_axis[1][None, :, None] * per_axis[2][None, None, :]
    return np.where(counts > 0, counts, np.nan).astype(dtype)
