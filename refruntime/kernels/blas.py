"""numpy's matmul with OpenBLAS's thread count chosen per product shape by measuring both.

Why: OpenBLAS splits a GEMM across its threads once M*N*K exceeds 2**18 (interface/gemm.c:
SMP_THRESHOLD_MIN * GEMM_MULTITHREAD_THRESHOLD = 65536 * 4). On a quiet machine the second thread
pays off from there on (measured here, AMD EPYC 2 vCPUs: 16x128x512 25 us on two threads vs 33
on one; 128x128x512 103 vs 172). On a machine whose other core is busy it costs far more than it
gives (measured on a loaded machine: a 29 MFLOP product 2.0 ms on one thread vs 8.1 ms on two;
the 0.4 MFLOP classifier of SimpleCNN 0.2 ms vs 2.9 ms). Which case holds changes while a
process runs, so a product between those sizes is timed both ways now and then: its first
TRIALS calls alternate one thread and OpenBLAS's own count, later calls take the faster one, and
the trials are repeated every RETRY calls of that shape. Setting the thread count costs ~1 us of
ctypes calls, so products OpenBLAS runs on one thread anyway (M*N*K <= 2**18) go straight to
np.matmul, and big products (2*M*N*K >= SMALL_FLOPS) keep OpenBLAS's threads. The thread count
only partitions the output, so the result does not depend on the choice. Without a recognizable
OpenBLAS (another BLAS, or its symbols not found) this is plain np.matmul.
"""
from __future__ import annotations

import threading
from time import perf_counter

import numpy as np

#: 2*M*N*K from which OpenBLAS keeps its own thread count without trials
SMALL_FLOPS = 1 << 25
#: M*N*K up to which OpenBLAS uses one thread by itself
OPENBLAS_ONE_THREAD_MNK = 1 << 18
#: timed calls per trial round (alternating one thread / OpenBLAS's count), and calls between rounds
TRIALS = 4
RETRY = 256
_LOCK = threading.Lock()
_API: tuple | None = None
#: (a.shape, b.shape) -> [calls so far, best seconds on one thread, best on OpenBLAS's count]
_CHOICES: dict[tuple, list] = {}


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
    """np.matmul(a, b, out=out), on one BLAS thread when that was measured faster for this shape."""
    mnk = a.shape[-2] * a.shape[-1] * b.shape[-1]
    if flops is None:
        flops = 2 * mnk * max(1, b.size // max(1, b.shape[-2] * b.shape[-1]))
    if mnk <= OPENBLAS_ONE_THREAD_MNK or flops >= SMALL_FLOPS or not _api():
        return np.matmul(a, b, out=out)
    key = (a.shape, b.shape)
    choice = _CHOICES.get(key)
    if choice is None:
        choice = _CHOICES[key] = [0, float("inf"), float("inf")]
    calls = choice[0]
    choice[0] = calls + 1
    trial = calls % RETRY
    if trial >= TRIALS:
        return _one_thread(a, b, out) if choice[1] <= choice[2] else np.matmul(a, b, out=out)
    one = trial % 2 == 0
    start = perf_counter()
    y = _one_thread(a, b, out) if one else np.matmul(a, b, out=out)
    seconds = perf_counter() - start
    slot = 1 if one else 2
    choice[slot] = seconds if trial < 2 else min(choice[slot], seconds)  # a new round forgets the old
    return y


def _one_thread(a, b, out):
    get, put = _api()
    with _LOCK:
        before = get()
        if before > 1:
            put(1)
        try:
            return np.matmul(a, b, out=out)
        finally:
            if before > 1:
                put(before)
