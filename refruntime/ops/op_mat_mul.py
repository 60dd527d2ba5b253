"""MatMul: numpy.matmul semantics (batched, broadcasting; a 1-D operand gets a unit axis that is
removed from the result). Narrow floats compute in float32 (BLAS) and are cast back."""
import numpy as np

from refruntime.kernels.floats import as_compute, compute_dtype
from refruntime.ops.base import OpRun


class MatMul(OpRun):
    def _run(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            self.fail(f"MatMul operands must have rank >= 1, got shapes {a.shape} and {b.shape}")
        k_a = a.shape[-1]
        k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if k_a != k_b:
            self.fail(f"A of shape {a.shape} and B of shape {b.shape}: inner dimensions {k_a} and {k_b} "
                      "differ")
        try:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            self.fail(f"batch dimensions of A {a.shape[:-2]} and B {b.shape[:-2]} do not broadcast")
        if a.dtype.kind in "iub":
            return (np.asarray(np.matmul(a, b)),)
        dtype = compute_dtype(a.dtype)
        y = np.asarray(np.matmul(as_compute(a, dtype), as_compute(b, dtype)))
        return (y if y.dtype == a.dtype else y.astype(a.dtype),)
