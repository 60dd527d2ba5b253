"""The ai.onnx.ml kernels one by one: hand-computed values, plan-time refusals of malformed trees and
SVMs, sequence/map feeds, and randomly built models against onnxruntime (where onnxruntime
departs from the operator doc, the case is left out and the module docstring of the kernel says so).

Models built from scikit-learn, LightGBM and XGBoost: test_ml_models.py.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from refruntime import FeedError, ModelError, Session
from refruntime.errors import KernelError

F, D, I64, S = TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.INT64, TensorProto.STRING


def ml_model(node, inputs, outputs, ml_opset=3, opset=18):
    """A one-node model; `inputs`/`outputs`: (name, elem type, shape) or ready ValueInfoProtos."""
    def info(v):
        return v if not isinstance(v, tuple) else helper.make_tensor_value_info(*v)

    graph = helper.make_graph([node], "g", [info(v) for v in inputs], [info(v) for v in outputs])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                   helper.make_opsetid("ai.onnx.ml", ml_opset)], ir_version=10)


def ml_node(op, inputs, outputs, name="n", **attrs):
    return helper.make_node(op, inputs, outputs, domain="ai.onnx.ml", name=name, **attrs)


def run(model, **feeds):
    session = Session(model)
    assert session.fallback_nodes() == []
    return session.run(feeds)


def tensor(name, values, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


# -- trees: hand-built ---------------------------------------------------------------------------
# tree 0:  node 0: x0 <= 0.5 ? node 1 : node 2;  node 1: leaf 1;  node 2: x1 < 2 ? node 3 : node 4;
#          node 3: leaf 10;  node 4: leaf 100
TREE0 = {"nodes_treeids": [0] * 5, "nodes_nodeids": [0, 1, 2, 3, 4], "nodes_featureids": [0, 0, 1, 0, 0],
             "nodes_modes": ["BRANCH_LEQ", "LEAF", "BRANCH_LT", "LEAF", "LEAF"], "nodes_values": [0.5, 0, 2, 0, 0],
             "nodes_truenodeids": [1, 0, 3, 0, 0], "nodes_falsenodeids": [2, 0, 4, 0, 0]}
X_TREE = np.array([[0, 0], [1, 1], [1, 3], [0.5, 9], [np.nan, 0], [1, np.nan]], np.float32)


def regressor(extra_nodes=None, **attrs):
    nodes = {k: list(v) for k, v in TREE0.items()}
    weights = {"target_treeids": [0, 0, 0], "target_nodeids": [1, 3, 4], "target_ids": [0, 0, 0],
                   "target_weights": [1.0, 10.0, 100.0]}
    for k, v in (extra_nodes or {}).items():
        (nodes if k.startswith("nodes_") else weights)[k] += v
    params = {"n_targets": 1, **nodes, **weights, **attrs}
    return ml_model(ml_node("TreeEnsembleRegressor", ["X"], ["Y"], **params), [("X", F, [None, 2])],
                    [("Y", F, [None, params["n_targets"]])])


def test_tree_walk_by_hand():
    y = run(regressor(), X=X_TREE)["Y"]
    # NaN <= 0.5 is false (node 2), NaN < 2 is false (node 4)
    np.testing.assert_array_equal(y[:, 0], [1, 10, 100, 1, 10, 100])


def test_tree_missing_values_track_true():
    y = run(regressor(nodes_missing_value_tracks_true=[1, 0, 1, 0, 0]), X=X_TREE)["Y"]
    np.testing.assert_array_equal(y[:, 0], [1, 10, 100, 1, 1, 10])


def test_tree_ensemble_aggregates_and_base_values():
    # tree 1: x1 >= 1 ? leaf -5 : leaf 7 (node ids need not start at 0 nor be contiguous)
    second = {"nodes_treeids": [1, 1, 1], "nodes_nodeids": [10, 12, 11], "nodes_featureids": [1, 0, 0],
                  "nodes_modes": ["BRANCH_GTE", "LEAF", "LEAF"], "nodes_values": [1, 0, 0], "nodes_truenodeids": [11, 0, 0],
                  "nodes_falsenodeids": [12, 0, 0], "target_treeids": [1, 1], "target_nodeids": [11, 12], "target_ids": [0, 0],
                  "target_weights": [-5.0, 7.0]}
    first = np.array([1, 10, 100, 1, 10, 100], np.float64)
    other = np.array([7, -5, -5, -5, 7, 7], np.float64)  # NaN >= 1 is false
    cases = {"SUM": first + other, "AVERAGE": (first + other) / 2, "MIN": np.minimum(first, other),
             "MAX": np.maximum(first, other)}
    for function, expected in cases.items():
        y = run(regressor(second, aggregate_function=function, base_values=[0.25]), X=X_TREE)["Y"]
        np.testing.assert_allclose(y[:, 0], expected + 0.25, err_msg=function)


def test_tree_multi_target_leaf_with_several_weights():
    model = regressor({"target_treeids": [0, 0], "target_nodeids": [1, 1], "target_ids": [1, 1], "target_weights": [2.0, 3.0]},
                      n_targets=2, post_transform="SOFTMAX")
    y = run(model, X=X_TREE[:2])["Y"]
    raw = np.array([[1.0, 5.0], [10.0, 0.0]])
    expected = np.exp(raw) / np.exp(raw).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(y, expected, rtol=1e-6)


def test_tree_integer_input_compares_as_float():
    model = regressor()
    model.graph.input[0].type.tensor_type.elem_type = I64
    y = run(model, X=np.array([[0, 0], [1, 1], [1, 5]], np.int64))["Y"]
    np.testing.assert_array_equal(y[:, 0], [1, 10, 100])


def test_tree_classifier_by_hand():
    params = {k: v for k, v in TREE0.items()}
    node = ml_node("TreeEnsembleClassifier", ["X"], ["Y", "Z"], **params, class_treeids=[0] * 6,
                   class_nodeids=[1, 1, 3, 3, 4, 4], class_ids=[0, 1, 0, 1, 1, 2],
                   class_weights=[0.9, 0.1, 0.2, 0.8, 0.5, 0.5], classlabels_strings=["a", "b", "c"],
                   base_values=[0.0, 0.0, 0.1])
    out = run(ml_model(node, [("X", F, [None, 2])], [("Y", S, [None]), ("Z", F, [None, 3])]), X=X_TREE[:3])
    np.testing.assert_allclose(out["Z"], [[0.9, 0.1, 0.1], [0.2, 0.8, 0.1], [0.0, 0.5, 0.6]], rtol=1e-6)
    assert out["Y"].tolist() == ["a", "b", "c"]  # the base value decides the last row


def test_tree_classifier_label_of_last_row():
    params = {k: v for k, v in TREE0.items()}
    node = ml_node("TreeEnsembleClassifier", ["X"], ["Y", "Z"], **params, class_treeids=[0] * 3, class_nodeids=[1, 3, 4],
                   class_ids=[0, 1, 2], class_weights=[1.0, 1.0, 1.0], classlabels_int64s=[10, 20, 30])
    out = run(ml_model(node, [("X", F, [None, 2])], [("Y", I64, [None]), ("Z", F, [None, 3])]), X=X_TREE[:3])
    assert out["Y"].tolist() == [10, 20, 30]


def test_tree_classifier_binary_one_column_of_weights():
    """skl2onnx's binary random forests: only class 0 carries weights, read as P(class 1)."""
    params = {k: v for k, v in TREE0.items()}
    node = ml_node("TreeEnsembleClassifier", ["X"], ["Y", "Z"], **params, class_treeids=[0] * 3, class_nodeids=[1, 3, 4],
                   class_ids=[0, 0, 0], class_weights=[0.25, 0.75, 0.5], classlabels_int64s=[3, 7])
    out = run(ml_model(node, [("X", F, [None, 2])], [("Y", I64, [None]), ("Z", F, [None, 2])]), X=X_TREE[:3])
    assert out["Y"].tolist() == [3, 7, 3]  # p > 0.5 for class 7
    np.testing.assert_allclose(out["Z"], [[0.75, 0.25], [0.25, 0.75], [0.5, 0.5]])


