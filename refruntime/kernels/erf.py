"""erf for float32 (and narrower) tensors: one vectorized polynomial in float64, and math.erf for
the few elements whose float32 result it cannot decide.

scipy.special.erf costs ~17 ns per element here, more than the GEMMs around it in a BERT's GELU
(x * 0.5 * (1 + erf(x / sqrt 2))). This loop costs ~1.5 (AMD EPYC, AVX-512; ~2 with 256-bit
vectors). For |x| < LIMIT = 4 it evaluates erf(x) = x * P(|x| - 2) in float64, P of degree DEGREE
interpolating erf(x)/x at Chebyshev points of [0, 4] (fitted once at import): the same polynomial
for every element, with no branch and no table lookup, so LLVM vectorizes the loop (the former
32-piece table could not be: its per-element coefficient lookup is a gather, and it ran scalar at
~4 ns). The factor x keeps tiny and subnormal inputs at full relative accuracy and the sign of -0.0.
For |x| >= 4 the result is +-1 (erf(4) = 1 - 1.5e-8 rounds to 1 in float32).

Exactness: P's relative error is below 3e-12 for every float32 in [0, 4] (checked exhaustively
against math.erf), a fifth of RELATIVE_BOUND. When r * (1 - bound) and r * (1 + bound) round to the
same float32, so does math.erf(x), which lies between them; when they do not (about one element in
3,000, and NaN) the loop stores math.erf(x) instead. So every float32 result is
np.float32(math.erf(x)), the float64 erf rounded once, as the reference requires: for every input,
not only for likely ones (all 2**32 float32 values were checked; tests/refruntime/test_fast_paths.py
checks two million and the ones where P alone rounds the other way). The argument needs only the
bound, so the fit's last bits (which may differ with the BLAS numpy uses) change no result.
float16 and bfloat16 inputs get that float64 value (or math.erf's) rounded to their type. It matches
math.erf's rounded the same way: it rounds to the same float32, and no erf of a float16 value lies
within 1.5e-8 (relative) of a float16 rounding boundary (ml_dtypes rounds float64 to bfloat16 through
float32). The tests check all 65,536 values of each.
float64 inputs keep scipy's erf: the float64 oracle needs float64 accuracy, not this fit's.
"""
from __future__ import annotations

import math

import numba
import numpy as np

LIMIT = 4.0
DEGREE = 24  # _erf_approx spells out the evaluation for this degree
# 2**-36 = 1.5e-11. Larger sends more elements to math.erf (about bound * 2**25 of those with results
# near 1); smaller needs a higher degree (degree 26 and 2**-39: ~3% slower).
RELATIVE_BOUND = 2.0 ** -36
# Elements per block: a block's elements go back to math.erf only when the check failed in it, so
# the rescan for them stays short and in cache.
BLOCK = 256


def _fit() -> np.ndarray:
    """P's monomial coefficients in t = |x| - LIMIT / 2, degree 0 first: the Chebyshev interpolant of
    erf(x)/x on [0, LIMIT] (first-kind points, all inside, so x is never 0)."""
    half = LIMIT / 2

    def erf_over_x(u):
        return np.array([math.erf(half * (1 + v)) / (half * (1 + v)) for v in u])

    chebyshev = np.polynomial.chebyshev.chebinterpolate(erf_over_x, DEGREE)
    return np.polynomial.chebyshev.cheb2poly(chebyshev) / half ** np.arange(DEGREE + 1)


COEFFICIENTS = _fit()


