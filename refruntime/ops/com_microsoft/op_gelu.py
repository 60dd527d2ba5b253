"""com.microsoft Gelu (onnxruntime docs/ContribOperators.md, "com.microsoft.Gelu", version 1): the
Gaussian error linear unit, exact (erf) form

    Y = 0.5 * X * (1 + erf(X / sqrt(2)))

Precision: computed in float64 (scipy's erf) and rounded once to X's type, i.e. within half an
ulp (plus erf's own 1e-16); onnxruntime computes float32 with MLAS's erf approximation, a few ulps
away. `erf_gelu` is shared with BiasGelu and BiasSplitGelu.
"""
import numpy as np

from refruntime.ops.base import OpRun
from refruntime.ops.com_microsoft._common import check_node

FLOATS = ("float32", "float16", "bfloat16", "float64")


def erf_gelu(x: np.ndarray) -> np.ndarray:
    """0.5 * x * (1 + erf(x / sqrt(2))) of a float64 array (a fresh array)."""
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x * np.sqrt(0.5)))


def with_bias(kernel: OpRun, x: np.ndarray, bias: np.ndarray | None, what: str = "bias") -> np.ndarray:
    """x + bias in float64, bias 1-D over x's last axis (a KernelError otherwise)."""
    if x.dtype.name not in FLOATS:
        kernel.fail(f"the input must be a float tensor, got {x.dtype}")
    total = x.astype(np.float64)
    if bias is None:
        return total
    if bias.dtype != x.dtype:
        kernel.fail(f"{what} is {bias.dtype} but the input is {x.dtype}: they have one type T")
    if x.ndim == 0 or bias.shape != (x.shape[-1],):
        kernel.fail(f"{what} must be 1-D with the input's last dimension ({x.shape[-1] if x.ndim else '?'}), got "
                    f"shape {list(bias.shape)}")
    total += bias.astype(np.float64)
    return total


class Gelu(OpRun):
    def prepare(self):
        check_node(self, inputs=(1, 1))

    def _run(self, x):
        return (erf_gelu(with_bias(self, x, None)).astype(x.dtype),)
