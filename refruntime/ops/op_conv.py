"""Conv (opsets 1, 11, 22: same semantics): 1-D, 2-D and 3-D, groups, dilations, auto_pad.

Four code paths, chosen per call from the shapes:
- pointwise (every kernel size 1, no pads): a strided view of X times W, one BLAS matmul;
- depthwise (group == input channels, one input channel per filter): a direct numba loop;
- channels-last (ungrouped, long enough window rows, enough output pixels: `applies` in
  kernels/channels_last.py): X padded and transposed once, then per band of output rows
  im2col -> (pixels, K) @ W packed as (K, M) -> one epilogue pass back to NCHW that can also
  apply a fused MaxPool (kernels/conv_nhwc.py explains why this layout is faster);
- general NCHW: im2col (one numpy strided copy, kernels/im2col.py, into a per-thread scratch
  buffer) into col (nb, K, P) per chunk of images and per group, then W (M/g, K) @ col[n] written
  by BLAS straight into image n's NCHW output (no transpose pass); a chunk holds as many images
  as fit COL_BUDGET. Grouped convolutions and, at large outputs, small-channel first layers
  (C * kw < 32, e.g. RGB or MNIST input) take it.
Every path ends with at most one epilogue (numpy passes on small outputs, kernels/im2col.py; one
numba pass on large ones, kernels/conv_gemm.py; the channels-last path's own pass) adding the bias
and, when the plan fused them into this Conv (refruntime/plan_fusion.py), a BatchNormalization's
affine map and a Relu/Clip: `Conv.run_fused`.
"""
import math

import numpy as np

from refruntime.kernels import channels_last
from refruntime.kernels.floats import as_compute, compute_dtype
from refruntime.kernels.spatial import check_window_attributes, to_3d_shape, window_geometry
from refruntime.ops.base import OpRun

#: im2col buffer size per chunk of images (bytes). Small enough that the GEMM reads what im2col
#: just wrote from cache, large enough for an efficient GEMM (SimpleCNN's conv2 at batch 64: chunks
#: of 16 images, 3.6 MB, measured 5% faster than one 14 MB chunk or than image by image)
COL_BUDGET = 4 << 20
#: outputs of at least this many elements take the numba epilogue (one pass instead of up to five
#: numpy passes at ~0.5 ns per element each; light ResNet50 120 -> 114 ms when lowered from 2^18)
EPILOGUE_NUMBA_MIN = 1 << 12

#: depthwise convolutions of at least this many multiply-adds run their parallel build
DEPTHWISE_PARALLEL_MIN = 1 << 23

_NO_CLAMP = (-np.inf, np.inf)


