"""Gelu (opset 20), from the operator spec:

    approximate="none":  y = 0.5 * x * (1 + erf(x / sqrt(2)))
    approximate="tanh":  y = 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))

computed through exact identities that avoid the cancellation of `1 + erf` and `1 + tanh` for
negative x (where the spec's literal formula loses every digit in float32 below x ~ -4):

    1 + erf(z) = erfc(-z)          1 + tanh(u) = 2 / (1 + exp(-2u))

Precision: float32 for float16/bfloat16 (float64 for float64), y rounded once to x's type.
Gelu has a function body (Erf/Tanh ops); onnx.reference cannot load it without input types,
so before this kernel a torch.export at opset >= 20 failed in refruntime.
"""
import math

import numpy as np

from refruntime.kernels.floats import as_compute, compute_dtype
from refruntime.ops._common import fp_ignored
from refruntime.ops.base import OpRun


class Gelu_20(OpRun):
    def prepare(self):
        approximate = self.attributes.get("approximate", "none")
        if approximate not in ("none", "tanh"):
            self.refuse(f"approximate must be 'none' or 'tanh', got {approximate!r}")

    def _run(self, x, approximate="none"):
        dtype = compute_dtype(x.dtype)
        work = as_compute(x, dtype)
        with fp_ignored():
            if approximate == "tanh":
                u = work * work
                u *= dtype.type(0.044715)
                u += dtype.type(1)
                u *= work
                u *= dtype.type(-2 * math.sqrt(2 / math.pi))  # -2u
                np.exp(u, out=u)
                u += dtype.type(1)
                y = np.divide(work, u, out=u)
            else:
                from scipy.special import erfc

                y = erfc(work * dtype.type(-1 / math.sqrt(2)))
                y *= work
                y *= dtype.type(0.5)
        y = np.asarray(y)
        return (y if y.dtype == x.dtype else y.astype(x.dtype),)
