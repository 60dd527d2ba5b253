"""fold_constants on hand-built graphs: exact structure, and outputs equal to onnxruntime's."""
from __future__ import annotations

import json

import numpy as np
from onnx import TensorProto, helper

import graphkit as gk
from graphkit.passes import FoldConstants
from tests.graphkit.passes_fixtures import check, if_model, init, model, ops, ort_run, rand, vi

node = helper.make_node


def test_constant_chain_becomes_one_initializer():
    m = model([node("Add", ["a", "b"], ["ab"]), node("Mul", ["ab", "b"], ["k"]), node("Mul", ["x", "k"], ["y"])],
              [vi("x", [3])], [vi("y", [3])], [init("a", np.ones(3, np.float32)), init("b", np.full(3, 2, np.float32))])
    before = ort_run(m, {"x": np.arange(3, dtype=np.float32)})
    report = gk.fold_constants(m)
    assert ops(m) == ["Mul"]
    assert report.counts["folded"] == 2
    k = m.graph.initializers["k"].const_value.numpy()
    np.testing.assert_array_equal(k, [6, 6, 6])
    assert m.graph.nodes[0].inputs[1].name == "k"
    check(m)
    np.testing.assert_array_equal(ort_run(m, {"x": np.arange(3, dtype=np.float32)})[0], before[0])
    json.loads(report.to_json())  # JSON-able
    assert "folded" in str(report)


def test_random_ops_and_training_dropout_are_never_folded():
    m = model([node("RandomNormal", [], ["r"], shape=[3], seed=1.0),
               node("Add", ["r", "c"], ["y"]),
               node("Dropout", ["c", "ratio", "train"], ["d"]),
               node("Add", ["d", "y"], ["z"])],
              [], [vi("z", [3])],
              [init("c", np.ones(3, np.float32)), init("ratio", np.array(0.5, np.float32)),
               init("train", np.array(True))], opset=13)
    gk.fold_constants(m)
    assert ops(m) == ["RandomNormal", "Add", "Dropout", "Add"]


def test_inference_dropout_with_constant_input_folds():
    m = model([node("Dropout", ["c"], ["d"]), node("Add", ["x", "d"], ["y"])], [vi("x", [3])], [vi("y", [3])],
              [init("c", np.ones(3, np.float32))], opset=13)
    gk.fold_constants(m)
    assert ops(m) == ["Add"]


def test_shape_chain_folds_when_input_shape_is_static():
    # x:[2,3,4] -> Relu (no declared shape: onnx shape inference gives it) -> Shape -> Gather(0)
    # -> Unsqueeze -> Concat(-1) -> Reshape(x): the chain folds, the Relu is left dead for prune
    nodes = [node("Relu", ["x"], ["r"]), node("Shape", ["r"], ["s"]), node("Gather", ["s", "zero"], ["s0"], axis=0),
             node("Unsqueeze", ["s0", "axes"], ["s0u"]), node("Concat", ["s0u", "minus1"], ["shape"], axis=0),
             node("Slice", ["s", "one", "three"], ["tail"]), node("ReduceProd", ["tail"], ["tp"], keepdims=1),
             node("Reshape", ["x", "shape"], ["y"])]
    inits = [init("zero", np.array(0, np.int64)), init("axes", np.array([0], np.int64)),
             init("minus1", np.array([-1], np.int64)), init("one", np.array([1], np.int64)),
             init("three", np.array([3], np.int64))]
    m = model(nodes, [vi("x", [2, 3, 4])], [vi("y", [2, 12]), vi("tp", [1], TensorProto.INT64)], inits)
    x = rand(2, 3, 4)
    before = ort_run(m, {"x": x})
    report = gk.fold_constants(m)
    assert ops(m) == ["Relu", "Constant", "Reshape"]  # tp is a graph output: it stays one, as a Constant
    gk.prune(m)
    assert ops(m) == ["Constant", "Reshape"]
    assert m.graph.nodes[0].outputs[0].name == "tp"
    np.testing.assert_array_equal(m.graph.nodes[1].inputs[1].const_value.numpy(), [2, -1])
    assert report.counts["folded"] >= 6
    check(m)
    for a, b in zip(ort_run(m, {"x": x}), before):
        np.testing.assert_array_equal(a, b)


def test_shape_of_symbolic_input_is_not_folded():
    m = model([node("Shape", ["x"], ["s"]), node("Reshape", ["x", "s"], ["y"])], [vi("x", ["N", 4])], [vi("y", ["N", 4])])
    gk.fold_constants(m)
    assert ops(m) == ["Shape", "Reshape"]


def test_shape_with_start_end_honours_opset_15():
    m = model([node("Shape", ["x"], ["s"], start=1), node("Cast", ["s"], ["y"], to=TensorProto.FLOAT)],
              [vi("x", [2, 3, 4])], [vi("y", [2])], opset=15)
    gk.fold_constants(m)
    np.testing.assert_array_equal(m.graph.nodes[0].attributes["value"].numpy(), [3, 4])


