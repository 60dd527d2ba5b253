"""Exact integer matrix products and convolutions through float BLAS (plain Python, no numba import
at module level: op files import it at the top).

An integer product is exact in floating point when every partial sum is an integer the float type
holds exactly: then any summation order, blocking or FMA gives the same, exact, result, so the
answer does not depend on the machine or the BLAS. A bound on every partial sum of output (m, n)
is max|a| * max_n sum_k |b[k, n]| (or the same with the roles swapped); `exact_dtype` picks
float32 (24-bit significand: bound < 2**24, ~3.5x faster GEMMs here), float64 (bound < 2**53:
any 8-bit operands with K below 1.4e11), or int64 (numpy's loops, no BLAS) beyond that.

Operands come in as the integer values minus their zero points (`shifted`), converted straight to
the compute type (a uint8 minus a zero point is exact in float32), so no int64 copy of a large
input is made. Convolutions reuse Conv's paths (ops/op_conv.conv_nd: pointwise, depthwise,
channels-last, im2col + GEMM) on those floats: zero padding of x - x_zero_point is padding x with
its zero point, as the quantized ops mean.
"""
from __future__ import annotations

import numpy as np

FLOAT32_EXACT = 2 ** 24
FLOAT64_EXACT = 2 ** 53


def exact_dtype(bound: int) -> np.dtype:
    """The cheapest type in which integer partial sums bounded by `bound` are exact."""
    if bound < FLOAT32_EXACT:
        return np.dtype(np.float32)
    if bound < FLOAT64_EXACT:
        return np.dtype(np.float64)
    return np.dtype(np.int64)


def shifted(x: np.ndarray, zero_point, dtype) -> np.ndarray:
    """x - zero_point (zero_point broadcastable, None = 0) in `dtype`, exact for integer x of at
    most 16 bits (float32) or 32 bits (float64/int64)."""
    v = x.astype(dtype)
    if zero_point is not None:
        zp = np.asarray(zero_point)
        if zp.any():
            v -= zp.astype(dtype)
    return v


def _abs_max(x: np.ndarray, zero_point) -> int:
    """max |x - zero_point| over x, computed without materializing the difference."""
    if x.size == 0:
        return 0
    zp = np.asarray(0 if zero_point is None else zero_point).astype(np.int64)
    hi = int(np.max(np.asarray(x.max(), np.int64) - zp.min()))
    lo = int(np.min(np.asarray(x.min(), np.int64) - zp.max()))
    return max(abs(hi), abs(lo))


def matmul_bound(a: np.ndarray, a_zero_point, b: np.ndarray, b_zero_point) -> int:
    """An upper bound on |every partial sum| of (a - a_zp) @ (b - b_zp): max|a'| * max|b'| * K
    when that is already small, else max|a'| times the largest column sum of |b'| (and the
    transposed bound), the tighter of the two."""
    k = a.shape[-1] if a.ndim else 1
    a_max, b_max = _abs_max(a, a_zero_point), _abs_max(b, b_zero_point)
    crude = a_max * b_max * k
    if crude < FLOAT32_EXACT:
        return crude
    b_cols = int(np.abs(shifted(b, b_zero_point, np.int64)).sum(axis=-2 if b.ndim > 1 else 0).max(initial=0))
    a_rows = int(np.abs(shifted(a, a_zero_point, np.int64)).sum(axis=-1).max(initial=0))
    return min(crude, a_max * b_cols, b_max * a_rows)


def int_matmul(a: np.ndarray, a_zero_point, b: np.ndarray, b_zero_point) -> np.ndarray:
    """(a - a_zp) @ (b - b_zp) with numpy.matmul's broadcasting, exact, as integer-valued floats
    (float32/float64) or int64 (`exact_dtype`); zero points broadcast against their operand."""
    from refruntime.kernels import blas

    dtype = exact_dtype(matmul_bound(a, a_zero_point, b, b_zero_point))
    a_, b_ = shifted(a, a_zero_point, dtype), shifted(b, b_zero_point, dtype)
    if dtype.kind == "f" and a_.ndim >= 2 and b_.ndim >= 2:
        return blas.matmul(a_, b_)
    return np.matmul(a_, b_)


