"""The torch runtime (ONNX executed op by op with torch) against the module, ORT and ref."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphkit as gk
from tests.zoo import light_path, with_random_weights

torch = pytest.importorskip("torch")


class SmallCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c1 = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.c2 = torch.nn.Conv2d(8, 16, 3, stride=2)
        self.fc = torch.nn.Linear(16 * 6 * 6, 10)
        with torch.no_grad():  # non-trivial running statistics
            self.bn.running_mean.uniform_(-0.5, 0.5)
            self.bn.running_var.uniform_(0.5, 2.0)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.bn(self.c1(x))), 2)
        x = torch.nn.functional.hardswish(self.c2(x))
        x = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        return torch.log_softmax(self.fc(torch.flatten(x, 1)), dim=1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from graphkit.verification.export import export_module

    module = SmallCNN().eval()
    path = str(tmp_path_factory.mktemp("cnn") / "cnn.onnx")
    feeds = export_module(module, (1, 1, 28, 28), path, exporter="torchscript", opset=13)
    return module, path, feeds


def test_torch_backend_matches_the_module_ort_and_ref(exported):
    module, path, feeds = exported
    report = gk.verify(path, runtimes=("torch", "ort", "ref"), module=module, inputs=feeds, atol=1e-5, rtol=1e-4)
    assert report.passed, report.table()
    assert [o.runtime for o in report.outputs] == ["ort", "ref", "module"]


def test_dynamic_batch_and_per_node_on_the_exported_cnn(exported):
    _, path, _ = exported
    report = gk.verify(path, runtimes=("ref", "ort", "torch"), shapes={"input": (3, 1, 28, 28)}, per_node=True)
    assert report.passed, report.table()
    assert report.per_node and all(nc.stats for nc in report.per_node if nc.info.op == "Conv")


def test_against_model_names_the_perturbed_conv_of_an_exported_cnn(exported):
    _, path, feeds = exported
    original = onnx.load(path)
    perturbed = onnx.ModelProto.FromString(original.SerializeToString())
    conv = [n for n in perturbed.graph.node if n.op_type == "Conv"][1]
    init = next(t for t in perturbed.graph.initializer if t.name == conv.input[1])
    w = numpy_helper.to_array(init).copy()
    w[0, 0, 0, 0] += 0.05
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    report = gk.verify(perturbed, against_model=original, inputs=feeds, per_node=True)
    assert report.first_divergence["node"] == conv.name and report.first_divergence["op"] == "Conv"
    assert any("initializer(s) differ" in n for n in report.notes)


@pytest.mark.slow
def test_dynamo_export_verifies_against_the_module(tmp_path):
    from graphkit.verification.export import export_module

    module = SmallCNN().eval()
    path = str(tmp_path / "cnn_dynamo.onnx")
    try:
        feeds = export_module(module, (1, 1, 28, 28), path, exporter="dynamo", opset=18)
    except gk.UsageError as exc:
        pytest.skip(f"dynamo exporter unavailable: {exc}")
    report = gk.verify(path, runtimes=("torch", "ort", "ref"), module=module, inputs=feeds, atol=1e-5, rtol=1e-4)
    assert report.passed, report.table()


@pytest.mark.parametrize("name,shape", [("light_squeezenet", (1, 3, 64, 64)), ("light_zfnet512", None)])
def test_light_zoo_ort_ref_torch_agree(name, shape):
    model = with_random_weights(onnx.load(light_path(name)))
    shapes = {"data_0": shape} if shape else None
    report = gk.verify(model, runtimes=("torch", "ort", "ref"), shapes=shapes, per_node=name == "light_squeezenet",
                       atol=1e-4, rtol=1e-3)
    assert all(o.stats.within for o in report.outputs) and not report.errors, report.table()
    if report.per_node is not None:
        # a real disagreement on an unused value: ORT's opset-9 Dropout mask is all zeros in
        # inference, torch's and ref's all ones (the spec leaves it open before opset 10)
        origins = [(o.runtime, o.comparison.info.op, o.bad_outputs) for o in report.origins]
        assert origins in ([], [("ort", "Dropout", ["r62"])]), origins


def test_onnx_reference_lrn_is_wrong_and_the_oracle_says_so():
    model, feeds = _single("LRN", [("x", X4)], {"size": 3, "alpha": 0.01, "beta": 0.75, "bias": 1.0}, 13)
    report = gk.verify(model, runtimes=("ort", "onnx-reference", "torch"), inputs=feeds, per_node=True, oracle=True)
    assert report.first_divergence["node"] == "lrn" and report.first_divergence["runtimes"] == ["onnx-reference"]
    assert report.first_divergence["oracle"]["sides_with"] == ["ort"]  # the baseline, run on the reduced node
    assert report.oracle["exact"]["sides_with"] == ["ort", "torch"]


def test_unmapped_nodes_are_named_not_guessed():
    # GridSample has no torch mapping: refruntime runs it and the runtime says so; a node of an
    # unknown domain runs nowhere and is named
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("GridSample", ["r", "g"], ["y"], name="sampler")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4]),
                                           helper.make_tensor_value_info("g", TensorProto.FLOAT, [1, 4, 4, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)], ir_version=8)
    from graphkit.verification.runtimes import make_runtime

    assert make_runtime("torch", model).delegated == ["sampler"]
    nodes[1].domain = "example.custom"
    model.opset_import.append(helper.make_opsetid("example.custom", 1))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    with pytest.raises(gk.UsageError, match=r"sampler \(example\.custom\.GridSample\)"):
        gk.verify(model, runtimes=("ort", "torch"))


def _single(op, inputs, attrs, opset, consts=()):
    """One-node model: `inputs` are (name, array) fed at run time, `consts` become initializers."""
    vis = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), list(a.shape)) for n, a in inputs]
    inits = [numpy_helper.from_array(a, n) for n, a in consts]
    names = [n for n, _ in inputs] + [n for n, _ in consts]
    order = attrs.pop("_order", names)
    node = helper.make_node(op, order, ["y"], name=op.lower(), **attrs)
    graph = helper.make_graph([node], "g", vis, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    return model, dict(inputs)


X4 = np.random.default_rng(0).standard_normal((2, 6, 7, 9)).astype(np.float32)
CASES = [
    ("AveragePool", {"kernel_shape": [3, 3], "pads": [0, 1, 2, 1], "strides": [2, 2]}, 11, ()),
    ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}, 11, ()),
    ("AveragePool", {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}, 11, ()),
    ("MaxPool", {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER", "strides": [2, 2]}, 11, ()),
    ("MaxPool", {"kernel_shape": [2, 2], "dilations": [2, 2], "pads": [1, 0, 1, 0]}, 12, ()),
    ("LRN", {"size": 4, "alpha": 0.01, "beta": 0.75, "bias": 1.0}, 13, ()),
    ("Softmax", {"axis": 2}, 11, ()),
    ("LogSoftmax", {"axis": 1}, 13, ()),
    ("Clip", {"min": -0.5, "max": 0.7}, 6, ()),
    ("Pad", {"mode": "reflect"}, 13, (("pads", np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)),)),
    ("Pad", {"mode": "edge"}, 13, (("pads", np.array([0, 1, 1, 0, 0, 0, 0, 3], np.int64)),)),
    ("Slice", {}, 13, (("starts", np.array([-1, 5], np.int64)), ("ends", np.array([-100, 0], np.int64)),
                       ("axes", np.array([2, 3], np.int64)), ("steps", np.array([-2, -1], np.int64)))),
    ("Conv", {"kernel_shape": [3, 3], "auto_pad": "SAME_LOWER", "strides": [2, 2], "group": 2},
     11, (("w", np.random.default_rng(1).standard_normal((4, 3, 3, 3)).astype(np.float32)),)),
    ("ConvTranspose", {"strides": [2, 2], "output_padding": [1, 0], "pads": [1, 0, 0, 1]},
     11, (("w", np.random.default_rng(2).standard_normal((6, 2, 3, 3)).astype(np.float32)),)),
    ("ReduceMean", {"axes": [1, 3], "keepdims": 0}, 13, ()),
    ("Flatten", {"axis": 2}, 13, ()),
]


@pytest.mark.parametrize("op,attrs,opset,consts", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_torch_ops_match_ort(op, attrs, opset, consts):
    model, feeds = _single(op, [("x", X4)], dict(attrs), opset, consts)
    runtimes = ("ref", "torch") if op == "LRN" else ("ort", "torch")  # ORT rejects an even LRN size
    report = gk.verify(model, runtimes=runtimes, inputs=feeds, atol=1e-5, rtol=1e-4)
    assert report.passed, report.table()