def v5_node(**attrs):
    """tree 0: node 0 (x0 <= 0.5) -> true: leaf 0 (1), false: node 1 (x1 in {1, 3}) -> leaf 1 (10) / leaf 2 (100);
    tree 1: node 2, both branches on leaf 3 (1000, target 1): a one-leaf tree."""
    params = {"nodes_featureids": [0, 1, 0], "nodes_modes": tensor("m", [0, 6, 0], np.uint8),
                  "nodes_splits": tensor("s", [0.5, 0, 0]), "nodes_truenodeids": [0, 1, 3], "nodes_falsenodeids": [1, 2, 3],
                  "nodes_trueleafs": [1, 1, 1], "nodes_falseleafs": [0, 1, 1], "leaf_targetids": [0, 0, 0, 1],
                  "leaf_weights": tensor("w", [1, 10, 100, 1000]), "tree_roots": [0, 2], "n_targets": 2,
                  "membership_values": tensor("mv", [1, 3, np.nan])}
    params.update(attrs)
    return ml_node("TreeEnsemble", ["X"], ["Y"], **params)


def test_tree_ensemble_5_by_hand():
    x = np.array([[0, 5], [1, 1], [1, 3], [1, 2], [1, np.nan], [np.nan, 1]], np.float32)
    model = ml_model(v5_node(), [("X", F, [None, 2])], [("Y", F, [None, 2])], ml_opset=5, opset=21)
    y = run(model, X=x)["Y"]
    np.testing.assert_array_equal(y, [[1, 1000], [10, 1000], [10, 1000], [100, 1000], [100, 1000], [10, 1000]])
    # the one-leaf tree reads the leaf its branches name (3), not the leaf at its root's position (2)
    assert y[0, 1] == 1000


def test_tree_ensemble_5_keeps_input_type_and_member_zero():
    """A membership list holding 0 (onnx.reference stops reading a list at a 0)."""
    node = v5_node(membership_values=tensor("mv", [0, 3, np.nan], np.float64), nodes_splits=tensor("s", [0.5, 0, 0], np.float64),
                   leaf_weights=tensor("w", [1, 10, 100, 1000], np.float64))
    model = ml_model(node, [("X", D, [None, 2])], [("Y", D, [None, 2])], ml_opset=5, opset=21)
    y = run(model, X=np.array([[1, 0], [1, 3], [1, 1]], np.float64))["Y"]
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y[:, 0], [10, 10, 100])


# -- trees: refusals -------------------------------------------------------------------------------
def refused(model, *fragments):
    """The kernel's plan-time check refuses the model (strict=False: onnx's type inference, which
    checks some of the same lengths, does not get there first), and so does a default Session."""
    with pytest.raises(ModelError):
        Session(model)
    with pytest.raises(ModelError) as info:
        Session(model, strict=False)
    text = str(info.value)
    assert "'n'" in text, text  # the node's name
    for fragment in fragments:
        assert fragment in text, text
    return text


def test_cyclic_tree_is_refused():
    # node 2's false branch goes back to node 0: no node of tree 0 is a root
    model = regressor()
    model.graph.node[0].attribute[[a.name for a in model.graph.node[0].attribute].index("nodes_falsenodeids")].ints[2] = 0
    refused(model, "nodes_truenodeids'/'nodes_falsenodeids'", "tree 0", "cycle")


def test_cycle_below_the_root_is_refused():
    # root 0 -> node 2; node 2 -> (node 3, node 5); node 5 -> (node 2, node 4): a loop under the root
    model = regressor({"nodes_treeids": [0], "nodes_nodeids": [5], "nodes_featureids": [1], "nodes_modes": ["BRANCH_LEQ"],
                           "nodes_values": [0.0], "nodes_truenodeids": [2], "nodes_falsenodeids": [4]})
    falses = model.graph.node[0].attribute[[a.name for a in model.graph.node[0].attribute].index("nodes_falsenodeids")]
    falses.ints[2] = 5
    refused(model, "cycle")


def test_tree_ids_out_of_range_are_refused():
    model = regressor()
    attr = model.graph.node[0].attribute[[a.name for a in model.graph.node[0].attribute].index("nodes_truenodeids")]
    attr.ints[0] = 9
    refused(model, "nodes_truenodeids", "node 9")
    refused(regressor(n_targets=1, target_ids=[0, 0, 3]), "target_ids", "outside [0, 1)")
    refused(regressor(target_nodeids=[1, 3, 7]), "target_treeids'/'target_nodeids", "node 7")


