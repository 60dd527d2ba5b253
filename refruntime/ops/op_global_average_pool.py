
from refruntime.kernels.floats import compute_dtype
from refruntime.ops.base import OpRun


class GlobalAveragePool(OpRun):
    def _run(self, x):
        if x.ndim < 3:
            self.fail(f"X must be (N, C, spatial...), got shape {x.shape}")
        flat = x.reshape(x.shape[:2] + (-1,))
        y = flat.mean(axis=2, dtype=compute_dtype(x.dtype))
        return (y.astype(x.dtype, copy=False).reshape(x.shape[:2] + (1,) * (x.ndim - 2)),)
