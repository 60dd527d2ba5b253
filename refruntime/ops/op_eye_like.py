"""EyeLike (opsets 9 and 22: 22 adds bfloat16), from the operator spec: a 2-D tensor of the
input's shape with ones on diagonal k (T2[i, i + k] = 1) and zeros elsewhere, of the `dtype`
attribute's type (the input's type when it is absent). Only the input's shape is read."""
import numpy as np

from refruntime.ops._common import check_alloc
from refruntime.ops.base import OpRun


class EyeLike_9(OpRun):
    def prepare(self):
        dtype = self.attributes.get("dtype")
        self._dtype = None
        if dtype is not None:
            from refruntime.dtypes import to_numpy_dtype

            try:
                self._dtype = np.dtype(to_numpy_dtype(dtype))
            except Exception:  # noqa: BLE001 - onnx raises KeyError/ValueError for unknown types
                self.refuse(f"dtype attribute {dtype} is not a known tensor element type")
            if self._dtype == object:
                self.refuse("dtype attribute is string, expected a numeric or bool type")

    def _run(self, x, dtype=None, k=0):
        if x.ndim != 2:
            self.fail(f"input must be 2-D, got shape {x.shape}")
        out_dtype = self._dtype if self._dtype is not None else x.dtype
        check_alloc(self, x.shape, out_dtype)
        y = np.zeros(x.shape, dtype=out_dtype)
        rows, cols = x.shape
        i = np.arange(max(0, -k), min(rows, cols - k))  # empty when diagonal k is outside
        y[i, i + k] = 1
        return (y,)
