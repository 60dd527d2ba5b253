"""The channels-last convolution path, driven from plain Python (the loops are kernels/conv_nhwc.py,
which imports numba; this module does not, so op files may import it at module level).

`applies` decides, `pack` prepares W once, `conv` runs: X padded channels-last, then per band of
output rows im2col -> (pixels, K) @ Wt (K, M) through BLAS -> one epilogue pass into NCHW Y.
Thresholds were measured per layer shape with tools/bench_conv_layers.py.
"""
from __future__ import annotations

import math

import numpy as np

#: a window row must hold at least this many values (C * kw) for im2col's copies to pay: MNIST
#: and RGB first layers (C = 1, 3) run faster on the NCHW path
MIN_RUN = 16
#: at least this many output pixels per output channel: (pixels, K) @ (K, M) is the slower BLAS
#: orientation for few pixels and many channels (ResNet's 7x7 stage: 49 pixels, 512 channels)
MIN_PIXELS_PER_CHANNEL = 0.5
#: col bytes per band: bands in L2 keep im2col's output in cache for the GEMM
BAND_BUDGET = 4 << 20
#: bands hold at least this many times Wt's bytes: BLAS packs Wt on every call, so a layer with
#: large weights (VGG/ResNet's deep stages) wants few, large bands
BAND_WEIGHTS = 8
#: loops over at least this many elements run their parallel build
PARALLEL_MIN = 1 << 21


def applies(geometry, group: int, x_shape, w_shape) -> bool:
    """Whether conv_nd takes the channels-last path: ungrouped, not 1x1, a window row of at
    least MIN_RUN values and MIN_PIXELS_PER_CHANNEL output pixels per output channel."""
    pointwise = all(k == 1 for k in geometry.kernel) and not any(geometry.pads_begin + geometry.pads_end)
    if group != 1 or pointwise or x_shape[1] != w_shape[1]:
        return False
    pixels = x_shape[0] * math.prod(geometry.out)
    return x_shape[1] * w_shape[-1] >= MIN_RUN and pixels >= MIN_PIXELS_PER_CHANNEL * w_shape[0]


def pack(w):
    """W (M, C, *k) -> Wt (k..., C) x M, C-contiguous: the GEMM operand of `conv`."""
    n_out = w.shape[0]
    order = (*range(2, w.ndim), 1, 0)
    return np.ascontiguousarray(w.transpose(order)).reshape(-1, n_out)


def conv(x5, wt, g3, y, args, pool_h=1, pool_w=1):
    """y (N, M, OD, PH, PW) = epilogue(conv(x5, W)) with W packed as wt, optionally max-pooled
    pool_h x pool_w (stride = window, floor mode). x5 (N, C, D, H, W); g3: 3-D geometry; args:
    (bias, scale, shift, lo, hi, flags) of kernels/conv_nhwc.py's epilogue."""
    from refruntime.kernels import blas
    from refruntime.kernels.scratch import scratch

    n_img, channels = x5.shape[:2]
    od, oh, ow = g3.out
    rows_k, n_out = wt.shape
    padded_shape = tuple(s + b + e for s, b, e in zip(x5.shape[2:], g3.pads_begin, g3.pads_end))
    xp = scratch("conv.nhwc", (n_img, *padded_shape, channels), x5.dtype)
    _loop("pad_channels_last", xp.size)(x5, xp, *g3.pads_begin)
    xp2 = xp.reshape(n_img * padded_shape[0] * padded_shape[1], padded_shape[2] * channels)
    geometry = (od, oh, ow, padded_shape[0], padded_shape[1], channels, *g3.kernel, *g3.strides, *g3.dilations)
    budget = max(BAND_BUDGET, BAND_WEIGHTS * wt.nbytes)
    for g0, rows in bands(n_img * od, oh, max(1, budget // max(1, ow * rows_k * x5.itemsize)), pool_h):
        col = scratch("conv.col", (rows * ow, rows_k), x5.dtype)
        _loop("im2col_rows", col.size)(xp2, col, g0, *geometry)
        acc = scratch("conv.acc", (rows * ow, n_out), x5.dtype)
        blas.matmul(col, wt, out=acc, flops=2 * rows * ow * rows_k * n_out)
        _loop("epilogue_to_nchw", acc.size)(acc, y, g0, od, oh, ow, *args, pool_h, pool_w)


def bands(planes: int, oh: int, budget_rows: int, pool_h: int):
    """(g0, rows) bands of output rows g = plane * oh + y: whole planes (several per band) when
    one fits `budget_rows`, else pieces of one plane cut at multiples of pool_h."""
    if budget_rows >= oh:
        step = budget_rows // oh
        for p in range(0, planes, step):
            yield p * oh, min(step, planes - p) * oh
        return
    step = max(pool_h, budget_rows // pool_h * pool_h)
    for p in range(planes):
        for y0 in range(0, oh, step):
            yield p * oh + y0, min(step, oh - y0)


def _loop(name: str, size: int):
    """conv_nhwc's loop `name`: its parallel build for work of `size` >= PARALLEL_MIN elements,
    else its serial build."""
    from refruntime.kernels import conv_nhwc

    return getattr(conv_nhwc, name if size >= PARALLEL_MIN else name + "_serial")
