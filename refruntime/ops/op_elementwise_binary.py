"""Elementwise binary arithmetic with numpy (multidirectional) broadcasting: Add, Sub, Mul, Div,
Pow, Mod. Results keep the dtype of the first input (numpy would promote e.g. int32/float
exponent pairs or float16 pairs computed through float32)."""
import numpy as np

from refruntime.ops._common import fp_ignored
from refruntime.ops.base import OpRun


def _keep(result, like: np.ndarray) -> tuple:
    result = np.asarray(result)
    return (result if result.dtype == like.dtype else result.astype(like.dtype),)


def _int_div_trunc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """C-style integer division (truncates toward zero), as onnxruntime computes it."""
    with fp_ignored(divide="ignore", invalid="ignore"):
        q = np.floor_divide(a, b)
        r = np.remainder(a, b)
    if a.dtype.kind == "u":
        return q
    fix = (r != 0) & ((a < 0) ^ (b < 0))
    return q + fix.astype(q.dtype)


_FLOAT32 = np.dtype(np.float32)


# float32 with float32, not both 0-d (nearly every call in a float model): numpy's result is a
# float32 array already, so _keep's conversions are skipped (~0.4 us a call); two 0-d operands
# give a numpy scalar, which _keep makes an array
class Add_7(OpRun):
    def _run(self, a, b):
        if a.dtype is _FLOAT32 and b.dtype is _FLOAT32 and (a.ndim or b.ndim):
            return (np.add(a, b),)
        return _keep(np.add(a, b), a)


class Sub_7(OpRun):
    def _run(self, a, b):
        if a.dtype is _FLOAT32 and b.dtype is _FLOAT32 and (a.ndim or b.ndim):
            return (np.subtract(a, b),)
        return _keep(np.subtract(a, b), a)


class Mul_7(OpRun):
    def _run(self, a, b):
        if a.dtype is _FLOAT32 and b.dtype is _FLOAT32 and (a.ndim or b.ndim):
            return (np.multiply(a, b),)
        if a.dtype == np.bool_:
            return _keep(np.logical_and(a, b), a)
        return _keep(np.multiply(a, b), a)


class Div_7(OpRun):
    def _run(self, a, b):
        if a.dtype is _FLOAT32 and b.dtype is _FLOAT32 and (a.ndim or b.ndim):
            return (np.divide(a, b),)
        if a.dtype.kind in "iu":
            return _keep(_int_div_trunc(a, b), a)
        return _keep(np.divide(a, b), a)


class Pow_7(OpRun):
    """Pow (the exponent may have another type since opset 12); the result has the base's type."""

    def _run(self, x, y):
        if x.dtype.kind in "iu" and y.dtype.kind in "iu":
            # integer power in the base type; numpy refuses negative integer exponents
            y = y.astype(np.int64)
            if np.any(y < 0):
                result = np.power(x.astype(np.float64), y)
            else:
                result = np.power(x.astype(np.int64), y)
            return _keep(result, x)
        if y.size == 1 and x.dtype in _SMALL_POWERS_DTYPES:
            fast = _small_power(x, float(y.reshape(-1)[0]))
            if fast is not None:
                return (fast,)
        with fp_ignored(all="ignore"):
            return _keep(np.power(x, y), x)  # mixed types: numpy's promotion, then the base type


_SMALL_POWERS_DTYPES = (np.dtype(np.float32), np.dtype(np.float16))


def _small_power(x: np.ndarray, e: float) -> np.ndarray | None:
    """x ** e for the exponents exporters write (GELU's x**3, variance's x**2, sqrt) without libm's
    powf (~30 ns an element): products in float64, rounded once to x's type. x*x is exact in
    float64, so x**2 is correctly rounded; x**3 rounds twice (float64, then float32), which can
    differ from the correctly rounded value only on a tie of the second rounding (about 2**-29
    of inputs). (Not sqrt for 0.5: pow(-0, 0.5) is +0 and pow(-inf, 0.5) is +inf in IEEE.)"""
    if x.dtype == np.float32 and e in (2.0, 3.0):  # one numba pass, the same float64 products
        from refruntime.kernels.powers import float32_power

        flat = np.ascontiguousarray(x).reshape(-1)
        y = np.empty(flat.size, np.float32)
        float32_power(flat, y, e == 3.0)
        return y.reshape(x.shape)
    with fp_ignored(all="ignore"):
        if e == 2.0:
            w = x.astype(np.float64)
            return (w * w).astype(x.dtype)
        if e == 3.0:
            w = x.astype(np.float64)
            return (w * w * w).astype(x.dtype)
        if e == 1.0:
            return x.copy()
    return None


class Mod_10(OpRun):
    def _run(self, a, b, fmod=0):
        if fmod == 1:
            return _keep(np.fmod(a, b), a)
        if a.dtype.kind == "f" or a.dtype.kind == "V":
            return _keep(np.mod(a, b), a)
        with fp_ignored(divide="ignore", invalid="ignore"):
            return _keep(np.mod(a, b), a)

    def prepare(self):
        fmod = self.attributes.get("fmod", 0)
        if fmod not in (0, 1):
            self.fail(f"attribute fmod must be 0 or 1, got {fmod}")
