"""numpy's matmul with OpenBLAS limited to one thread for small products (plain Python, no numba).

OpenBLAS splits even small GEMMs across its threads; waking them costs more than the product
when it is small, and much more when other processes keep the second core busy (measured here,
machine shared: a 29 MFLOP product 2.0 ms on one thread vs 8.1 ms on two; the 0.4 MFLOP
classifier of SimpleCNN 0.2 ms vs 2.9 ms). Products below SMALL_FLOPS run on one thread; the thread
count is restored right after. Without a recognizable OpenBLAS (another BLAS, or its symbols not
found) this is plain np.matmul.
"""
from __future__ import annotations

import threading

import numpy as np

#: 2*M*N*K below which one BLAS thread is used
SMALL_FLOPS = 1 << 25
_LOCK = threading.Lock()
_API: tuple | None = None


def _api():
    """(get_num_threads, set_num_threads) of the OpenBLAS numpy uses, or () if not found."""
    global _API
    if _API is None:
        _API = ()
        try:
            import ctypes

            with open("/proc/self/maps") as maps:
                paths = sorted({line.split()[-1] for line in maps if "openblas" in line and ".so" in line})
            for path in paths:
                lib = ctypes.CDLL(path)
                for prefix in ("scipy_openblas", "openblas"):
                    for suffix in ("64_", ""):
                        get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                        put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                        if get is not None and put is not None:
                            put.argtypes = [ctypes.c_int]
                            _API = (get, put)
                            return _API
        except Exception:  # noqa: BLE001 - no /proc, no OpenBLAS: plain matmul
            _API = ()
    return _API


def matmul(a, b, out=None, flops: int | None = None):
    """np.matmul(a, b, out=out), on one BLAS thread when the product is small."""
    if flops is None:
        flops = 2 * a.shape[-2] * a.shape[-1] * b.shape[-1] * max(1, b.size // max(1, b.shape[-2] * b.shape[-1]))
    api = _api() if flops < SMALL_FLOPS else ()
    if not api:
        return np.matmul(a, b, out=out)
    get, put = api
    with _LOCK:
        before = get()
        if before > 1:
            put(1)
        try:
            return np.matmul(a, b, out=out)
        finally:
            if before > 1:
                put(before)
