"""LinearRegressor (ai.onnx.ml 1): Y = X coefficients^T + intercepts, `targets` rows of coefficients
(one per target, contiguous), then post_transform over each row. Intercepts must number `targets`
or be absent (onnxruntime silently ignores other lengths; they are refused here). Computed in
float64 from the float32 attributes; Y rounded once to float32. With a single target onnxruntime
applies only PROBIT and ignores the other transforms; the doc applies the transform to the output,
and so does this kernel (converters write NONE).
"""
import numpy as np

from refruntime.ops.ai_onnx_ml import _common
from refruntime.ops.base import OpRun


class LinearRegressor(OpRun):
    def prepare(self):
        a = self.attributes
        self.post_transform = _common.choice(self, "post_transform", a.get("post_transform", "NONE"),
                                             _common.POST_TRANSFORMS)
        targets = a.get("targets", 1)
        coefficients = np.asarray(a.get("coefficients") or [], dtype=np.float32).astype(np.float64)
        intercepts = np.asarray(a.get("intercepts") or [], dtype=np.float32).astype(np.float64)
        if targets < 1:
            self.refuse(f"attribute 'targets' is {targets}; at least 1 target is needed")
        if not coefficients.size or len(coefficients) % targets:
            self.refuse(f"attribute 'coefficients' has {len(coefficients)} values, not one row per target ({targets})")
        if len(intercepts) not in (0, targets):
            self.refuse(f"attribute 'intercepts' has {len(intercepts)} values; expected one per target ({targets})")
        self.coefficients = coefficients.reshape(targets, -1)
        self.intercepts = intercepts if len(intercepts) else np.zeros(targets)

    def _run(self, x, coefficients=None, intercepts=None, post_transform="NONE", targets=1):
        x = _common.rows(self, x)
        if x.shape[1] != self.coefficients.shape[1]:
            self.fail(f"input X has {x.shape[1]} features per row; the coefficients have {self.coefficients.shape[1]}")
        y = x @ self.coefficients.T + self.intercepts
        return (_common.as_float32(self, _common.transform(y, self.post_transform)),)
