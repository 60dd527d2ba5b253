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


def test_values_round_trip_through_npz():
    from graphkit.values import from_npz, to_npz

    values = {"t": np.arange(3), "zip": [{0: 0.25, 1: 0.75}, {0: 0.5, 1: 0.5}],
              "m": {"a": 1.0, "b": 2.0}, "seq": [np.zeros(2), np.ones(3)]}
    back = from_npz(to_npz(values))
    assert back["zip"] == values["zip"] and back["m"] == values["m"]
    np.testing.assert_array_equal(back["t"], values["t"])
    assert [list(x) for x in back["seq"]] == [[0, 0], [1, 1, 1]]


def test_cli_prints_saves_and_compares_a_zipmap_output(svc, tmp_path, capsys):
    import onnx

    from graphkit.cli.main import main

    clf, x = svc
    path = tmp_path / "svc.onnx"
    onnx.save(skl2onnx.to_onnx(clf, x[:1]), path)
    np.save(tmp_path / "x.npy", x[:4])
    assert main(["inspect", str(path), "--show", "io"]) == 0
    assert "output_probability seq(map(int64, float32))" in capsys.readouterr().out
    golden = tmp_path / "golden.npz"
    assert main(["run", str(path), "--inputs", str(tmp_path / "x.npy"), "--save-outputs", str(golden)]) == 0
    out = capsys.readouterr().out
    assert "output_probability: seq of 4, first: map of 3" in out
    assert main(["run", str(path), "--inputs", str(tmp_path / "x.npy"), "--load-outputs", str(golden)]) == 0
    saved = np.load(golden)
    rows = saved["output_probability::rows"]
    np.testing.assert_allclose(rows, clf.predict_proba(x[:4]), rtol=1e-5, atol=1e-6)