class Conv(OpRun):
    def prepare(self):
        a = self.attributes
        check_window_attributes(self, a.get("auto_pad", "NOTSET"), strides=a.get("strides"),
                                dilations=a.get("dilations"), pads=a.get("pads"),
                                kernel_shape=a.get("kernel_shape"))
        if a.get("group", 1) < 1:
            self.fail(f"group must be >= 1, got {a['group']}")
        self._geometry = {}

    def _run(self, x, w, b=None, auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None,
             pads=None, strides=None):
        return (self.run_fused(x, w, b)[0],)

    def geometry(self, x, w, b=None):
        """The window geometry for these input shapes, checked once per combination of shapes."""
        key = (x.shape, w.shape, None if b is None else b.shape)
        geometry = self._geometry.get(key)
        if geometry is None:
            a = self.attributes
            self._check_shapes(x, w, b, a.get("group", 1), a.get("kernel_shape"))
            geometry = window_geometry(self, x.shape[2:], w.shape[2:], a.get("strides"), a.get("dilations"),
                                       a.get("pads"), a.get("auto_pad", "NOTSET"))
            self._geometry[key] = geometry
        return geometry

    def run_fused(self, x, w, b=None, scale=None, shift=None, clamp=_NO_CLAMP, pool=None, residual=None):
        """(Y, pooled): Y = clamp((conv(X, W) + B) * scale + shift + residual), the Conv then (if
        given) a per-channel affine map, a residual tensor of Y's shape and dtype (the plan checks)
        and a clamp (lo, hi) in its epilogue; scale/shift are in X's compute dtype.
        `pool` (ph, pw) asks for a floor-mode MaxPool with that window and stride on top;
        `pooled` says whether it was applied: only the channels-last path pools in its epilogue
        (vectorized across channels; on NCHW data a fused pool measured slower than the in-place
        epilogue plus the MaxPool kernel); else the caller runs the MaxPool itself, which also
        reports a bad shape."""
        group = self.attributes.get("group", 1)
        geometry = self.geometry(x, w, b)
        dtype = compute_dtype(x.dtype)
        wc = as_compute(w, dtype)
        packed = None
        if channels_last.applies(geometry, group, x.shape, w.shape):
            packed = self._packed_weights(wc)
        if pool is not None and (packed is None or x.ndim != 4 or residual is not None
                                 or any(o < k for o, k in zip(geometry.out, pool))):
            pool = None
        y = conv_nd(as_compute(x, dtype), wc, as_compute(b, dtype), group, geometry,
                    scale, shift, clamp, packed, pool, residual)
        return (y if y.dtype == x.dtype else y.astype(x.dtype)), pool is not None

    #: set by the plan (refruntime/plan_fusion.py) when W is an initializer no feed can replace:
    #: only then is the packed copy kept across runs (a fed W may be the same array object with
    #: new values)
    constant_weights = False

    def _packed_weights(self, w):
        """W (M, C, *k) as the (k..., C) x M matrix of the channels-last path; packed once when
        W is constant (the same initializer array on every run), else on every call."""
        if not self.constant_weights:
            return channels_last.pack(w)
        cached = self.__dict__.get("_packed")
        if cached is not None and cached[0] is w:
            return cached[1]
        packed = channels_last.pack(w)
        self._packed = (w, packed)
        return packed

    def _check_shapes(self, x, w, b, group, kernel_shape):
        if not 3 <= x.ndim <= 5:
            self.fail(f"X must have 1 to 3 spatial axes (rank 3 to 5), got shape {x.shape}")
        if w.ndim != x.ndim:
            self.fail(f"W has shape {w.shape} (rank {w.ndim}) but X has shape {x.shape} (rank {x.ndim})")
        channels, n_out = x.shape[1], w.shape[0]
        if channels != w.shape[1] * group:
            self.fail(f"X has {channels} channels (shape {x.shape}) but W of shape {w.shape} with "
                      f"group={group} expects {w.shape[1] * group} = W.shape[1] * group")
        if n_out % group:
            self.fail(f"W has {n_out} output channels (shape {w.shape}), not divisible by group={group}")
        if kernel_shape is not None and tuple(kernel_shape) != tuple(w.shape[2:]):
            self.fail(f"kernel_shape {list(kernel_shape)} does not match W's spatial shape {w.shape[2:]}")
        if b is not None and b.shape != (n_out,):
            self.fail(f"B has shape {b.shape}, expected ({n_out},) for W of shape {w.shape}")


