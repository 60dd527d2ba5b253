"""com.microsoft GemmFastGelu (onnxruntime docs/ContribOperators.md, "com.microsoft.GemmFastGelu",
version 1): "a fusion of MatMul and FastGelu"

    Y = FastGelu(X @ W + bias)     X @ W with numpy.matmul semantics, bias 1-D over the last axis

(FastGelu: 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))).) The transformer optimizer
emits it with enable_gemm_fast_gelu; onnxruntime has only CUDA/ROCm kernels for it, so an
optimized model using it runs on refruntime but not on onnxruntime's CPU provider.

Precision: the product in float32 BLAS (float64 for float64), the bias and activation in float64,
rounded once.
"""
import numpy as np

from refruntime.kernels.blas import matmul
from refruntime.kernels.floats import as_compute, compute_dtype
from refruntime.ops._common import check_alloc
from refruntime.ops.base import OpRun
from refruntime.ops.com_microsoft._common import check_node
from refruntime.ops.com_microsoft.op_fast_gelu import tanh_gelu

FLOATS = ("float32", "float16", "bfloat16", "float64")


class GemmFastGelu(OpRun):
    def prepare(self):
        check_node(self, inputs=(2, 3), required_inputs=(0, 1))

    def _run(self, x, w, bias=None):
        if x.dtype.name not in FLOATS or w.dtype != x.dtype or (bias is not None and bias.dtype != x.dtype):
            self.fail(f"X, W and bias must be float tensors of one type, got {x.dtype}, {w.dtype}"
                      f"{'' if bias is None else ', ' + str(bias.dtype)}")
        if x.ndim == 0 or w.ndim == 0 or x.shape[-1] != (w.shape[0] if w.ndim == 1 else w.shape[-2]):
            self.fail(f"X {list(x.shape)} and W {list(w.shape)} cannot be multiplied (matmul)")
        try:
            batch = np.broadcast_shapes(x.shape[:-2], w.shape[:-2])
        except ValueError:
            self.fail(f"the batch axes of X {list(x.shape)} and W {list(w.shape)} do not broadcast")
        dtype = compute_dtype(x.dtype)
        check_alloc(self, batch + x.shape[-2:-1] + w.shape[-1:] if w.ndim > 1 else batch, np.float64)
        product = matmul if x.ndim > 1 and w.ndim > 1 else np.matmul  # blas.matmul wants matrices
        y = np.asarray(product(as_compute(x, dtype), as_compute(w, dtype))).astype(np.float64)
        if bias is not None:
            if y.ndim == 0 or bias.shape != (y.shape[-1],):
                self.fail(f"bias must have shape ({y.shape[-1] if y.ndim else 1},), got {list(bias.shape)}")
            y += bias.astype(np.float64)
        return (tanh_gelu(y).astype(x.dtype),)
