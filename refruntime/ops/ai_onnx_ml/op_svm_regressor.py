"""SVMRegressor (ai.onnx.ml 1), as onnxruntime evaluates it (svmregressor.cc): with n_supports = V > 0
support vectors, y = sum_v coefficients[v] K(x, v) + rho[0] (kernels: _svm.py); with none, the
linear model y = x . coefficients + rho[0]. one_class = 1 (one-class SVM) outputs 1 where y > 0 and
-1 elsewhere. Y is (N, 1) float32, computed in float64.

`post_transform` applies to y before the one-class sign, as documented ("the transform to apply to
the score"); onnxruntime ignores it (converters write NONE).
"""
import numpy as np

from refruntime.ops.ai_onnx_ml import _common, _svm
from refruntime.ops.base import OpRun


class SVMRegressor(OpRun):
    def prepare(self):
        a = self.attributes
        self.kind = _common.choice(self, "kernel_type", a.get("kernel_type", "LINEAR"), _common.KERNEL_TYPES)
        self.post_transform = _common.choice(self, "post_transform", a.get("post_transform", "NONE"),
                                             _common.POST_TRANSFORMS)
        self.params = _svm.kernel_params(self, a.get("kernel_params"))
        count = a.get("n_supports", 0)
        if count < 0:
            self.refuse(f"attribute 'n_supports' is {count}; it counts support vectors")
        coefficients = np.asarray(a.get("coefficients") or [], dtype=np.float32).astype(np.float64)
        rho = np.asarray(a.get("rho") or [], dtype=np.float32).astype(np.float64)
        if not coefficients.size:
            self.refuse("attribute 'coefficients' is missing or empty")
        if not rho.size:
            self.refuse("attribute 'rho' is missing or empty")
        self.vectors = _svm.support_vectors(self, a.get("support_vectors"), count) if count else None
        if count and len(coefficients) != count:
            self.refuse(f"attribute 'coefficients' has {len(coefficients)} values; n_supports = {count} needs one per "
                        "support vector")
        self.coefficients, self.rho = coefficients, float(rho[0])
        self.one_class = bool(a.get("one_class", 0))

    def _run(self, x, coefficients=None, kernel_params=None, kernel_type="LINEAR", n_supports=0, one_class=0,
             post_transform="NONE", rho=None, support_vectors=None):
        if self.vectors is not None:
            x = _svm.check_features(self, x, self.vectors.shape[1])
            y = _svm.apply_kernel(self.kind, x, self.vectors, self.params) @ self.coefficients + self.rho
        else:
            x = _svm.check_features(self, x, len(self.coefficients))
            y = x @ self.coefficients + self.rho
        y = _common.transform(y.reshape(-1, 1), self.post_transform)
        if self.one_class:
            y = np.where(y > 0, 1.0, -1.0)
        return (_common.as_float32(self, y),)
