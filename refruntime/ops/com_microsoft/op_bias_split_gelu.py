"""com.microsoft BiasSplitGelu (onnxruntime docs/ContribOperators.md, "com.microsoft.BiasSplitGelu",
version 1): Stable Diffusion's GEGLU

    h = X + bias               X (N, S, D), bias (D,), D even
    Y = h[..., :D/2] * Gelu(h[..., D/2:])      (N, S, D/2), Gelu the exact (erf) form

Precision: float64, rounded once. onnxruntime has only a CUDA kernel, limited to some D;
refruntime takes any even D.
"""
from refruntime.ops.base import OpRun
from refruntime.ops.com_microsoft._common import check_node
from refruntime.ops.com_microsoft.op_gelu import erf_gelu, with_bias


class BiasSplitGelu(OpRun):
    def prepare(self):
        check_node(self, inputs=(2, 2), required_inputs=(0, 1))

    def check_constants(self, constants):
        bias = constants.get(1)
        if bias is not None and (bias.ndim != 1 or bias.shape[0] % 2):
            self.refuse(f"must be 1-D of even length (D,), got shape {list(bias.shape)}", 1)

    def _run(self, x, bias):
        if x.ndim != 3 or x.shape[2] % 2:
            self.fail(f"X must be 3-D (N, S, D) with D even, got shape {list(x.shape)}")
        h = with_bias(self, x, bias)
        half = x.shape[2] // 2
        return ((h[..., :half] * erf_gelu(h[..., half:])).astype(x.dtype),)
