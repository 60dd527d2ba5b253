"""Boolean logic with broadcasting: Not, And, Or, Xor."""
import numpy as np

from refruntime.ops.base import OpRun


class Not(OpRun):
    def _run(self, x):
        return (np.asarray(np.logical_not(x)),)


class And_7(OpRun):
    def _run(self, a, b):
        return (np.asarray(np.logical_and(a, b)),)


class Or_7(OpRun):
    def _run(self, a, b):
        return (np.asarray(np.logical_or(a, b)),)


class Xor_7(OpRun):
    def _run(self, a, b):
        return (np.asarray(np.logical_xor(a, b)),)
