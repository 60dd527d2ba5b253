"""Normalizer (ai.onnx.ml 1), each row of X (a 1-D X is one row) on its own:
MAX: Y = X / max(X); L1: Y = X / sum(|X|); L2: Y = X / sqrt(sum(X^2)); in every mode Y = X where the
divisor is 0. float32 output, computed in float64 and rounded once. (MAX divides by the largest
value, not the largest magnitude, as onnxruntime does.)"""
import numpy as np

from refruntime.ops.ai_onnx_ml import _common
from refruntime.ops.base import OpRun


class Normalizer(OpRun):
    def prepare(self):
        self.norm = _common.choice(self, "norm", self.attributes.get("norm", "MAX"), ("MAX", "L1", "L2"))

    def _run(self, x, norm="MAX"):
        table = _common.rows(self, x)
        if self.norm == "MAX":
            divisor = table.max(axis=1, keepdims=True) if table.shape[1] else np.zeros((table.shape[0], 1))
        elif self.norm == "L1":
            divisor = np.abs(table).sum(axis=1, keepdims=True)
        else:
            divisor = np.sqrt((table * table).sum(axis=1, keepdims=True))
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.where(divisor != 0, table / divisor, table)
        return (_common.as_float32(self, y.reshape(x.shape)),)
