"""com.microsoft BiasAdd (onnxruntime docs/ContribOperators.md, "com.microsoft.BiasAdd", version 1):
a bias and a residual added to the output of a projection (Stable Diffusion's UNet)

    Y = X + bias + skip        X and skip (N, S, C), bias (C,)

Precision: the sum in float64, rounded once. onnxruntime has only a CUDA kernel (float16/float32),
which also requires C in a fixed set of channel counts; refruntime takes any C.
"""
import numpy as np

from refruntime.ops.base import OpRun
from refruntime.ops.com_microsoft._common import check_node
from refruntime.ops.com_microsoft.op_gelu import with_bias


class BiasAdd(OpRun):
    def prepare(self):
        check_node(self, inputs=(3, 3), required_inputs=(0, 1, 2))

    def check_constants(self, constants):
        bias = constants.get(1)
        if bias is not None and (bias.ndim != 1):
            self.refuse(f"must be 1-D (the input's last dimension), got shape {list(bias.shape)}", 1)

    def _run(self, x, bias, skip):
        if x.ndim != 3:
            self.fail(f"X must be 3-D (N, S, C), got shape {list(x.shape)}")
        if skip.shape != x.shape or skip.dtype != x.dtype:
            self.fail(f"skip must have X's shape {list(x.shape)} and type {x.dtype}, got {skip.dtype} "
                      f"{list(skip.shape)}")
        return ((with_bias(self, x, bias) + skip.astype(np.float64)).astype(x.dtype),)
