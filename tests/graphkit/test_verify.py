"""gk.verify: origin of divergence, the float64 oracle, real runtime disagreements, --reduce."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphkit as gk
from graphkit.verification import Tolerance, compare, make_runtime
from tests.zoo import light_path, with_random_weights


def _model(nodes, inputs, outputs, inits, opset, ir=7):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir)


def conv_bn_relu(opset: int = 12) -> onnx.ModelProto:
    rng = np.random.default_rng(1)
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.normal(0, 0.1, 4).astype(np.float32), "b"),
        numpy_helper.from_array(rng.uniform(0.5, 1.5, 4).astype(np.float32), "scale"),
        numpy_helper.from_array(rng.normal(0, 0.1, 4).astype(np.float32), "bias"),
        numpy_helper.from_array(rng.normal(0, 0.5, 4).astype(np.float32), "mean"),
        numpy_helper.from_array(rng.uniform(0.5, 2.0, 4).astype(np.float32), "var"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["n"], name="bn",
                         epsilon=1e-5),
        helper.make_node("Relu", ["n"], ["y"], name="relu"),
    ]
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], inits, opset)


def _bn_truth(model, x):
    p = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    c = np.zeros((1, 4, 8, 8))
    for i in range(8):
        for j in range(8):
            c[:, :, i, j] = np.einsum("ncij,kcij->nk", xp[:, :, i:i + 3, j:j + 3], p["w"])
    c += p["b"].reshape(1, -1, 1, 1)
    r = lambda v: v.reshape(1, -1, 1, 1)
    n = r(p["scale"]) * (c - r(p["mean"])) / np.sqrt(r(p["var"]) + 1e-5) + r(p["bias"])
    return np.maximum(n, 0)


def test_compare_statistics():
    a = np.array([1.0, 2.0, np.nan, 4.0], np.float32)
    b = np.array([1.0, 2.1, np.nan, 4.0], np.float32)
    s = compare(a, b, Tolerance(1e-3, 1e-3))
    assert not s.within and s.frac_out == pytest.approx(0.25)
    assert s.max_abs == pytest.approx(0.1, rel=1e-5) and s.nan == (1, 1)
    assert compare(a, a.copy(), Tolerance()).within
    assert not compare(a, np.array([1.0, 2.0, 3.0, 4.0], np.float32), Tolerance()).within  # NaN vs number
    assert "shape" in compare(a, a[:2], Tolerance()).note


def test_onnx_reference_batchnorm_below_14_is_the_origin_and_oracle_sides_with_ref():
    from refruntime import Session

    model = conv_bn_relu(12)
    if any("bn" in label for label in Session(model).fallback_nodes()):
        pytest.skip("refruntime has no native BatchNormalization yet (its fallback shares the bug)")
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    report = gk.verify(model, runtimes=("ref", "onnx-reference"), inputs={"x": x}, per_node=True, oracle=True)
    assert not report.passed and report.verdict == "mismatch"
    fd = report.first_divergence
    assert fd["node"] == "bn" and fd["op"] == "BatchNormalization" and fd["runtimes"] == ["onnx-reference"]
    assert fd["oracle"]["sides_with"] == ["ref"]
    assert report.oracle["exact"]["sides_with"] == report.oracle["spec"]["sides_with"] == ["ref"]
    truth = _bn_truth(model, x)
    ref_out = make_runtime("ref", model).run({"x": x})["y"]
    np.testing.assert_allclose(ref_out, truth, atol=1e-4, rtol=1e-4)
    # the torch backend agrees with ref, and so with the truth
    assert gk.verify(model, runtimes=("torch", "ref"), inputs={"x": x}).passed


def test_onnx_reference_softmax_below_13_ignores_the_2d_coercion():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    nodes = [helper.make_node("Softmax", ["x"], ["s"], name="softmax", axis=1),
             helper.make_node("Identity", ["s"], ["y"], name="id")]
    model = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(x.shape))], [], 11)
    flat = x.reshape(2, -1).astype(np.float64)
    truth = (np.exp(flat - flat.max(1, keepdims=True)) / np.exp(flat - flat.max(1, keepdims=True)).sum(1, keepdims=True))
    truth = truth.reshape(x.shape)
    report = gk.verify(model, runtimes=("torch", "ort", "onnx-reference"), inputs={"x": x}, per_node=True,
                       oracle=True)
    fd = report.first_divergence
    assert fd["node"] == "softmax" and fd["runtimes"] == ["onnx-reference"]
    assert [o.runtime for o in report.outputs if not o.stats.within] == ["onnx-reference"]
    assert report.oracle["exact"]["sides_with"] == ["torch", "ort"]
    torch_out = make_runtime("torch", model).run({"x": x})["y"]
    np.testing.assert_allclose(torch_out, truth, atol=1e-6)


def _perturb_conv_weight(model: onnx.ModelProto, conv_index: int, seed: int = 3):
    """Replace the weight of the conv_index-th Conv (a ConstantOfShape output in the light zoo, or an
    initializer) by an initializer with slightly different values. Returns (model, conv name)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    conv = [n for n in model.graph.node if n.op_type == "Conv"][conv_index]
    weight = conv.input[1]
    inits = {t.name: t for t in model.graph.initializer}
    rng = np.random.default_rng(seed)
    if weight in inits:
        values = numpy_helper.to_array(inits[weight]).copy()
        model.graph.initializer.remove(inits[weight])
    else:
        producer = next(n for n in model.graph.node if weight in n.output)
        assert producer.op_type == "ConstantOfShape"
        shape = numpy_helper.to_array(inits[producer.input[0]]).astype(int)
        fill = numpy_helper.to_array(producer.attribute[0].t).reshape(-1)[0] if producer.attribute else 0.0
        values = np.full(shape, fill, np.float32)
        model.graph.node.remove(producer)
    values = values + rng.normal(0, 0.05 * (np.abs(values).mean() + 1e-3), values.shape).astype(np.float32)
    model.graph.initializer.append(numpy_helper.from_array(values.astype(np.float32), weight))
    if model.ir_version < 4 and weight not in {vi.name for vi in model.graph.input}:
        model.graph.input.append(helper.make_tensor_value_info(weight, TensorProto.FLOAT, list(values.shape)))
    return model, conv.name or f"Conv_{list(model.graph.node).index(conv)}"


