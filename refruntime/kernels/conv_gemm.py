"""numba loops around the BLAS product of a convolution: im2col, and the fused epilogue.

A convolution is lowered to one GEMM per chunk of images: col (K, nb*P) holds, for each of the
K = C/group*kd*kh*kw kernel taps (rows), the input value each of the nb*P output positions reads
(zero in the padding); W (M, K) @ col gives (M, nb*P). The epilogue then writes
    y[n, m, p] = clamp((acc[m, n*P + p] + bias[m]) * scale[m] + shift[m], lo, hi)
into the (N, M, P) output in one pass: the Conv bias, an inference BatchNormalization (its
per-channel affine map) and a Relu/Clip (the clamp) that follow the Conv cost no extra pass.
The order of the float operations is that of the unfused ops, so fused results are bitwise equal
to Conv -> BatchNormalization -> Relu run one by one. `clamp` keeps NaN (like numpy's maximum).

Every loop has a serial and a parallel build, and callers pick by size. These loops are
memory-bound: on 2 cores a second thread gains little, while a parallel launch costs tens of
microseconds idle and milliseconds when the other core is busy (measured: a 0.8 M-element epilogue
took 0.48 ms serial, 2.3 ms median in parallel, with other processes running). So only loops of
several MB go parallel.
"""
# ruff: noqa: PLR1730, PLR0124 - `if v < lo: v = lo` and `v != v` keep NaN, which max()/min() would not
from numba import prange

from refruntime.kernels.jit import parallel_kernel, serial_kernel, valid_range

#: below this many elements written, the serial build of a loop is used
PARALLEL_MIN = 1 << 21


def _im2col(x, col, n0, nb, c0, kd, kh, kw, sd, sh, sw, dd, dh, dw, pd, ph, pw, od, oh, ow):
    """col[((c - c0)*kd + a)*kh*kw + b*kw + e, n*P + (z*oh + yy)*ow + q] = x[n0 + n, c, iz, iy, ix]
    (0 outside x), for the channels c0 .. c0 + col.shape[0] / (kd*kh*kw) of images n0 .. n0+nb."""
    _, _, depth, height, width = x.shape
    taps = kd * kh * kw
    rows = col.shape[0]
    size = od * oh * ow
    for r in prange(rows):
        c = c0 + r // taps
        t = r % taps
        a = t // (kh * kw)
        b = (t // kw) % kh
        e = t % kw
        q0, q1 = valid_range(e * dw - pw, sw, width, ow)
        ix0 = q0 * sw - pw + e * dw
        for n in range(nb):
            for z in range(od):
                iz = z * sd - pd + a * dd
                for yy in range(oh):
                    iy = yy * sh - ph + b * dh
                    base = n * size + (z * oh + yy) * ow
                    if iz < 0 or iz >= depth or iy < 0 or iy >= height:
                        for q in range(ow):
                            col[r, base + q] = 0
                        continue
                    for q in range(q0):
                        col[r, base + q] = 0
                    if sw == 1:
                        for q in range(q0, q1):
                            col[r, base + q] = x[n0 + n, c, iz, iy, ix0 + q - q0]
                    else:
                        for q in range(q0, q1):
                            col[r, base + q] = x[n0 + n, c, iz, iy, ix0 + (q - q0) * sw]
                    for q in range(q1, ow):
                        col[r, base + q] = 0


def _epilogue(acc, y, n0, bias, scale, shift, lo, hi, flags):
    """y[n0 + n, m, p] = clamp((acc[m, n*P + p] + bias[m]) * scale[m] + shift[m], lo, hi).

    flags: 1 = add bias, 2 = apply scale/shift, 4 = clamp. acc may be y[n0] itself (nb == 1)."""
    n_out, total = acc.shape
    size = y.shape[2]
    nb = total // size
    for nm in prange(nb * n_out):
        n = nm // n_out
        m = nm % n_out
        bv = bias[m]
        sv = scale[m]
        tv = shift[m]
        row = y[n0 + n, m]
        start = n * size
        for p in range(size):
            v = acc[m, start + p]
            if flags & 1:
                v = v + bv
            if flags & 2:
                v = v * sv + tv
            if flags & 4:
                if v < lo:
                    v = lo
                if v > hi:
                    v = hi
            row[p] = v


def _epilogue_inplace(y, bias, scale, shift, lo, hi, flags):
    """The epilogue over y (N, M, P) in place (the pointwise and depthwise paths)."""
    n_img, n_out, size = y.shape
    for nm in prange(n_img * n_out):
        m = nm % n_out
        bv = bias[m]
        sv = scale[m]
        tv = shift[m]
        row = y[nm // n_out, m]
        for p in range(size):
            v = row[p]
            if flags & 1:
                v = v + bv
            if flags & 2:
                v = v * sv + tv
            if flags & 4:
                if v < lo:
                    v = lo
                if v > hi:
                    v = hi
            row[p] = v


def _max_pool_2x2(x, y):
    """MaxPool 2x2, stride 2, no pads/dilations, floor mode, on (N, C, H, W); NaN wins."""
    n_img, channels, _, _ = x.shape
    _, _, oh, ow = y.shape
    for nc in prange(n_img * channels):
        n = nc // channels
        c = nc % channels
        for yy in range(oh):
            r0 = x[n, c, 2 * yy]
            r1 = x[n, c, 2 * yy + 1]
            out = y[n, c, yy]
            for q in range(ow):
                a = r0[2 * q]
                b = r0[2 * q + 1]
                m = a if (a >= b or a != a) else b
                a = r1[2 * q]
                m = m if (m >= a or m != m) else a
                b = r1[2 * q + 1]
                m = m if (m >= b or m != m) else b
                out[q] = m


im2col = parallel_kernel(_im2col)
im2col_serial = serial_kernel(_im2col)
epilogue = parallel_kernel(_epilogue)
epilogue_serial = serial_kernel(_epilogue)
epilogue_inplace = parallel_kernel(_epilogue_inplace)
epilogue_inplace_serial = serial_kernel(_epilogue_inplace)
max_pool_2x2 = parallel_kernel(_max_pool_2x2)
max_pool_2x2_serial = serial_kernel(_max_pool_2x2)

