"""Gemm: Y = alpha * A' @ B' + beta * C, A' = A.T if transA, B' = B.T if transB.

One class covers every opset: before 7 a `broadcast` attribute gated C's broadcasting (numpy
broadcasting is a superset of both modes); since 11 C is optional.
"""
import numpy as np

from refruntime.kernels.bias import add_bias, add_bias_rows, row_vector
from refruntime.kernels.blas import matmul
from refruntime.kernels.floats import as_compute, compute_dtype
from refruntime.ops.base import OpRun

_FLOAT32 = np.dtype(np.float32)


class Gemm(OpRun):
    _checked: tuple = ()  # the (A, B, C) shapes of the last call whose checks passed
    #: (A shape, B, C, row bias, flops) of the last plain float32 call (A @ B + a row C, alpha = beta = 1,
    #: no transposes, read-only B and C): the same A shape with the same B and C arrays skips the checks
    _plain: tuple = ()

    def _run(self, a, b, c=None, alpha=1.0, beta=1.0, transA=0, transB=0, broadcast=0):
        plain = self._plain
        if plain and a.shape == plain[0] and b is plain[1] and c is plain[2] and a.dtype is _FLOAT32:
            y = matmul(a, b, flops=plain[4])
            add_bias_rows(y, plain[3])
            return (y,)
        shapes = (a.shape, b.shape, None if c is None else c.shape)
        if shapes != self._checked:
            self._check(a, b, c, beta, transA, transB)
            self._checked = shapes
        a2 = a.T if transA else a
        b2 = b.T if transB else b
        if a.dtype.kind in "iu":  # integer Gemm (opset 11+): exact, no alpha/beta rounding games
            y = a2 @ b2
            if alpha != 1:
                y = y * a.dtype.type(alpha)
            if c is not None and beta != 0:
                y = y + c * a.dtype.type(beta)
            return (np.ascontiguousarray(y, dtype=a.dtype),)
        dtype = compute_dtype(a.dtype)
        if (dtype is _FLOAT32 and a.dtype is _FLOAT32 and b.dtype is _FLOAT32 and not transA and not transB
                and alpha == 1.0 and beta == 1.0 and c is not None and a.size and b.size
                and not b.flags.writeable and not c.flags.writeable):  # initializers: shapes cannot change
            row = row_vector(c)
            if row is not None and row.size == b.shape[1]:
                self._plain = (a.shape, b, c, row, 2 * a.shape[0] * b.size)
        y = matmul(as_compute(a2, dtype), as_compute(b2, dtype))
        if alpha != 1.0:
            y *= dtype.type(alpha)
        if c is not None and beta != 0:
            cc = as_compute(c, dtype)
            if beta == 1.0:
                add_bias(y, cc, row_vector(cc))
            else:
                y += dtype.type(beta) * cc
        return (y if y.dtype == a.dtype else y.astype(a.dtype),)

    def _check(self, a, b, c, beta, transA, transB):
        """Fail naming the shapes unless A and B multiply and C broadcasts to the product."""
        if a.ndim != 2 or b.ndim != 2:
            self.fail(f"A and B must be 2-D, got A {a.shape} and B {b.shape}")
        a2 = a.T if transA else a
        b2 = b.T if transB else b
        if a2.shape[1] != b2.shape[0]:
            self.fail(f"A is {_dims(a)}{' (transposed)' if transA else ''} but B is {_dims(b)}"
                      f"{' (transposed)' if transB else ''}: inner dimensions {a2.shape[1]} and "
                      f"{b2.shape[0]} differ")
        m, n = a2.shape[0], b2.shape[1]
        if c is not None and beta != 0:
            try:
                fits = np.broadcast_shapes(c.shape, (m, n)) == (m, n)  # unidirectional: C to (M, N)
            except ValueError:
                fits = False
            if not fits:
                self.fail(f"C of shape {c.shape} does not broadcast to the output shape ({m}, {n})")


def _dims(x) -> str:
    return "x".join(str(d) for d in x.shape)
