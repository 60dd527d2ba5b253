"""What SVMClassifier and SVMRegressor share: the kernel functions, and libsvm's probability
estimates (not an op module: the registry skips `_` files).

Kernels, with kernel_params = [gamma, coef0, degree] (zeros when absent), for rows x and support
vectors v:  LINEAR x.v   POLY (gamma x.v + coef0)^degree   RBF exp(-gamma |x - v|^2)
SIGMOID tanh(gamma x.v + coef0). Computed in float64; RBF takes the squared distances pairwise
(scipy's cdist), not as |x|^2 + |v|^2 - 2 x.v, which cancels when x is near a support vector.
"""
from __future__ import annotations

import numpy as np

from refruntime.ops.ai_onnx_ml import _common


def kernel_params(kernel, params) -> tuple[float, float, float]:
    if not params:
        return 0.0, 0.0, 0.0
    if len(params) != 3:
        kernel.refuse(f"attribute 'kernel_params' has {len(params)} values; expected 3 (gamma, coef0, degree)")
    gamma, coef0, degree = (float(np.float32(p)) for p in params)
    return gamma, coef0, degree


def support_vectors(kernel, values, count: int) -> np.ndarray:
    """The `support_vectors` attribute as a (count, features) float64 matrix."""
    values = np.asarray(values if values is not None else [], dtype=np.float32).astype(np.float64)
    if count == 0:
        return values.reshape(0, 0)
    if len(values) == 0 or len(values) % count:
        kernel.refuse(f"attribute 'support_vectors' has {len(values)} values, which is not {count} support vectors "
                      "of one length")
    return values.reshape(count, -1)


def apply_kernel(kind: str, x: np.ndarray, v: np.ndarray, params: tuple[float, float, float]) -> np.ndarray:
    """(N, V) float64: kind(x_n, v_j) for rows x (N, F) and support vectors v (V, F)."""
    gamma, coef0, degree = params
    if kind == "RBF":
        from scipy.spatial.distance import cdist

        return np.exp(-gamma * cdist(x, v, "sqeuclidean"))
    product = x @ v.T
    if kind == "LINEAR":
        return product
    if kind == "POLY":
        return (gamma * product + coef0) ** degree
    return np.tanh(gamma * product + coef0)


def check_features(kernel, x: np.ndarray, features: int) -> np.ndarray:
    x = _common.rows(kernel, x)
    if x.shape[1] != features:
        kernel.fail(f"input X has {x.shape[1]} features per row; the model's vectors have {features}")
    return x


def pairwise_probabilities(scores: np.ndarray, prob_a: np.ndarray, prob_b: np.ndarray, n_classes: int) -> np.ndarray:
    """libsvm's svm_predict_probability (and onnxruntime's svmclassifier.cc): each pairwise decision
    value f_k of classes i < j becomes r_ij = 1 / (1 + exp(A_k f_k + B_k)) (Platt's sigmoid, libsvm's
    sigmoid_predict), clipped to [1e-7, 1 - 1e-7], r_ji = 1 - r_ij; then multiclass_probability
    couples them into one distribution per row."""
    n = scores.shape[0]
    r = np.zeros((n, n_classes, n_classes))
    k = 0
    for i in range(n_classes):  # pairs of classes, not samples
        for j in range(i + 1, n_classes):
            p = _common.logistic(-(scores[:, k] * prob_a[k] + prob_b[k]))  # 1 - logistic(v), without cancelling
            p = np.clip(p, 1e-7, 1 - 1e-7)
            r[:, i, j], r[:, j, i] = p, 1 - p
            k += 1
    return multiclass_probability(r)


def multiclass_probability(r: np.ndarray) -> np.ndarray:
    """Wu, Lin and Weng's pairwise coupling (method 2 of "Probability Estimates for Multi-class
    Classification by Pairwise Coupling", libsvm's multiclass_probability), for every row at once:
    minimize p^T Q p subject to sum(p) = 1, with Q_tt = sum_{j != t} r_jt^2 and Q_tj = -r_jt r_tj, by
    the same fixed-point sweeps as libsvm: start at p = 1/k; stop a row when max_t |(Qp)_t - p^T Q p|
    < 0.005 / k, after at most max(100, k) iterations. Each sweep updates p_t for t = 0 .. k-1 in turn
    and renormalizes (Gauss-Seidel), so rows are only vectorized, never reordered.
    r: (N, k, k) with r[n, i, j] the probability of i against j."""
    n, k = r.shape[0], r.shape[1]
    q = -r.transpose(0, 2, 1) * r  # Q_tj = -r_jt r_tj
    squares = r.transpose(0, 2, 1) ** 2  # r_jt^2 at [t, j]
    diagonal = squares.sum(axis=2) - np.einsum("ntt->nt", squares)
    idx = np.arange(k)
    q[:, idx, idx] = diagonal
    p = np.full((n, k), 1.0 / k)
    eps = 0.005 / k
    live = np.arange(n)
    for _ in range(max(100, k)):
        qs, ps = q[live], p[live]
        qp = np.einsum("ntj,nj->nt", qs, ps)
        pqp = (ps * qp).sum(axis=1)
        done = np.abs(qp - pqp[:, None]).max(axis=1) < eps
        live, qs, ps, qp, pqp = live[~done], qs[~done], ps[~done], qp[~done], pqp[~done]
        if not live.size:
            break
        for t in range(k):
            diff = (-qp[:, t] + pqp) / qs[:, t, t]
            ps[:, t] += diff
            pqp = (pqp + diff * (diff * qs[:, t, t] + 2 * qp[:, t])) / (1 + diff) / (1 + diff)
            qp = (qp + diff[:, None] * qs[:, t, :]) / (1 + diff)[:, None]
            ps /= (1 + diff)[:, None]
        p[live] = ps
    return p
