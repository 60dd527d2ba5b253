"""TreeEnsemble (ai.onnx.ml 5): Y[n, t] = AGG over the trees of the weight of the leaf sample n
reaches, for the leaves whose target is t (SUM, AVERAGE = sum / number of trees, MIN, MAX; 0 where
no leaf reached has target t), then `post_transform` over each row. Y has X's type (float, double,
float16), computed in float64 and rounded once.

Interior nodes are the positions of the nodes_* attributes (BRANCH_LEQ .. BRANCH_MEMBER as 0 .. 6;
a BRANCH_MEMBER node tests membership in its NaN-terminated list of `membership_values`), leaves
the positions of the leaf_* attributes; `nodes_trueleafs`/`nodes_falseleafs` say which one a branch
names. Walk and plan-time checks: refruntime/kernels/trees.py.

Where runtimes differ: a tree whose root has both branches on the same leaf is, per the doc, that
leaf; onnxruntime and onnx.reference read the leaf at the root's own position instead (the same
leaf only when the two positions coincide), and onnxruntime also takes a root whose two branches name
the same interior node for a leaf. onnx.reference ignores `post_transform`; onnxruntime applies only
PROBIT when there is one target (as for TreeEnsembleRegressor); this kernel applies it as documented.
"""

import numpy as np

from refruntime.ops._common import check_alloc
from refruntime.ops.ai_onnx_ml import _common
from refruntime.ops.base import OpRun


class TreeEnsemble_5(OpRun):
    def prepare(self):
        from refruntime.kernels import trees

        a = self.attributes
        aggregate, post = a.get("aggregate_function", 1), a.get("post_transform", 0)
        if not 0 <= aggregate < len(trees.AGGREGATES):
            self.refuse(f"attribute 'aggregate_function' is {aggregate}; expected 0 (AVERAGE), 1 (SUM), 2 (MIN) "
                        "or 3 (MAX)")
        if not 0 <= post < len(_common.POST_TRANSFORMS):
            self.refuse(f"attribute 'post_transform' is {post}; expected 0 (NONE), 1 (SOFTMAX), 2 (LOGISTIC), "
                        "3 (SOFTMAX_ZERO) or 4 (PROBIT)")
        self.function, self.post_transform = trees.AGGREGATES[aggregate], _common.POST_TRANSFORMS[post]
        n_targets = a.get("n_targets")
        if n_targets is None or n_targets < 1:
            self.refuse(f"attribute 'n_targets' must be given and at least 1, got {n_targets}")
        self.forest = trees.forest_from_v5(
            self, featureids=a.get("nodes_featureids"), modes=a.get("nodes_modes"), splits=a.get("nodes_splits"),
            truenodeids=a.get("nodes_truenodeids"), falsenodeids=a.get("nodes_falsenodeids"),
            trueleafs=a.get("nodes_trueleafs"), falseleafs=a.get("nodes_falseleafs"),
            missing_tracks=a.get("nodes_missing_value_tracks_true"), hitrates=a.get("nodes_hitrates"),
            leaf_targetids=a.get("leaf_targetids"), leaf_weights=a.get("leaf_weights"),
            tree_roots=a.get("tree_roots"), membership_values=a.get("membership_values"), n_targets=n_targets)

    def _run(self, x, aggregate_function=1, leaf_targetids=None, leaf_weights=None, membership_values=None,
             n_targets=None, nodes_falseleafs=None, nodes_falsenodeids=None, nodes_featureids=None,
             nodes_hitrates=None, nodes_missing_value_tracks_true=None, nodes_modes=None, nodes_splits=None,
             nodes_trueleafs=None, nodes_truenodeids=None, post_transform=0, tree_roots=None):
        from refruntime.kernels import trees

        features = trees.as_features(self, self.forest, x)
        check_alloc(self, (features.shape[0], self.forest.n_targets), np.float64)
        scores, _ = trees.aggregate(self.forest, trees.leaves(self.forest, features), self.function)
        return (_common.transform(scores, self.post_transform).astype(x.dtype),)
