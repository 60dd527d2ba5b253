"""verify on scikit-learn models: ZipMap's sequences of maps compared element by element, and an
oracle that computes SVMClassifier itself (onnx.reference's coupling is wrong, and the oracle used
to run that same code). Truth: scikit-learn's own predict_proba."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphkit as gk

sklearn = pytest.importorskip("sklearn")
skl2onnx = pytest.importorskip("skl2onnx")


@pytest.fixture(scope="module")
def svc():
    from sklearn.datasets import load_iris
    from sklearn.svm import SVC

    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = SVC(probability=True, random_state=0).fit(x, y)
    return clf, x


def test_svm_probabilities_origin_is_onnx_reference_and_the_oracle_is_independent(svc):
    clf, x = svc
    model = skl2onnx.to_onnx(clf, x[:1], options={id(clf): {"zipmap": False}})
    report = gk.verify(model, runtimes=("ref", "ort", "onnx-reference"), inputs={"X": x[:30]}, per_node=True,
                       oracle=True)
    origin = report.first_divergence
    assert origin["op"] == "SVMClassifier" and origin["runtimes"] == ["onnx-reference"]
    assert origin["oracle"]["sides_with"] == ["ref"]  # float64 from the same inputs, computed natively
    assert report.oracle["not_independent"] == []
    assert report.oracle["exact"]["sides_with"] == ["ref", "ort"]
    ref = gk.verification.make_runtime("ref", model).run({"X": x[:30]})
    probabilities = next(v for k, v in ref.items() if k != "label")
    np.testing.assert_allclose(probabilities, clf.predict_proba(x[:30]), rtol=1e-5, atol=1e-6)


def test_zipmap_outputs_are_compared_map_by_map(svc):
    clf, x = svc
    model = skl2onnx.to_onnx(clf, x[:1])  # default: ZipMap, a list of {class: probability}
    report = gk.verify(model, runtimes=("ref", "ort"), inputs={"X": x[:30]}, per_node=True)
    assert report.passed, report.table()
    probability = next(o for o in report.outputs if o.name == "output_probability")
    assert probability.stats.max_abs < 1e-5 and probability.stats.shape == (3,)
    ref = gk.verification.make_runtime("ref", model).run({"X": x[:30]})["output_probability"]
    assert isinstance(ref, list) and len(ref) == 30 and set(ref[0]) == {0, 1, 2}
    np.testing.assert_allclose([[row[c] for c in (0, 1, 2)] for row in ref], clf.predict_proba(x[:30]),
                               rtol=1e-5, atol=1e-6)
