"""MaxPool (opsets 1, 8, 10, 11, 12, 22): 1/2/3-D, pads, auto_pad, strides, dilations, ceil_mode,
and the optional Indices output (flat index into X; storage_order 1 = column-major spatial axes).

Opset history, all handled by one class because each change only added attributes/types with
defaults that keep the older meaning: 8 added Indices and storage_order, 10 ceil_mode and
dilations, 12 int8/uint8.
"""
import math

import numpy as np

from refruntime.kernels.floats import compute_dtype
from refruntime.kernels.spatial import (
    check_pool_attributes,
    padded_input,
    pool_geometry,
    to_3d_shape,
    window_views,
)
from refruntime.ops.base import OpRun

#: 2x2/2 pools with at least this many outputs take the numba loop (smaller ones: numpy views)
NUMBA_MIN = 1 << 14
#: windows of more taps than this, or outputs of at least SEPARABLE_MIN_OUTPUTS elements, take
#: numba's separable maximum instead of one numpy pass per tap (measured on 3x3/2 pools, views vs
#: separable: ResNet50's 64x112x112 3.8 vs 1.5 ms, SqueezeNet's 96x109x109 3.8 vs 1.0 ms and at
#: batch 8 62 vs 11 ms, 256x27x27 0.59 vs 0.37 ms); tiny pools keep the views (no numba import)
VIEWS_MAX_TAPS = 16
SEPARABLE_MIN_OUTPUTS = 1 << 10


class MaxPool(OpRun):
    def prepare(self):
        check_pool_attributes(self)
        a = self.attributes
        if a.get("storage_order", 0) not in (0, 1):
            self.fail(f"storage_order must be 0 or 1, got {a['storage_order']}")
        self._want_indices = self.num_outputs > 1 and bool(self.node.output[1])

    def _run(self, x, auto_pad="NOTSET", ceil_mode=0, dilations=None, kernel_shape=None, pads=None,
             storage_order=0, strides=None):
        geometry = pool_geometry(self, x, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode)
        work = x
        if x.dtype.kind == "V" or x.dtype == np.float16:
            work = x.astype(compute_dtype(x.dtype))  # float16/bfloat16: exact in float32
        g3 = geometry.as_3d()
        want_indices = self._want_indices
        y = np.empty(x.shape[:2] + g3.out, dtype=work.dtype)
        x5 = np.ascontiguousarray(work).reshape(to_3d_shape(x.shape))
        if want_indices:
            from refruntime.kernels.pool import max_pool

            indices = np.empty(y.shape, dtype=np.int64)
            max_pool(x5, y, indices, storage_order == 1, _lowest(work.dtype), *g3.kernel,
                     *g3.strides, *g3.dilations, *g3.pads_begin)
        elif work.dtype.kind == "f" and y.size >= NUMBA_MIN and x.ndim == 4 and _is_2x2(g3, x.shape):
            # 2x2 stride 2, values only: one numba pass instead of four numpy passes
            from refruntime.kernels import conv_gemm

            run = conv_gemm.max_pool_2x2 if y.size >= conv_gemm.PARALLEL_MIN else conv_gemm.max_pool_2x2_serial
            run(x5[:, :, 0], y[:, :, 0])
        elif y.size and (math.prod(g3.kernel) > VIEWS_MAX_TAPS or y.size >= SEPARABLE_MIN_OUTPUTS):
            # large windows or outputs: numba's separable maximum, O(output x (kh + kw)) at C speed
            # (one numpy pass per tap was measured at 72 s for a 60x80 window over 1000x1000)
            from refruntime.kernels import pool

            xp = padded_input(x5, g3, _lowest(work.dtype))
            big = y.size * math.prod(g3.kernel) >= pool.PARALLEL_MIN_WORK
            (pool.separable_pool if big else pool.separable_pool_serial)(
                xp, y, *g3.kernel, *g3.strides, *g3.dilations, False)
        else:  # values only, small windows on small outputs (no numba import for them): a running
            # maximum over one strided view per kernel offset
            for i, (_, view) in enumerate(window_views(padded_input(x5, g3, _lowest(work.dtype)), g3)):
                if i == 0:
                    np.copyto(y, view)
                else:
                    np.maximum(y, view, out=y)
        out_shape = x.shape[:2] + geometry.out
        y = y.reshape(out_shape)
        if y.dtype != x.dtype:
            y = y.astype(x.dtype)
        if not want_indices:
            return (y,)
        return y, indices.reshape(out_shape)


def _is_2x2(g3, shape) -> bool:
    """2x2 windows, stride 2, no dilation or pads, every window inside the input."""
    return (g3.kernel == (1, 2, 2) and g3.strides == (1, 2, 2) and g3.dilations == (1, 1, 1)
            and not any(g3.pads_begin) and g3.out[1:] == (shape[2] // 2, shape[3] // 2))


def _lowest(dtype):
    """The value a window entirely in the padding yields: -inf, or the integer type's minimum."""
    if dtype.kind == "f":
        return dtype.type(-np.inf)
    return dtype.type(np.iinfo(dtype).min)