def test_tree_list_lengths_must_agree():
    refused(regressor(nodes_featureids=[0, 0, 1, 0]), "nodes_featureids", "4 values", "'nodes_nodeids' has 5")
    refused(regressor(target_weights=[1.0, 2.0]), "target_weights", "2 values")
    refused(regressor(nodes_missing_value_tracks_true=[1, 0]), "nodes_missing_value_tracks_true")


def test_tree_with_two_roots_and_unknown_mode_are_refused():
    refused(regressor({"nodes_treeids": [0], "nodes_nodeids": [7], "nodes_featureids": [0], "nodes_modes": ["LEAF"],
                           "nodes_values": [0.0], "nodes_truenodeids": [0], "nodes_falsenodeids": [0]}), "tree 0 has 2 nodes")
    refused(regressor(nodes_modes=["BRANCH_LEQ", "LEAF", "BRANCH_XX", "LEAF", "LEAF"]), "nodes_modes", "BRANCH_XX")


def test_tree_ensemble_5_refusals():
    def model(**attrs):
        return ml_model(v5_node(**attrs), [("X", F, [None, 2])], [("Y", F, [None, 2])], ml_opset=5, opset=21)

    refused(model(nodes_falsenodeids=[1, 7, 3]), "nodes_falsenodeids", "leaf 7", "4 leaves")
    refused(model(nodes_truenodeids=[0, 1, 3], nodes_trueleafs=[0, 1, 1]), "cycle")  # node 0 -> node 0
    refused(model(tree_roots=[0, 5]), "tree_roots", "root 5")
    refused(model(leaf_targetids=[0, 0, 2, 1]), "leaf_targetids", "outside [0, 2)")
    refused(model(nodes_featureids=[0, 1]), "'nodes_featureids' has 2")
    refused(model(leaf_weights=tensor("w", [1, 10, 100])), "leaf_weights", "3 values")
    refused(model(membership_values=tensor("mv", [1, np.nan, 3, np.nan])), "membership_values", "2 NaN-terminated")


def test_tree_feature_beyond_input_is_a_kernel_error():
    with pytest.raises(KernelError, match="the trees test feature 1"):
        model = regressor()
        model.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "features"
        Session(model).run({"X": np.zeros((2, 1), np.float32)})


def test_deep_forest_walk_is_vectorized():
    """200 trees of depth 10 over 20k rows: a walk per tree level, not per sample (a Python loop per
    sample and node would take minutes)."""
    import time

    rng = np.random.default_rng(0)
    attrs = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values",
                             "nodes_truenodeids", "nodes_falsenodeids", "target_treeids", "target_nodeids",
                             "target_ids", "target_weights")}
    for t in range(200):
        for i in range(2 ** 11 - 1):  # a complete tree, heap numbering
            leaf = i >= 2 ** 10 - 1
            attrs["nodes_treeids"].append(t), attrs["nodes_nodeids"].append(i)
            attrs["nodes_featureids"].append(int(rng.integers(8))), attrs["nodes_values"].append(float(rng.normal()))
            attrs["nodes_modes"].append("LEAF" if leaf else "BRANCH_LEQ")
            attrs["nodes_truenodeids"].append(0 if leaf else 2 * i + 1)
            attrs["nodes_falsenodeids"].append(0 if leaf else 2 * i + 2)
            if leaf:
                attrs["target_treeids"].append(t), attrs["target_nodeids"].append(i)
                attrs["target_ids"].append(0), attrs["target_weights"].append(float(i))
    model = ml_model(ml_node("TreeEnsembleRegressor", ["X"], ["Y"], n_targets=1, **attrs), [("X", F, [None, 8])],
                     [("Y", F, [None, 1])])
    session = Session(model)
    x = rng.normal(size=(20000, 8)).astype(np.float32)
    start = time.perf_counter()
    y = session.run({"X": x})["Y"]
    assert time.perf_counter() - start < 30
    assert y.shape == (20000, 1) and np.all(y >= 200 * (2 ** 10 - 1))


# -- SVM ---------------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::FutureWarning")  # scikit-learn 1.9 deprecates SVC(probability=True)
def test_svm_coupling_against_scikit_learn():
    """libsvm's pairwise coupling, fed scikit-learn's own one-vs-one decision values and Platt
    coefficients, reproduces predict_proba."""
    from sklearn.datasets import make_classification
    from sklearn.svm import SVC

    from refruntime.ops.ai_onnx_ml import _svm

    x, y = make_classification(300, 6, n_informative=4, n_classes=4, random_state=0)
    model = SVC(probability=True, decision_function_shape="ovo", random_state=0).fit(x, y)
    decision = model.decision_function(x)
    ours = _svm.pairwise_probabilities(decision, model.probA_, model.probB_, 4)
    np.testing.assert_allclose(ours, model.predict_proba(x), rtol=1e-9, atol=1e-12)


def test_svm_coupling_by_hand():
    """Two classes: the coupled estimate is the pairwise probability itself (to libsvm's stopping
    tolerance); three consistent pairwise probabilities give back the distribution they came from."""
    from refruntime.ops.ai_onnx_ml import _svm

    r = np.array([[[0, 0.8], [0.2, 0]]])
    np.testing.assert_allclose(_svm.multiclass_probability(r), [[0.8, 0.2]], atol=2e-3)
    p = np.array([0.5, 0.3, 0.2])
    pairwise = p[:, None] / (p[:, None] + p[None, :])
    np.testing.assert_allclose(_svm.multiclass_probability(pairwise[None]), [p], atol=1e-3)