# contract: each Horner step is one fused multiply-add (one rounding instead of two, so no less
# accurate, and half the instructions). No other fast-math flag: NaN and signed zeros must survive.
@numba.njit(cache=True, fastmath={"contract"})
def _erf_approx(v, c):
    """x * P(|x| - 2) in float64 (relative error < 3e-12), +-1 from |x| >= LIMIT, NaN for NaN."""
    a = abs(v)
    t = a - LIMIT / 2
    # P as three Horner chains (degrees 18-24, 9-17, 0-8) joined by Horner in t**9. One chain of 24
    # dependent multiply-adds is bound by their latency where a vector holds 4 float64 (AVX2; also
    # Intel's AVX-512, where LLVM prefers 256-bit vectors): ~2.9 ns per element there, ~2.0 as three.
    # Written out because as loops LLVM unrolls them (and so vectorizes the caller) only while its
    # unroll threshold allows (one loop of 24 steps: yes; of 28: no, and the caller runs scalar, ~13 ns).
    t4 = (t * t) * (t * t)
    t9 = t4 * t4 * t
    high = c[24] * t + c[23]
    high = high * t + c[22]
    high = high * t + c[21]
    high = high * t + c[20]
    high = high * t + c[19]
    high = high * t + c[18]
    middle = c[17] * t + c[16]
    middle = middle * t + c[15]
    middle = middle * t + c[14]
    middle = middle * t + c[13]
    middle = middle * t + c[12]
    middle = middle * t + c[11]
    middle = middle * t + c[10]
    middle = middle * t + c[9]
    low = c[8] * t + c[7]
    low = low * t + c[6]
    low = low * t + c[5]
    low = low * t + c[4]
    low = low * t + c[3]
    low = low * t + c[2]
    low = low * t + c[1]
    low = low * t + c[0]
    p = (high * t9 + middle) * t9 + low
    return math.copysign(1.0, v) if a >= LIMIT else v * p


@numba.njit(cache=True, fastmath={"contract"})
def _erf_loop(x, out, c):
    """out = erf(x) for float32 x; `c` is COEFFICIENTS. Each block is sliced rather than indexed
    from its start: with x[start + i], LLVM cannot prove the indices consecutive and gathers."""
    for start in range(0, x.size, BLOCK):
        xs = x[start:start + BLOCK]
        outs = out[start:start + BLOCK]
        unsure = 0
        for i in range(xs.size):
            v = np.float64(xs[i])
            r = _erf_approx(v, c)
            sure = np.float32(r * (1 - RELATIVE_BOUND)) == np.float32(r * (1 + RELATIVE_BOUND))
            outs[i] = r if sure else np.nan  # NaN marks the element for math.erf (and NaN fails the check)
            unsure += 0 if sure else 1
        if unsure:
            for i in range(xs.size):
                if outs[i] != outs[i]:
                    outs[i] = math.erf(np.float64(xs[i]))


@numba.njit(cache=True, fastmath={"contract"})
def erf_candidate(x):
    """erf of one float32 as a float32 when the polynomial decides its rounding, else NaN (about one
    element in 3,000, and NaN inputs): the vectorizable half of `erf_float32`, for numba loops that
    fuse Erf with other elementwise ops (refruntime/fused_elementwise.py), which recompute the
    elements left NaN with `erf_float32`, as `_erf_loop` does with math.erf."""
    r = _erf_approx(np.float64(x), COEFFICIENTS)
    hi = np.float32(r * (1 + RELATIVE_BOUND))
    return hi if np.float32(r * (1 - RELATIVE_BOUND)) == hi else np.float32(np.nan)


@numba.njit(cache=True, fastmath={"contract"})
def erf_float32(x):
    """erf of one float32 as a float32, bitwise what `erf` gives (both are np.float32(math.erf(x))).
    Its math.erf call keeps a loop scalar (~6.7 ns per element, against ~1.5 for `erf`): loops call
    `erf_candidate` first and this only for what it leaves undecided."""
    v = np.float64(x)
    r = _erf_approx(v, COEFFICIENTS)
    hi = np.float32(r * (1 + RELATIVE_BOUND))
    if np.float32(r * (1 - RELATIVE_BOUND)) == hi:
        return hi
    return np.float32(math.erf(v))


def erf(x: np.ndarray) -> np.ndarray:
    """erf elementwise in x's dtype (float16/bfloat16/float32 through this kernel, float64 through
    scipy)."""
    if x.dtype == np.float64:
        from scipy.special import erf as erf64

        return erf64(x)
    flat = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    if x.dtype == np.float32:  # the loop rounds each float64 result to float32 as it stores it
        out = np.empty(flat.size, np.float32)
        _erf_loop(flat, out, COEFFICIENTS)
        return out.reshape(x.shape)
    out = np.empty(flat.size, np.float64)  # narrower floats: rounded once, from float64
    _erf_loop(flat, out, COEFFICIENTS)
    return out.reshape(x.shape).astype(x.dtype)
