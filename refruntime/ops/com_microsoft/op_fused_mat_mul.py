"""com.microsoft FusedMatMul (onnxruntime docs/ContribOperators.md, "com.microsoft.FusedMatMul",
version 1): MatMul (numpy.matmul semantics: batched, broadcasting) with transposes and a scale

    Y = alpha * A' @ B'

A' is A with, first, transBatchA=1: its first axis moved behind the other batch axes, i.e.
A.transpose(1, ..., r-2, 0, r-1) (the "1st dimension and batch dimensions" of the doc, as
onnxruntime's kernel permutes them), then transA=1: its last two axes swapped; B' likewise.
onnxruntime's own optimizer emits it (MatMulScaleFusion, MatmulTransposeFusion at level 2+).

Precision: float32 BLAS (float64 for float64 inputs; float16/bfloat16 computed in float32), alpha
applied in that type, rounded once, like onnxruntime's alpha * sgemm.
"""
import numpy as np

from refruntime.kernels.blas import matmul
from refruntime.kernels.floats import as_compute, compute_dtype
from refruntime.ops._common import check_alloc
from refruntime.ops.base import OpRun
from refruntime.ops.com_microsoft._common import FLOAT, INT, check_node

FLOATS = ("float32", "float16", "bfloat16", "float64")


def transposed(x: np.ndarray, batch: int, trans: int) -> np.ndarray:
    """x with FusedMatMul's transBatch (first axis moved before the last) then trans (last two
    axes swapped); rank 1 is left as it is."""
    if batch and x.ndim >= 3:
        x = np.moveaxis(x, 0, -2)
    if trans and x.ndim >= 2:
        x = np.swapaxes(x, -1, -2)
    return x


class FusedMatMul(OpRun):
    def prepare(self):
        check_node(self, inputs=(2, 2), required_inputs=(0, 1),
                   attributes={"alpha": FLOAT, "transA": INT, "transB": INT, "transBatchA": INT, "transBatchB": INT})
        for name in ("transA", "transB", "transBatchA", "transBatchB"):
            if self.attributes.get(name, 0) not in (0, 1):
                self.refuse(f"{name} must be 0 or 1, got {self.attributes[name]}")

    def _run(self, a, b, alpha=1.0, transA=0, transB=0, transBatchA=0, transBatchB=0):
        if a.dtype.name not in FLOATS or b.dtype != a.dtype:
            self.fail(f"A and B must be float tensors of one type, got {a.dtype} and {b.dtype}")
        if a.ndim == 0 or b.ndim == 0:
            self.fail(f"A and B must have rank >= 1, got shapes {list(a.shape)} and {list(b.shape)}")
        a2, b2 = transposed(a, transBatchA, transA), transposed(b, transBatchB, transB)
        k_b = b2.shape[0] if b2.ndim == 1 else b2.shape[-2]
        if a2.shape[-1] != k_b:
            self.fail(f"A' {list(a2.shape)} and B' {list(b2.shape)} (after the transposes) have inner dimensions "
                      f"{a2.shape[-1]} and {k_b}")
        try:
            batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        except ValueError:
            self.fail(f"the batch axes of A' {list(a2.shape)} and B' {list(b2.shape)} do not broadcast")
        dtype = compute_dtype(a.dtype)
        check_alloc(self, batch + a2.shape[-2:-1] + b2.shape[-1:] if b2.ndim > 1 else batch, dtype)
        product = matmul if a2.ndim > 1 and b2.ndim > 1 else np.matmul  # blas.matmul wants matrices
        y = np.asarray(product(as_compute(a2, dtype), as_compute(b2, dtype)))
        if alpha != 1.0:
            y = y * dtype.type(alpha)
        return (y.astype(a.dtype, copy=False),)
