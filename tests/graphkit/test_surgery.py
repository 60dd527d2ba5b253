"""Surgery operations: each result passes the full checker and runs in onnxruntime."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

import graphkit as gk
from graphkit.errors import GraphError
from graphkit.ir import Node
from tests.graphkit.passes_fixtures import check, if_model, init, model, ops, ort_run, rand, vi

node = helper.make_node


def _chain():
    """x -> Relu(a) -> Add(c)(b) -> Sigmoid(y); the Add output b is also read by Neg(z)."""
    return model([node("Relu", ["x"], ["a"], name="relu"), node("Add", ["a", "c"], ["b"], name="add"),
                  node("Sigmoid", ["b"], ["y"], name="sig"), node("Neg", ["b"], ["z"], name="neg")],
                 [vi("x", ["N", 3])], [vi("y", ["N", 3]), vi("z", ["N", 3])], [init("c", np.ones(3, np.float32))])


X = np.array([[-1, 0, 2]], np.float32)


def test_find_by_op_name_domain_and_predicate():
    m = _chain()
    assert [n.name for n in gk.find(m, op="Relu")] == ["relu"]
    assert [n.name for n in gk.find(m, op={"Sigmoid", "Neg"})] == ["sig", "neg"]
    assert gk.find(m, name="add")[0].op_type == "Add"
    assert len(gk.find(m, domain="ai.onnx")) == 4
    assert [n.name for n in gk.find(m, where=lambda n: any(v.const_value is not None for v in n.inputs))] == ["add"]


def test_insert_node_on_a_value():
    m = _chain()
    new = gk.insert_node(m, "b", "Abs")
    assert ops(m) == ["Relu", "Add", "Abs", "Sigmoid", "Neg"]
    assert m.graph.nodes[3].inputs[0] is new.outputs[0] and m.graph.nodes[4].inputs[0] is new.outputs[0]
    check(m)
    _y, z = ort_run(m, {"x": X})
    np.testing.assert_allclose(z, -np.abs(np.maximum(X, 0) + 1))


def test_insert_node_on_a_graph_output_keeps_the_name():
    m = _chain()
    gk.insert_node(m, "y", "Neg")
    assert [v.name for v in m.graph.outputs] == ["y", "z"]
    check(m)
    np.testing.assert_allclose(ort_run(m, {"x": X})[0], -1 / (1 + np.exp(-(np.maximum(X, 0) + 1))), rtol=1e-6)


def test_insert_node_rewires_subgraph_readers():
    p = if_model([node("Relu", ["n"], ["t"])], [node("Abs", ["n"], ["e"])], "t", "e",
                 outer_nodes=[node("Neg", ["x"], ["n"], name="neg")])
    m = gk.load(p.SerializeToString())
    gk.insert_node(m, "n", "Exp")
    check(m)
    x = rand(4)
    np.testing.assert_allclose(ort_run(m, {"x": x, "cond": np.array(True)})[0], np.exp(-x), rtol=1e-6)


def test_remove_node_rewires_consumers_and_outputs():
    m = _chain()
    gk.remove_node(m, "sig")
    assert ops(m) == ["Relu", "Add", "Neg"]
    assert [v.name for v in m.graph.outputs] == ["y", "z"]  # Add's output took the name y
    check(m)
    y, z = ort_run(m, {"x": X})
    np.testing.assert_allclose(y, np.maximum(X, 0) + 1)
    np.testing.assert_allclose(z, -(np.maximum(X, 0) + 1))
    gk.remove_node(m, "add")  # one data input: c is a constant
    check(m)
    assert ops(m) == ["Relu", "Neg"]


def test_remove_node_refuses_two_data_inputs():
    m = model([node("Add", ["x", "w"], ["y"], name="add")], [vi("x", [2]), vi("w", [2])], [vi("y", [2])])
    with pytest.raises(GraphError, match="2 non-constant inputs"):
        gk.remove_node(m, "add")


def test_replace_a_connected_set_of_nodes():
    m = _chain()
    add, sig = gk.find(m, name="add")[0], gk.find(m, name="sig")[0]
    with pytest.raises(GraphError, match="escape"):
        gk.replace_nodes(m, [add, sig], [Node("Relu", [m.graph.value("a")], 1)])
    a = m.graph.value("a")
    double = Node("Add", [a, a], 1, name="double")
    soft = Node("Softplus", [double.outputs[0]], 1, name="soft")
    gk.replace_nodes(m, [add, sig], [double, soft],
                     outputs={"b": double.outputs[0], "y": soft.outputs[0]})
    assert ops(m) == ["Relu", "Add", "Softplus", "Neg"]
    assert [v.name for v in m.graph.outputs] == ["y", "z"]
    check(m)
    y, z = ort_run(m, {"x": X})
    r = np.maximum(X, 0)
    np.testing.assert_allclose(z, -2 * r)
    np.testing.assert_allclose(y, np.log1p(np.exp(2 * r)), rtol=1e-6)


def test_replace_single_node_positionally():
    m = _chain()
    gk.replace_nodes(m, "relu", [Node("Abs", [m.graph.value("x")], 1)])
    check(m)
    np.testing.assert_allclose(ort_run(m, {"x": X})[1], -(np.abs(X) + 1))


def test_rename_value_and_node_including_subgraph_references():
    p = if_model([node("Relu", ["n"], ["t"])], [node("Abs", ["n"], ["e"])], "t", "e",
                 outer_nodes=[node("Neg", ["x"], ["n"], name="neg")])
    m = gk.load(p.SerializeToString())
    gk.rename_value(m, "n", "negated")
    gk.rename_node(m, "neg", "negate")
    with pytest.raises(GraphError, match="already used"):
        gk.rename_value(m, "negated", "x")
    saved = check(m)
    assert saved.graph.node[1].attribute[0].g.node[0].input == ["negated"]
    assert saved.graph.node[0].name == "negate"
    x = rand(4)
    np.testing.assert_allclose(ort_run(m, {"x": x, "cond": np.array(False)})[0], np.abs(x))


def test_add_and_remove_outputs():
    m = _chain()
    gk.add_output(m, "a")  # no declared type: found by shape inference
    gk.remove_output(m, "z")
    assert [v.name for v in m.graph.outputs] == ["y", "a"]
    check(m)
    _y, a = ort_run(m, {"x": X})
    np.testing.assert_allclose(a, np.maximum(X, 0))
    gk.prune(m)
    assert ops(m) == ["Relu", "Add", "Sigmoid"]
    with pytest.raises(GraphError, match="not an output"):
        gk.remove_output(m, "z")


def test_set_input_shape_and_symbolic_batch():
    m = model([node("Relu", ["x"], ["a"]), node("Flatten", ["a"], ["y"])], [vi("x", [1, 2, 3])], [vi("y", [1, 6])],
              value_info=[vi("a", [1, 2, 3])])
    gk.set_input_shape(m, "x", [4, 2, 3])
    assert m.graph.inputs[0].shape == (4, 2, 3)
    assert m.graph.outputs[0].shape == (4, 6)
    check(m)
    assert ort_run(m, {"x": rand(4, 2, 3)})[0].shape == (4, 6)
    gk.make_batch_symbolic(m, "batch")
    assert m.graph.inputs[0].shape == ("batch", 2, 3) and m.graph.outputs[0].shape[0] == "batch"
    check(m)
    assert ort_run(m, {"x": rand(7, 2, 3)})[0].shape == (7, 6)


def test_extract_between_values():
    m = _chain()
    sub = gk.extract(m, inputs=["a"], outputs=["z"])
    assert ops(sub) == ["Add", "Neg"]
    assert [v.name for v in sub.graph.inputs] == ["a"] and list(sub.graph.initializers) == ["c"]
    check(sub)
    a = rand(2, 3)
    np.testing.assert_allclose(ort_run(sub, {"a": a})[0], -(a + 1))
    assert ops(m) == ["Relu", "Add", "Sigmoid", "Neg"]  # the original is untouched
    with pytest.raises(GraphError, match="graph input 'x'"):
        gk.extract(m, inputs=["c"], outputs=["z"])


def test_extract_keeps_a_node_with_a_subgraph_and_its_outer_reads():
    p = if_model([node("Relu", ["n"], ["t"])], [node("Abs", ["n"], ["e"])], "t", "e",
                 outer_nodes=[node("Neg", ["x"], ["n"], name="neg")])
    m = gk.load(p.SerializeToString())
    sub = gk.extract(m, inputs=["n", "cond"], outputs=["y"])
    assert ops(sub) == ["If"]
    check(sub)
    n = rand(4)
    np.testing.assert_allclose(ort_run(sub, {"n": n, "cond": np.array(True)})[0], np.maximum(n, 0))


def test_fold_of_int_input_types_is_exact():
    m = model([node("Add", ["x", "k"], ["y"])], [vi("x", [2], TensorProto.INT64)], [vi("y", [2], TensorProto.INT64)],
              [init("k", np.array([1, 2], np.int64))])
    gk.insert_node(m, "x", "Neg")
    check(m)
    np.testing.assert_array_equal(ort_run(m, {"x": np.array([3, 4], np.int64)})[0], [-2, -2])
