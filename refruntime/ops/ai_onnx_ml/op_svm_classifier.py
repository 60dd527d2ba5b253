"""SVMClassifier (ai.onnx.ml 1). The doc names the attributes and no formulas; this is libsvm's model
as onnxruntime evaluates it (onnxruntime/core/providers/cpu/ml/svmclassifier.cc), which is what
scikit-learn's SVC/NuSVC converters produce.

SVC mode (vectors_per_class given): V support vectors, grouped by class; `coefficients` is
(classes - 1, V) (libsvm's dual coefficients). For each pair of classes i < j (k-th pair, in order
(0,1), (0,2) .. (1,2) ..), the decision value is
    f_k = sum_{v in i} coef[j-1, v] K(x, v) + sum_{v in j} coef[i, v] K(x, v) + rho[k]
and class i gets a vote when f_k > 0, class j otherwise. Label = the class with most votes (the
first on ties), as libsvm predicts. Z: with prob_a/prob_b, libsvm's probability estimates
(_svm.pairwise_probabilities: Platt sigmoids coupled by multiclass_probability; onnx.reference
builds the coupling matrix wrongly, filling each row with one dot product, and its probabilities
differ); without them, the decision values f_k, or for two classes onnxruntime's pair
_common.binary_pair(f, code 2 under NONE, 0 otherwise): [-f, f], [logistic(-f), logistic(f)] under
LOGISTIC, [1 - f, f] under the other transforms.
Linear mode (no support vectors): Z = X coefficients^T + rho[0], one score per class, label = the
best score (for two classes without prob_a, onnxruntime's thresholds: class 1 if all coefficients
are >= 0 and the best score >= 0.5, or they are not and it is > 0).
`post_transform` then applies to Z (for two classes without probabilities, as in binary_pair).
Computed in float64 from the float32 attributes; Z rounded once to float32.
"""
import numpy as np

from refruntime.ops.ai_onnx_ml import _common, _svm
from refruntime.ops.base import OpRun


