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


class Add_7(OpRun):
    def _run(self, a, b):
        return _keep(np.add(a, b), a)


class Sub_7(OpRun):
    def _run(self, a, b):
        return _keep(np.subtract(a, b), a)


class Mul_7(OpRun):
    def _run(self, a, b):
        if a.dtype == np.bool_:
            return _keep(np.logical_and(a, b), a)
        return _keep(np.multiply(a, b), a)


class Div_7(OpRun):
    def _run(self, a, b):
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
        with fp_ignored(all="ignore"):
            return _keep(np.power(x, y), x)  # mixed types: numpy's promotion, then the base type


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
