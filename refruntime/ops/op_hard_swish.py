import numpy as np

from refruntime.kernels.floats import elementwise
from refruntime.ops.base import OpRun


class HardSwish(OpRun):
    """y = x * max(0, min(1, x / 6 + 0.5))"""

    def _run(self, x):
        def f(v):
            gate = v * v.dtype.type(1 / 6)
            gate += v.dtype.type(0.5)
            np.clip(gate, 0, 1, out=gate)
            return v * gate

        return (elementwise(x, f),)
