"""graphkit.ir: links between values and nodes stay consistent under mutation."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphkit as gk
from graphkit.errors import GraphError, UsageError
from graphkit.ir import Attr, AttributeType, Graph, Model, Node, Tensor, Value


def _chain_model() -> onnx.ModelProto:
    """x -> Relu -> Add(c) -> Sigmoid -> y, plus a dead Neg branch."""
    c = numpy_helper.from_array(np.arange(4, dtype=np.float32), "c")
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Add", ["r", "c"], ["a"], name="add"),
        helper.make_node("Neg", ["r"], ["dead"], name="neg"),
        helper.make_node("Sigmoid", ["a"], ["y"], name="sig", doc_string="last"),
    ]
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], [c])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _if_model() -> onnx.ModelProto:
    """If whose branches read the outer value `r` (produced before the If)."""
    then_g = helper.make_graph([helper.make_node("Relu", ["r"], ["t"], name="then_relu")], "then", [],
                               [helper.make_tensor_value_info("t", TensorProto.FLOAT, [4])])
    else_g = helper.make_graph([helper.make_node("Neg", ["r"], ["e"], name="else_neg")], "else", [],
                               [helper.make_tensor_value_info("e", TensorProto.FLOAT, [4])])
    nodes = [
        helper.make_node("Abs", ["x"], ["r"], name="abs"),
        helper.make_node("If", ["cond"], ["y"], name="if", then_branch=then_g, else_branch=else_g),
    ]
    graph = helper.make_graph(nodes, "ifg", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4]),
                                             helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _check_links(graph: Graph) -> None:
    """Every use is mirrored by the node's inputs and vice versa; producers match outputs."""
    for node in graph.walk():
        for i, v in enumerate(node.inputs):
            if v is not None:
                assert (node, i) in v.uses, (node, i, v)
        for j, v in enumerate(node.outputs):
            assert v.producer is node and v.index == j
    for node in graph.walk():
        for v in node.outputs:
            for user, i in v.uses:
                assert user.inputs[i] is v
                assert user.graph is not None


def test_loaded_links_and_lookup():
    m = gk.load(_chain_model())
    g = m.graph
    assert [n.name for n in g] == ["relu", "add", "neg", "sig"]
    r = g.value("r")
    assert r.producer.name == "relu"
    assert [n.name for n in r.consumers] == ["add", "neg"]
    assert r.uses == [(g.find(name="add")[0], 0), (g.find(name="neg")[0], 0)]
    assert g.value("c").is_initializer() and g.value("c").const_value.shape == (4,)
    assert g.value("x").shape == ("N", 4) and g.value("x").dtype == np.float32
    assert g.value("y").is_graph_output()
    assert g.find(op="Sigmoid")[0].doc_string == "last"
    assert g.find(op={"Relu", "Neg"}, where=lambda n: n.name == "neg")[0].op_type == "Neg"
    with pytest.raises(GraphError, match="no value named"):
        g.value("nope")
    _check_links(g)


def test_remove_while_iterating_and_insert():
    g = gk.load(_chain_model()).graph
    for node in g:
        if node.op_type == "Relu":
            # remove the current node and the next one while iterating
            node.output.replace_all_uses_with(node.inputs[0])
            g.remove(node, node.next)
    assert [n.name for n in g] == ["neg", "sig"]
    assert g.value("x").consumers[0].name == "neg"
    assert g.value("c").uses == []  # the removed Add no longer uses c
    _check_links(g)
    neg = g.find(op="Neg")[0]
    extra = Node("Identity", [neg.output], name="ident")
    assert neg.output.uses == []  # not used until inserted
    g.insert_after(neg, extra)
    assert [n.name for n in g] == ["neg", "ident", "sig"]
    assert neg.output.consumers == [extra]
    visited = []
    for node in g:  # nodes inserted after the current one are visited
        visited.append(node.name)
        if node.name == "ident":
            g.insert_after(node, Node("Identity", [node.output], name="late"))
    assert visited == ["neg", "ident", "late", "sig"]
    assert len(g) == 4
    _check_links(g)


def test_safe_remove_refuses_used_node():
    g = gk.load(_chain_model()).graph
    with pytest.raises(GraphError, match="used by"):
        g.remove(g.find(name="relu")[0], safe=True)
    with pytest.raises(GraphError, match="graph output"):
        g.remove(g.find(name="sig")[0], safe=True)
    g.remove(g.find(name="neg")[0], safe=True)  # dead branch: fine
    assert len(g) == 3


def test_input_and_output_mutators_keep_links():
    g = gk.load(_chain_model()).graph
    add = g.find(op="Add")[0]
    x, r, c = g.value("x"), g.value("r"), g.value("c")
    add.inputs[0] = x
    assert (add, 0) in x.uses and (add, 0) not in r.uses
    add.inputs.insert(0, None)
    assert add.inputs == [None, x, c] and (add, 1) in x.uses and (add, 2) in c.uses and (add, 0) not in x.uses
    del add.inputs[0]
    assert (add, 0) in x.uses and (add, 1) in c.uses and (add, 2) not in c.uses
    with pytest.raises(GraphError):
        add.inputs.append("not a value")
    assert add.inputs == [x, c]
    aux = Value("aux")
    add.outputs.append(aux)
    assert aux.producer is add and aux.index == 1
    with pytest.raises(GraphError, match="already produced"):
        g.find(op="Neg")[0].outputs.append(aux)
    add.outputs.pop()
    assert aux.producer is None
    _check_links(g)


