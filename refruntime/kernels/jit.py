"""How refruntime compiles its numba kernels: `parallel_kernel` and the threading layer it uses.

numba's default threading layer on this kind of machine is OpenMP, whose idle threads spin-wait;
so do OpenBLAS's after every matmul. A convolution alternates numba loops (im2col, bias) with BLAS
matmuls, and on a few cores the two spinning pools starve each other (measured 3-8x slowdowns on
2 cores). The `workqueue` layer never spins, so it is selected here unless the user chose a layer
(NUMBA_THREADING_LAYER or numba.config.THREADING_LAYER set before the first kernel runs).

workqueue does not support concurrent launches from several Python threads, so every parallel
kernel of refruntime runs under one lock: sessions used from several threads stay safe (their
parallel loops take turns; BLAS calls do not hold the lock).
"""
import os
import threading
from functools import wraps

import numba

if "NUMBA_THREADING_LAYER" not in os.environ and numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER = "workqueue"

_LOCK = threading.Lock()


def parallel_kernel(fn):
    """numba.njit(cache=True, parallel=True) whose calls are serialized across Python threads."""
    compiled = numba.njit(cache=True, parallel=True)(fn)

    @wraps(fn)
    def call(*args):
        with _LOCK:
            return compiled(*args)

    call.compiled = compiled
    return call


def serial_kernel(fn):
    """numba.njit(cache=True) of a loop also built by `parallel_kernel` (prange runs as range).

    The copy gets its own qualified name, so that numba's on-disk cache (keyed by qualified name
    and line, not by the parallel flag) keeps the two builds apart."""
    import types

    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial", fn.__defaults__,
                              fn.__closure__)
    copy.__qualname__ = fn.__qualname__ + "_serial"
    copy.__module__ = fn.__module__
    copy.__doc__ = fn.__doc__
    return numba.njit(cache=True)(copy)


@numba.njit(cache=True, inline="always")
def valid_range(offset, stride, size, count):
    """Indices q in [0, count) with 0 <= q*stride + offset < size, as [lo, hi)."""
    lo = 0
    if offset < 0:
        lo = (-offset + stride - 1) // stride
    last = size - 1 - offset
    if last < 0:
        return 0, 0
    hi = last // stride + 1
    hi = min(hi, count)
    lo = min(lo, hi)
    return lo, hi


@numba.njit(cache=True, inline="always")
def clamp(v, lo, hi):
    """v limited to [lo, hi], NaN kept (a Relu/Clip in a fused epilogue; lo = -inf and hi = inf
    change nothing), as the Relu and Clip kernels' np.maximum(v, lo) and np.minimum(v, hi) give it:
    a tie returns the bound, so Relu(-0.0) is +0.0 (with `<` the fused steps kept -0.0 where the
    kernels give +0.0). Selects, not branches: random data would mispredict."""
    v = lo if v <= lo else v  # noqa: FURB136 - max() would not keep NaN
    return hi if v >= hi else v  # noqa: FURB136