def svm_classifier(c=3, kernel="RBF", post="NONE", proba=False, labels=None, **attrs):
    rng = np.random.default_rng(c)
    vpc = [2] * c
    params = {"coefficients": rng.normal(size=(c - 1) * sum(vpc)).astype(np.float32).tolist(),
                  "kernel_params": [0.3, 0.1, 3.0], "kernel_type": kernel, "post_transform": post,
                  "rho": rng.normal(size=c * (c - 1) // 2).astype(np.float32).tolist(),
                  "support_vectors": rng.normal(size=sum(vpc) * 4).astype(np.float32).tolist(), "vectors_per_class": vpc,
                  "classlabels_ints": labels or list(range(c))}
    if proba:
        params.update(prob_a=(-rng.random(c * (c - 1) // 2) - 1).tolist(), prob_b=(rng.normal(size=c * (c - 1) // 2) * 0.1).tolist())
    params.update(attrs)
    z = c if proba or c > 2 else 2
    return ml_model(ml_node("SVMClassifier", ["X"], ["Y", "Z"], **params), [("X", F, [None, 4])],
                    [("Y", I64, [None]), ("Z", F, [None, z if c > 2 or proba else 2])], ml_opset=1)


def test_svm_decision_values_by_hand():
    """Three classes, one support vector each, linear kernel: f_01 = c[0,0] k0 + c[0,1] k1 + rho0, ..."""
    sv = np.array([[1, 0], [0, 1], [1, 1]], np.float32)
    coef = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]], np.float32)  # (classes - 1, vectors)
    rho = np.array([0.1, -0.2, 0.3], np.float32)
    node = ml_node("SVMClassifier", ["X"], ["Y", "Z"], coefficients=coef.ravel().tolist(), kernel_type="LINEAR",
                   rho=rho.tolist(), support_vectors=sv.ravel().tolist(), vectors_per_class=[1, 1, 1],
                   classlabels_strings=["a", "b", "c"])
    x = np.array([[1, 2], [-1, 0.5], [3, -2]], np.float32)
    out = run(ml_model(node, [("X", F, [None, 2])], [("Y", S, [None]), ("Z", F, [None, 3])], ml_opset=1), X=x)
    k = x.astype(np.float64) @ sv.T.astype(np.float64)
    f01 = coef[0, 0] * k[:, 0] + coef[0, 1] * k[:, 1] + rho[0]   # class 0 vectors use row j-1 = 0, class 1 row i = 0
    f02 = coef[1, 0] * k[:, 0] + coef[0, 2] * k[:, 2] + rho[1]   # (0, 2): class 0 row 1, class 2 row 0
    f12 = coef[1, 1] * k[:, 1] + coef[1, 2] * k[:, 2] + rho[2]   # (1, 2): class 1 row 1, class 2 row 1
    np.testing.assert_allclose(out["Z"], np.stack([f01, f02, f12], axis=1), rtol=1e-6)
    votes = np.stack([(f01 > 0) + (f02 > 0), (f01 <= 0) + (f12 > 0), (f02 <= 0) + (f12 <= 0)], axis=1)
    assert out["Y"].tolist() == [["a", "b", "c"][i] for i in votes.argmax(axis=1)]


def test_svm_refusals():
    refused(svm_classifier(vectors_per_class=[2, 2, 3]), "support_vectors", "7 support vectors")
    refused(svm_classifier(vectors_per_class=[2, 2]), "vectors_per_class", "one non-negative count per class (3)")
    refused(svm_classifier(rho=[0.1]), "rho", "one per pair of classes (3)")
    refused(svm_classifier(coefficients=[0.5] * 5), "coefficients", "(classes - 1) x vectors = 12")
    refused(svm_classifier(proba=True, prob_b=[0.1]), "prob_a' and 'prob_b'")
    refused(svm_classifier(kernel_params=[0.1, 0.2]), "kernel_params", "expected 3")
    reg = ml_node("SVMRegressor", ["X"], ["Y"], coefficients=[1.0, 2.0], n_supports=3, rho=[0.0],
                  support_vectors=[0.0] * 6, kernel_type="RBF")
    refused(ml_model(reg, [("X", F, [None, 2])], [("Y", F, [None, 1])], ml_opset=1), "coefficients", "n_supports = 3")


def test_svm_regressor_kernels_by_hand():
    sv = np.array([[1, 0], [0, 2]], np.float64)
    coef, rho, (gamma, coef0, degree) = np.array([0.5, -2.0]), 0.25, (0.5, 1.0, 2.0)
    x = np.array([[1, 1], [0, -1]], np.float32)
    dot = x.astype(np.float64) @ sv.T
    kernels = {"LINEAR": dot, "POLY": (gamma * dot + coef0) ** degree, "SIGMOID": np.tanh(gamma * dot + coef0),
               "RBF": np.exp(-gamma * ((x[:, None, :] - sv[None]) ** 2).sum(-1))}
    for kind, k in kernels.items():
        node = ml_node("SVMRegressor", ["X"], ["Y"], coefficients=coef.tolist(), n_supports=2, rho=[rho],
                       support_vectors=sv.ravel().tolist(), kernel_type=kind, kernel_params=[gamma, coef0, degree])
        y = run(ml_model(node, [("X", F, [None, 2])], [("Y", F, [None, 1])], ml_opset=1), X=x)["Y"]
        np.testing.assert_allclose(y[:, 0], k @ coef + rho, rtol=1e-6, err_msg=kind)
        node = ml_node("SVMRegressor", ["X"], ["Y"], coefficients=coef.tolist(), n_supports=2, rho=[rho], one_class=1,
                       support_vectors=sv.ravel().tolist(), kernel_type=kind, kernel_params=[gamma, coef0, degree])
        y = run(ml_model(node, [("X", F, [None, 2])], [("Y", F, [None, 1])], ml_opset=1), X=x)["Y"]
        np.testing.assert_array_equal(y[:, 0], np.where(k @ coef + rho > 0, 1, -1), err_msg=kind)


# -- linear models, transforms, encoders ------------------------------------------------------------
def test_linear_classifier_and_regressor_by_hand():
    coef = np.array([[1, 0], [0, 1], [1, 1]], np.float32)
    x = np.array([[1, 2], [3, -1]], np.float32)
    scores = x @ coef.T + np.array([0.5, 0, -1])
    node = ml_node("LinearClassifier", ["X"], ["Y", "Z"], coefficients=coef.ravel().tolist(), intercepts=[0.5, 0, -1],
                   classlabels_ints=[4, 5, 6], post_transform="SOFTMAX")
    out = run(ml_model(node, [("X", F, [None, 2])], [("Y", I64, [None]), ("Z", F, [None, 3])], ml_opset=1), X=x)
    assert out["Y"].tolist() == [5, 4]  # [1.5, 2, 2]: the first best; [3.5, -1, 1]
    np.testing.assert_allclose(out["Z"], np.exp(scores) / np.exp(scores).sum(1, keepdims=True), rtol=1e-6)
    node = ml_node("LinearRegressor", ["X"], ["Y"], coefficients=coef.ravel().tolist(), intercepts=[0.5, 0, -1], targets=3)
    y = run(ml_model(node, [("X", F, [None, 2])], [("Y", F, [None, 3])], ml_opset=1), X=x)["Y"]
    np.testing.assert_allclose(y, scores)


def test_linear_classifier_binary_one_row():
    node = ml_node("LinearClassifier", ["X"], ["Y", "Z"], coefficients=[1.0], intercepts=[0.5], classlabels_ints=[0, 1],
                   post_transform="LOGISTIC")
    x = np.array([[-1.0], [1.0]], np.float32)
    out = run(ml_model(node, [("X", F, [None, 1])], [("Y", I64, [None]), ("Z", F, [None, 2])], ml_opset=1), X=x)
    s = np.array([-0.5, 1.5])
    assert out["Y"].tolist() == [0, 1]
    np.testing.assert_allclose(out["Z"], np.stack([1 / (1 + np.exp(s)), 1 / (1 + np.exp(-s))], axis=1), rtol=1e-6)
    node = ml_node("LinearClassifier", ["X"], ["Y", "Z"], coefficients=[1.0], intercepts=[0.5], classlabels_ints=[7])
    refused(ml_model(node, [("X", F, [None, 1])], [("Y", I64, [None]), ("Z", F, [None, 2])], ml_opset=1), "exactly 2")


def test_zipmap_makes_a_list_of_dicts():
    node = ml_node("ZipMap", ["X"], ["Z"], classlabels_strings=["a", "b"])
    out = helper.make_value_info("Z", helper.make_sequence_type_proto(helper.make_map_type_proto(S, helper.make_tensor_type_proto(F, []))))
    z = run(ml_model(node, [("X", F, [None, 2])], [out], ml_opset=1), X=np.array([[0.25, 0.75], [1, 0]], np.float32))["Z"]
    assert z == [{"a": 0.25, "b": 0.75}, {"a": 1.0, "b": 0.0}]


@pytest.mark.parametrize("norm, expected", [
    ("MAX", [[-0.5, 1, 0.5], [0, 0, 0]]),
    ("L1", [[-0.25, 0.5, 0.25], [0, 0, 0]]),
    ("L2", [[-1 / 6 ** 0.5, 2 / 6 ** 0.5, 1 / 6 ** 0.5], [0, 0, 0]])])
def test_normalizer(norm, expected):
    x = np.array([[-1, 2, 1], [0, 0, 0]], np.float32)  # a row whose divisor is 0 stays as it is
    node = ml_node("Normalizer", ["X"], ["Y"], norm=norm)
    y = run(ml_model(node, [("X", F, [None, 3])], [("Y", F, [None, 3])], ml_opset=1), X=x)["Y"]
    np.testing.assert_allclose(y, expected, rtol=1e-6)


def test_scaler_binarizer_imputer_feature_extractor():
    x = np.array([[1, np.nan, 3], [4, 5, np.nan]], np.float32)
    m = ml_model(ml_node("Scaler", ["X"], ["Y"], offset=[1.0, 2.0, 3.0], scale=[2.0, 0.5, 1.0]), [("X", F, [None, 3])],
                 [("Y", F, [None, 3])], ml_opset=1)
    np.testing.assert_array_equal(run(m, X=x)["Y"], [[0, np.nan, 0], [6, 1.5, np.nan]])
    m = ml_model(ml_node("Binarizer", ["X"], ["Y"], threshold=3.0), [("X", F, [None, 3])], [("Y", F, [None, 3])], ml_opset=1)
    np.testing.assert_array_equal(run(m, X=x)["Y"], [[0, 0, 0], [1, 1, 0]])
    m = ml_model(ml_node("Imputer", ["X"], ["Y"], imputed_value_floats=[7.0, 8.0, 9.0], replaced_value_float=float("nan")),
                 [("X", F, [None, 3])], [("Y", F, [None, 3])], ml_opset=1)
    np.testing.assert_array_equal(run(m, X=x)["Y"], [[1, 8, 3], [4, 5, 9]])
    m = ml_model(ml_node("ArrayFeatureExtractor", ["X", "I"], ["Y"]), [("X", F, [None, 3]), ("I", I64, [None])],
                 [("Y", F, [None, 2])], ml_opset=1)
    np.testing.assert_array_equal(run(m, X=x, I=np.array([2, 0]))["Y"], [[3, 1], [np.nan, 4]])
    with pytest.raises(KernelError, match="outside"):
        Session(m).run({"X": x, "I": np.array([3])})


def test_one_hot_encoder_and_category_mapper():
    m = ml_model(ml_node("OneHotEncoder", ["X"], ["Y"], cats_strings=["a", "b", "c"]), [("X", S, [None, 2])],
                 [("Y", F, [None, 2, 3])], ml_opset=1)
    y = run(m, X=np.array([["a", "c"], ["z", "b"]]))["Y"]  # numpy str arrays are accepted for string inputs
    np.testing.assert_array_equal(y, [[[1, 0, 0], [0, 0, 1]], [[0, 0, 0], [0, 1, 0]]])
    m = ml_model(ml_node("OneHotEncoder", ["X"], ["Y"], cats_int64s=[4, 2], zeros=0), [("X", F, [None])],
                 [("Y", F, [None, 2])], ml_opset=1)
    np.testing.assert_array_equal(run(m, X=np.array([2.7, 4.0], np.float32))["Y"], [[0, 1], [1, 0]])
    with pytest.raises(KernelError, match="zeros = 0"):
        Session(m).run({"X": np.array([3.0], np.float32)})
    m = ml_model(ml_node("CategoryMapper", ["X"], ["Y"], cats_strings=["a", "b"], cats_int64s=[10, 20], default_int64=-7),
                 [("X", S, [None])], [("Y", I64, [None])], ml_opset=1)
    assert run(m, X=np.array(["b", "q", "a"], dtype=object))["Y"].tolist() == [20, -7, 10]


def test_label_encoders():
    m = ml_model(ml_node("LabelEncoder", ["X"], ["Y"], classes_strings=["x", "y"], default_string="?"),
                 [("X", I64, [None])], [("Y", S, [None])], ml_opset=1)
    assert run(m, X=np.array([1, 0, 5]))["Y"].tolist() == ["y", "x", "?"]
    # 2: float keys compared bit by bit (a NaN key matches that NaN); a repeated key keeps its first value
    m = ml_model(ml_node("LabelEncoder", ["X"], ["Y"], keys_floats=[1.5, float("nan"), 1.5], values_int64s=[1, 2, 3]),
                 [("X", F, [None])], [("Y", I64, [None])], ml_opset=2)
    assert run(m, X=np.array([1.5, np.nan, 0.0], np.float32))["Y"].tolist() == [1, 2, -1]
    # 4: tensors of other types; a repeated key keeps its last value; NaN matches NaN
    node = ml_node("LabelEncoder", ["X"], ["Y"], keys_tensor=tensor("k", [1, 2, 1], np.int32),
                   values_tensor=tensor("v", [0.5, 1.5, 2.5], np.float64))
    m = ml_model(node, [("X", TensorProto.INT32, [None])], [("Y", D, [None])], ml_opset=4)
    y = run(m, X=np.array([1, 2, 3], np.int32))["Y"]
    assert y.dtype == np.float64 and y[:2].tolist() == [2.5, 1.5] and np.signbit(y[2]) and y[2] == 0
    m = ml_model(ml_node("LabelEncoder", ["X"], ["Y"], keys_floats=[float("nan")], values_strings=["missing"]),
                 [("X", F, [None])], [("Y", S, [None])], ml_opset=4)
    assert run(m, X=np.array([np.nan, 1], np.float32))["Y"].tolist() == ["missing", "_Unused"]


# -- maps and sequences as values ------------------------------------------------------------------
def map_input(name, key, value):
    return helper.make_value_info(name, helper.make_map_type_proto(key, helper.make_tensor_type_proto(value, [])))


def test_dict_vectorizer_takes_a_map_feed():
    for value_type, dtype in ((F, np.float32), (D, np.float64), (I64, np.int64)):
        node = ml_node("DictVectorizer", ["X"], ["Y"], string_vocabulary=["a", "b", "c"])
        m = ml_model(node, [map_input("X", S, value_type)], [("Y", value_type, [1, 3])], ml_opset=1)
        y = run(m, X={"c": 2, "a": 1})["Y"]
        assert y.dtype == dtype and y.tolist() == [[1, 0, 2]]


def test_cast_map():
    node = ml_node("CastMap", ["X"], ["Y"], cast_to="TO_FLOAT", map_form="SPARSE", max_map=4)
    m = ml_model(node, [map_input("X", I64, S)], [("Y", F, [1, 4])], ml_opset=1)
    np.testing.assert_array_equal(run(m, X={3: "2.5", 1: "-1"})["Y"], [[0, -1, 0, 2.5]])
    node = ml_node("CastMap", ["X"], ["Y"], cast_to="TO_STRING")
    m = ml_model(node, [map_input("X", I64, F)], [("Y", S, [1, None])], ml_opset=1)
    assert run(m, X={2: 0.5, 1: 1.25})["Y"].tolist() == [["1.250000", "0.500000"]]


@pytest.mark.parametrize("value, message", [
    ([("a", 1.0)], "input 'X': expected map(string,tensor(float)) (a dict), got list"),
    ({1: 1.0}, "input 'X': expected map(string,tensor(float)), got key 1 (int)"),
    ({"a": "x"}, "input 'X' key 'a': expected a float32 number"),
])
def test_map_feeds_are_checked(value, message):
    node = ml_node("DictVectorizer", ["X"], ["Y"], string_vocabulary=["a"])
    session = Session(ml_model(node, [map_input("X", S, F)], [("Y", F, [1, 1])], ml_opset=1))
    with pytest.raises(FeedError) as info:
        session.run({"X": value})
    assert message in str(info.value)


def test_sequence_feeds_are_checked_and_described():
    seq = helper.make_value_info("S", helper.make_sequence_type_proto(helper.make_tensor_type_proto(F, None)))
    graph = helper.make_graph([helper.make_node("SequenceLength", ["S"], ["n"])], "g", [seq],
                              [helper.make_tensor_value_info("n", I64, [])])
    session = Session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]))
    assert session.run({"S": [np.zeros(2, np.float32), np.ones((3, 1), np.float32)]})["n"] == 2
    with pytest.raises(FeedError, match=r"input 'S' element 1: expected tensor\(float\), got float64"):
        session.run({"S": [np.zeros(2, np.float32), np.zeros(2)]})
    with pytest.raises(FeedError, match=r"input 'S': expected seq\(tensor\(float\)\) \(a list\), got ndarray"):
        session.run({"S": np.zeros(2, np.float32)})
    with pytest.raises(FeedError, match=r"missing input\(s\): S: seq\(tensor\(float\)\)"):
        session.run({})