def test_size_limit_refuses_and_reports():
    nodes = [node("ConstantOfShape", ["shape"], ["big"]), node("Add", ["x", "big"], ["y"])]
    inits = [init("shape", np.array([500, 500], np.int64))]
    m = model(nodes, [vi("x", [500, 500])], [vi("y", [500, 500])], inits)
    report = gk.fold_constants(m, size_limit=1e5)
    assert ops(m) == ["ConstantOfShape", "Add"]
    assert not report.modified
    assert report.notes[0]["kind"] == "too_large" and report.notes[0]["bytes"] == 500 * 500 * 4
    gk.fold_constants(m)  # default limit 1e8: folds
    assert ops(m) == ["Add"]


def test_opset_version_of_each_node_is_honoured():
    # Clip at opset 10 takes min/max as attributes; at 11+ as inputs
    m10 = model([node("Clip", ["c"], ["k"], min=0.0, max=1.0), node("Add", ["x", "k"], ["y"])],
                [vi("x", [3])], [vi("y", [3])], [init("c", np.array([-2, 0.5, 3], np.float32))], opset=10)
    gk.fold_constants(m10)
    np.testing.assert_array_equal(m10.graph.initializers["k"].const_value.numpy(), [0, 0.5, 1])
    m13 = model([node("Clip", ["c", "lo"], ["k"]), node("Add", ["x", "k"], ["y"])],
                [vi("x", [3])], [vi("y", [3])], [init("c", np.array([-2, 0.5, 3], np.float32)),
                                                 init("lo", np.array(0, np.float32))], opset=13)
    gk.fold_constants(m13)
    np.testing.assert_array_equal(m13.graph.initializers["k"].const_value.numpy(), [0, 0.5, 3])


def test_long_tail_op_folds_through_the_reference_fallback():
    m = model([node("CumSum", ["c", "axis"], ["k"]), node("Add", ["x", "k"], ["y"])], [vi("x", [4])], [vi("y", [4])],
              [init("c", np.arange(4, dtype=np.float32)), init("axis", np.array(0, np.int64))])
    gk.fold_constants(m)
    assert ops(m) == ["Add"]
    np.testing.assert_array_equal(m.graph.initializers["k"].const_value.numpy(), [0, 1, 3, 6])


def test_folded_graph_output_stays_an_output():
    m = model([node("Add", ["a", "a"], ["y"]), node("Relu", ["x"], ["z"])], [vi("x", [2])],
              [vi("y", [2]), vi("z", [2])], [init("a", np.ones(2, np.float32))])
    gk.fold_constants(m)
    assert ops(m) == ["Constant", "Relu"]
    assert [v.name for v in m.graph.outputs] == ["y", "z"]
    check(m)
    np.testing.assert_array_equal(ort_run(m, {"x": np.zeros(2, np.float32)})[0], [2, 2])


def test_subgraph_nodes_reading_only_constants_fold():
    then_nodes = [node("Add", ["c", "c"], ["cc"]), node("Mul", ["x", "cc"], ["t"])]
    else_nodes = [node("Neg", ["c"], ["nc"]), node("Mul", ["x", "nc"], ["e"])]
    p = if_model(then_nodes, else_nodes, "t", "e", inits=[init("c", np.full(4, 3, np.float32))])
    m = gk.load(p.SerializeToString())
    x = rand(4)
    report = gk.fold_constants(m)
    then_g, else_g = (m.graph.nodes[0].attributes[k] for k in ("then_branch", "else_branch"))
    assert ops(then_g) == ["Mul"] and ops(else_g) == ["Mul"]
    assert report.counts["folded"] == 2
    assert {d["graph"] for d in report.details} == {"if"}
    check(m)
    for cond in (True, False):
        feeds = {"x": x, "cond": np.array(cond)}
        np.testing.assert_allclose(ort_run(m, feeds)[0], ort_run(p, feeds)[0])


def test_constant_nodes_are_lifted_and_verify_passes():
    m = model([node("Constant", [], ["k"], value=helper.make_tensor("v", TensorProto.FLOAT, [2], [1, 2])),
               node("Add", ["x", "k"], ["y"])], [vi("x", [2])], [vi("y", [2])])
    report = gk.fold_constants(m, verify=True)
    assert ops(m) == ["Add"] and report.counts["lifted"] == 1
    assert report.verification["max_error"] == {"y": 0.0}


def test_pass_class_and_json_report():
    m = model([node("Neg", ["a"], ["k"]), node("Add", ["x", "k"], ["y"])], [vi("x", [1])], [vi("y", [1])],
              [init("a", np.ones(1, np.float32))])
    result = FoldConstants()(m)
    assert result.modified and result.model is m
    data = json.loads(result.report.to_json())
    assert data["counts"] == {"folded": 1} and data["details"][0]["op"] == "Neg"
