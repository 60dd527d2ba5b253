"""numpy's matmul with OpenBLAS limited to one thread for small products (plain Python, no numba).

Why one thread: after a multi-threaded call OpenBLAS's idle workers spin for ~0.1 s (its
THREAD_TIMEOUT, 2**28 cycles; measured: 0.1 s of process CPU while the caller sleeps) before they
sleep, holding a core. On this 2-core machine that
billed onnxruntime in the same process (graphkit verify, the benchmark's alternating blocks):
tools/bench_runtime.py measured ORT 1.5-1.8x slower (BERT-tiny s16 0.32 vs 0.18 ms) while
refruntime's BLAS used two threads, and refruntime itself was slower at sequence 128 (2.78 vs 2.23
ms: ORT's own spinning threads then bill its second thread). A lone refruntime on a quiet machine
gains 1.1-1.2x on BERT-tiny from the second thread (a 16x128x512 product: 25 vs 33 us); on a
machine whose other core is busy it loses far more (a 29 MFLOP product 2.0 ms on one thread vs 8.1 ms on two).
So products below SMALL_FLOPS run on one thread, the thread count restored right after; products
OpenBLAS runs on one thread by itself (M*N*K <= 2**18: interface/gemm.c, SMP_THRESHOLD_MIN *
GEMM_MULTITHREAD_THRESHOLD) skip the two ctypes calls (~1 us). Without a recognizable OpenBLAS
(another BLAS, or its symbols not found) this is plain np.matmul.
"""
from __future__ import annotations

import threading

import numpy as np

#: 2*M*N*K from which OpenBLAS keeps its own thread count
SMALL_FLOPS = 1 << 25
#: M*N*K up to which OpenBLAS uses one thread by itself
OPENBLAS_ONE_THREAD_MNK = 1 << 18
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
    mnk = a.shape[-2] * a.shape[-1] * b.shape[-1]
    if flops is None:
        flops = 2 * mnk * max(1, b.size // max(1, b.shape[-2] * b.shape[-1]))
    if mnk <= OPENBLAS_ONE_THREAD_MNK or flops >= SMALL_FLOPS:
        return np.matmul(a, b, out=out)
    api = _api()
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