# -- random models against onnxruntime ---------------------------------------------------------------
def ort_run(model, feeds):
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def random_tree(rng, depth, n_features, modes=("BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT")):
    nodes = []

    def build(d):
        i = len(nodes)
        nodes.append(None)
        if d == 0 or rng.random() < 0.2:
            nodes[i] = {"mode": "LEAF", "f": 0, "v": 0.0, "t": 0, "e": 0}
        else:
            mode = str(rng.choice(modes))
            value = float(rng.integers(-2, 3)) * 0.5 if mode in ("BRANCH_EQ", "BRANCH_NEQ") else float(np.float32(rng.normal()))
            nodes[i] = {"mode": mode, "f": int(rng.integers(n_features)), "v": value}
            nodes[i]["t"] = build(d - 1)
            nodes[i]["e"] = build(d - 1)
        return i

    build(depth)
    return nodes


def random_ensemble(rng, kind, n_targets, weight_ids, positive, trees=4, n_features=3, missing=False, modes=None):
    prefix = "class" if kind == "TreeEnsembleClassifier" else "target"
    attrs = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values",
                             "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true")}
    attrs.update({f"{prefix}_{k}": [] for k in ("treeids", "nodes", "ids", "weights")})
    attrs[f"{prefix}_nodeids"] = attrs.pop(f"{prefix}_nodes")
    for t in range(trees):
        for i, n in enumerate(random_tree(rng, 3, n_features, **({"modes": modes} if modes else {}))):
            for key, value in (("treeids", t), ("nodeids", i), ("featureids", n["f"]), ("modes", n["mode"]),
                               ("values", n["v"]), ("truenodeids", n["t"]), ("falsenodeids", n["e"]),
                               ("missing_value_tracks_true", int(missing and rng.random() < 0.5))):
                attrs[f"nodes_{key}"].append(value)
            if n["mode"] == "LEAF":
                for c in weight_ids:
                    w = float(np.float32(rng.random() if positive else rng.normal()))
                    for key, value in (("treeids", t), ("nodeids", i), ("ids", c), ("weights", w)):
                        attrs[f"{prefix}_{key}"].append(value)
    return attrs


