"""Classical ML models from scikit-learn (skl2onnx), LightGBM and XGBoost (onnxmltools), run by
refruntime on native kernels only, against the library's own predict / predict_proba / transform
and against onnxruntime.

Truth is the library: labels exactly, probabilities and scores within 1e-5 relative (PROBA_TOL,
SCORE_TOL: an absolute floor of 1e-6 for probabilities, 1e-6 of the largest score for regressors, as
the converters round every parameter to float32). onnxruntime computes in float32 step by step; it
is held to the same labels and to a few float32 ulps (ORT_TOL). Each model also runs at ai.onnx.ml 3
with its trees' parameters as double tensors (ml3: skl2onnx imports opset 1 for float32 models),
and its trees as ai.onnx.ml 5 TreeEnsemble nodes (to_tree_ensemble_5: no converter writes those). The largest errors seen are printed by
test_print_error_table (pytest -s).
"""
from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from refruntime import Session

pytest.importorskip("sklearn")
pytest.importorskip("skl2onnx")

PROBA_TOL = {"rtol": 1e-5, "atol": 1e-6}
ORT_TOL = {"rtol": 1e-4, "atol": 1e-6}
ERRORS: dict[str, dict[str, float]] = {}   # family -> {"lib": max rel error, "ort": ...}, for the table


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's deprecation of SVC(probability=True), converters' notes
        yield


# -- data -----------------------------------------------------------------------------------------
def classification(n_classes=3, n=300, features=6, seed=0):
    from sklearn.datasets import make_classification

    x, y = make_classification(n, features, n_informative=4, n_redundant=0, n_classes=n_classes, random_state=seed)
    return x.astype(np.float32), y


def regression(n=300, features=6, seed=0):
    from sklearn.datasets import make_regression

    x, y = make_regression(n, features, noise=5.0, random_state=seed)
    return x.astype(np.float32), y


# -- conversions ----------------------------------------------------------------------------------
def skl(model, x, zipmap=True):
    from skl2onnx import to_onnx

    options = None if zipmap or not hasattr(model, "predict_proba") else {"zipmap": False}
    return to_onnx(model, x[:1], options=options)


