"""Elementwise comparisons with broadcasting: Equal, Less, LessOrEqual, Greater, GreaterOrEqual.
The output is bool."""
import numpy as np

from refruntime.ops.base import OpRun


class Equal_7(OpRun):
    def _run(self, a, b):
        return (np.asarray(np.equal(a, b)),)


class Less_7(OpRun):
    def _run(self, a, b):
        return (np.asarray(np.less(a, b)),)


class LessOrEqual_12(OpRun):
    def _run(self, a, b):
        return (np.asarray(np.less_equal(a, b)),)


class Greater_7(OpRun):
    def _run(self, a, b):
        return (np.asarray(np.greater(a, b)),)


class GreaterOrEqual_12(OpRun):
    def _run(self, a, b):
        return (np.asarray(np.greater_equal(a, b)),)
