"""TreeEnsembleRegressor (ai.onnx.ml 1; 3 adds the double-precision `*_as_tensor` attributes; ai.onnx.ml 5
deprecates it for TreeEnsemble, and a node of that opset is refused, as onnx's checker and
onnxruntime refuse it).

Y[n, t] = base_values[t] + AGG over the trees of the weights for target t at the leaf sample n
reaches (SUM; AVERAGE: the sum divided by the number of trees; MIN/MAX over the trees whose leaf
has a weight for t, 0 if none has), then `post_transform` over each row. Trees, comparisons and the
checks done at plan time: refruntime/kernels/trees.py. Computed in float64 from the float32 (or, as
tensors, double) attributes, rounded once to float32.

Where runtimes differ: with a single target onnxruntime applies only PROBIT and ignores the other
post transforms; the operator doc applies the transform to the score, and so does this kernel.
`base_values` must have 0 or n_targets values (onnxruntime silently ignores other lengths).
"""
import numpy as np

from refruntime.ops._common import check_alloc
from refruntime.ops.ai_onnx_ml import _common
from refruntime.ops.base import OpRun


class _TreeEnsembleRegressor(OpRun):
    def prepare(self):
        from refruntime.kernels import trees

        a = self.attributes
        self.function = _common.choice(self, "aggregate_function", a.get("aggregate_function", "SUM"),
                                       trees.AGGREGATES)
        self.post_transform = _common.choice(self, "post_transform", a.get("post_transform", "NONE"),
                                             _common.POST_TRANSFORMS)
        n_targets = a.get("n_targets")
        if n_targets is None or n_targets < 1:
            self.refuse(f"attribute 'n_targets' must be given and at least 1, got {n_targets}")
        as_tensor = a.get("nodes_values_as_tensor") is not None
        values = _common.floats(self, "nodes_values", a.get("nodes_values"), a.get("nodes_values_as_tensor"))
        hitrates = _common.floats(self, "nodes_hitrates", a.get("nodes_hitrates"), a.get("nodes_hitrates_as_tensor"))
        self.forest = trees.forest_from_ids(
            self, tree_ids=a.get("nodes_treeids"), node_ids=a.get("nodes_nodeids"),
            feature_ids=a.get("nodes_featureids"), modes=a.get("nodes_modes"), values=values,
            true_ids=a.get("nodes_truenodeids"), false_ids=a.get("nodes_falsenodeids"),
            missing_tracks=a.get("nodes_missing_value_tracks_true"), hitrates=hitrates,
            weight_tree_ids=a.get("target_treeids"), weight_node_ids=a.get("target_nodeids"),
            weight_targets=a.get("target_ids"),
            weight_values=_common.floats(self, "target_weights", a.get("target_weights"),
                                         a.get("target_weights_as_tensor")),
            n_targets=n_targets, prefix="target",
            values_name="nodes_values_as_tensor" if as_tensor else "nodes_values",
            threshold_dtype=a["nodes_values_as_tensor"].dtype if as_tensor else np.float32)
        base = _common.floats(self, "base_values", a.get("base_values"), a.get("base_values_as_tensor"))
        if base is not None and len(base) not in (0, n_targets):
            self.refuse(f"attribute 'base_values' has {len(base)} values; expected n_targets = {n_targets} (or none)")
        self.base = base if base is not None and len(base) else None

    def _regress(self, x):
        from refruntime.kernels import trees

        features = trees.as_features(self, self.forest, x)
        check_alloc(self, (features.shape[0], self.forest.n_targets), np.float64)
        scores, _ = trees.aggregate(self.forest, trees.leaves(self.forest, features), self.function)
        if self.base is not None:
            scores = scores + self.base
        return (_common.as_float32(self, _common.transform(scores, self.post_transform)),)


class TreeEnsembleRegressor(_TreeEnsembleRegressor):
    def _run(self, x, aggregate_function="SUM", base_values=None, n_targets=None, nodes_falsenodeids=None,
             nodes_featureids=None, nodes_hitrates=None, nodes_missing_value_tracks_true=None, nodes_modes=None,
             nodes_nodeids=None, nodes_treeids=None, nodes_truenodeids=None, nodes_values=None,
             post_transform="NONE", target_ids=None, target_nodeids=None, target_treeids=None, target_weights=None):
        return self._regress(x)


class TreeEnsembleRegressor_3(_TreeEnsembleRegressor):
    def _run(self, x, aggregate_function="SUM", base_values=None, base_values_as_tensor=None, n_targets=None,
             nodes_falsenodeids=None, nodes_featureids=None, nodes_hitrates=None, nodes_hitrates_as_tensor=None,
             nodes_missing_value_tracks_true=None, nodes_modes=None, nodes_nodeids=None, nodes_treeids=None,
             nodes_truenodeids=None, nodes_values=None, nodes_values_as_tensor=None, post_transform="NONE",
             target_ids=None, target_nodeids=None, target_treeids=None, target_weights=None,
             target_weights_as_tensor=None):
        return self._regress(x)


class TreeEnsembleRegressor_5(OpRun):
    def prepare(self):
        self.refuse("TreeEnsembleRegressor is deprecated from ai.onnx.ml 5 on (onnx's checker and onnxruntime refuse it): "
                    "use TreeEnsemble, or import ai.onnx.ml 3")

    def _run(self, x):  # pragma: no cover - never planned
        raise NotImplementedError