def ml3(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model at ai.onnx.ml 3 (skl2onnx imports the lowest opset its nodes need, 1 for float32
    models). A model with tree ensembles also takes X as float64 and gets its trees' float lists as
    the double `*_as_tensor` attributes opset 3 added for that case (the doc: they replace the lists
    "if the element type is double"; skl2onnx 1.20's own float64 trees declare float outputs as double,
    which onnxruntime and refruntime refuse)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    for o in out.opset_import:
        if o.domain == "ai.onnx.ml":
            o.version = 3
    trees = [n for n in out.graph.node if n.op_type in ("TreeEnsembleRegressor", "TreeEnsembleClassifier")]
    for node in trees:
        kept = []
        for attr in node.attribute:
            if attr.name in ("nodes_values", "class_weights", "target_weights", "base_values", "nodes_hitrates"):
                values = np.array(attr.floats, np.float32).astype(np.float64)
                kept.append(helper.make_attribute(attr.name + "_as_tensor", numpy_helper.from_array(values, attr.name)))
            else:
                kept.append(attr)
        del node.attribute[:]
        node.attribute.extend(kept)
    if trees:
        out.graph.input[0].type.tensor_type.elem_type = onnx.TensorProto.DOUBLE
    return out


def ml3_feeds(model, x):
    return {"X": x.astype(np.float64) if model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
            else x}


def ml_opset(model) -> int:
    return next(o.version for o in model.opset_import if o.domain == "ai.onnx.ml")


def to_tree_ensemble_5(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with each TreeEnsembleRegressor (one target) and multi-class TreeEnsembleClassifier
    rewritten as an ai.onnx.ml 5 TreeEnsemble (tree_ensemble_5); the rest is kept."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    nodes = []
    for node in model.graph.node:
        if node.op_type in ("TreeEnsembleRegressor", "TreeEnsembleClassifier"):
            nodes.extend(tree_ensemble_5(node, out.graph.initializer))
        else:
            nodes.append(node)
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    domains = {o.domain for o in out.opset_import}
    if not domains & {"", "ai.onnx"}:
        out.opset_import.add(domain="", version=18)
    for o in out.opset_import:
        if o.domain == "ai.onnx.ml":
            o.version = 5
    out.ir_version = max(out.ir_version, 10)
    return out


def tree_ensemble_5(node, initializers) -> list:
    """Per tree, interior nodes become nodes_* entries and leaves leaf_* entries; a classifier's tree
    becomes one tree per class it scores (a v5 leaf has one target), and its base values, transform
    and label choice become Add, Softmax, ArgMax and Gather nodes."""
    a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
    a = {k: [s.decode() if isinstance(s, bytes) else s for s in v] if isinstance(v, list) else
         (v.decode() if isinstance(v, bytes) else v) for k, v in a.items()}
    classifier = node.op_type == "TreeEnsembleClassifier"
    prefix = "class" if classifier else "target"
    labels = a.get("classlabels_int64s") or a.get("classlabels_strings")
    targets = len(labels) if classifier else a["n_targets"]
    assert targets >= 3 if classifier else targets == 1
    index = {(t, n): i for i, (t, n) in enumerate(zip(a["nodes_treeids"], a["nodes_nodeids"]))}
    weights: dict = {}
    for t, n, c, w in zip(a[f"{prefix}_treeids"], a[f"{prefix}_nodeids"], a[f"{prefix}_ids"], a[f"{prefix}_weights"]):
        weights.setdefault((t, n), {}).setdefault(c, 0.0)
        weights[(t, n)][c] += w
    v5 = {k: [] for k in ("nodes_featureids", "nodes_modes", "nodes_splits", "nodes_truenodeids", "nodes_falsenodeids",
                          "nodes_trueleafs", "nodes_falseleafs", "nodes_missing_value_tracks_true", "leaf_targetids",
                          "leaf_weights", "tree_roots")}
    modes = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]
    tracks = a.get("nodes_missing_value_tracks_true") or [0] * len(index)

    def add_node(feature, mode, split, track, true, false):
        for key, value in (("featureids", feature), ("modes", mode), ("splits", split), ("missing_value_tracks_true", track),
                           ("trueleafs", true[0]), ("truenodeids", true[1]), ("falseleafs", false[0]),
                           ("falsenodeids", false[1])):
            v5[f"nodes_{key}"].append(value)
        return 0, len(v5["nodes_featureids"]) - 1

    def emit(tree, node_id, target):
        """(is_leaf, position) of the subtree at node_id, for one target."""
        i = index[(tree, node_id)]
        if a["nodes_modes"][i] == "LEAF":
            v5["leaf_targetids"].append(target)
            v5["leaf_weights"].append(weights.get((tree, node_id), {}).get(target, 0.0))
            return 1, len(v5["leaf_weights"]) - 1
        true = emit(tree, a["nodes_truenodeids"][i], target)
        false = emit(tree, a["nodes_falsenodeids"][i], target)
        return add_node(a["nodes_featureids"][i], modes.index(a["nodes_modes"][i]), a["nodes_values"][i], tracks[i],
                        true, false)

    for tree in dict.fromkeys(a["nodes_treeids"]):
        root = min(n for (t, n) in index if t == tree)  # the converters number each tree's root 0
        for target in range(targets):
            if classifier and not any(target in w for (t, _), w in weights.items() if t == tree):
                continue
            top = emit(tree, root, target)
            if top[0]:  # a one-leaf tree: a node whose branches both name the leaf
                top = add_node(0, 0, 0.0, 0, top, top)
            v5["tree_roots"].append(top[1])
    raw = node.output[-1] + "_v5"
    attrs = {k: v for k, v in v5.items() if k not in ("nodes_modes", "nodes_splits", "leaf_weights")}
    attrs.update(nodes_modes=numpy_helper.from_array(np.array(v5["nodes_modes"], np.uint8), "m"),
                 nodes_splits=numpy_helper.from_array(np.array(v5["nodes_splits"], np.float32), "s"),
                 leaf_weights=numpy_helper.from_array(np.array(v5["leaf_weights"], np.float32), "w"), n_targets=targets,
                 aggregate_function=["AVERAGE", "SUM", "MIN", "MAX"].index(a.get("aggregate_function", "SUM")))
    nodes = [helper.make_node("TreeEnsemble", [node.input[0]], [raw], domain="ai.onnx.ml", **attrs)]
    scores = raw
    if a.get("base_values"):
        base = numpy_helper.from_array(np.array(a["base_values"], np.float32), raw + "_base")
        initializers.append(base)
        nodes.append(helper.make_node("Add", [scores, base.name], [raw + "_plus"]))
        scores = raw + "_plus"
    post = a.get("post_transform", "NONE")
    assert post in ("NONE", "SOFTMAX"), post
    final = node.output[-1]
    nodes.append(helper.make_node("Softmax", [scores], [final], axis=1) if post == "SOFTMAX" else
                 helper.make_node("Identity", [scores], [final]))
    if classifier:
        table = numpy_helper.from_array(np.array(labels, dtype=np.int64 if isinstance(labels[0], int) else object),
                                        node.output[0] + "_labels")
        initializers.append(table)
        nodes.append(helper.make_node("ArgMax", [final], [final + "_best"], axis=1, keepdims=0))
        nodes.append(helper.make_node("Gather", [table.name, final + "_best"], [node.output[0]]))
    return nodes


# -- running and comparing ------------------------------------------------------------------------
def run_both(model, feeds):
    session = Session(model)
    assert session.fallback_nodes() == []
    ours = session.run(feeds)
    ort = pytest.importorskip("onnxruntime")
    theirs = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    return [ours[n] for n in session.output_names], theirs


def table(probabilities, classes):
    """ZipMap's list of dicts (or a tensor) as an (N, classes) matrix in the library's class order."""
    if isinstance(probabilities, list):
        return np.array([[row[c] for c in classes] for row in probabilities])
    return np.asarray(probabilities)


def keys(classes):
    return [c.item() if isinstance(c, np.generic) else c for c in classes]


def worst(a, b, floor) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor))) if a.size else 0.0


