"""LinearClassifier (ai.onnx.ml 1): scores = X coefficients^T + intercepts, one row of coefficients
per intercept (class_count = len(intercepts)); then, as onnxruntime defines what the doc leaves
open (linearclassifier.cc):
- several classes: label = the class with the highest raw score (the first on ties), Z =
  post_transform(scores). `multi_class` does not change the computation.
- one row of coefficients (a binary model, which needs exactly two class labels, as onnxruntime
  requires): label = class 1 where the score s is > 0, class 0 elsewhere; Z = _common.binary_pair
  (code 1): [logistic(-s), logistic(s)] under LOGISTIC, [1 - s, s] otherwise (onnx.reference
  writes [-s, s] and then applies the transform).
Computed in float64 from the float32 attributes; Z rounded once to float32.
"""
import numpy as np

from refruntime.ops.ai_onnx_ml import _common
from refruntime.ops.base import OpRun


class LinearClassifier(OpRun):
    def prepare(self):
        a = self.attributes
        self.post_transform = _common.choice(self, "post_transform", a.get("post_transform", "NONE"),
                                             _common.POST_TRANSFORMS)
        self.labels = _common.class_labels(self, "classlabels_ints", a.get("classlabels_ints"),
                                           "classlabels_strings", a.get("classlabels_strings"))
        coefficients = np.asarray(a.get("coefficients") or [], dtype=np.float32).astype(np.float64)
        intercepts = np.asarray(a.get("intercepts") or [], dtype=np.float32).astype(np.float64)
        if not coefficients.size:
            self.refuse("attribute 'coefficients' is missing or empty")
        targets = len(intercepts) if len(intercepts) else len(self.labels)
        if targets == 1 and len(self.labels) != 2:
            self.refuse(f"one row of coefficients is a binary model and needs exactly 2 class labels, got "
                        f"{len(self.labels)}")
        if targets == 0 or len(coefficients) % targets:
            self.refuse(f"attribute 'coefficients' has {len(coefficients)} values, not a whole number of rows for "
                        f"{targets} classes (one row per {'intercept' if len(intercepts) else 'class label'})")
        if targets > 1 and targets != len(self.labels):
            self.refuse(f"attribute 'intercepts' gives {targets} classes, but there are {len(self.labels)} class labels")
        self.coefficients = coefficients.reshape(targets, -1)
        self.intercepts = intercepts if len(intercepts) else np.zeros(targets)

    def _run(self, x, classlabels_ints=None, classlabels_strings=None, coefficients=None, intercepts=None,
             multi_class=0, post_transform="NONE"):
        x = _common.rows(self, x)
        if x.shape[1] != self.coefficients.shape[1]:
            self.fail(f"input X has {x.shape[1]} features per row; the coefficients have {self.coefficients.shape[1]}")
        scores = x @ self.coefficients.T + self.intercepts
        if scores.shape[1] > 1:
            z = _common.transform(scores, self.post_transform)
            return self.labels[np.argmax(scores, axis=1)], _common.as_float32(self, z)
        z = _common.binary_pair(scores[:, 0], self.post_transform, 1)
        return self.labels[(scores[:, 0] > 0).astype(np.int64)], _common.as_float32(self, z)
