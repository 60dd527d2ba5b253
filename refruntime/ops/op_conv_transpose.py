"""ConvTranspose (opsets 1, 11, 22: same semantics): 1-D, 2-D and 3-D, groups, dilations,
output_padding, output_shape, auto_pad.

col = W^T @ X per group (one batched BLAS matmul), then col2im (numba) scatters-and-adds each
column into the output, cropping the pads. Output size, per the operator doc:
    out = stride * (in - 1) + output_padding + (kernel - 1) * dilation + 1 - pad_begin - pad_end
and with output_shape (or SAME_*) the pads come from total = full - wanted, split as the doc says.
"""
import numpy as np

from refruntime.kernels.floats import as_compute, compute_dtype
from refruntime.kernels.spatial import check_window_attributes, to_3d_shape, transpose_geometry
from refruntime.ops.base import OpRun

#: col buffer size per chunk of images (bytes)
COL_BUDGET = 8 << 20


class ConvTranspose(OpRun):
    def prepare(self):
        a = self.attributes
        check_window_attributes(self, a.get("auto_pad", "NOTSET"), strides=a.get("strides"),
                                dilations=a.get("dilations"), pads=a.get("pads"),
                                kernel_shape=a.get("kernel_shape"), output_padding=a.get("output_padding"))
        if a.get("group", 1) < 1:
            self.fail(f"group must be >= 1, got {a['group']}")
        self._geometry = {}

    def _run(self, x, w, b=None, auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None,
             output_padding=None, output_shape=None, pads=None, strides=None):
        self._check_shapes(x, w, b, group, kernel_shape)
        key = (x.shape[2:], w.shape[2:])
        geometry = self._geometry.get(key)
        if geometry is None:
            geometry = transpose_geometry(self, x.shape[2:], w.shape[2:], strides, dilations, pads,
                                          auto_pad, output_padding, output_shape)
            for i, (extra, s, d) in enumerate(zip(geometry_padding(output_padding, x.ndim - 2),
                                                  geometry.strides, geometry.dilations)):
                if extra >= max(s, d):
                    self.fail(f"output_padding {list(output_padding)} must be smaller than the stride "
                              f"or the dilation on axis {i} (strides {list(geometry.strides)}, "
                              f"dilations {list(geometry.dilations)})")
            self._geometry[key] = geometry
        dtype = compute_dtype(x.dtype)
        y = conv_transpose_nd(as_compute(x, dtype), as_compute(w, dtype), as_compute(b, dtype), group,
                              geometry)
        return (y if y.dtype == x.dtype else y.astype(x.dtype),)

    def _check_shapes(self, x, w, b, group, kernel_shape):
        if not 3 <= x.ndim <= 5:
            self.fail(f"X must have 1 to 3 spatial axes (rank 3 to 5), got shape {x.shape}")
        if w.ndim != x.ndim:
            self.fail(f"W has shape {w.shape} (rank {w.ndim}) but X has shape {x.shape} (rank {x.ndim})")
        if x.shape[1] != w.shape[0]:
            self.fail(f"X has {x.shape[1]} channels (shape {x.shape}) but W of shape {w.shape} expects "
                      f"{w.shape[0]} = W.shape[0]")
        if x.shape[1] % group:
            self.fail(f"X has {x.shape[1]} channels, not divisible by group={group}")
        if kernel_shape is not None and tuple(kernel_shape) != tuple(w.shape[2:]):
            self.fail(f"kernel_shape {list(kernel_shape)} does not match W's spatial shape {w.shape[2:]}")
        n_out = w.shape[1] * group
        if b is not None and b.shape != (n_out,):
            self.fail(f"B has shape {b.shape}, expected ({n_out},) = (W.shape[1] * group,)")


def geometry_padding(output_padding, nd):
    return [int(v) for v in output_padding] if output_padding else [0] * nd


def conv_transpose_nd(x, w, b, group, geometry):
    """Y = conv_transpose(X, W) + B for X (N, C, *in), W (C, M/group, *k)."""
    from refruntime.kernels import conv as kernels

    n_img, channels = x.shape[:2]
    per_group = w.shape[1]
    n_out = per_group * group
    g3 = geometry.as_3d()
    in3 = to_3d_shape(x.shape)[2:]
    in_size = int(np.prod(in3))
    kernel_size = int(np.prod(geometry.kernel))
    # (group, M/group * k, C/group): the transposed weight of each group
    wt = np.ascontiguousarray(
        w.reshape(group, channels // group, per_group * kernel_size).transpose(0, 2, 1))
    xg = np.ascontiguousarray(x).reshape(n_img, group, channels // group, in_size)
    y = np.zeros((n_img, n_out) + g3.out, dtype=x.dtype)
    rows = n_out * kernel_size
    chunk = max(1, min(n_img, COL_BUDGET // max(1, rows * in_size * x.itemsize)))
    col = np.empty((chunk, group, per_group * kernel_size, in_size), dtype=x.dtype)
    for start in range(0, n_img, chunk):
        stop = min(n_img, start + chunk)
        part = col[: stop - start]
        np.matmul(wt, xg[start:stop], out=part)
        kernels.col2im(part.reshape(stop - start, rows, in_size), y[start:stop], *g3.kernel,
                       *g3.strides, *g3.dilations, *g3.pads_begin, *in3)
    if b is not None:
        kernels.add_channel_bias(y.reshape(n_img, n_out, -1), b)
    return y.reshape((n_img, n_out) + geometry.out)
