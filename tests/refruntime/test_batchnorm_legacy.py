"""BatchNormalization at opsets 1-6 (is_test, spatial, consumed_inputs): native inference kernel."""
from __future__ import annotations

import glob
import os

import numpy as np
import onnx
import onnx.backend.test
import pytest
from onnx import TensorProto, helper, numpy_helper

from refruntime import KernelError, Session
from refruntime.registry import find_native

PYTORCH_CONVERTED = os.path.join(os.path.dirname(onnx.backend.test.__file__), "data", "pytorch-converted")
BN_CASES = sorted(glob.glob(os.path.join(PYTORCH_CONVERTED, "test_BatchNorm*")))


def bn_model(shape, param_shape, opset, outputs=("y",), **attrs):
    names = ["x", "scale", "b", "mean", "var"]
    node = helper.make_node("BatchNormalization", names, list(outputs), name="bn", **attrs)
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)]
    inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, param_shape) for n in names[1:]]
    graph = helper.make_graph([node], "bn", inputs,
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def params(rng, shape):
    return {"scale": rng.standard_normal(shape).astype(np.float32), "b": rng.standard_normal(shape).astype(np.float32),
            "mean": rng.standard_normal(shape).astype(np.float32),
            "var": rng.uniform(0.1, 2.0, shape).astype(np.float32)}


def reference(x, p, epsilon, per_activation=False):
    """The spec's formula in float64."""
    lead = (1,) + p["scale"].shape if per_activation else (1, -1) + (1,) * (x.ndim - 2)
    s, b, m, v = (p[k].astype(np.float64).reshape(lead) for k in ("scale", "b", "mean", "var"))
    return (x.astype(np.float64) - m) / np.sqrt(v + epsilon) * s + b


def test_opsets_1_to_6_have_a_native_kernel():
    for opset in range(1, 7):
        cls = find_native("", "BatchNormalization", opset)
        assert cls is not None and cls.__name__ == "BatchNormalization_1"
    assert find_native("", "BatchNormalization", 7).__name__ == "BatchNormalization_7"


@pytest.mark.parametrize("opset", [1, 6])
@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 5), (2, 4, 5, 6), (1, 3, 2, 3, 4)])
def test_spatial_matches_float64_formula(opset, shape):
    rng = np.random.default_rng(opset)
    x = rng.standard_normal(shape).astype(np.float32)
    p = params(rng, (shape[1],))
    attrs = {"is_test": 1, "epsilon": 1e-3, "momentum": 0.7}
    if opset == 1:
        attrs["consumed_inputs"] = [0, 0, 0, 1, 1]
    session = Session(bn_model(list(shape), [shape[1]], opset, **attrs), allow_fallback=False)
    assert session.fallback_nodes() == []
    y = session.run({"x": x, **p})["y"]
    assert y.dtype == np.float32 and y.shape == shape
    np.testing.assert_allclose(y, reference(x, p, 1e-3), rtol=1e-5, atol=1e-5)


def test_default_epsilon_and_per_activation_spatial_0():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    p = params(rng, (3, 4, 5))
    y = Session(bn_model([2, 3, 4, 5], [3, 4, 5], 6, is_test=1, spatial=0)).run({"x": x, **p})["y"]
    np.testing.assert_allclose(y, reference(x, p, 1e-5, per_activation=True), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", BN_CASES, ids=os.path.basename)
def test_onnx_pytorch_converted_models(case):
    model = onnx.load(os.path.join(case, "model.onnx"))
    assert model.opset_import[0].version < 7
    data = os.path.join(case, "test_data_set_0")
    feeds = {}
    for i, vi in enumerate(model.graph.input):
        path = os.path.join(data, f"input_{i}.pb")
        if os.path.exists(path):
            feeds[vi.name] = numpy_helper.to_array(onnx.load_tensor(path))
    expected = [numpy_helper.to_array(onnx.load_tensor(p)) for p in sorted(glob.glob(os.path.join(data, "output_*.pb")))]
    session = Session(model, allow_fallback=False)
    got = session.run(feeds)
    assert len(got) == len(expected) == 1
    for value, want in zip(got.values(), expected):
        assert value.shape == want.shape and value.dtype == want.dtype
        np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-5)


def test_pytorch_converted_cases_are_present():
    assert len(BN_CASES) >= 5


def test_training_mode_is_refused_at_plan_time_naming_the_node():
    with pytest.raises(KernelError, match=r"'bn'.*is_test=0 asks for training mode"):
        Session(bn_model([2, 3], [3], 6, momentum=0.9))  # is_test defaults to 0


def test_training_outputs_are_refused():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    # BatchNormalization-6 has 1 or 5 outputs (3 is refused by the spec, by strict=True and by ORT)
    outputs = ("y", "m_out", "v_out", "saved_mean", "saved_var")
    session = Session(bn_model([2, 3], [3], 6, outputs=outputs, is_test=1))
    with pytest.raises(KernelError, match="training outputs"):
        session.run({"x": x, **params(rng, (3,))})


def test_conv_then_legacy_bn_fused_path_matches_formula():
    """Conv + opset-6 BN goes through the plan-time fusion when inference; same result as the formula."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    p = params(rng, (3,))
    inits = [numpy_helper.from_array(w, "w"), *(numpy_helper.from_array(v, k) for k, v in p.items())]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "scale", "b", "mean", "var"], ["y"], name="bn",
                              is_test=1, epsilon=1e-4),
             helper.make_node("Relu", ["y"], ["r"], name="relu")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 5])],
                              [helper.make_tensor_value_info("r", TensorProto.FLOAT, None)], inits)
    session = Session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 6)]), allow_fallback=False)
    import torch

    conv = torch.nn.functional.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), padding=1).numpy()
    want = np.maximum(reference(conv, p, 1e-4), 0)
    np.testing.assert_allclose(session.run({"x": x})["r"], want, rtol=1e-4, atol=1e-4)
    steps = session.run({"x": x}, capture="all")  # the unfused debugging path agrees
    np.testing.assert_allclose(steps["r"], want, rtol=1e-4, atol=1e-4)
