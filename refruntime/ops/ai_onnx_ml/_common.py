"""Helpers shared by the ai.onnx.ml kernels (not an op module: the registry skips `_` files).

Arithmetic: the classical-ML ops take float32 parameters (attributes) and inputs of several types;
these kernels compute in float64 from those exact values and round once to the output's declared
type (as_float32; not under the float64 and spec oracles), where onnxruntime computes in float32
step by step. The results are therefore the correctly rounded values of each op's formula;
onnxruntime is within a few float32 ulps of them.

Post transforms (the `post_transform` attribute of the classifiers and regressors), as onnxruntime
defines them (onnxruntime/core/providers/cpu/ml/ml_common.h), applied to each row of scores:
    LOGISTIC      1 / (1 + exp(-s))
    SOFTMAX       exp(s - max) / sum(exp(s - max))
    SOFTMAX_ZERO  SOFTMAX over the entries with |s| > 1e-7; the others become s * exp(-max) (~0)
                  and are left out of the sum
    PROBIT        the standard normal quantile sqrt(2) * erfinv(2s - 1), computed exactly
                  (scipy.special.ndtri). onnxruntime and onnx.reference use Winitzki's closed-form
                  approximation of erfinv, up to ~1e-3 relative away from it.
"""
from __future__ import annotations

import numpy as np

POST_TRANSFORMS = ("NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT")  # ai.onnx.ml 5 numbers them so
KERNEL_TYPES = ("LINEAR", "POLY", "RBF", "SIGMOID")


def choice(kernel, name: str, value, choices) -> str:
    """A string attribute checked against its allowed values (a ModelError naming it otherwise)."""
    if value not in choices:
        kernel.refuse(f"attribute {name!r} is {value!r}; expected one of {', '.join(choices)}")
    return value


def floats(kernel, name: str, values, tensor=None) -> np.ndarray | None:
    """A float attribute given as a list (FLOATS) or, from ai.onnx.ml 3, as a tensor (`<name>_as_tensor`,
    double precision): as a 1-D float64 array, or None when neither is given. Both given is refused."""
    if values is not None and tensor is not None:
        kernel.refuse(f"attributes {name!r} and {name + '_as_tensor'!r} are both given; one is allowed")
    if tensor is not None:
        return np.asarray(tensor, dtype=np.float64).reshape(-1)
    if values is None:
        return None
    return np.asarray(values, dtype=np.float32).astype(np.float64)


def ints(values) -> np.ndarray:
    return np.asarray(values if values is not None else [], dtype=np.int64).reshape(-1)


def class_labels(kernel, ints_name: str, int_labels, strings_name: str, string_labels, required: bool = True):
    """The class labels of a classifier: an int64 array or an object array of str; exactly one of the
    two attributes may be given."""
    if int_labels is not None and string_labels is not None:
        kernel.refuse(f"attributes {ints_name!r} and {strings_name!r} are both given; one is allowed")
    if string_labels is not None:
        return np.array(list(string_labels), dtype=object)
    if int_labels is not None:
        return np.asarray(int_labels, dtype=np.int64)
    if required:
        kernel.refuse(f"one of the attributes {ints_name!r} or {strings_name!r} is required")
    return None


def rows(kernel, x: np.ndarray, what: str = "X") -> np.ndarray:
    """X as an (N, F) float64 matrix: a 1-D tensor is one row [1, C] (the domain's convention)."""
    if x.ndim == 1:
        x = x.reshape(1, -1)
    elif x.ndim != 2:
        kernel.fail(f"input {what} must be 1-D or 2-D, got shape {tuple(x.shape)}")
    if x.dtype.kind not in "fiu":
        kernel.fail(f"input {what} must be numeric, got {x.dtype}")
    return x.astype(np.float64, copy=False)


def as_float32(kernel, values: np.ndarray) -> np.ndarray:
    """A float64 result as the float32 tensor the op declares, except under Session(precision="float64"
    or "spec"), whose executor wants (or rounds) the float64 value itself."""
    precision = getattr(kernel.options, "precision", "native")
    return values if precision in ("float64", "spec") else values.astype(np.float32)


def string_array(values) -> np.ndarray:
    """A string tensor as refruntime represents it: an object array of str."""
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def is_string(x: np.ndarray) -> bool:
    return x.dtype.kind in "OUS"


def logistic(s: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-s))


def softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax_zero(s: np.ndarray) -> np.ndarray:
    top = s.max(axis=1, keepdims=True)
    nonzero = np.abs(s) > 1e-7
    e = np.where(nonzero, np.exp(s - top), s * np.exp(-top))
    with np.errstate(invalid="ignore", divide="ignore"):
        return e / np.where(nonzero, e, 0.0).sum(axis=1, keepdims=True)


def probit(s: np.ndarray) -> np.ndarray:
    from scipy.special import ndtri

    return ndtri(s)


def transform(scores: np.ndarray, post_transform: str) -> np.ndarray:
    """`post_transform` applied to each row of a (N, C) float64 score matrix."""
    if post_transform == "NONE" or scores.shape[1] == 0:
        return scores
    if post_transform == "LOGISTIC":
        return logistic(scores)
    if post_transform == "SOFTMAX":
        return softmax(scores)
    if post_transform == "SOFTMAX_ZERO":
        return softmax_zero(scores)
    return probit(scores)


def binary_pair(score: np.ndarray, post_transform: str, code: int) -> np.ndarray:
    """onnxruntime's two columns for a binary classifier that computes one score s per row (ml_common.h,
    write_scores / batched_update_scores_inplace, `code` being its `add_second_class`; checked against
    onnxruntime 1.32): LOGISTIC gives [logistic(-s), logistic(s)]; PROBIT gives [probit(s), 0]
    (onnxruntime leaves the second column unwritten); otherwise codes 0 and 1 (positive weights: s is
    taken to be a probability) give [1 - s, s] and codes 2 and 3 (mixed-sign weights) [-s, s], the
    SOFTMAX transforms not being applied."""
    out = np.empty((score.shape[0], 2), dtype=np.float64)
    if post_transform == "PROBIT":
        out[:, 0], out[:, 1] = probit(score), 0.0
    elif post_transform == "LOGISTIC":
        out[:, 0], out[:, 1] = logistic(-score), logistic(score)
    elif code in (0, 1):
        out[:, 0], out[:, 1] = 1.0 - score, score
    else:
        out[:, 0], out[:, 1] = -score, score
    return out
