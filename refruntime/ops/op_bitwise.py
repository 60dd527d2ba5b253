"""Bitwise integer ops: BitShift, BitwiseAnd, BitwiseOr, BitwiseXor, BitwiseNot."""
import numpy as np

from refruntime.ops.base import OpRun


class BitShift_11(OpRun):
    """Shifts of `bits` or more (or negative) give the sign fill: 0, or -1 for a right shift of a
    negative signed value (the opset-28 wording; older opsets left it undefined)."""

    def prepare(self):
        direction = self.attributes.get("direction", "")
        if direction not in ("LEFT", "RIGHT"):
            self.fail(f"attribute direction must be 'LEFT' or 'RIGHT', got {direction!r}")

    def _run(self, x, y, direction=""):
        bits = x.dtype.itemsize * 8
        shift = y.astype(np.int64)
        out_of_range = (shift < 0) | (shift >= bits)
        safe = np.where(out_of_range, 0, shift).astype(x.dtype)
        if direction == "LEFT":
            result = np.left_shift(x, safe)
            fill = np.zeros((), dtype=x.dtype)
        else:
            result = np.right_shift(x, safe)
            fill = np.where(x < 0, -1, 0).astype(x.dtype) if x.dtype.kind == "i" else np.zeros((), x.dtype)
        if np.any(out_of_range):
            result = np.where(out_of_range, fill, result)
        return (np.asarray(result, dtype=x.dtype),)


class BitwiseAnd_18(OpRun):
    def _run(self, a, b):
        return (np.asarray(np.bitwise_and(a, b)),)


class BitwiseOr_18(OpRun):
    def _run(self, a, b):
        return (np.asarray(np.bitwise_or(a, b)),)


class BitwiseXor_18(OpRun):
    def _run(self, a, b):
        return (np.asarray(np.bitwise_xor(a, b)),)


class BitwiseNot_18(OpRun):
    def _run(self, x):
        return (np.asarray(np.bitwise_not(x)),)
