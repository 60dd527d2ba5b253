"""com.microsoft FastGelu (onnxruntime docs/ContribOperators.md, "com.microsoft.FastGelu", version 1):
the tanh approximation of Gelu, with an optional bias over the last axis

    x = X (+ bias)
    Y = 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))

The doc writes the constants rounded (0.797885, 0.035677 = 0.797885 * 0.044715); refruntime uses
sqrt(2 / pi) exactly, as onnxruntime's kernel does. Precision: float64, rounded once
(onnxruntime: float32). `tanh_gelu` is shared with GemmFastGelu.
"""
import numpy as np

from refruntime.ops.base import OpRun
from refruntime.ops.com_microsoft._common import check_node
from refruntime.ops.com_microsoft.op_gelu import with_bias


def tanh_gelu(x: np.ndarray) -> np.ndarray:
    """0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))) of a float64 array."""
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x * x * x)))


class FastGelu(OpRun):
    def prepare(self):
        check_node(self, inputs=(1, 2))

    def check_constants(self, constants):
        bias = constants.get(1)
        if bias is not None and (bias.ndim != 1):
            self.refuse(f"must be 1-D (the input's last dimension), got shape {list(bias.shape)}", 1)

    def _run(self, x, bias=None):
        return (tanh_gelu(with_bias(self, x, bias)).astype(x.dtype),)
