"""numba loops for MaxPool and AveragePool on (N, C, D, H, W) data (1-D/2-D promoted by the caller).

Each (image, channel) plane is an independent parallel task. Windows are clipped to the input;
padded positions never win a max and count toward an average only with count_include_pad.
"""
import numba
import numpy as np
from numba import prange, uint64

from refruntime.kernels.jit import parallel_kernel, serial_kernel

#: output elements x window taps from which `separable_pool` runs in parallel (measured: 1.8 M,
#: ResNet50's first pool, 1.5 ms serial / 2.5 ms parallel; 20 M, SqueezeNet's at batch 8, 14 / 11 ms)
PARALLEL_MIN_WORK = 1 << 22


@parallel_kernel
def max_pool(x, y, indices, column_major, lowest, kd, kh, kw, sd, sh, sw, dd, dh, dw, pd, ph, pw):
    """y[n, c, z, yy, q] = max of the window; indices get the flat index of the winner in x
    (row-major over (N, C, D, H, W), or column-major over the spatial axes if column_major).
    A window entirely in the padding gives `lowest` and index -1."""
    n_img, channels, depth, height, width = x.shape
    _, _, od, oh, ow = y.shape
    plane = depth * height * width
    for nc in prange(n_img * channels):
        n = nc // channels
        c = nc % channels
        for z in range(od):
            z0 = z * sd - pd
            for yy in range(oh):
                y0 = yy * sh - ph
                for q in range(ow):
                    x0 = q * sw - pw
                    best = lowest
                    bz = -1
                    by = 0
                    bx = 0
                    for a in range(kd):
                        iz = z0 + a * dd
                        if iz < 0 or iz >= depth:
                            continue
                        for b in range(kh):
                            iy = y0 + b * dh
                            if iy < 0 or iy >= height:
                                continue
                            for e in range(kw):
                                ix = x0 + e * dw
                                if ix < 0 or ix >= width:
                                    continue
                                v = x[n, c, iz, iy, ix]
                                if bz < 0 or v > best:
                                    best = v
                                    bz = iz
                                    by = iy
                                    bx = ix
                    y[n, c, z, yy, q] = best
                    if bz < 0:
                        flat = -1
                    elif column_major:
                        flat = nc * plane + bz + by * depth + bx * depth * height
                    else:
                        flat = nc * plane + (bz * height + by) * width + bx
                    indices[n, c, z, yy, q] = flat


@numba.njit(cache=True, inline="always")
def _nan_max(v, m):
    """max(v, m) where a NaN wins (np.maximum's rule)."""
    return v if (v > m) | (v != v) else m  # noqa: PLR0124 - v != v is the NaN test; `|`: a select, not a branch


@numba.njit(cache=True, inline="always")
def _combine(a, b, is_sum):
    """The pooling reduction: a + b, or max(a, b) with NaN winning."""
    return a + b if is_sum else _nan_max(a, b)


def _separable_pool(xp, y, kd, kh, kw, sd, sh, sw, dd, dh, dw, is_sum):
    """y = max (or sum, `is_sum`) over each window of xp (N, C, D, H, W), already padded
    (`spatial.padded_input`: -inf or the lowest value for max, 0 for sum) so that every window
    lies inside; NaN wins a max, as with np.maximum. The window is a product of three axes, so
    the reduction is taken one axis at a time: O(output x (kd+kh+kw)) instead of
    O(output x kd*kh*kw). D and H first, over whole contiguous rows (vectorized), W last, where
    the reads are strided but the data already shrunk by the strides of D and H (on SqueezeNet's
    3x3/2 max pool: 3.6 -> 0.9 ms with the unrolled W pass)."""
    n_img, channels, _, height, width = xp.shape
    od, oh = y.shape[2], y.shape[3]
    for nc in prange(n_img * channels):
        n = nc // channels
        c = nc % channels
        planes = xp[n, c]
        if kd > 1 or sd > 1:  # along D
            planes = np.empty((od, height, width), dtype=y.dtype)
            for z in range(od):
                for r in range(height):
                    dst = planes[z, r]
                    first = xp[n, c, z * sd, r]
                    for q in range(uint64(width)):
                        dst[q] = first[q]
                    for a in range(1, kd):
                        src = xp[n, c, z * sd + a * dd, r]
                        for q in range(uint64(width)):
                            dst[q] = _combine(src[q], dst[q], is_sum)
        rows = np.empty((od, oh, width), dtype=y.dtype)  # along H
        for z in range(od):
            for yy in range(oh):
                dst = rows[z, yy]
                first = planes[z, yy * sh]
                for q in range(uint64(width)):
                    dst[q] = first[q]
                for b in range(1, kh):
                    src = planes[z, yy * sh + b * dh]
                    for q in range(uint64(width)):
                        dst[q] = _combine(src[q], dst[q], is_sum)
        for z in range(od):  # along W: the usual 2- and 3-wide windows unrolled (vectorized;
            for yy in range(oh):  # a loop over the taps measured 5x slower)
                _along_w(rows[z, yy], y[n, c, z, yy], kw, uint64(sw), uint64(dw), is_sum)


@numba.njit(cache=True, inline="always")
def _along_w(src, dst, kw, sw, dw, is_sum):
    """dst[q] = the reduction of src[q*sw + e*dw] for e < kw."""
    count = uint64(dst.shape[0])
    if kw == 2:
        for q in range(count):
            base = q * sw
            dst[q] = _combine(src[base + dw], src[base], is_sum)
    elif kw == 3:
        for q in range(count):
            base = q * sw
            dst[q] = _combine(src[base + 2 * dw], _combine(src[base + dw], src[base], is_sum), is_sum)
    else:
        for q in range(count):
            dst[q] = src[q * sw]
        for e in range(1, kw):
            offset = uint64(e) * dw
            for q in range(count):
                dst[q] = _combine(src[q * sw + offset], dst[q], is_sum)


separable_pool = parallel_kernel(_separable_pool)
separable_pool_serial = serial_kernel(_separable_pool)
