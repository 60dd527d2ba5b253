"""Reductions: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
ReduceLogSum, ReduceLogSumExp, ReduceSumSquare.

Axes come from the `axes` attribute before opset 13 (ReduceSum) / 18 (the others) and from the
`axes` input after; no axes means all axes unless noop_with_empty_axes=1. The result keeps the
input dtype. Reducing an empty set gives the op's identity (0 for sums, 1 for products, -inf for
max and log-sums, +inf for min; the dtype's extreme for integers).
"""
import numpy as np

from refruntime.ops._common import fp_ignored, ints, normalize_axes
from refruntime.ops.base import OpRun


def _narrow(x):
    return x.dtype.kind == "V" or x.dtype.type.__module__.startswith("ml_dtypes")


def _lowest(dtype):
    if dtype.kind == "b":
        return False
    return np.iinfo(dtype).min if dtype.kind in "iu" else -np.inf


def _highest(dtype):
    if dtype.kind == "b":
        return True
    return np.iinfo(dtype).max if dtype.kind in "iu" else np.inf


def _max(x, axes, keepdims):
    return np.max(x, axis=axes, keepdims=keepdims, initial=_lowest(x.dtype))


def _min(x, axes, keepdims):
    return np.min(x, axis=axes, keepdims=keepdims, initial=_highest(x.dtype))


def _log_sum_exp(x, axes, keepdims):
    if x.size == 0:
        return np.log(np.sum(np.exp(x), axis=axes, keepdims=keepdims))
    m = np.max(x, axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    s = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
    return s if keepdims else np.squeeze(s, axis=axes)


_FUNCS = {
    "ReduceSum": lambda x, a, k: np.sum(x, axis=a, keepdims=k),
    "ReduceMean": lambda x, a, k: np.mean(x, axis=a, keepdims=k),
    "ReduceMax": _max,
    "ReduceMin": _min,
    "ReduceProd": lambda x, a, k: np.prod(x, axis=a, keepdims=k),
    "ReduceL1": lambda x, a, k: np.sum(np.abs(x), axis=a, keepdims=k),
    "ReduceL2": lambda x, a, k: np.sqrt(np.sum(np.square(x), axis=a, keepdims=k)),
    "ReduceLogSum": lambda x, a, k: np.log(np.sum(x, axis=a, keepdims=k)),
    "ReduceLogSumExp": _log_sum_exp,
    "ReduceSumSquare": lambda x, a, k: np.sum(np.square(x), axis=a, keepdims=k),
}


class _Reduce(OpRun):
    def _reduce(self, data, axes, keepdims, noop_with_empty_axes):
        if axes is None or len(axes) == 0:
            # noop: no reduction, but the elementwise part (abs, square, log...) still applies,
            # as in onnxruntime; for Sum/Mean/Max/Min/Prod that is the input itself
            axes = () if noop_with_empty_axes else tuple(range(data.ndim))
        else:
            axes = normalize_axes(self, axes, data.ndim)
        x = data.astype(np.float32) if _narrow(data) else data
        with fp_ignored(all="ignore"):
            result = np.asarray(_FUNCS[self.op_type](x, axes, bool(keepdims)))
        return (result if result.dtype == data.dtype else result.astype(data.dtype),)


class _ReduceAttrAxes(_Reduce):
    def _run(self, data, axes=None, keepdims=1):
        return self._reduce(data, axes, keepdims, 0)


class _ReduceInputAxes(_Reduce):
    def _run(self, data, axes=None, keepdims=1, noop_with_empty_axes=0):
        return self._reduce(data, ints(axes), keepdims, noop_with_empty_axes)


class ReduceSum_1(_ReduceAttrAxes):
    pass


class ReduceSum_13(_ReduceInputAxes):
    pass


class ReduceMean_1(_ReduceAttrAxes):
    pass


class ReduceMean_18(_ReduceInputAxes):
    pass


class ReduceMax_1(_ReduceAttrAxes):
    pass


class ReduceMax_18(_ReduceInputAxes):
    pass


class ReduceMin_1(_ReduceAttrAxes):
    pass


class ReduceMin_18(_ReduceInputAxes):
    pass


class ReduceProd_1(_ReduceAttrAxes):
    pass


class ReduceProd_18(_ReduceInputAxes):
    pass


class ReduceL1_1(_ReduceAttrAxes):
    pass


class ReduceL1_18(_ReduceInputAxes):
    pass


class ReduceL2_1(_ReduceAttrAxes):
    pass


class ReduceL2_18(_ReduceInputAxes):
    pass


class ReduceLogSum_1(_ReduceAttrAxes):
    pass


class ReduceLogSum_18(_ReduceInputAxes):
    pass


class ReduceLogSumExp_1(_ReduceAttrAxes):
    pass


class ReduceLogSumExp_18(_ReduceInputAxes):
    pass


class ReduceSumSquare_1(_ReduceAttrAxes):
    pass


class ReduceSumSquare_18(_ReduceInputAxes):
    pass