def conv_nd(x, w, b, group, geometry, scale=None, shift=None, clamp=_NO_CLAMP, packed=None, pool=None,
            residual=None):
    """Y = clamp((conv(X, W) + B) * scale + shift + residual) for X (N, C, *in), W (M, C/group, *k),
    in X's dtype (scale, shift, residual (Y's shape) and clamp optional: see
    kernels/conv_gemm.py's epilogue_inplace).

    `packed` (kernels/channels_last.pack(W)) selects the channels-last path, which can also apply a
    floor-mode MaxPool `pool` (ph, pw) of stride = window to a 2-D result (not with a residual)."""
    n_img, channels = x.shape[:2]
    n_out = w.shape[0]
    g3 = geometry.as_3d()
    x5 = np.ascontiguousarray(x).reshape(to_3d_shape(x.shape))
    flags = ((1 if b is not None else 0) | (2 if scale is not None else 0) | (4 if clamp != _NO_CLAMP else 0)
             | (8 if residual is not None else 0))
    if residual is not None:
        residual = np.ascontiguousarray(residual).reshape(n_img, n_out, -1)
    args = _epilogue_args(b, scale, shift, residual, clamp, flags, n_out, x.dtype)
    if packed is not None:
        ph, pw = pool or (1, 1)
        od, oh, ow = g3.out
        pooled = (od, oh // ph, ow // pw)
        y = np.empty((n_img, n_out, *pooled), dtype=x.dtype)
        if y.size:
            channels_last.conv(x5, packed, g3, y, args, ph, pw)
        return y.reshape((n_img, n_out) + pooled[3 - len(geometry.out):])
    out_size = math.prod(geometry.out)
    y = np.empty((n_img, n_out, out_size), dtype=x.dtype)
    pointwise = all(k == 1 for k in geometry.kernel) and not any(geometry.pads_begin + geometry.pads_end)
    if pointwise:
        if any(s != 1 for s in g3.strides):
            sd, sh, sw = g3.strides
            x5 = x5[:, :, ::sd, ::sh, ::sw]
        cols = x5.reshape(n_img, channels, out_size)  # copies only when strided
        _grouped_matmul(w, cols, group, y)
    elif group == channels and group > 1 and w.shape[1] == 1:
        from refruntime.kernels import conv as kernels

        y5 = y.reshape((n_img, n_out) + g3.out)
        # parallel only for large work: a parallel launch right after a BLAS call waits for
        # OpenBLAS's spinning threads (ShuffleNet's 272x14x14 layer: 0.5 ms serial, 1.6 ms parallel)
        big = y.size * math.prod(g3.kernel) >= DEPTHWISE_PARALLEL_MIN
        (kernels.depthwise if big else kernels.depthwise_serial)(
            x5, np.ascontiguousarray(w).reshape(to_3d_shape(w.shape)), y5,
            n_out // channels, *g3.strides, *g3.dilations, *g3.pads_begin)
    else:
        _im2col_gemm(x5, np.ascontiguousarray(w), group, g3, y)
    if flags and y.size:
        _epilogue(y, args)
    return y.reshape((n_img, n_out) + geometry.out)


def _epilogue(y, args):
    """The epilogue in place on y (N, M, P): numpy passes on small outputs (no numba import),
    numba's one pass on large ones."""
    if y.size < EPILOGUE_NUMBA_MIN:
        from refruntime.kernels.im2col import epilogue

        epilogue(y, *args)
        return
    from refruntime.kernels import conv_gemm

    run = conv_gemm.epilogue_inplace if y.size >= conv_gemm.PARALLEL_MIN else conv_gemm.epilogue_inplace_serial
    run(y, *args)


def _epilogue_args(b, scale, shift, residual, clamp, flags, n_out, dtype):
    """(bias, scale, shift, residual, lo, hi, flags) for the epilogue kernels; unused arrays are
    zeros (one element for the residual)."""
    zeros = None if (b is not None and scale is not None) else np.zeros(n_out, dtype=dtype)
    if residual is None:
        residual = np.zeros((1, 1, 1), dtype=dtype)
    return (b if b is not None else zeros, scale if scale is not None else zeros,
            shift if shift is not None else zeros, residual, dtype.type(clamp[0]), dtype.type(clamp[1]), flags)


def _im2col_gemm(x5, w, group, g3, y):
    """The general path: im2col per chunk of images and group into col (nb, K, P), then
    W (M/g, K) @ col[n] straight into y[n] (N, M, P) for every image of the chunk."""
    from refruntime.kernels import blas
    from refruntime.kernels.im2col import im2col, padded
    from refruntime.kernels.scratch import scratch

    n_img, channels = x5.shape[:2]
    n_out, size = y.shape[1], y.shape[2]
    cg, mg = channels // group, n_out // group
    rows = cg * math.prod(g3.kernel)
    w3 = w.reshape(group, mg, rows)
    chunk = max(1, min(n_img, COL_BUDGET // max(1, rows * size * x5.itemsize)))
    xp = padded(x5, g3)
    flops = 2 * mg * rows * size
    for start in range(0, n_img, chunk):
        nb = min(chunk, n_img - start)
        col = scratch("conv.col", (nb, rows, size), x5.dtype)
        for g in range(group):
            im2col(xp, col, start, g * cg, g3)
            out = y[start:start + nb, g * mg:(g + 1) * mg]
            blas.matmul(w3[g], col if nb > 1 else col[0], out=out if nb > 1 else out[0], flops=flops * nb)


def _grouped_matmul(w, cols, group, out):
    """out (N, M, P) = W (M, K) @ cols (N, K, P), block-diagonal over `group`."""
    from refruntime.kernels import blas

    n_img, rows, size = cols.shape
    n_out = w.shape[0]
    if group == 1:
        blas.matmul(w.reshape(n_out, rows), cols, out=out, flops=2 * n_out * rows * size * n_img)
    else:  # one BLAS thread for small products, as for ungrouped ones (ShuffleNet's 4-group 1x1s)
        blas.matmul(w.reshape(group, n_out // group, rows // group),
                    cols.reshape(n_img, group, rows // group, size),
                    out=out.reshape(n_img, group, n_out // group, size), flops=2 * n_out * rows // group * size * n_img)
