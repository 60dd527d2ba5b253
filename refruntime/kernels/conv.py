"""numba loops for convolution: direct depthwise Conv, col2im (ConvTranspose), channel bias.

All loops work on 3-D spatial data (N, C, D, H, W); 1-D and 2-D problems are promoted with unit
axes by the caller. They are dtype-generic (numba compiles one version per dtype) and run the
(image, channel) planes in parallel. The matrix products themselves are numpy matmul (BLAS).
"""
import numpy as np
from numba import prange, uint64

from refruntime.kernels.jit import parallel_kernel, serial_kernel, valid_range


def _depthwise(x, w, y, multiplier, sd, sh, sw, dd, dh, dw, pd, ph, pw):
    """y[n, m] = sum over the window of x[n, m // multiplier] * w[m, 0] (group == channels).

    x: (N, C, D, H, W); w: (M, 1, kd, kh, kw); y: (N, M, od, oh, ow), written entirely. Row by
    row, each tap adds tap * the matching input row over the output span where the window is
    inside the input; spans are computed once per call and row views once per (row, kernel row)
    (on ShuffleNet's 272x14x14 layers, per-tap views and index arithmetic cost more than the
    multiply-adds: 1.0 -> 0.5 ms)."""
    n_img, _channels, depth, height, width = x.shape
    n_out, _, kd, kh, kw = w.shape
    _, _, od, oh, ow = y.shape
    spans = np.empty((kw, 3), dtype=np.int64)  # per tap column: first output, count, input start
    for e in range(kw):
        q0, q1 = valid_range(e * dw - pw, sw, width, ow)
        spans[e, 0] = q0
        spans[e, 1] = max(q1 - q0, 0)
        spans[e, 2] = q0 * sw - pw + e * dw
    step = uint64(sw)
    for nm in prange(n_img * n_out):
        n = nm // n_out
        m = nm % n_out
        c = m // multiplier
        taps = w[m, 0]
        for z in range(od):
            for yy in range(oh):
                out = y[n, m, z, yy]
                for q in range(uint64(ow)):
                    out[q] = 0
                for a in range(kd):
                    iz = z * sd - pd + a * dd
                    if iz < 0 or iz >= depth:
                        continue
                    for b in range(kh):
                        iy = yy * sh - ph + b * dh
                        if iy < 0 or iy >= height:
                            continue
                        row = x[n, c, iz, iy]
                        for e in range(kw):
                            wv = taps[a, b, e]
                            first = uint64(spans[e, 0])
                            start = uint64(spans[e, 2])
                            if sw == 1:
                                for q in range(uint64(spans[e, 1])):
                                    out[first + q] += wv * row[start + q]
                            else:
                                for q in range(uint64(spans[e, 1])):
                                    out[first + q] += wv * row[start + q * step]


depthwise = parallel_kernel(_depthwise)
depthwise_serial = serial_kernel(_depthwise)


@parallel_kernel
def col2im(col, y, kd, kh, kw, sd, sh, sw, dd, dh, dw, pd, ph, pw, idd, ih, iw):
    """ConvTranspose scatter: y[n, m, z*sd-pd+a*dd, ...] += col[n, ((m*kd+a)*kh+b)*kw+e, (z*ih+yy)*iw+q].

    col: (N, M*kd*kh*kw, idd*ih*iw); y: (N, M, OD, OH, OW), zeroed by the caller; positions that
    fall outside y (cropped by pads) are skipped.
    """
    n_img, n_out, out_d, out_h, out_w = y.shape
    for nm in prange(n_img * n_out):
        n = nm // n_out
        m = nm % n_out
        for a in range(kd):
            for b in range(kh):
                for e in range(kw):
                    row = ((m * kd + a) * kh + b) * kw + e
                    # input positions q whose output index q*sw - pw + e*dw lies in [0, out_w)
                    q0, q1 = valid_range(e * dw - pw, sw, out_w, iw)
                    ox0 = q0 * sw - pw + e * dw
                    for z in range(idd):
                        oz = z * sd - pd + a * dd
                        if oz < 0 or oz >= out_d:
                            continue
                        for yy in range(ih):
                            oy = yy * sh - ph + b * dh
                            if oy < 0 or oy >= out_h:
                                continue
                            base = (z * ih + yy) * iw
                            for q in range(q0, q1):
                                y[n, m, oz, oy, ox0 + (q - q0) * sw] += col[n, row, base + q]


@parallel_kernel
def add_channel_bias(y, bias):
    """y[n, m, ...] += bias[m] for y of shape (N, M, P), in place."""
    n_img, n_out, size = y.shape
    for nm in prange(n_img * n_out):
        v = bias[nm % n_out]
        row = y[nm // n_out, nm % n_out]
        for p in range(size):
            row[p] += v

