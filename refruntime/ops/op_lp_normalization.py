"""LpNormalization (opsets 1 and 22: 22 adds bfloat16), from the operator spec: x divided by its
L1 (p=1) or L2 (p=2) norm along `axis`.

Where the norm is zero (every element along the axis is zero) the output is zero: opset 22
writes this down, opset 1 does not, and onnxruntime gives zero there for both, so we do too.
float16/bfloat16 compute in float32 and are rounded once.
"""
import numpy as np

from refruntime.kernels.floats import elementwise
from refruntime.ops._common import fp_ignored, normalize_axis
from refruntime.ops.base import OpRun


class LpNormalization(OpRun):
    def prepare(self):
        p = self.attributes.get("p", 2)
        if p not in (1, 2):
            self.refuse(f"p must be 1 or 2, got {p}")

    def _run(self, x, axis=-1, p=2):
        ax = normalize_axis(self, axis, x.ndim)

        def normalize(v):
            if p == 1:
                norm = np.abs(v).sum(axis=ax, keepdims=True)
            else:
                norm = np.sqrt(np.square(v).sum(axis=ax, keepdims=True))
            with fp_ignored():
                return np.where(norm == 0, v.dtype.type(0), v / norm)

        return (elementwise(x, normalize),)
