import numpy as np

from refruntime.kernels.floats import elementwise
from refruntime.ops.base import OpRun


class Softplus(OpRun):
    """y = ln(exp(x) + 1), computed without overflow as logaddexp(0, x)."""

    def _run(self, x):
        return (elementwise(x, lambda v: np.logaddexp(v.dtype.type(0), v)),)
