"""numba loops applying a per-channel affine map to (N, C, P) data (BatchNormalization inference)."""
from numba import prange

from refruntime.kernels.jit import parallel_kernel


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
