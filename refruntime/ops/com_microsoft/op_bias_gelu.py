"""com.microsoft BiasGelu (onnxruntime docs/ContribOperators.md, "com.microsoft.BiasGelu", version 1):
Gelu of a sum with a bias over the last axis

    C = Gelu(A + B) = 0.5 * (A + B) * (1 + erf((A + B) / sqrt(2))),   B 1-D of A's last dimension

Precision: the sum and the Gelu in float64, rounded once (onnxruntime: float32, MLAS erf; it has
no float64 kernel).
"""
from refruntime.ops.base import OpRun
from refruntime.ops.com_microsoft._common import check_node
from refruntime.ops.com_microsoft.op_gelu import erf_gelu, with_bias


class BiasGelu(OpRun):
    def prepare(self):
        check_node(self, inputs=(2, 2), required_inputs=(0, 1))

    def check_constants(self, constants):
        bias = constants.get(1)
        if bias is not None and (bias.ndim != 1):
            self.refuse(f"must be 1-D (the input's last dimension), got shape {list(bias.shape)}", 1)

    def _run(self, a, b):
        return (erf_gelu(with_bias(self, a, b, "B")).astype(a.dtype),)
