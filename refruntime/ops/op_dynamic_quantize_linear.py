"""DynamicQuantizeLinear (opset 11): x float -> (y uint8, y_scale, y_zero_point) by the spec's
formulas, each step in x's type (float32) as the op's function body computes them:

    lo, hi = min(0, min(x)), max(0, max(x))
    y_scale = (hi - lo) / 255
    y_zero_point = cast(round(clip(0 - lo / y_scale, 0, 255)))      (round: half to even)
    y = QuantizeLinear(x, y_scale, y_zero_point)                      (x / y_scale in float32)

Where the spec is silent or runtimes disagree:
- x all zeros (hi == lo): the formulas divide 0 by 0; y_scale is 1 and the zero point 0, as
  onnxruntime and onnx.reference give.
- The zero point rounds half to even (the spec); onnxruntime's std::round rounds half away from
  zero, so it differs when lo / y_scale is exactly k + 1/2 (x in [-1, 101]: 2 here, 3 there).
- y: x / y_scale in float32 (QuantizeLinear's; onnx's conformance case expects it: 179, not the
  exact quotient's 178, for x = 0.5 in test_dynamicquantizelinear).
- NaN in x: min/max propagate it (ONNX's ReduceMin/ReduceMax), so y_scale is NaN and, as NaN
  casts are undefined, the zero point and every y are 0 (onnxruntime skips NaN when it takes the
  range). +-Inf: y_scale Inf, zero point 0, y 0 (finite x) as onnxruntime gives.
"""
from __future__ import annotations

import numpy as np

from refruntime.ops._quant import quantize, saturate
from refruntime.ops.base import OpRun


class DynamicQuantizeLinear(OpRun):
    def _run(self, x):
        if x.dtype.kind != "f":
            self.fail(f"x must be float, got {x.dtype}")
        return dynamic_quantize(x)


def dynamic_quantize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(y uint8, y_scale, y_zero_point) of float `x` by the formulas above; also what
    com.microsoft's DynamicQuantizeMatMul does to its A."""
    f = x.dtype.type  # float32 (float64 in the precision="float64" oracle)
    with np.errstate(all="ignore"):
        lo = np.minimum(f(x.min()) if x.size else f(0), f(0))
        hi = np.maximum(f(x.max()) if x.size else f(0), f(0))
        span = f(hi - lo)
        scale = f(1) if span == 0 else f(span / f(255))
        zero_point = f(f(0) - f(lo / scale))
        zero_point = saturate(np.rint(np.clip(np.asarray(zero_point, np.float64), 0, 255)), np.uint8)
    y = quantize(x, np.asarray(scale), zero_point, np.uint8, precision=x.dtype)
    return y, np.asarray(scale, dtype=x.dtype), np.asarray(zero_point, dtype=np.uint8)
