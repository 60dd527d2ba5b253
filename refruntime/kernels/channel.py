"""numba loops applying per-channel maps to (N, C, P) data: BatchNormalization inference, and the
fused chains of per-channel stages of refruntime/fused_channel.py."""
# ruff: noqa: FURB136 - `lo if v < lo else v` keeps NaN, which max()/min() would not promise
from numba import prange, uint64

from refruntime.kernels.jit import parallel_kernel, serial_kernel


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


def _channel_stages(x, y, scales, shifts, kinds, lo, hi, clamp):
    """y[n, c] = clamp(stage_S(... stage_1(x[n, c]))) for x, y of shape (N, C, P), stage k being
    v * scales[k, c] + shifts[k, c] (kind 0: a BatchNormalization's affine map), v * scales[k, c]
    (kind 1: Mul) or v + shifts[k, c] (kind 2: Add); clamp (Relu/Clip) only if `clamp`. Each
    stage is its own pass over a channel's row (in cache, vectorized), so the float operations
    are those of the unfused ops, in their order."""
    n_img, channels, size = x.shape
    count = uint64(size)
    for nc in prange(n_img * channels):
        n = nc // channels
        c = nc % channels
        src = x[n, c]
        dst = y[n, c]
        for p in range(count):
            dst[p] = src[p]
        for k in range(kinds.shape[0]):
            s = scales[k, c]
            t = shifts[k, c]
            if kinds[k] == 0:
                for p in range(count):
                    dst[p] = dst[p] * s + t
            elif kinds[k] == 1:
                for p in range(count):
                    dst[p] = dst[p] * s
            else:
                for p in range(count):
                    dst[p] = dst[p] + t
        if clamp:
            for p in range(count):
                v = dst[p]
                v = lo if v < lo else v
                dst[p] = hi if v > hi else v


channel_stages = parallel_kernel(_channel_stages)
channel_stages_serial = serial_kernel(_channel_stages)