@pytest.mark.parametrize("conv_index", [3, 17])
def test_against_model_names_the_perturbed_conv_in_squeezenet(conv_index):
    original = onnx.load(light_path("light_squeezenet"))
    perturbed, conv = _perturb_conv_weight(original, conv_index)
    report = gk.verify(perturbed, against_model=original, runtimes=("ref",), per_node=True,
                       shapes={"data_0": (1, 3, 96, 96)})
    assert report.first_divergence["node"] == conv
    assert report.first_divergence["op"] == "Conv"
    assert len({o.comparison.info.label for o in report.origins}) == 1
    assert any("initializers here but computed" in n for n in report.notes)


def test_against_model_on_random_weight_squeezenet_with_ort():
    original = with_random_weights(onnx.load(light_path("light_squeezenet")))
    perturbed, conv = _perturb_conv_weight(original, 10)
    report = gk.verify(perturbed, against_model=original, runtimes=("ort",), per_node=True,
                       shapes={"data_0": (1, 3, 64, 64)})
    assert not report.passed and report.first_divergence["node"] == conv
    assert [o.comparison.info.label for o in report.origins] == [conv]


def test_reduce_saves_a_small_model_that_reproduces_by_itself(tmp_path):
    model = conv_bn_relu(12)
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    report = gk.verify(model, runtimes=("torch", "onnx-reference"), inputs={"x": x}, reduce=tmp_path)
    r = report.reduced
    assert r["reproduces"] and r["nodes"] == ["bn"] and len(r["nodes"]) <= 3
    reduced = onnx.load(r["model_path"])
    onnx.checker.check_model(reduced)
    assert [n.op_type for n in reduced.graph.node] == ["BatchNormalization"]
    again = gk.verify(r["model_path"], runtimes=("torch", "onnx-reference"), inputs=r["inputs_path"])
    assert not again.passed
    assert gk.verify(r["model_path"], runtimes=("torch", "ort"), inputs=r["inputs_path"]).passed


def test_reduce_against_model_reproduces(tmp_path):
    original = with_random_weights(onnx.load(light_path("light_squeezenet")))
    perturbed, conv = _perturb_conv_weight(original, 5)
    report = gk.verify(perturbed, against_model=original, runtimes=("ort",), reduce=tmp_path,
                       shapes={"data_0": (1, 3, 64, 64)})
    r = report.reduced
    assert r["reproduces"] and r["nodes"] == [conv]
    again = gk.verify(r["model_path"], against_model=r["against_path"], runtimes=("ort",), inputs=r["inputs_path"])
    assert not again.passed


def test_report_json_and_html_have_the_stable_keys():
    import json

    model = conv_bn_relu(12)
    report = gk.verify(model, runtimes=("torch", "onnx-reference"), per_node=True)
    data = json.loads(report.to_json())
    for key in ("runtimes", "outputs", "per_node", "first_divergence", "verdict"):
        assert key in data
    assert data["verdict"] == "mismatch" and data["first_divergence"]["node"] == "bn"
    page = report.to_html()
    assert "<svg" in page and "http" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "bn" in page


def test_usage_errors():
    model = conv_bn_relu(12)
    with pytest.raises(gk.UsageError, match="unknown runtime"):
        gk.verify(model, runtimes=("ref", "tensorrt"))
    with pytest.raises(gk.UsageError, match="module"):
        gk.verify(model, runtimes=("ref", "module"))
    with pytest.raises(gk.UsageError, match="not inputs of the model"):
        gk.verify(model, inputs={"nope": np.zeros(1)})


def test_values_nothing_reads_do_not_decide_the_verdict():
    """Opset-7 Dropout's mask is unused; ORT leaves it at zeros where ref returns ones."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    nodes = [helper.make_node("Dropout", ["x"], ["d", "mask"], name="drop"),
             helper.make_node("Relu", ["d"], ["y"], name="relu")]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 7)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    import graphkit as gk

    report = gk.verify(model, runtimes=("ref", "ort"), per_node=True)
    assert report.passed, report.table()
    assert any("mask" in note for note in report.notes)