def record(family, which, error):
    entry = ERRORS.setdefault(family, {})
    entry[which] = max(entry.get(which, 0.0), error)


def check_classifier(family, model, clf, x, feeds=None):
    feeds = feeds if feeds is not None else {"X": x}
    (label, proba), (ort_label, ort_proba) = run_both(model, feeds)
    classes = keys(clf.classes_)
    expected = clf.predict_proba(x)
    ours, theirs = table(proba, classes), table(ort_proba, classes)
    np.testing.assert_array_equal(label, clf.predict(x))
    np.testing.assert_allclose(ours, expected, **PROBA_TOL)
    if isinstance(proba, list):  # ZipMap: a list of dicts, as onnxruntime returns it
        assert isinstance(proba[0], dict) and list(proba[0]) == list(ort_proba[0])
    np.testing.assert_array_equal(label, ort_label)
    np.testing.assert_allclose(ours, theirs, **ORT_TOL)
    record(family, "lib", worst(ours, expected, 0.1))
    record(family, "ort", worst(ours, theirs, 0.1))


def check_regressor(family, model, reg, x, feeds=None):
    (y,), (ort_y,) = run_both(model, feeds if feeds is not None else {"X": x})
    expected = reg.predict(x)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(y.ravel(), expected, rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(y, ort_y, rtol=1e-5, atol=1e-6 * scale)
    record(family, "lib", worst(y.ravel(), expected, 0.1 * scale))
    record(family, "ort", worst(y, ort_y, 0.1 * scale))


def string_labels(y):
    return np.array(["ant", "bee", "cat", "dog"])[y]


# -- scikit-learn classifiers ---------------------------------------------------------------------
def classifiers():
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return {
        "LogisticRegression": lambda: LogisticRegression(max_iter=500),
        "StandardScaler+LogisticRegression": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
        "RandomForestClassifier": lambda: RandomForestClassifier(n_estimators=12, max_depth=6, random_state=0),
        "GradientBoostingClassifier": lambda: GradientBoostingClassifier(n_estimators=15, max_depth=3, random_state=0),
        "SVC(probability=True)": lambda: SVC(probability=True, random_state=0),
        "StandardScaler+SVC(linear)": lambda: make_pipeline(StandardScaler(), SVC(kernel="linear", probability=True,
                                                                                random_state=0)),
    }


CLASSIFIER_CASES = [(name, classes, labels) for name in ("LogisticRegression", "StandardScaler+LogisticRegression",
                                                          "RandomForestClassifier", "GradientBoostingClassifier",
                                                          "SVC(probability=True)", "StandardScaler+SVC(linear)")
                    for classes, labels in ((3, "int"), (2, "int"), (4, "str"), (2, "str"))]


@pytest.mark.parametrize("name, n_classes, labels", CLASSIFIER_CASES)
def test_sklearn_classifier(name, n_classes, labels):
    x, y = classification(n_classes, seed=n_classes)
    if labels == "str":
        y = string_labels(y)
    clf = classifiers()[name]().fit(x, y)
    for zipmap in (True, False):
        check_classifier(name, skl(clf, x, zipmap), clf, x)
    model = ml3(skl(clf, x, zipmap=False))
    check_classifier(name, model, clf, x, ml3_feeds(model, x))
    if name in ("RandomForestClassifier", "GradientBoostingClassifier") and n_classes > 2:
        check_classifier(name + " (TreeEnsemble 5)", to_tree_ensemble_5(skl(clf, x, zipmap=False)), clf, x)


def test_sklearn_pipeline_with_one_hot_encoder():
    """StandardScaler on three columns and OneHotEncoder on a fourth (categories coded as floats),
    then LogisticRegression: Scaler, OneHotEncoder, ArrayFeatureExtractor, Concat, ZipMap."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    x = np.hstack([rng.normal(size=(300, 3)), rng.integers(0, 4, size=(300, 1))]).astype(np.float32)
    y = string_labels(((x[:, 0] + (x[:, 3] == 2) + 0.3 * rng.normal(size=300)) > 0.5).astype(int) + (x[:, 1] > 1))
    columns = ColumnTransformer([("num", StandardScaler(), [0, 1, 2]),
                                 ("cat", OneHotEncoder(handle_unknown="ignore"), [3])])
    clf = Pipeline([("pre", columns), ("lr", LogisticRegression(max_iter=500))]).fit(x, y)
    check_classifier("ColumnTransformer(StandardScaler, OneHotEncoder)+LR", skl(clf, x), clf, x)
    check_classifier("ColumnTransformer(StandardScaler, OneHotEncoder)+LR", ml3(skl(clf, x, False)), clf, x)  # float X


def test_sklearn_string_input_pipeline():
    """A string column one-hot encoded (OneHotEncoder on strings), then a random forest."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(1)
    x = rng.choice(["red", "green", "blue", "grey"], size=(300, 2)).astype(object)
    y = ((x[:, 0] == "red") | ((x[:, 1] == "blue") & (rng.random(300) < 0.7))).astype(np.int64)
    clf = make_pipeline(OneHotEncoder(), RandomForestClassifier(n_estimators=8, max_depth=4, random_state=0)).fit(x, y)
    check_classifier("OneHotEncoder(strings)+RandomForest", skl(clf, x), clf, x)
    # numpy's own str arrays are accepted for string inputs, as onnxruntime accepts them
    (label, _), _ = run_both(skl(clf, x), {"X": x.astype(str)})
    np.testing.assert_array_equal(label, clf.predict(x))


def test_sklearn_dict_vectorizer_takes_map_feeds():
    """DictVectorizer's input is a map: each row is a dict fed as is."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DictionaryType, FloatTensorType, StringTensorType
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.pipeline import make_pipeline

    x, y = classification(3, n=120, features=4)
    rows = [{f"f{j}": float(v) for j, v in enumerate(r) if abs(v) > 0.3} for r in x]
    clf = make_pipeline(DictVectorizer(sparse=False), RandomForestClassifier(n_estimators=6, max_depth=4,
                                                                               random_state=0)).fit(rows, y)
    model = convert_sklearn(clf, initial_types=[("X", DictionaryType(StringTensorType([1]), FloatTensorType([1])))])
    expected_label, expected = clf.predict(rows), clf.predict_proba(rows)
    for i, row in enumerate(rows):
        (label, proba), (ort_label, ort_proba) = run_both(model, {"X": row})
        assert label[0] == expected_label[i] == ort_label[0]
        np.testing.assert_allclose(table(proba, range(3))[0], expected[i], **PROBA_TOL)
        np.testing.assert_allclose(table(proba, range(3)), table(ort_proba, range(3)), **ORT_TOL)


# -- scikit-learn regressors and clustering --------------------------------------------------------
def regressors():
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR

    return {
        "LinearRegression": lambda: LinearRegression(),
        "StandardScaler+LinearRegression": lambda: make_pipeline(StandardScaler(), LinearRegression()),
        "RandomForestRegressor": lambda: RandomForestRegressor(n_estimators=10, max_depth=6, random_state=0),
        "GradientBoostingRegressor": lambda: GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=0),
        "SVR(rbf)": lambda: make_pipeline(StandardScaler(), SVR(C=50.0)),
        "SVR(poly)": lambda: make_pipeline(StandardScaler(), SVR(kernel="poly", degree=3, C=10.0)),
        "SVR(linear)": lambda: SVR(kernel="linear"),
    }


@pytest.mark.parametrize("name", ["LinearRegression", "StandardScaler+LinearRegression", "RandomForestRegressor",
                                  "GradientBoostingRegressor", "SVR(rbf)", "SVR(poly)", "SVR(linear)"])
def test_sklearn_regressor(name):
    x, y = regression()
    reg = regressors()[name]().fit(x, y)
    check_regressor(name, skl(reg, x), reg, x)
    model = ml3(skl(reg, x))
    check_regressor(name, model, reg, x, ml3_feeds(model, x))
    if "Forest" in name or "Boosting" in name:
        check_regressor(name + " (TreeEnsemble 5)", to_tree_ensemble_5(skl(reg, x)), reg, x)


def test_sklearn_kmeans():
    """KMeans is converted to default-domain ops (ReduceSumSquare, Gemm, Sqrt, ArgMin): labels exactly;
    the distances come from float32 |x|^2 - 2 x.c + |c|^2, which cancels: refruntime and onnxruntime
    (bitwise equal here) are 8e-6 relative from scikit-learn's float64 distances at worst, the float64
    oracle 1.1e-6."""
    from sklearn.cluster import KMeans

    x, _ = classification(3, features=4)
    km = KMeans(4, n_init=3, random_state=0).fit(x)
    (label, distances), (ort_label, ort_distances) = run_both(skl(km, x), {"X": x})
    np.testing.assert_array_equal(label, km.predict(x))
    np.testing.assert_array_equal(label, ort_label)
    np.testing.assert_allclose(distances, km.transform(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(distances, ort_distances, rtol=1e-6, atol=1e-6)
    record("KMeans (distances)", "lib", worst(distances, km.transform(x), 0.1))
    record("KMeans (distances)", "ort", worst(distances, ort_distances, 0.1))


# -- LightGBM and XGBoost through onnxmltools ---------------------------------------------------------
def boosted(library, kind, n_classes=3):
    if library == "lightgbm":
        lgb = pytest.importorskip("lightgbm")
        if kind == "regressor":
            return lgb.LGBMRegressor(n_estimators=25, num_leaves=15, verbose=-1)
        return lgb.LGBMClassifier(n_estimators=25, num_leaves=15, verbose=-1)
    xgb = pytest.importorskip("xgboost")
    if kind == "regressor":
        return xgb.XGBRegressor(n_estimators=25, max_depth=4)
    return xgb.XGBClassifier(n_estimators=25, max_depth=4)


def convert_boosted(library, model, features, zipmap=True):
    onnxmltools = pytest.importorskip("onnxmltools")
    from onnxmltools.convert.common.data_types import FloatTensorType

    initial = [("X", FloatTensorType([None, features]))]
    if library == "lightgbm":
        extra = {} if zipmap or not hasattr(model, "predict_proba") else {"zipmap": False}
        return onnxmltools.convert_lightgbm(model, initial_types=initial, target_opset=15, **extra)
    return onnxmltools.convert_xgboost(model, initial_types=initial, target_opset=15)


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_boosted_classifier(library, n_classes):
    x, y = classification(n_classes, seed=10 + n_classes)
    clf = boosted(library, "classifier").fit(x, y)
    family = f"{library} classifier"
    check_classifier(family, convert_boosted(library, clf, x.shape[1]), clf, x)
    model = ml3(convert_boosted(library, clf, x.shape[1]))
    check_classifier(family, model, clf, x, ml3_feeds(model, x))
    if n_classes > 2:
        check_classifier(family + " (TreeEnsemble 5)", to_tree_ensemble_5(convert_boosted(library, clf, x.shape[1])),
                         clf, x)


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_boosted_regressor(library):
    x, y = regression(seed=3)
    reg = boosted(library, "regressor").fit(x, y)
    check_regressor(f"{library} regressor", convert_boosted(library, reg, x.shape[1]), reg, x)
    model = ml3(convert_boosted(library, reg, x.shape[1]))
    check_regressor(f"{library} regressor", model, reg, x, ml3_feeds(model, x))
    check_regressor(f"{library} regressor (TreeEnsemble 5)", to_tree_ensemble_5(convert_boosted(library, reg, x.shape[1])),
                    reg, x)


def test_float64_oracle_keeps_the_scores_in_double():
    """Session(precision="float64"): the ML kernels return their float64 scores unrounded (ZipMap too),
    so the oracle is closer to scikit-learn than float32 can be."""
    from sklearn.ensemble import GradientBoostingClassifier

    x, y = classification(3)
    clf = GradientBoostingClassifier(n_estimators=10, random_state=0).fit(x, y)
    model = skl(clf, x, zipmap=False)
    native = Session(model).run({"X": x})["probabilities"]
    oracle = Session(model, precision="float64").run({"X": x})["probabilities"]
    assert native.dtype == np.float32 and oracle.dtype == np.float64
    expected = clf.predict_proba(x)
    assert np.abs(oracle - expected).max() < np.abs(native - expected).max()
    zipped = Session(skl(clf, x), precision="float64").run({"X": x})["output_probability"]
    np.testing.assert_array_equal(table(zipped, range(3)), oracle)


# -- what the conversions rely on ----------------------------------------------------------------------
def test_deprecated_tree_ensembles_are_refused_at_ml_5():
    """TreeEnsembleClassifier/Regressor are deprecated at ai.onnx.ml 5: onnx's checker and onnxruntime
    refuse such a node, and so does refruntime (TreeEnsemble replaces them)."""
    from sklearn.ensemble import RandomForestRegressor

    from refruntime import ModelError

    x, y = regression(n=50)
    model = skl(RandomForestRegressor(n_estimators=2, max_depth=2).fit(x, y), x)
    for o in model.opset_import:
        if o.domain == "ai.onnx.ml":
            o.version = 5
    with pytest.raises(ModelError, match="deprecated from ai.onnx.ml 5 on"):
        Session(model, strict=False)


def test_ml_opsets_were_exercised():
    x, y = classification(3)
    from sklearn.ensemble import RandomForestClassifier

    clf = RandomForestClassifier(n_estimators=2, max_depth=2).fit(x, y)
    assert ml_opset(skl(clf, x)) == 1 and ml_opset(ml3(skl(clf, x))) == 3
    assert "nodes_values_as_tensor" in [a.name for a in ml3(skl(clf, x)).graph.node[0].attribute]
    assert ml_opset(to_tree_ensemble_5(skl(clf, x, zipmap=False))) == 5


def test_print_error_table():
    """Shown with pytest -s: the largest relative error per family against the library and onnxruntime."""
    if not ERRORS:
        pytest.skip("run with the model tests to fill the table")
    print("\nlargest |ours - theirs| / max(|theirs|, floor); floor 0.1 for probabilities, 0.1 x the largest |y| "
          "for regressors")
    print("family" + " " * 45 + "vs library    vs onnxruntime")
    for family, errors in sorted(ERRORS.items()):
        print(f"{family:50s} {errors.get('lib', float('nan')):12.2e} {errors.get('ort', float('nan')):14.2e}")
