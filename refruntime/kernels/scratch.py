"""Per-thread scratch buffers (plain numpy, no numba): im2col columns and GEMM results.

A convolution's col buffer can be large (VGG's first layers: 115 MB at batch 1); allocating it
on every call costs page faults comparable to the GEMM itself. Each thread keeps one grow-only
buffer per slot name instead, so concurrent sessions never share one. Nothing returned to a
caller may be a scratch view: kernels copy results out (the epilogue writes the real output).
"""
from __future__ import annotations

import threading

import numpy as np

_LOCAL = threading.local()


def scratch(slot: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialized C-contiguous array of `shape` and `dtype`, reused across calls of the
    same thread for the same `slot` (the previous contents are garbage)."""
    dtype = np.dtype(dtype)
    count = 1
    for d in shape:
        count *= int(d)
    nbytes = count * dtype.itemsize
    buffers = getattr(_LOCAL, "buffers", None)
    if buffers is None:
        buffers = _LOCAL.buffers = {}
    buf = buffers.get(slot)
    if buf is None or buf.nbytes < nbytes:
        buf = buffers[slot] = np.empty(max(nbytes, 64), dtype=np.uint8)
    return buf[:nbytes].view(dtype).reshape(shape)


def release() -> None:
    """Drop this thread's scratch buffers (they are rebuilt on demand)."""
    _LOCAL.buffers = {}
