"""Mish (opsets 18 and 22: 22 adds bfloat16), from the operator spec:
y = x * tanh(softplus(x)), softplus(x) = ln(1 + e^x) computed without overflow (logaddexp).
float16/bfloat16 compute in float32."""
import numpy as np

from refruntime.kernels.floats import elementwise
from refruntime.ops.base import OpRun


class Mish_18(OpRun):
    def _run(self, x):
        return (elementwise(x, lambda v: v * np.tanh(np.logaddexp(v.dtype.type(0), v))),)
