"""com.microsoft FusedGemm (onnxruntime docs/ContribOperators.md, "com.microsoft.FusedGemm", version 1):
Gemm followed by an activation, emitted by onnxruntime's GemmActivationFusion (level 2+ offline
optimization, e.g. BERT's pooler Gemm + Tanh)

    Y = activation(alpha * A' @ B' + beta * C)      A' = A.T if transA, B' = B.T if transB

activation is one of onnxruntime's fusable activations, with its parameters in activation_alpha,
activation_beta, activation_gamma (defaults as the standalone ops): Relu, Tanh, Sigmoid,
LeakyRelu (alpha 0.01), HardSigmoid (alpha 0.2, beta 0.5), Elu (alpha 1), Selu (alpha 1.67326...,
gamma 1.0507...), Softplus, Softsign, ThresholdedRelu (alpha 1), ScaledTanh (alpha * tanh(beta *
x), 1, 1), ParametricSoftplus (alpha * softplus(beta * x), 1, 1). Without activation it is Gemm.

Precision: the product in float32 BLAS (float64 for float64), then alpha, beta * C and the
activation in float64, rounded once.
"""
import numpy as np

from refruntime.kernels.blas import matmul
from refruntime.kernels.floats import as_compute, compute_dtype
from refruntime.ops._common import check_alloc
from refruntime.ops.base import OpRun
from refruntime.ops.com_microsoft._common import FLOAT, INT, STRING, check_node

FLOATS = ("float32", "float16", "bfloat16", "float64")
SELU_ALPHA, SELU_GAMMA = 1.67326319217681884765625, 1.05070102214813232421875


def _softplus(x):
    return np.logaddexp(0.0, x)


#: activation name -> (function of (x, alpha, beta, gamma), default alpha, beta, gamma)
ACTIVATIONS = {
    "Relu": (lambda x, a, b, g: np.maximum(x, 0.0), None, None, None),
    "Tanh": (lambda x, a, b, g: np.tanh(x), None, None, None),
    "Sigmoid": (lambda x, a, b, g: 1.0 / (1.0 + np.exp(-x)), None, None, None),
    "LeakyRelu": (lambda x, a, b, g: np.where(x >= 0, x, a * x), 0.01, None, None),
    "HardSigmoid": (lambda x, a, b, g: np.clip(a * x + b, 0.0, 1.0), 0.2, 0.5, None),
    "Elu": (lambda x, a, b, g: np.where(x >= 0, x, a * np.expm1(x)), 1.0, None, None),
    "Selu": (lambda x, a, b, g: g * np.where(x > 0, x, a * np.expm1(x)), SELU_ALPHA, None, SELU_GAMMA),
    "Softplus": (lambda x, a, b, g: _softplus(x), None, None, None),
    "Softsign": (lambda x, a, b, g: x / (1.0 + np.abs(x)), None, None, None),
    "ThresholdedRelu": (lambda x, a, b, g: np.where(x > a, x, 0.0), 1.0, None, None),
    "ScaledTanh": (lambda x, a, b, g: a * np.tanh(b * x), 1.0, 1.0, None),
    "ParametricSoftplus": (lambda x, a, b, g: a * _softplus(b * x), 1.0, 1.0, None),
}


class FusedGemm(OpRun):
    def prepare(self):
        check_node(self, inputs=(2, 3), required_inputs=(0, 1),
                   attributes={"alpha": FLOAT, "beta": FLOAT, "transA": INT, "transB": INT, "activation": STRING,
                               "activation_alpha": FLOAT, "activation_beta": FLOAT, "activation_gamma": FLOAT})
        activation = self.attributes.get("activation")
        if activation is not None and activation not in ACTIVATIONS:
            self.refuse(f"activation {activation!r} is not one of {', '.join(sorted(ACTIVATIONS))}")

    def _run(self, a, b, c=None, alpha=1.0, beta=1.0, transA=0, transB=0, activation=None, activation_alpha=None,
             activation_beta=None, activation_gamma=None):
        if a.dtype.name not in FLOATS or b.dtype != a.dtype or (c is not None and c.dtype != a.dtype):
            self.fail(f"A, B and C must be float tensors of one type, got {a.dtype}, {b.dtype}"
                      f"{'' if c is None else ', ' + str(c.dtype)}")
        if a.ndim != 2 or b.ndim != 2:
            self.fail(f"A and B must be 2-D, got {list(a.shape)} and {list(b.shape)}")
        a2, b2 = (a.T if transA else a), (b.T if transB else b)
        if a2.shape[1] != b2.shape[0]:
            self.fail(f"A' {list(a2.shape)} and B' {list(b2.shape)} have inner dimensions {a2.shape[1]} and "
                      f"{b2.shape[0]}")
        dtype = compute_dtype(a.dtype)
        check_alloc(self, (a2.shape[0], b2.shape[1]), np.float64)
        y = np.asarray(matmul(as_compute(a2, dtype), as_compute(b2, dtype))).astype(np.float64) * alpha
        if c is not None and beta != 0:
            try:
                if np.broadcast_shapes(c.shape, y.shape) != y.shape:
                    raise ValueError
            except ValueError:
                self.fail(f"C of shape {list(c.shape)} does not broadcast to the output shape {list(y.shape)}")
            y += beta * c.astype(np.float64)
        if activation is not None:
            fn, da, db, dg = ACTIVATIONS[activation]
            y = fn(y, _or(activation_alpha, da), _or(activation_beta, db), _or(activation_gamma, dg))
        return (np.asarray(y).astype(a.dtype),)


def _or(value, default):
    return default if value is None else value
