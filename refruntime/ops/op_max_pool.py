"""MaxPool (opsets 1, 8, 10, 11, 12, 22): 1/2/3-D, pads, auto_pad, strides, dilations, ceil_mode,
and the optional Indices output (flat index into X; storage_order 1 = column-major spatial axes).

Opset history, all handled by one class because each change only added attributes/types with
defaults that keep the older meaning: 8 added Indices and storage_order, 10 ceil_mode and
dilations, 12 int8/uint8.
"""
import numpy as np

from refruntime.kernels.floats import compute_dtype
from refruntime.kernels.spatial import (
    check_window_attributes,
    padded_input,
    to_3d_shape,
    window_geometry,
    window_views,
)
from refruntime.ops.base import OpRun


class MaxPool(OpRun):
    def prepare(self):
        a = self.attributes
        if "kernel_shape" not in a:
            self.fail("the kernel_shape attribute is required")
        nd = len(a["kernel_shape"])
        if not 1 <= nd <= 3:
            self.fail(f"kernel_shape {a['kernel_shape']} must have 1 to 3 values")
        check_window_attributes(self, a.get("auto_pad", "NOTSET"), nd, strides=a.get("strides"),
                                dilations=a.get("dilations"), pads=a.get("pads"),
                                kernel_shape=a["kernel_shape"])
        if a.get("storage_order", 0) not in (0, 1):
            self.fail(f"storage_order must be 0 or 1, got {a['storage_order']}")
        self._geometry = {}
        self._want_indices = self.num_outputs > 1 and bool(self.node.output[1])

    def _run(self, x, auto_pad="NOTSET", ceil_mode=0, dilations=None, kernel_shape=None, pads=None,
             storage_order=0, strides=None):
        if x.ndim != len(kernel_shape) + 2:
            self.fail(f"X has shape {x.shape} but kernel_shape {list(kernel_shape)} needs rank "
                      f"{len(kernel_shape) + 2}")
        geometry = self._geometry.get(x.shape[2:])
        if geometry is None:
            geometry = window_geometry(self, x.shape[2:], kernel_shape, strides, dilations, pads,
                                       auto_pad, ceil_mode)
            self._geometry[x.shape[2:]] = geometry
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
        elif work.dtype.kind == "f" and y.size and x.ndim == 4 and _is_2x2(g3, x.shape):
            # 2x2 stride 2, values only: one numba pass instead of four numpy passes. Other windows
            # keep the numpy views below: a general numba loop with per-tap bounds checks measured
            # 2x slower than them on SqueezeNet's 3x3/2 ceil-mode pools
            from refruntime.kernels import conv_gemm

            run = conv_gemm.max_pool_2x2 if y.size >= conv_gemm.PARALLEL_MIN else conv_gemm.max_pool_2x2_serial
            run(x5[:, :, 0], y[:, :, 0])
        else:  # values only: a running maximum over one strided view per kernel offset
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
