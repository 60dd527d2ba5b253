"""The passes on real models: the onnx package's light zoo (weights are ConstantOfShape nodes).

After fold + simplify every model must pass the checker, contain no ConstantOfShape below the
size limit, be smaller, and give onnxruntime the same output as the original model does.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest

import graphkit as gk
from tests.graphkit.passes_fixtures import check, ort_run
from tests.zoo import LIGHT_MODELS, data_input, light_path, with_random_weights


def _input(p: onnx.ModelProto) -> tuple[str, np.ndarray]:
    vi = data_input(p)
    shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    return vi.name, np.random.default_rng(0).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_fold_and_simplify_match_onnxruntime(name):
    original = onnx.load(light_path(name))
    x_name, x = _input(original)
    expected = ort_run(original, {x_name: x})
    model = gk.load(light_path(name))
    folded = gk.fold_constants(model, size_limit=2e9)
    assert folded.counts["folded"] > 0
    report = gk.simplify(model, size_limit=2e9)
    assert "ConstantOfShape" not in {n.op_type for n in model.graph}
    assert len(model.graph) < len(original.graph.node)
    assert report.to_json()
    got = ort_run(check(model), {x_name: x})
    for want, have in zip(expected, got):
        np.testing.assert_allclose(have, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["light_squeezenet", "light_densenet121", "light_inception_v2"])
def test_simplify_with_random_weights_matches_onnxruntime(name):
    """Constant-filled weights hide wrong fusions (every channel is alike); random ones do not."""
    original = with_random_weights(onnx.load(light_path(name)), seed=1)
    x_name, x = _input(original)
    expected = ort_run(original, {x_name: x})
    model = gk.load(original.SerializeToString())
    report = gk.simplify(model)
    assert report.modified
    got = ort_run(check(model), {x_name: x})
    for want, have in zip(expected, got):
        np.testing.assert_allclose(have, want, rtol=1e-3, atol=1e-4 * max(1.0, float(np.abs(want).max())))
