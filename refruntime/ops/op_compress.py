"""Compress (opsets 9, 11 and 28: 11 allows a negative axis, 28 adds types), from the operator
spec, which follows numpy.compress: the slices of `input` along `axis` whose `condition` entry is
true; without axis, the elements of the flattened input.

The condition is a 1-D bool tensor. Where it is shorter than the axis, the missing entries count
as false (numpy.compress). Where it is longer, the spec says nothing (numpy.compress raises if
an entry past the axis is true); we follow onnxruntime, which ignores the entries past the axis
(measured with onnxruntime 1.32: x=[0, 1, 2], condition=[1, 0, 1, 0, 1] gives [0, 2]).
"""
import numpy as np

from refruntime.ops._common import normalize_axis
from refruntime.ops.base import OpRun


class Compress_9(OpRun):
    def _run(self, x, condition, axis=None):
        if condition.ndim != 1:
            self.fail(f"condition must be a 1-D tensor, got shape {condition.shape}")
        if condition.dtype != np.bool_:
            self.fail(f"condition must be bool, got {condition.dtype}")
        if axis is None:
            data, ax = x.reshape(-1), 0
        else:
            ax = normalize_axis(self, axis, x.ndim)
            data = x
        dim = data.shape[ax]
        selected = np.flatnonzero(condition[:dim])
        return (np.take(data, selected, axis=ax),)