CLASSIFIER_CASES = list(itertools.product([2, 3], ["one", "all"], [None, 1, 2, 3], ["NONE", "LOGISTIC", "SOFTMAX",
                                                                                   "SOFTMAX_ZERO"],
                                          [True, False], ["int", "str"]))


@pytest.mark.parametrize("missing", [False, True])
def test_random_tree_classifiers_match_onnxruntime(missing):
    """Every configuration onnxruntime's TreeAggregatorClassifier distinguishes: 2 or 3 classes,
    weights for one class or all, 0-3 base values, four transforms, signs of weights, label types."""
    rng = np.random.default_rng(1 + missing)
    checked = 0
    for classes, which, n_base, post, positive, labels in CLASSIFIER_CASES:
        if n_base is not None and n_base not in (classes, 1 if classes == 2 else -1):
            continue
        ids = [0] if which == "one" else list(range(classes))
        attrs = random_ensemble(rng, "TreeEnsembleClassifier", classes, ids, positive, missing=missing)
        attrs["post_transform"] = post
        if n_base:
            attrs["base_values"] = rng.normal(size=n_base).astype(np.float32).tolist()
        label_type = I64 if labels == "int" else S
        attrs["classlabels_int64s" if labels == "int" else "classlabels_strings"] = \
            list(range(3, 3 + classes)) if labels == "int" else [f"c{i}" for i in range(classes)]
        model = ml_model(ml_node("TreeEnsembleClassifier", ["X"], ["Y", "Z"], **attrs), [("X", F, [None, 3])],
                         [("Y", label_type, [None]), ("Z", F, [None, classes])])
        x = rng.normal(size=(200, 3)).astype(np.float32)
        if missing:
            x[rng.random(x.shape) < 0.2] = np.nan
        ours = Session(model).run({"X": x})
        y, z = ort_run(model, {"X": x})
        np.testing.assert_array_equal(ours["Y"], y, err_msg=str((classes, which, n_base, post, positive, labels)))
        np.testing.assert_allclose(ours["Z"], z, rtol=1e-5, atol=1e-6,
                                   err_msg=str((classes, which, n_base, post, positive, labels)))
        checked += 1
    assert checked > 100


