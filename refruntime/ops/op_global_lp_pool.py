"""GlobalLpPool (opsets 1, 2 and 22), from the operator spec: LpPool with a kernel covering all
spatial axes, y[n, c] = (sum of |x[n, c, ...]|^p)^(1/p), spatial axes kept with size 1. p is a
float in opset 1 (default 2.0), an int from opset 2; opset 22 adds bfloat16. float16/bfloat16
compute in float32 and are rounded once."""
from refruntime.kernels.floats import elementwise
from refruntime.ops._common import fp_ignored
from refruntime.ops.base import OpRun
from refruntime.ops.op_lp_pool import lp_power, lp_root


class GlobalLpPool(OpRun):
    def prepare(self):
        p = self.attributes.get("p", 2)
        if p <= 0:
            self.refuse(f"p must be positive, got {p}")

    def _run(self, x, p=2):
        if x.ndim < 3:
            self.fail(f"X must be (N, C, spatial...), got shape {x.shape}")
        spatial = tuple(range(2, x.ndim))
        with fp_ignored():
            return (elementwise(x, lambda v: lp_root(lp_power(v, p).sum(axis=spatial, keepdims=True), p)),)
