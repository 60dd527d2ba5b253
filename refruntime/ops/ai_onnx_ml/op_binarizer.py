"""Binarizer (ai.onnx.ml 1): Y = 1 where X > threshold, 0 elsewhere, in X's type. NaN is not greater
than anything, so it maps to 0 as the doc says (onnxruntime refuses NaN inputs)."""
import numpy as np

from refruntime.ops.base import OpRun


class Binarizer(OpRun):
    def _run(self, x, threshold=0.0):
        limit = np.float32(threshold)
        above = (x.astype(np.float32) if x.dtype.kind in "iu" else x) > limit  # C++ compares an int with a float as float
        return (above.astype(x.dtype),)