def test_random_tree_regressors_match_onnxruntime():
    """All aggregates, 1 or 3 targets, base values, missing values, all six comparisons. Single-target
    models use NONE: with one target onnxruntime ignores LOGISTIC/SOFTMAX, the doc does not."""
    rng = np.random.default_rng(3)
    modes = ("BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ")
    for targets, function, post, base, missing in itertools.product([1, 3], ["SUM", "AVERAGE", "MIN", "MAX"],
                                                                     ["NONE", "SOFTMAX", "LOGISTIC"], [False, True],
                                                                     [False, True]):
        if targets == 1 and post != "NONE":
            continue
        attrs = random_ensemble(rng, "TreeEnsembleRegressor", targets, range(targets), False, missing=missing,
                                modes=modes)
        attrs.update(n_targets=targets, aggregate_function=function, post_transform=post)
        if base:
            attrs["base_values"] = rng.normal(size=targets).astype(np.float32).tolist()
        model = ml_model(ml_node("TreeEnsembleRegressor", ["X"], ["Y"], **attrs), [("X", F, [None, 3])],
                         [("Y", F, [None, targets])])
        x = (rng.integers(-2, 3, size=(300, 3)) * 0.5).astype(np.float32)  # hits the EQ/NEQ thresholds
        x[rng.random(x.shape) < 0.1] = np.nan
        np.testing.assert_allclose(Session(model).run({"X": x})["Y"], ort_run(model, {"X": x})[0], rtol=1e-5,
                                   atol=1e-5, err_msg=str((targets, function, post, base, missing)))


def random_v5(rng, targets, function, post, missing, dtype):
    feature, modes, splits, true_ids, false_ids, true_leaf, false_leaf, tracks, members = ([] for _ in range(9))
    leaf_targets, leaf_weights, roots = [], [], []

    def build(d):
        if d == 0 or (d < 3 and rng.random() < 0.25):
            leaf_targets.append(int(rng.integers(targets)))
            leaf_weights.append(float(rng.normal()))
            return 1, len(leaf_targets) - 1
        i = len(feature)
        feature.append(int(rng.integers(3)))
        mode = int(rng.integers(7))
        modes.append(mode)
        if mode == 6:  # onnxruntime implements set membership for integer values only
            members.extend(sorted(set(rng.integers(-2, 3, size=int(rng.integers(1, 4))).astype(float))) + [np.nan])
        splits.append(float(rng.integers(-2, 3)) if mode in (4, 5) else float(rng.normal()))
        tracks.append(int(missing and rng.random() < 0.5))
        for column in (true_ids, false_ids, true_leaf, false_leaf):
            column.append(None)
        true_leaf[i], true_ids[i] = build(d - 1)
        false_leaf[i], false_ids[i] = build(d - 1)
        return 0, i

    for _ in range(4):
        is_leaf, i = build(4)
        if is_leaf:  # a one-leaf tree: a node whose branches both name that leaf
            for column, value in ((feature, 0), (modes, 0), (splits, 0.0), (tracks, 0), (true_ids, i), (false_ids, i),
                                  (true_leaf, 1), (false_leaf, 1)):
                column.append(value)
            i = len(feature) - 1
        roots.append(i)
    attrs = {"nodes_featureids": feature, "nodes_modes": tensor("m", modes, np.uint8), "nodes_splits": tensor("s", splits, dtype),
                 "nodes_truenodeids": true_ids, "nodes_falsenodeids": false_ids, "nodes_trueleafs": true_leaf,
                 "nodes_falseleafs": false_leaf, "leaf_targetids": leaf_targets, "leaf_weights": tensor("w", leaf_weights, dtype),
                 "tree_roots": roots, "n_targets": targets, "aggregate_function": function, "post_transform": post}
    if missing:
        attrs["nodes_missing_value_tracks_true"] = tracks
    if members:
        attrs["membership_values"] = tensor("mv", members, dtype)
    return attrs


