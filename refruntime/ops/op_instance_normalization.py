"""InstanceNormalization (opsets 1, 6, 22: the same math), from the operator spec:

    y = scale * (x - mean) / sqrt(variance + epsilon) + B

with mean and (population) variance per instance and per channel, over the spatial axes of X
(N, C, D1, ..., Dn). Opset 1's `consumed_inputs` is a legacy in-place hint; opset 22 adds bfloat16.
X must have at least one spatial axis (onnxruntime refuses rank < 3 too: the statistics of an
empty set are undefined).

Precision: float32 for float16/bfloat16 (float64 for float64), Y rounded once to X's type.
"""
import math

import numpy as np

from refruntime.kernels.floats import as_compute, compute_dtype
from refruntime.kernels.normalization import standardize_rows
from refruntime.ops.base import OpRun


class InstanceNormalization(OpRun):
    def check_constants(self, constants):
        for index, name in ((1, "scale"), (2, "B")):
            if index in constants and constants[index].ndim != 1:
                self.refuse(f"{name} must be 1-D (one value per channel), got shape {constants[index].shape}", index)
        if 1 in constants and 2 in constants and constants[1].shape != constants[2].shape:
            self.refuse(f"scale {constants[1].shape} and B {constants[2].shape} differ in length", 2)

    def _run(self, x, scale, b, epsilon=1e-5, consumed_inputs=None):
        if x.ndim < 3:
            self.fail(f"input must have shape (N, C, D1, ...) with at least one spatial axis, got {x.shape}")
        n, c = x.shape[:2]
        for name, p in (("scale", scale), ("B", b)):
            if p.shape != (c,):
                self.fail(f"{name} has shape {p.shape}, expected ({c},) for an input of shape {x.shape}")
        dtype = compute_dtype(x.dtype)
        spatial = math.prod(x.shape[2:])
        work = np.ascontiguousarray(as_compute(x, dtype)).reshape(n * c, spatial)
        y, _, _ = standardize_rows(work, epsilon)
        y = y.reshape(n, c, spatial)
        y *= as_compute(scale, dtype)[:, None]
        y += as_compute(b, dtype)[:, None]
        y = y.reshape(x.shape)
        return (y if y.dtype == x.dtype else y.astype(x.dtype),)
