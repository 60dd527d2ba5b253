"""Scaler (ai.onnx.ml 1): Y = (X - offset) * scale, per feature (the last axis) when the attributes
have one value per feature, or the same for all when they have one value; float32 output, computed
in float64 and rounded once."""
import numpy as np

from refruntime.ops.ai_onnx_ml import _common
from refruntime.ops.base import OpRun


class Scaler(OpRun):
    def prepare(self):
        scale, offset = self.attributes.get("scale"), self.attributes.get("offset")
        if not scale:
            self.refuse("attribute 'scale' is missing or empty")
        offset = offset if offset is not None else [0.0] * len(scale)
        if len(scale) != len(offset):
            self.refuse(f"attributes 'scale' and 'offset' have {len(scale)} and {len(offset)} values; they pair up")
        self.scale = np.asarray(scale, dtype=np.float32).astype(np.float64)
        self.offset = np.asarray(offset, dtype=np.float32).astype(np.float64)

    def _run(self, x, offset=None, scale=None):
        if x.ndim == 0:
            self.fail("input X is a scalar; Scaler needs at least one axis")
        if len(self.scale) not in (1, x.shape[-1]):
            self.fail(f"'scale' and 'offset' have {len(self.scale)} values; X has {x.shape[-1]} features per row "
                      "(expected that many or 1)")
        return (_common.as_float32(self, (x.astype(np.float64) - self.offset) * self.scale),)
