"""numba loops for MaxPool and AveragePool on (N, C, D, H, W) data (1-D/2-D promoted by the caller).

Each (image, channel) plane is an independent parallel task. Windows are clipped to the input;
padded positions never win a max and count toward an average only with count_include_pad.
"""
import numba
import numpy as np
from numba import prange

from refruntime.kernels.jit import parallel_kernel


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
def _window_counts(start, k, dil, size, limit):
    """(positions inside [0, size), positions inside [-pad_begin, limit)) of a dilated window."""
    inside = 0
    padded = 0
    for i in range(k):
        p = start + i * dil
        if 0 <= p < size:
            inside += 1
        if p < limit:
            padded += 1
    return inside, padded


@parallel_kernel
def average_pool(x, y, include_pad, kd, kh, kw, sd, sh, sw, dd, dh, dw, pd, ph, pw,
                 ed, eh, ew):
    """y = mean of the window. The divisor counts in-input positions, or (include_pad) every
    position inside the explicitly padded input (pads pd..pw before, ed..ew after); positions a
    ceil_mode window reaches beyond that never count."""
    n_img, channels, depth, height, width = x.shape
    _, _, od, oh, ow = y.shape
    for nc in prange(n_img * channels):
        n = nc // channels
        c = nc % channels
        for z in range(od):
            z0 = z * sd - pd
            cz, pz = _window_counts(z0, kd, dd, depth, depth + ed)
            for yy in range(oh):
                y0 = yy * sh - ph
                cy, py = _window_counts(y0, kh, dh, height, height + eh)
                for q in range(ow):
                    x0 = q * sw - pw
                    cx, px = _window_counts(x0, kw, dw, width, width + ew)
                    total = x[n, c, 0, 0, 0] * 0
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
                                if 0 <= ix < width:
                                    total += x[n, c, iz, iy, ix]
                    count = pz * py * px if include_pad else cz * cy * cx
                    if count > 0:
                        y[n, c, z, yy, q] = total / count
                    else:
                        y[n, c, z, yy, q] = np.nan

