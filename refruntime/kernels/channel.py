"""numba loops applying per-channel maps to (N, C, P) data: BatchNormalization inference, and the
fused chains of per-channel stages of refruntime/fused_channel.py."""
from numba import prange, uint64

from refruntime.kernels.jit import clamp, parallel_kernel, serial_kernel


@parallel_kernel
def scale_shift(x, scale, shift, y):
    """y[n, c, p] = x[n, c, p] * scale[c] + shift[c] for x, y of shape (N, C, P)."""
    n_img, channels, size = x.shape
    for nc in prange(n_img * channels):
        n = nc // channels
        c = nc % channels
        s = scale[c]
        t = shift[c]
        for p in range(size):
            y[n, c, p] = x[n, c, p] * s + t


def _channel_stages(x, y, scales, shifts, lo, hi):
    """y[n, c] = clamp(stage_S(... stage_1(x[n, c])), lo, hi) for x, y of shape (N, C, P), stage k
    being v * scales[k, c] + shifts[k, c]. Written so for every stage kind, bitwise: a Mul by m is
    (m, -0.0) (v + -0.0 == v for every v, signed zeros included), an Add of a is (1, a) (v * 1 ==
    v); lo = -inf, hi = inf clamp nothing (NaN kept). Up to three stages run in one vectorized
    pass (DenseNet's BN, Scale, bias), more in one pass per stage."""
    n_img, channels, size = x.shape
    count = uint64(size)
    n_stages = scales.shape[0]
    for nc in prange(n_img * channels):
        n = nc // channels
        c = nc % channels
        src = x[n, c]
        dst = y[n, c]
        s0 = scales[0, c]
        t0 = shifts[0, c]
        if n_stages == 1:
            for p in range(count):
                v = src[p] * s0 + t0
                dst[p] = clamp(v, lo, hi)
        elif n_stages == 2:
            s1 = scales[1, c]
            t1 = shifts[1, c]
            for p in range(count):
                v = (src[p] * s0 + t0) * s1 + t1
                dst[p] = clamp(v, lo, hi)
        elif n_stages == 3:
            s1 = scales[1, c]
            t1 = shifts[1, c]
            s2 = scales[2, c]
            t2 = shifts[2, c]
            for p in range(count):
                v = ((src[p] * s0 + t0) * s1 + t1) * s2 + t2
                dst[p] = clamp(v, lo, hi)
        else:
            for p in range(count):
                dst[p] = src[p] * s0 + t0
            for k in range(1, n_stages):
                s = scales[k, c]
                t = shifts[k, c]
                for p in range(count):
                    dst[p] = dst[p] * s + t
            for p in range(count):
                v = dst[p]
                dst[p] = clamp(v, lo, hi)


channel_stages = parallel_kernel(_channel_stages)
channel_stages_serial = serial_kernel(_channel_stages)