def conv_bound(x: np.ndarray, x_zero_point, w: np.ndarray, w_zero_point) -> int:
    """An upper bound on |every partial sum| of the convolution of x' = x - x_zp by
    w' = w - w_zp (per output channel m): max|x'| * max_m sum |w'[m]|."""
    x_max = _abs_max(x, x_zero_point)
    w_sums = np.abs(shifted(w, _per_channel(w_zero_point, w.ndim), np.int64)).reshape(w.shape[0], -1).sum(axis=1)
    return x_max * int(w_sums.max(initial=0))


def _per_channel(zero_point, rank: int):
    """A scalar or per-output-channel (M,) zero point shaped to broadcast against W (M, C, *k)."""
    if zero_point is None:
        return None
    zp = np.asarray(zero_point)
    return zp.reshape(()) if zp.size == 1 else zp.reshape((-1,) + (1,) * (rank - 1))


def int_conv(x: np.ndarray, x_zero_point, w: np.ndarray, w_zero_point, group: int, geometry) -> np.ndarray:
    """conv(x - x_zp, w - w_zp) (N, M, *out), exact, as integer-valued float32/float64 (the pad value
    of x is x_zp). x_zero_point is a scalar; w_zero_point a scalar or one value per output channel."""
    from refruntime.kernels import channels_last
    from refruntime.ops.op_conv import conv_nd

    dtype = exact_dtype(conv_bound(x, x_zero_point, w, w_zero_point))
    if dtype.kind != "f":  # K above 2**37 for 8-bit data: no such convolution fits in memory
        raise ValueError(f"integer convolution partial sums may exceed 2**53 (K = {w[0].size})")
    xs = shifted(x, x_zero_point, dtype)
    ws = shifted(w, _per_channel(w_zero_point, w.ndim), dtype)
    packed = channels_last.pack(ws) if channels_last.applies(geometry, group, x.shape, w.shape) else None
    return conv_nd(xs, ws, None, group, geometry, packed=packed)


def wrap_int32(acc: np.ndarray) -> np.ndarray:
    """Exact integer results as int32, wrapping modulo 2**32 (ONNX: "the accumulation may overflow
    if and only if in 32 bits"; two's complement, as 32-bit accumulators do)."""
    return np.asarray(acc).astype(np.int64).astype(np.int32)


def conv_geometry(kernel, x: np.ndarray, w: np.ndarray):
    """Conv's shape checks (kernel.fail names the node) and window geometry for X (N, C, *in) and
    W (M, C/group, *k), from the kernel's attributes; cached on the kernel per pair of shapes."""
    from refruntime.kernels.spatial import window_geometry

    cache = kernel.__dict__.setdefault("_conv_geometry", {})
    geometry = cache.get((x.shape, w.shape))
    if geometry is not None:
        return geometry
    a = kernel.attributes
    group, kernel_shape = a.get("group", 1), a.get("kernel_shape")
    if not 3 <= x.ndim <= 5:
        kernel.fail(f"X must have 1 to 3 spatial axes (rank 3 to 5), got shape {x.shape}")
    if w.ndim != x.ndim:
        kernel.fail(f"W has shape {w.shape} (rank {w.ndim}) but X has shape {x.shape} (rank {x.ndim})")
    if x.shape[1] != w.shape[1] * group:
        kernel.fail(f"X has {x.shape[1]} channels (shape {x.shape}) but W of shape {w.shape} with "
                    f"group={group} expects {w.shape[1] * group} = W.shape[1] * group")
    if w.shape[0] % group:
        kernel.fail(f"W has {w.shape[0]} output channels (shape {w.shape}), not divisible by group={group}")
    if kernel_shape is not None and tuple(kernel_shape) != tuple(w.shape[2:]):
        kernel.fail(f"kernel_shape {list(kernel_shape)} does not match W's spatial shape {w.shape[2:]}")
    geometry = window_geometry(kernel, x.shape[2:], w.shape[2:], a.get("strides"), a.get("dilations"),
                               a.get("pads"), a.get("auto_pad", "NOTSET"))
    cache[(x.shape, w.shape)] = geometry
    return geometry
