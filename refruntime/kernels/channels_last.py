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
#: and RGB first layers (C = 1, 3; ResNet's 7x7: C * kw = 21) run faster on the NCHW path
MIN_RUN = 32
#: ... unless the output has at most this many pixels: then the pass saved by the fused epilogue
#: (and MaxPool) outweighs the short copies (SimpleCNN's first layer at batch 1: 0.66 -> 0.52 ms
#: for the whole net)
SHORT_RUN_MAX_PIXELS = 4096
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
    least MIN_RUN values (or a small output) and MIN_PIXELS_PER_CHANNEL output pixels per
    output channel."""
    pointwise = all(k == 1 for k in geometry.kernel) and not any(geometry.pads_begin + geometry.pads_end)
    if group != 1 or pointwise or x_shape[1] != w_shape[1]:
        return False
    pixels = x_shape[0] * math.prod(geometry.out)
    long_runs = x_shape[1] * w_shape[-1] >= MIN_RUN or pixels <= SHORT_RUN_MAX_PIXELS
    return long_runs and pixels >= MIN_PIXELS_PER_CHANNEL * w_shape[0]


def pack(w):
    """W (M, C, *k) -> Wt (k..., C) x M, C-contiguous: the GEMM operand of `conv`."""
    n_out = w.shape[0]
    order = (*range(2, w.ndim), 1, 0)
    return np.ascontiguousarray(w.transpose(order)).reshape(-1, n_out)


def conv(x5, wt, g3, y, args, pool_h=1, pool_w=1):
    """y (N, M, OD, PH, PW) = epilogue(conv(x5, W)) with W packed as wt, optionally max-pooled
    pool_h x pool_w (stride = window, floor mode). x5 (N, C, D, H, W); g3: 3-D geometry; args:
    (bias, scale, shift, residual, lo, hi, flags) of kernels/conv_nhwc.py's epilogue."""
    from refruntime.kernels.blas import matmul
    from refruntime.kernels.scratch import scratch

    key = (x5.shape, wt.shape, x5.dtype, g3, pool_h, pool_w)
    plan = _PLANS.get(key)
    if plan is None:
        if len(_PLANS) >= 256:
            _PLANS.clear()
        plan = _PLANS[key] = _Plan(x5.shape, wt.shape, x5.dtype.itemsize, g3, pool_h)
    xp = scratch("conv.nhwc", plan.padded, x5.dtype)
    plan.pad(x5, xp, *g3.pads_begin)
    xp2 = xp.reshape(plan.padded_rows)
    for g0, col_shape, acc_shape, flops, im2col, epilogue in plan.bands:
        col = scratch("conv.col", col_shape, x5.dtype)
        im2col(xp2, col, g0, *plan.geometry)
        acc = scratch("conv.acc", acc_shape, x5.dtype)
        matmul(col, wt, out=acc, flops=flops)
        epilogue(acc, y, g0, *plan.geometry[:3], *args, pool_h, pool_w)


_PLANS: dict = {}


class _Plan:
    """What `conv` derives from the shapes alone, once per combination of them (at batch 1 this
    bookkeeping measured ~30 us per Conv call, as much as a small layer's GEMM)."""

    def __init__(self, x_shape, wt_shape, itemsize: int, g3, pool_h: int):
        from refruntime.kernels import conv_nhwc

        def loop(name: str, size: int):  # the parallel build for large work, else the serial one
            return getattr(conv_nhwc, name if size >= PARALLEL_MIN else name + "_serial")

        n_img, channels = x_shape[:2]
        od, oh, ow = g3.out
        rows_k, n_out = wt_shape
        padded = tuple(s + b + e for s, b, e in zip(x_shape[2:], g3.pads_begin, g3.pads_end))
        self.padded = (n_img, *padded, channels)
        self.padded_rows = (n_img * padded[0] * padded[1], padded[2] * channels)
        self.pad = loop("pad_channels_last", math.prod(self.padded))
        self.geometry = (od, oh, ow, padded[0], padded[1], channels, *g3.kernel, *g3.strides, *g3.dilations)
        budget = max(BAND_BUDGET, BAND_WEIGHTS * rows_k * n_out * itemsize)
        self.bands = []
        for g0, rows in bands(n_img * od, oh, max(1, budget // max(1, ow * rows_k * itemsize)), pool_h):
            pixels = rows * ow
            self.bands.append((g0, (pixels, rows_k), (pixels, n_out), 2 * pixels * rows_k * n_out,
                               loop("im2col_rows", pixels * rows_k), loop("epilogue_to_nchw", pixels * n_out)))


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
