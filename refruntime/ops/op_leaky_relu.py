import numpy as np

from refruntime.kernels.floats import elementwise
from refruntime.ops.base import OpRun


class LeakyRelu(OpRun):
    def _run(self, x, alpha=0.01, consumed_inputs=None):
        return (elementwise(x, lambda v: np.where(v >= 0, v, v * v.dtype.type(alpha))),)