class SVMClassifier(OpRun):
    def prepare(self):
        a = self.attributes
        self.kind = _common.choice(self, "kernel_type", a.get("kernel_type", "LINEAR"), _common.KERNEL_TYPES)
        self.post_transform = _common.choice(self, "post_transform", a.get("post_transform", "NONE"),
                                             _common.POST_TRANSFORMS)
        self.params = _svm.kernel_params(self, a.get("kernel_params"))
        self.labels = _common.class_labels(self, "classlabels_ints", a.get("classlabels_ints"),
                                           "classlabels_strings", a.get("classlabels_strings"))
        c = len(self.labels)
        if c < 2:
            self.refuse(f"a classifier needs at least 2 class labels, got {c}")
        coefficients = np.asarray(a.get("coefficients") or [], dtype=np.float32).astype(np.float64)
        rho = np.asarray(a.get("rho") or [], dtype=np.float32).astype(np.float64)
        prob_a = np.asarray(a.get("prob_a") or [], dtype=np.float32).astype(np.float64)
        prob_b = np.asarray(a.get("prob_b") or [], dtype=np.float32).astype(np.float64)
        per_class = _common.ints(a.get("vectors_per_class"))
        pairs = c * (c - 1) // 2
        if not coefficients.size:
            self.refuse("attribute 'coefficients' is missing or empty")
        if len(prob_a) != len(prob_b):
            self.refuse(f"attributes 'prob_a' and 'prob_b' have {len(prob_a)} and {len(prob_b)} values; they pair up")
        self.prob_a, self.prob_b = prob_a, prob_b
        self.positive = bool(np.all(coefficients >= 0))
        vectors = int(per_class.sum()) if per_class.size else 0
        self.svc = vectors > 0
        if self.svc:
            if len(per_class) != c or np.any(per_class < 0):
                self.refuse(f"attribute 'vectors_per_class' has {len(per_class)} values {_few(per_class)}; expected "
                            f"one non-negative count per class ({c})")
            self.vectors = _svm.support_vectors(self, a.get("support_vectors"), vectors)
            if len(coefficients) != (c - 1) * vectors:
                self.refuse(f"attribute 'coefficients' has {len(coefficients)} values; {c} classes and {vectors} "
                            f"support vectors need (classes - 1) x vectors = {(c - 1) * vectors}")
            if len(rho) != pairs:
                self.refuse(f"attribute 'rho' has {len(rho)} values; {c} classes need one per pair of classes ({pairs})")
            if len(prob_a) not in (0, pairs):
                self.refuse(f"attributes 'prob_a'/'prob_b' have {len(prob_a)} values; expected one per pair of "
                            f"classes ({pairs})")
            self.pair_matrix, self.pair_classes = _pair_matrix(coefficients.reshape(c - 1, vectors), per_class)
            self.rho = rho
        else:
            if len(coefficients) % c:
                self.refuse(f"attribute 'coefficients' has {len(coefficients)} values, not one row per class ({c})")
            if not len(rho):
                self.refuse("attribute 'rho' is missing or empty")
            self.coefficients, self.rho = coefficients.reshape(c, -1), rho

    def _run(self, x, classlabels_ints=None, classlabels_strings=None, coefficients=None, kernel_params=None,
             kernel_type="LINEAR", post_transform="NONE", prob_a=None, prob_b=None, rho=None, support_vectors=None,
             vectors_per_class=None):
        if self.svc:
            label, z = self._svc(_svm.check_features(self, x, self.vectors.shape[1]))
        else:
            label, z = self._linear(_svm.check_features(self, x, self.coefficients.shape[1]))
        return self.labels[label], _common.as_float32(self, z)

    def _svc(self, x):
        c = len(self.labels)
        scores = _svm.apply_kernel(self.kind, x, self.vectors, self.params) @ self.pair_matrix + self.rho
        first, second = self.pair_classes
        winner = np.where(scores > 0, first, second)
        votes = np.stack([(winner == k).sum(axis=1) for k in range(c)], axis=1)  # per class, not per sample
        label = np.argmax(votes, axis=1)
        if self.prob_a.size:
            z = _common.transform(_svm.pairwise_probabilities(scores, self.prob_a, self.prob_b, c), self.post_transform)
        elif c == 2:
            z = _common.binary_pair(scores[:, 0], self.post_transform, 2 if self.post_transform == "NONE" else 0)
        else:
            z = _common.transform(scores, self.post_transform)
        return label, z

    def _linear(self, x):
        scores = x @ self.coefficients.T + self.rho[0]
        label = np.argmax(scores, axis=1)
        if len(self.labels) == 2 and not self.prob_a.size:
            best = scores.max(axis=1)
            one = (best >= 0.5) if self.positive else (best > 0)
            label = np.where(one, 1, label)
        return label, _common.transform(scores, self.post_transform)


def _pair_matrix(coefficients: np.ndarray, per_class: np.ndarray):
    """(V, pairs) matrix M with decision values = K(x, vectors) @ M + rho, and the two classes of
    each pair: for pair (i, j), M[v, k] = coef[j-1, v] for the vectors v of class i and coef[i, v]
    for those of class j."""
    c, vectors = len(per_class), coefficients.shape[1]
    start = np.concatenate([[0], np.cumsum(per_class)])
    pairs = [(i, j) for i in range(c) for j in range(i + 1, c)]
    matrix = np.zeros((vectors, len(pairs)))
    for k, (i, j) in enumerate(pairs):
        matrix[start[i]:start[i + 1], k] = coefficients[j - 1, start[i]:start[i + 1]]
        matrix[start[j]:start[j + 1], k] = coefficients[i, start[j]:start[j + 1]]
    return matrix, (np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))


def _few(values) -> str:
    values = [int(v) for v in values]
    return str(values[:6])[:-1] + (", ...]" if len(values) > 6 else "]")