def test_rename_reaches_initializers_and_saved_proto():
    m = gk.load(_chain_model())
    g = m.graph
    g.value("c").name = "bias"
    g.value("r").name = "relu_out"
    assert list(g.initializers) == ["bias"] and g.value("bias").const_value is not None
    proto = m.to_proto()
    onnx.checker.check_model(proto)
    add = next(n for n in proto.graph.node if n.name == "add")
    assert list(add.input) == ["relu_out", "bias"]
    assert [t.name for t in proto.graph.initializer] == ["bias"]


def test_subgraph_reads_outer_value_object_and_rename_reaches_it():
    m = gk.load(_if_model())
    g = m.graph
    r = g.value("r")
    if_node = g.find(op="If")[0]
    then_g = if_node.attributes["then_branch"]
    assert isinstance(then_g, Graph) and then_g.parent is if_node
    inner = then_g.find(op="Relu")[0]
    assert inner.inputs[0] is r
    assert {n.name for n in r.consumers} == {"then_relu", "else_neg"}
    # make_node sorts attributes: else_branch comes first in the file, and so in the walk
    assert [n.name for n in g.find(op={"Relu", "Neg"}, recursive=True)] == ["else_neg", "then_relu"]
    r.name = "abs_out"
    proto = m.to_proto()
    onnx.checker.check_model(proto, full_check=True)
    then_p = next(a.g for a in proto.graph.node[1].attribute if a.name == "then_branch")
    assert list(then_p.node[0].input) == ["abs_out"]
    # removing the If drops the subgraph nodes' uses of the outer value, re-inserting restores them
    g.remove(if_node)
    assert r.uses == []
    g.append(if_node)
    assert len(r.uses) == 2
    _check_links(g)


def test_build_graph_in_code_and_save_roundtrip(tmp_path):
    x = Value("x", np.float32, ("N", 3))
    g = Graph([x], name="built")
    w = g.add_initializer("w", np.ones(3, np.float32))
    add = g.make_node("Add", [x, w], ["s"], name="add")
    relu = g.make_node("LeakyRelu", [add.output], ["y"], alpha=0.25)
    relu.output.set_type(np.float32, ("N", 3))
    g.outputs.append(relu.output)
    model = Model(g, opset_imports={"": 17})
    gk.save(model, tmp_path / "m.onnx")
    proto = onnx.load(tmp_path / "m.onnx")
    onnx.checker.check_model(proto, full_check=True)
    assert [n.op_type for n in proto.graph.node] == ["Add", "LeakyRelu"]
    assert helper.get_attribute_value(proto.graph.node[1].attribute[0]) == pytest.approx(0.25)
    back = gk.load(tmp_path / "m.onnx")
    assert back.graph.find(op="LeakyRelu")[0].attributes["alpha"] == pytest.approx(0.25)


def test_attributes_decode_lazily_and_keep_types():
    node_p = helper.make_node("Custom", ["a"], ["b"], domain="my.domain", ints=[1, 2], f=0.5, s="hi")
    node_p.attribute.append(helper.make_attribute("empty", [], attr_type=onnx.AttributeProto.FLOATS))
    graph = helper.make_graph([node_p], "g", [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1])])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("my.domain", 1)])
    m = gk.load(proto)
    node = m.graph.find(domain="my.domain")[0]
    assert node._attrs is None  # nothing decoded yet
    attrs = node.attributes
    assert attrs["ints"] == [1, 2] and attrs["f"] == 0.5 and attrs["s"] == "hi"
    assert attrs.attr("empty").type == AttributeType.FLOATS and attrs["empty"] == []
    with pytest.raises(UsageError, match="empty list"):
        attrs["other"] = []
    attrs["other"] = Attr("other", AttributeType.INTS, [])
    out = m.to_proto()
    a = {x.name: x for x in out.graph.node[0].attribute}
    assert list(a) == [x.name for x in node_p.attribute] + ["other"]  # file order kept
    assert a["empty"].type == onnx.AttributeProto.FLOATS and a["other"].type == onnx.AttributeProto.INTS


def test_tensor_is_lazy():
    arr = np.arange(12, dtype=np.float16).reshape(3, 4)
    t = Tensor.from_proto(numpy_helper.from_array(arr, "t"))
    assert (t.dtype, t.shape, t.nbytes, t.size) == (np.float16, (3, 4), 24, 12)
    assert t._array is None
    np.testing.assert_array_equal(t.numpy(), arr)
    assert Tensor(arr).to_proto("n").name == "n"


def test_constant_node_const_value():
    node_p = helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(np.array([1, 2], np.int64)))
    graph = helper.make_graph([node_p, helper.make_node("Identity", ["k"], ["y"])], "g", [],
                              [helper.make_tensor_value_info("y", TensorProto.INT64, [2])])
    m = gk.load(helper.make_model(graph))
    np.testing.assert_array_equal(m.graph.value("k").const_value.numpy(), [1, 2])
    assert m.graph.value("y").const_value is None


def test_reorder_and_forward_references_load():
    # nodes listed out of order: the consumer comes first
    nodes = [helper.make_node("Neg", ["r"], ["y"]), helper.make_node("Relu", ["x"], ["r"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    g = gk.load(helper.make_model(graph)).graph
    neg, relu = list(g)
    assert neg.inputs[0] is relu.output
    g.reorder([relu, neg])
    assert [n.op_type for n in g] == ["Relu", "Neg"]
    assert [n.op_type for n in reversed(g)] == ["Neg", "Relu"]
    with pytest.raises(GraphError):
        g.reorder([relu])
