"""TreeEnsembleClassifier (ai.onnx.ml 1; 3 adds the double-precision `*_as_tensor` attributes; ai.onnx.ml 5
deprecates it for TreeEnsemble, and a node of that opset is refused, as onnx's checker and
onnxruntime refuse it).

Scores: per sample and class, the sum over the trees of the class weights at the leaf reached
(refruntime/kernels/trees.py walks the trees and checks them at plan time), plus `base_values`.
The operator doc says no more; the rest is onnxruntime's definition (tree_ensemble_aggregator.h,
TreeAggregatorClassifier), which the converters target:
- more than two classes: label = the class with the highest score among those that some leaf (or a
  base value) scored; Z = post_transform(scores).
- two classes. "Binary case" = every weight is for the same class id. With two base values, a row
  whose class 1 has a score gets s1 = base[1] + s0 and s0 = -s1 (onnxruntime reads the class-0 sum
  there); otherwise each base value is added to its class. With one base value it is added to
  class 0. A row whose class 1 got no weight then has one score s (its class-0 sum). In Z, a class
  that no leaf weight scored reads as 0 even after a base value was added to it (onnxruntime's
  ScoreValue keeps a has-score flag that base values do not set). The positive
  weight p is the class-1 score if it has one, else the class-0 score. In the binary case the label
  is class 1 when p > 0.5 (all weights >= 0) or p > 0 (mixed signs); otherwise it is label index 1
  when p > 0 (for int64 labels onnxruntime writes the literal 1 or 0, not classlabels_int64s[1|0]).
  Z: a row with two scores gets post_transform([s0, s1]); a row with one score gets
  _common.binary_pair (e.g. [1 - s, s] for positive weights, [logistic(-s), logistic(s)] under
  LOGISTIC).
Computed in float64 from the attributes, Z rounded once to float32. A classifier with fewer than two
class labels is refused (onnxruntime's one-class path writes labels it never defines).
"""
import numpy as np

from refruntime.ops._common import check_alloc
from refruntime.ops.ai_onnx_ml import _common
from refruntime.ops.base import OpRun


