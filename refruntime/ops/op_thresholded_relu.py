"""ThresholdedRelu (opsets 10 and 22: 22 adds bfloat16): y = x where x > alpha, 0 otherwise.
alpha is compared in the compute type (float32 for float16/bfloat16, as onnxruntime does)."""
import numpy as np

from refruntime.kernels.floats import elementwise
from refruntime.ops.base import OpRun


class ThresholdedRelu_10(OpRun):
    def _run(self, x, alpha=1.0):
        return (elementwise(x, lambda v: np.where(v > v.dtype.type(alpha), v, v.dtype.type(0))),)
