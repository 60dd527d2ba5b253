"""numpy's matmul with OpenBLAS's thread count chosen per product shape by timing both ways.

OpenBLAS splits a GEMM across its threads once M*N*K exceeds 2**18 (interface/gemm.c:
SMP_THRESHOLD_MIN * GEMM_MULTITHREAD_THRESHOLD). Whether the second thread pays off below some
tens of MFLOP depends on the CPU and on what else runs: on a quiet AMD EPYC (2 vCPUs) a 128x128x512
product took 103 us on two threads and 172 on one; a former session's VM measured two threads
2.5-3x *slower* at 16.8 MFLOP, and a machine whose other core is busy loses far more (a 29 MFLOP
product 2.0 ms on one thread vs 8.1 ms on two). So products from TRIAL_FLOPS up to
SMALL_FLOPS are timed both ways now and then: a shape's first TRIALS calls alternate one thread and
OpenBLAS's own count, later calls take the faster (best of TRIALS / 2 each), and the trials are
repeated every RETRY calls of that shape, as the machine's load changes. Smaller products run on one
thread: the second thread's gain there is a few us (a BERT-tiny at sequence 16: 1.01x with
OPENBLAS_THREAD_TIMEOUT=4, tools/ab_fast_paths.py blas-threads) and trials run next to another
runtime's spinning threads chose it wrongly (0.57 -> 0.78 ms in tools/bench_runtime.py). Products
OpenBLAS single-threads by itself skip the two ctypes calls (~1 us); products of SMALL_FLOPS and
more keep OpenBLAS's threads. The thread count only partitions the output: the result does not depend on it.

A cost for neighbours: after a multi-threaded call OpenBLAS's idle worker spins for ~0.1 s
(OPENBLAS_THREAD_TIMEOUT, 2**28 cycles; measured: 0.1 s of process CPU while the caller sleeps),
holding a core that another runtime in the process (onnxruntime in graphkit verify, a benchmark's
next block) then lacks: ORT ran 1.5-1.8x slower beside it. OPENBLAS_THREAD_TIMEOUT=4 in the
environment before numpy loads makes it park at once (tools/bench_runtime.py sets it); its
wake-ups then make small products slower on two threads, which the trials see.
Without a recognizable OpenBLAS (another BLAS, or its symbols not found) this is plain np.matmul.
"""
from __future__ import annotations

import threading
from time import perf_counter

import numpy as np

#: 2*M*N*K below which products stay on one thread without trials, and from which OpenBLAS keeps
#: its own thread count without trials
TRIAL_FLOPS = 1 << 23
SMALL_FLOPS = 1 << 25
#: M*N*K up to which OpenBLAS uses one thread by itself
OPENBLAS_ONE_THREAD_MNK = 1 << 18
#: timed calls per trial round (alternating one thread / OpenBLAS's count), and calls between rounds
TRIALS = 6
RETRY = 512
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
    if flops < TRIAL_FLOPS:
        return _one_thread(a, b, out)
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
