import numpy as np

from refruntime.kernels.floats import elementwise
from refruntime.ops.base import OpRun


class Elu(OpRun):
    """y = x for x > 0, alpha * (exp(x) - 1) otherwise."""

    def _run(self, x, alpha=1.0, consumed_inputs=None):
        return (elementwise(x, lambda v: np.where(v > 0, v, v.dtype.type(alpha) * np.expm1(np.minimum(v, 0)))),)