class _TreeEnsembleClassifier(OpRun):
    def prepare(self):
        from refruntime.kernels import trees

        a = self.attributes
        self.post_transform = _common.choice(self, "post_transform", a.get("post_transform", "NONE"),
                                             _common.POST_TRANSFORMS)
        self.labels = _common.class_labels(self, "classlabels_int64s", a.get("classlabels_int64s"),
                                           "classlabels_strings", a.get("classlabels_strings"))
        n_classes = len(self.labels)
        if n_classes < 2:
            self.refuse(f"a classifier needs at least 2 class labels, got {n_classes}")
        as_tensor = a.get("nodes_values_as_tensor") is not None
        weights = _common.floats(self, "class_weights", a.get("class_weights"), a.get("class_weights_as_tensor"))
        self.forest = trees.forest_from_ids(
            self, tree_ids=a.get("nodes_treeids"), node_ids=a.get("nodes_nodeids"),
            feature_ids=a.get("nodes_featureids"), modes=a.get("nodes_modes"),
            values=_common.floats(self, "nodes_values", a.get("nodes_values"), a.get("nodes_values_as_tensor")),
            true_ids=a.get("nodes_truenodeids"), false_ids=a.get("nodes_falsenodeids"),
            missing_tracks=a.get("nodes_missing_value_tracks_true"),
            hitrates=_common.floats(self, "nodes_hitrates", a.get("nodes_hitrates"),
                                    a.get("nodes_hitrates_as_tensor")),
            weight_tree_ids=a.get("class_treeids"), weight_node_ids=a.get("class_nodeids"),
            weight_targets=a.get("class_ids"), weight_values=weights, n_targets=n_classes, prefix="class",
            values_name="nodes_values_as_tensor" if as_tensor else "nodes_values",
            threshold_dtype=a["nodes_values_as_tensor"].dtype if as_tensor else np.float32)
        base = _common.floats(self, "base_values", a.get("base_values"), a.get("base_values_as_tensor"))
        base = base if base is not None and len(base) else None
        if base is not None and not (len(base) == n_classes or (n_classes == 2 and len(base) == 1)):
            self.refuse(f"attribute 'base_values' has {len(base)} values; expected one per class ({n_classes})"
                        + (" or 1" if n_classes == 2 else ""))
        self.base = base
        ids = _common.ints(a.get("class_ids"))
        self.binary_case = n_classes == 2 and len(np.unique(ids)) == 1
        self.positive_weights = weights is None or bool(np.all(weights >= 0))

    def _classify(self, x):
        from refruntime.kernels import trees

        features = trees.as_features(self, self.forest, x)
        check_alloc(self, (features.shape[0], self.forest.n_targets), np.float64)
        scores, has = trees.aggregate(self.forest, trees.leaves(self.forest, features), "SUM")
        if len(self.labels) > 2:
            label, z = self._multiclass(scores, has)
        else:
            label, z = self._two_classes(scores, has)
        return label, _common.as_float32(self, z)

    def _multiclass(self, scores, has):
        if self.base is not None:
            scores, has = scores + self.base, np.ones_like(has)
        if not has.any(axis=1).all():
            row = int(np.flatnonzero(~has.any(axis=1))[0])
            self.fail(f"row {row} reaches leaves that score no class and there are no base values: its label is "
                      "undefined (onnxruntime fails too)")
        best = np.argmax(np.where(has, scores, -np.inf), axis=1)
        return self.labels[best], _common.transform(scores, self.post_transform)

    def _two_classes(self, scores, has):
        s0, s1, h0, h1 = scores[:, 0].copy(), scores[:, 1].copy(), has[:, 0], has[:, 1]
        code = -1
        base = self.base
        if base is not None and len(base) == 2:
            s1 = np.where(h1, base[1] + s0, s1 + base[1])
            s0 = np.where(h1, -s1, s0 + base[0])
            single = np.zeros(len(s0), dtype=bool)
        else:
            if base is not None:
                s0 = s0 + base[0]
            else:
                code = 3
            single = ~h1
        positive = np.where(h1 & ~single, s1, np.where(h0, s0, 0.0))
        if self.binary_case:
            if self.positive_weights:
                chosen = positive > 0.5
                code = np.where(chosen, 0, 1)
            else:
                chosen = positive > 0
                code = np.where(chosen, 2, 3)
            label = self.labels[chosen.astype(np.int64)]
        else:
            chosen = positive > 0
            # onnxruntime's positive/negative labels here are the values 1 and 0 (indices 1 and 0 for strings)
            label = self.labels[chosen.astype(np.int64)] if self.labels.dtype.kind == "O" else chosen.astype(np.int64)
            code = np.full(len(s0), code)
        s0, s1 = np.where(h0, s0, 0.0), np.where(h1, s1, 0.0)  # a score no weight set reads as 0 (ScoreValue)
        z = _common.transform(np.stack([s0, s1], axis=1), self.post_transform)
        if single.any():
            for c in np.unique(code[single]):
                rows = single & (code == c)
                if c < 0:  # onnxruntime writes the one score and leaves the other column unwritten
                    one = _common.probit(s0[rows]) if self.post_transform == "PROBIT" else s0[rows]
                    z[rows] = np.stack([one, np.zeros(rows.sum())], axis=1)
                else:
                    z[rows] = _common.binary_pair(s0[rows], self.post_transform, int(c))
        return label, z


class TreeEnsembleClassifier(_TreeEnsembleClassifier):
    def _run(self, x, base_values=None, class_ids=None, class_nodeids=None, class_treeids=None, class_weights=None,
             classlabels_int64s=None, classlabels_strings=None, nodes_falsenodeids=None, nodes_featureids=None,
             nodes_hitrates=None, nodes_missing_value_tracks_true=None, nodes_modes=None, nodes_nodeids=None,
             nodes_treeids=None, nodes_truenodeids=None, nodes_values=None, post_transform="NONE"):
        return self._classify(x)


class TreeEnsembleClassifier_3(_TreeEnsembleClassifier):
    def _run(self, x, base_values=None, base_values_as_tensor=None, class_ids=None, class_nodeids=None,
             class_treeids=None, class_weights=None, class_weights_as_tensor=None, classlabels_int64s=None,
             classlabels_strings=None, nodes_falsenodeids=None, nodes_featureids=None, nodes_hitrates=None,
             nodes_hitrates_as_tensor=None, nodes_missing_value_tracks_true=None, nodes_modes=None,
             nodes_nodeids=None, nodes_treeids=None, nodes_truenodeids=None, nodes_values=None,
             nodes_values_as_tensor=None, post_transform="NONE"):
        return self._classify(x)


class TreeEnsembleClassifier_5(OpRun):
    def prepare(self):
        self.refuse("TreeEnsembleClassifier is deprecated from ai.onnx.ml 5 on (onnx's checker and onnxruntime refuse it): "
                    "use TreeEnsemble, or import ai.onnx.ml 3")

    def _run(self, x):  # pragma: no cover - never planned
        raise NotImplementedError
