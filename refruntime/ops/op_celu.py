"""Celu (opsets 12 and 28: 28 adds bfloat16), from the operator spec:
y = max(0, x) + min(0, alpha * (exp(x / alpha) - 1)). float16/bfloat16 compute in float32."""
import numpy as np

from refruntime.kernels.floats import elementwise
from refruntime.ops.base import OpRun


class Celu_12(OpRun):
    def prepare(self):
        if self.attributes.get("alpha", 1.0) == 0:
            self.refuse("alpha must be non-zero (the formula divides by it), got 0")

    def _run(self, x, alpha=1.0):
        def celu(v):
            a = v.dtype.type(alpha)
            return np.maximum(v, 0) + np.minimum(0, a * np.expm1(v / a))

        return (elementwise(x, celu),)
