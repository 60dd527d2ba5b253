"""com.microsoft QuickGelu (onnxruntime docs/ContribOperators.md, "com.microsoft.QuickGelu", version 1):

    Y = X * Sigmoid(alpha * X),   alpha = 1.702 by default

Precision: float64, rounded once (onnxruntime: float32, MLAS logistic).
"""
import numpy as np

from refruntime.ops.base import OpRun
from refruntime.ops.com_microsoft._common import FLOAT, check_node
from refruntime.ops.com_microsoft.op_gelu import with_bias


class QuickGelu(OpRun):
    def prepare(self):
        check_node(self, inputs=(1, 1), attributes={"alpha": FLOAT})
        if not np.isfinite(self.attributes.get("alpha", 1.702)):
            self.refuse(f"alpha must be finite, got {self.attributes['alpha']}")

    def _run(self, x, alpha=1.702):
        from scipy.special import expit

        v = with_bias(self, x, None)
        return ((v * expit(alpha * v)).astype(x.dtype),)
