"""prune on hand-built graphs: exact structure after each kind of removal."""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

import graphkit as gk
from tests.graphkit.passes_fixtures import check, if_model, init, model, ops, ort_run, rand, vi

node = helper.make_node


def test_dead_nodes_and_their_initializers_go():
    m = model([node("Relu", ["x"], ["r"], name="relu"), node("Add", ["r", "c"], ["dead"], name="dead_add"),
               node("Neg", ["dead"], ["dead2"], name="dead_neg"), node("Sigmoid", ["r"], ["y"], name="sig")],
              [vi("x", [2])], [vi("y", [2])], [init("c", np.ones(2, np.float32))],
              value_info=[vi("dead", [2])])
    report = gk.prune(m)
    assert [n.name for n in m.graph] == ["relu", "sig"]
    assert not m.graph.initializers
    assert not m.graph.value_info
    assert report.counts["removed_dead"] == 2 and report.counts["removed_initializer"] == 1
    assert report.counts["removed_value_info"] == 1
    check(m)


def test_value_used_only_inside_a_subgraph_is_live():
    outer = [node("Neg", ["x"], ["n"], name="neg"), node("Abs", ["x"], ["unused"], name="abs")]
    then_nodes = [node("Relu", ["n"], ["t"], name="then_relu"), node("Exp", ["n"], ["dead"], name="then_dead")]
    else_nodes = [node("Identity", ["x"], ["e"], name="else_id")]
    p = if_model(then_nodes, else_nodes, "t", "e", outer_nodes=outer)
    m = gk.load(p.SerializeToString())
    gk.prune(m)
    assert [n.name for n in m.graph] == ["neg", "if"]
    if_node = m.graph.nodes[1]
    assert [n.name for n in if_node.attributes["then_branch"]] == ["then_relu"]
    assert [n.name for n in if_node.attributes["else_branch"]] == ["else_id"]  # outer input -> output: kept
    check(m)
    x = rand(4)
    for cond in (True, False):
        np.testing.assert_array_equal(ort_run(m, {"x": x, "cond": np.array(cond)})[0],
                                      ort_run(p, {"x": x, "cond": np.array(cond)})[0])


def test_identity_is_bypassed_and_graph_output_names_stay():
    m = model([node("Relu", ["x"], ["a"], name="relu"), node("Identity", ["a"], ["b"], name="id1"),
               node("Sigmoid", ["b"], ["s"], name="sig"), node("Identity", ["s"], ["y"], name="id2")],
              [vi("x", [2])], [vi("y", [2])])
    gk.prune(m)
    assert ops(m) == ["Relu", "Sigmoid"]
    assert m.graph.nodes[1].inputs[0].name == "a"
    assert [v.name for v in m.graph.outputs] == ["y"] and m.graph.nodes[1].outputs[0].name == "y"
    check(m)


def test_identity_from_input_to_output_is_kept():
    m = model([node("Identity", ["x"], ["y"])], [vi("x", [2])], [vi("y", [2])])
    gk.prune(m)
    assert ops(m) == ["Identity"]


def test_inference_dropout_goes_unless_mask_used_or_training():
    m = model([node("Dropout", ["x"], ["d"], name="drop"), node("Relu", ["d"], ["y"])],
              [vi("x", [2])], [vi("y", [2])], opset=13)
    gk.prune(m)
    assert ops(m) == ["Relu"] and m.graph.nodes[0].inputs[0].name == "x"

    masked = model([node("Dropout", ["x"], ["d", "mask"]), node("Relu", ["d"], ["y"])],
                   [vi("x", [2])], [vi("y", [2]), vi("mask", [2], TensorProto.BOOL)], opset=13)
    gk.prune(masked)
    assert ops(masked) == ["Dropout", "Relu"]

    training = model([node("Dropout", ["x", "r", "t"], ["d"]), node("Relu", ["d"], ["y"])],
                     [vi("x", [2])], [vi("y", [2])],
                     [init("r", np.array(0.5, np.float32)), init("t", np.array(True))], opset=13)
    gk.prune(training)
    assert ops(training) == ["Dropout", "Relu"]

    old = model([node("Dropout", ["x"], ["d"], is_test=0), node("Relu", ["d"], ["y"])],
                [vi("x", [2])], [vi("y", [2])], opset=6, ir_version=3)
    gk.prune(old)
    assert ops(old) == ["Dropout", "Relu"]  # opset < 7 without is_test=1 is training mode


def test_initializer_inputs_become_plain_initializers():
    m = model([node("Add", ["x", "w"], ["y"])], [vi("x", [2]), vi("w", [2])], [vi("y", [2])],
              [init("w", np.ones(2, np.float32)), init("unused", np.zeros(3, np.float32))], ir_version=3, opset=9)
    report = gk.prune(m)
    assert [v.name for v in m.graph.inputs] == ["x"]
    assert list(m.graph.initializers) == ["w"]
    assert m.ir_version >= 4 and report.counts["input_made_initializer"] == 1
    check(m)


def test_duplicate_initializers_and_nodes_are_merged():
    m = model([node("Add", ["x", "a"], ["p"], name="p"), node("Add", ["x", "b"], ["q"], name="q"),
               node("Add", ["x", "c"], ["r"], name="r"), node("Mul", ["p", "q"], ["pq"]), node("Mul", ["pq", "r"], ["y"])],
              [vi("x", [2])], [vi("y", [2])],
              [init("a", np.ones(2, np.float32)), init("b", np.ones(2, np.float32)), init("c", np.ones(2, np.float64)
                                                                                           .astype(np.float32) * 2)])
    x = rand(2)
    before = ort_run(m, {"x": x})
    report = gk.prune(m)
    assert sorted(m.graph.initializers) == ["a", "c"]
    assert report.counts["merged_initializer"] == 1 and report.counts["merged_node"] == 1
    assert [n.name for n in m.graph if n.op_type == "Add"] == ["p", "r"]
    mul = m.graph.nodes[2]
    assert [v.name for v in mul.inputs] == ["p", "p"]
    check(m)
    np.testing.assert_array_equal(ort_run(m, {"x": x})[0], before[0])


def test_prune_is_idempotent():
    m = model([node("Relu", ["x"], ["r"]), node("Neg", ["x"], ["dead"]), node("Identity", ["r"], ["y"])],
              [vi("x", [2])], [vi("y", [2])])
    assert gk.prune(m).modified
    assert not gk.prune(m).modified