def test_random_tree_ensemble_5_matches_onnxruntime():
    """onnxruntime 1.32 reads post_transform 1 as LOGISTIC and 2 as SOFTMAX (the doc: 1 SOFTMAX, 2 LOGISTIC):
    its model gets the other number. Its BRANCH_MEMBER truncates x to an integer before looking it up
    (3.7 is in {3}; the doc: membership of the value), so x holds integers here (the next test covers
    the rest)."""
    rng = np.random.default_rng(4)
    elem = {np.float32: F, np.float64: D}
    for targets, function, post, missing, dtype in itertools.product([1, 3], [0, 1, 2, 3], [0, 1, 2], [False, True],
                                                                     [np.float32, np.float64]):
        if targets == 1 and post:
            continue
        attrs = random_v5(rng, targets, function, post, missing, dtype)
        model = ml_model(ml_node("TreeEnsemble", ["X"], ["Y"], **attrs), [("X", elem[dtype], [None, 3])],
                         [("Y", elem[dtype], [None, targets])], ml_opset=5, opset=21)
        x = rng.integers(-2, 3, size=(300, 3)).astype(dtype)
        x[rng.random(x.shape) < 0.1] = np.nan
        ours = Session(model).run({"X": x})["Y"]
        assert ours.dtype == dtype
        attrs["post_transform"] = {0: 0, 1: 2, 2: 1}[post]
        theirs = ort_run(ml_model(ml_node("TreeEnsemble", ["X"], ["Y"], **attrs), [("X", elem[dtype], [None, 3])],
                                  [("Y", elem[dtype], [None, targets])], ml_opset=5, opset=21), {"X": x})[0]
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6,
                                   err_msg=str((targets, function, post, missing, dtype)))


def literal_tree_ensemble(attrs, x):
    """The TreeEnsemble doc read literally, one sample and one node at a time (SUM/AVERAGE, no transform)."""
    a = {k: (numpy_helper.to_array(v) if hasattr(v, "dims") else v) for k, v in attrs.items()}
    modes, sets, current = a["nodes_modes"], [], []
    for v in a.get("membership_values", []):
        if np.isnan(v):
            sets.append(set(current))
            current = []
        else:
            current.append(float(v))
    set_of = {int(i): k for k, i in enumerate(np.flatnonzero(modes == 6))}
    tracks = a.get("nodes_missing_value_tracks_true", [0] * len(modes))
    y = np.zeros((len(x), a["n_targets"]))
    for n, row in enumerate(x):
        for i in a["tree_roots"]:
            leaf = False
            while not leaf:
                v, s, m = float(row[a["nodes_featureids"][i]]), float(a["nodes_splits"][i]), int(modes[i])
                go = (v <= s, v < s, v >= s, v > s, v == s, v != s, m == 6 and v in sets[set_of.get(i, 0)])[m]
                go = go or bool(tracks[i] and np.isnan(v))
                side = "true" if go else "false"
                leaf, i = a[f"nodes_{side}leafs"][i], a[f"nodes_{side}nodeids"][i]
            y[n, a["leaf_targetids"][i]] += float(a["leaf_weights"][i])
    return y / len(a["tree_roots"]) if a["aggregate_function"] == 0 else y


def test_random_tree_ensemble_5_matches_the_doc_read_literally():
    """With x = k / 2: onnxruntime's truncating set membership differs here (on 91 of 300 rows of the first
    float64 model with BRANCH_MEMBER nodes), and onnx.reference drops the members of a list from a 0 on."""
    rng = np.random.default_rng(6)
    elem = {np.float32: F, np.float64: D}
    for targets, function, missing, dtype in itertools.product([1, 3], [0, 1], [False, True], [np.float32, np.float64]):
        attrs = random_v5(rng, targets, function, 0, missing, dtype)
        model = ml_model(ml_node("TreeEnsemble", ["X"], ["Y"], **attrs), [("X", elem[dtype], [None, 3])],
                         [("Y", elem[dtype], [None, targets])], ml_opset=5, opset=21)
        x = (rng.integers(-2, 3, size=(100, 3)) * 0.5).astype(dtype)
        x[rng.random(x.shape) < 0.1] = np.nan
        np.testing.assert_allclose(Session(model).run({"X": x})["Y"], literal_tree_ensemble(attrs, x), rtol=1e-6,
                                   atol=1e-6, err_msg=str((targets, function, missing, dtype)))


@pytest.mark.parametrize("post", ["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"])
def test_random_linear_and_svm_classifiers_match_onnxruntime(post):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(100, 4)).astype(np.float32)
    for rows, labels in ((1, [0, 1]), (1, [5, 7]), (2, [0, 1]), (3, [4, 5, 6])):
        node = ml_node("LinearClassifier", ["X"], ["Y", "Z"], coefficients=rng.normal(size=4 * rows).tolist(),
                       intercepts=rng.normal(size=rows).tolist(), classlabels_ints=labels, post_transform=post)
        model = ml_model(node, [("X", F, [None, 4])], [("Y", I64, [None]), ("Z", F, [None, max(rows, 2)])], ml_opset=1)
        y, z = ort_run(model, {"X": x})
        ours = Session(model).run({"X": x})
        np.testing.assert_array_equal(ours["Y"], y)
        np.testing.assert_allclose(ours["Z"], z, rtol=1e-5, atol=1e-6)
    for classes, kernel, proba in itertools.product((2, 3), ("LINEAR", "POLY", "RBF", "SIGMOID"), (False, True)):
        model = svm_classifier(classes, kernel, post, proba)
        y, z = ort_run(model, {"X": x})
        ours = Session(model).run({"X": x})
        np.testing.assert_array_equal(ours["Y"], y, err_msg=str((classes, kernel, proba)))
        # onnxruntime computes 1 - logistic(v) in float32: small probabilities lose digits there
        np.testing.assert_allclose(ours["Z"], z, rtol=1e-4, atol=1e-6 if proba else 1e-5,
                                   err_msg=str((classes, kernel, proba)))
