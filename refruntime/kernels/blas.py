"""numpy's matmul with OpenBLAS's thread count chosen per product shape, and B's columns in blocks
where OpenBLAS's small-matrix kernel is faster than its packed one.

Threads. OpenBLAS splits a GEMM across its threads once M*N*K exceeds 2**18 (interface/gemm.c:
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
more keep OpenBLAS's threads.

Same bits every call. The thread count usually only partitions the output, but not always: with
K = 700, OpenBLAS 0.3.31 (SkylakeX kernels) gives different last bits on one thread and on two for
8 of 72 shapes from TRIAL_FLOPS to SMALL_FLOPS. A reference must not answer differently on the
second call, so a shape is timed both ways only after one probe, on its first call, found both ways
bitwise equal on random operands of its shape and dtype; otherwise it keeps OpenBLAS's own count.

Column blocks. OpenBLAS's SkylakeX-family cores (also what AMD Zen 4 runs) multiply a product of
M*N*K <= 1e6 with a small-matrix kernel that reads B in place
(kernel/x86_64/sgemm_small_kernel_permit_skylakex.c); one element more and the packed kernel copies
B first, which for few rows costs more than the arithmetic: 16x128x480 took 18 us, 16x128x512
33 us. So a float32 product below TRIAL_FLOPS with M*N*K above 1e6 on such a core is computed as
column blocks of B, each under the limit: 1.1-1.5x at 16 rows (BERT-tiny's feed-forward), up to 4x
at 2 rows, measured on AMD EPYC (tools/ab_fast_paths.py blas-blocks). Every output element is
still one dot product over all of K, but the small kernel sums K in one sequence where the packed
kernel may split it, so the last bits can differ from one whole call; the choice depends only on
the core and the shape, so a machine gives the same bits every call. Other cores keep one call.

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
#: OpenBLAS cores (openblas_get_corename) with the small-matrix float32 kernels, and the M*N*K up to
#: which they serve a product
SMALL_KERNEL_CORES = frozenset({"skylakex", "cooperlake", "sapphirerapids"})
SMALL_KERNEL_MNK = 1_000_000
#: the narrowest column block worth a call of its own (16 columns lost to one call at 16x3072x768)
MIN_BLOCK = 32
#: product shapes remembered (blocks, thread trials) before the memos start over
MAX_SHAPES = 4096
_FLOAT32 = np.dtype(np.float32)
_LOCK = threading.Lock()
_API: tuple | None = None
_CORE = ""  # openblas_get_corename(), lower case; "" when unknown
#: (shapes, strides, dtypes of a and b) -> [calls so far, best seconds on one thread, best on OpenBLAS's count];
#: None where the probe found the two ways giving different bits
_CHOICES: dict[tuple, list | None] = {}
#: (shapes, strides, dtypes of a and b, out's rank, core) -> the column blocks (slices) of a product below
#: TRIAL_FLOPS, or None for one call on one thread
_BLOCKS: dict[tuple, tuple | None] = {}


def _api():
    """(get_num_threads, set_num_threads) of the OpenBLAS numpy uses, or () if not found."""
    global _API, _CORE
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
                            core = getattr(lib, f"{prefix}_get_corename{suffix}", None)
                            if core is not None:
                                core.restype = ctypes.c_char_p
                                _CORE = (core() or b"").decode("ascii", "replace").lower()
                            return _API
        except Exception:  # noqa: BLE001 - no /proc, no OpenBLAS: plain matmul
            _API = ()
    return _API


def matmul(a, b, out=None, flops: int | None = None):
    """np.matmul(a, b, out=out), on one BLAS thread or in column blocks where that was found faster."""
    mnk = a.shape[-2] * a.shape[-1] * b.shape[-1]
    if flops is None:
        flops = 2 * mnk * max(1, b.size // max(1, b.shape[-2] * b.shape[-1]))
    if mnk <= OPENBLAS_ONE_THREAD_MNK or flops >= SMALL_FLOPS or not _api():
        return np.matmul(a, b, out=out)
    if flops < TRIAL_FLOPS:
        if mnk <= SMALL_KERNEL_MNK and _small_kernel_core(a, b):
            return np.matmul(a, b, out=out)  # the small kernel runs on one thread whatever the count
        key = (a.shape, b.shape, a.strides, b.strides, a.dtype, b.dtype, out is None or out.ndim, _CORE)
        blocks = _BLOCKS.get(key, False)
        if blocks is False:
            if len(_BLOCKS) >= MAX_SHAPES:  # a server's ever new sequence lengths: start over
                _BLOCKS.clear()
            width = column_block(a, b, out)
            blocks = _BLOCKS[key] = tuple(slice(j, j + width) for j in range(0, b.shape[-1], width)) if width else None
        return _column_blocks(a, b, out, blocks) if blocks else _one_thread(a, b, out)
    key = (a.shape, b.shape, a.strides, b.strides, a.dtype, b.dtype)
    choice = _CHOICES.get(key, False)
    if choice is False:
        if len(_CHOICES) >= MAX_SHAPES:
            _CHOICES.clear()
        choice = _CHOICES[key] = [0, float("inf"), float("inf")] if _same_bits_both_ways(a, b) else None
    if choice is None:
        return np.matmul(a, b, out=out)
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


def _small_kernel_core(a, b) -> bool:
    """Whether OpenBLAS's small-matrix kernel serves float32 a @ b of M*N*K <= SMALL_KERNEL_MNK on
    this core: a SkylakeX-family core and a row-major B (a transposed B is its TN kernel, permitted
    for tiny outputs only). It ignores the thread count: same bits, same time (16x128x384: 14.8 us
    on one thread and on two; switching to one costs ~1.1 us of ctypes calls)."""
    return (_CORE in SMALL_KERNEL_CORES and a.dtype is _FLOAT32 and b.dtype is _FLOAT32
            and b.strides[-1] == 4)


def column_block(a, b, out=None) -> int:
    """Columns of B per call when a float32 product is faster in column blocks (see the module's
    docstring), else 0. Only row-major operands qualify: a transposed B takes OpenBLAS's TN small
    kernel, which it permits for tiny outputs only."""
    m, k = a.shape[-2], a.shape[-1]
    if (m * k * b.shape[-1] <= SMALL_KERNEL_MNK or m < 2 or m * k * MIN_BLOCK > SMALL_KERNEL_MNK
            or a.ndim != 2 or b.ndim != 2 or (out is not None and out.ndim != 2) or a.strides[1] != 4
            or not _api() or not _small_kernel_core(a, b)):
        return 0
    width = MIN_BLOCK
    while m * k * width * 2 <= SMALL_KERNEL_MNK:
        width *= 2
    return width


def _column_blocks(a, b, out, blocks: tuple):
    """a @ b as np.matmul calls on column blocks of B (slices), written into out's columns. The
    small kernel runs on one thread whatever OpenBLAS's count, so no thread switch is needed."""
    if out is None:
        out = np.empty((a.shape[0], b.shape[1]), _FLOAT32)
    for columns in blocks:
        np.matmul(a, b[:, columns], out=out[:, columns])
    return out


def _same_bits_both_ways(a, b) -> bool:
    """Whether one thread and OpenBLAS's own count give the same bits for products of this shape and
    dtype, probed once on random operands (whether the sums split differently depends on the shape,
    not on the values)."""
    rng = np.random.default_rng(0)
    x, y = np.empty_like(a), np.empty_like(b)  # same memory order, as the kernel can depend on it
    x[...] = rng.standard_normal(a.shape)
    y[...] = rng.standard_normal(b.shape)
    return bool(np.array_equal(_one_thread(x, y, None), np.matmul(x, y)))


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
