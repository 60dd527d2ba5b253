"""Variadic elementwise ops with broadcasting: Sum, Mean, Max, Min (opset 6 required equal shapes,
which broadcasting also covers). Results keep the first input's dtype."""
import functools

import numpy as np

from refruntime.ops.base import OpRun


def _fold(fn, inputs) -> np.ndarray:
    first = inputs[0]
    result = functools.reduce(fn, inputs[1:], first)
    # a copy for one input (the result must not alias it); NumPy 2 refuses copy=False for the
    # numpy scalars a reduction of 0-d arrays returns, hence asarray for the others
    result = np.array(result) if len(inputs) == 1 else np.asarray(result)
    return result if result.dtype == first.dtype else result.astype(first.dtype)


class Sum_6(OpRun):
    def _run(self, *inputs):
        return (_fold(np.add, inputs),)


class Mean_6(OpRun):
    def _run(self, *inputs):
        total = _fold(np.add, inputs)
        return (np.asarray(total / np.array(len(inputs), dtype=total.dtype)).astype(total.dtype),)


class Max_6(OpRun):
    def _run(self, *inputs):
        return (_fold(np.maximum, inputs),)


class Min_6(OpRun):
    def _run(self, *inputs):
        return (_fold(np.minimum, inputs),)
