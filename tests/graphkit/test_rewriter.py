"""The pattern rewriter: matching rules, escapes, overlaps, subgraphs (If and Loop bodies)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import graphkit as gk
from graphkit.errors import UsageError
from graphkit.rewriter import ABSENT, Const, Pattern, Rule, find_matches, rewrite
from tests.graphkit.passes_fixtures import check, if_model, init, loop_model, model, ops, ort_run, rand, vi

node = helper.make_node


def _neg_neg() -> Pattern:
    return Pattern("neg_neg").node("a", "Neg").node("b", "Neg", inputs={0: "a"})


def _drop_pair(m):
    """Neg(Neg(x)) -> Identity(x)."""
    return m.node("Identity", [m.input("a", 0)])


def test_pattern_matches_chain_and_rewrites():
    mdl = model([node("Neg", ["x"], ["a"]), node("Neg", ["a"], ["b"]), node("Relu", ["b"], ["y"])],
                [vi("x", [2])], [vi("y", [2])])
    assert rewrite(mdl, Rule("neg_neg", _neg_neg(), _drop_pair)) == 1
    assert ops(mdl) == ["Identity", "Relu"]
    assert mdl.graph.nodes[0].outputs[0].name == "b"  # the root's output keeps its Value and name
    check(mdl)


def test_matches_do_not_overlap():
    mdl = model([node("Neg", ["x"], ["a"]), node("Neg", ["a"], ["b"]), node("Neg", ["b"], ["y"])],
                [vi("x", [2])], [vi("y", [2])])
    assert len(find_matches(mdl, _neg_neg())) == 1
    assert rewrite(mdl, Rule("neg_neg", _neg_neg(), _drop_pair)) == 1
    assert sorted(ops(mdl)) == ["Identity", "Neg"]
    check(mdl)
    np.testing.assert_allclose(ort_run(mdl, {"x": np.ones(2, np.float32)})[0], [-1, -1])


def test_escaping_intermediate_is_not_rewritten():
    mdl = model([node("Neg", ["x"], ["a"]), node("Neg", ["a"], ["b"]), node("Relu", ["a"], ["y2"])],
                [vi("x", [2])], [vi("b", [2]), vi("y2", [2])])
    assert find_matches(mdl, _neg_neg()) == []
    as_output = model([node("Neg", ["x"], ["a"]), node("Neg", ["a"], ["b"])], [vi("x", [2])],
                      [vi("a", [2]), vi("b", [2])])
    assert rewrite(as_output, Rule("neg_neg", _neg_neg(), _drop_pair)) == 0


def test_constants_attributes_commutativity_and_checks():
    pattern = (Pattern("scale")
               .node("mul", "Mul", inputs={1: Const(where=lambda a: a.size == 1)}, commutative=True)
               .node("sm", "Softmax", inputs={0: "mul"}, attrs={"axis": lambda v: v in (-1, 1)})
               .where(lambda m: m["mul"].name != "skip"))
    nodes = [node("Mul", ["k", "x"], ["s"], name="m1"), node("Softmax", ["s"], ["y"], axis=-1),
             node("Mul", ["x", "x"], ["s2"], name="m2"), node("Softmax", ["s2"], ["y2"], axis=-1),
             node("Mul", ["x", "k"], ["s3"], name="skip"), node("Softmax", ["s3"], ["y3"], axis=-1),
             node("Mul", ["x", "k"], ["s4"], name="m4"), node("Softmax", ["s4"], ["y4"], axis=0)]
    mdl = model(nodes, [vi("x", [2, 3])], [vi(n, [2, 3]) for n in ("y", "y2", "y3", "y4")],
                [init("k", np.array(2.0, np.float32))])
    found = find_matches(mdl, pattern)
    assert [m["mul"].name for m in found] == ["m1"]  # m2: not constant; skip: where(); m4: axis 0


def test_absent_and_optional_inputs():
    p = Pattern("conv_nobias").node("c", "Conv", inputs={1: Const(), 2: ABSENT})
    q = Pattern("conv_any").node("c", "Conv", inputs={1: Const(), 2: Const(optional=True)})
    w = init("W", rand(2, 1, 1, 1))
    no_bias = model([node("Conv", ["x", "W"], ["y"])], [vi("x", [1, 1, 2, 2])], [vi("y", None)], [w])
    with_bias = model([node("Conv", ["x", "W", "B"], ["y"])], [vi("x", [1, 1, 2, 2])], [vi("y", None)],
                      [w, init("B", np.zeros(2, np.float32))])
    assert len(find_matches(no_bias, p)) == 1 and not find_matches(with_bias, p)
    assert len(find_matches(no_bias, q)) == 1 and len(find_matches(with_bias, q)) == 1


def test_rewrite_inside_if_branch():
    p = if_model([node("Neg", ["x"], ["a"]), node("Neg", ["a"], ["t"])],
                 [node("Neg", ["x"], ["b"]), node("Abs", ["b"], ["e"])], "t", "e")
    mdl = gk.load(p.SerializeToString())
    rule = Rule("neg_neg", _neg_neg(), _drop_pair)
    assert rewrite(mdl, rule) == 1
    assert ops(mdl.graph.nodes[0].attributes["then_branch"]) == ["Identity"]
    check(mdl)
    x = rand(4)
    np.testing.assert_allclose(ort_run(mdl, {"x": x, "cond": np.array(True)})[0], x)


def test_rewrite_inside_loop_body_with_a_new_initializer():
    body = [node("Mul", ["s", "two"], ["m"]), node("Relu", ["m"], ["s_out"])]
    p = loop_model(body, "s_out", inits=[init("two", np.full(4, 2, np.float32))])
    mdl = gk.load(p.SerializeToString())
    pattern = Pattern("mul_relu").node("mul", "Mul", inputs={1: Const()}).node("relu", "Relu", inputs={0: "mul"})

    def replace(m):  # relu(x * k) with k > 0 == relu(x) * k: move the constant after the relu
        k = m.const("mul", 1)
        if (k <= 0).any():
            return None
        relu = m.node("Relu", [m.input("mul", 0)])
        return [relu, m.node("Mul", [relu.outputs[0], m.constant(k, "k_after")])]

    assert rewrite(mdl, Rule("mul_relu", pattern, replace)) == 1
    body_g = mdl.graph.nodes[0].attributes["body"]
    assert ops(body_g) == ["Identity", "Relu", "Mul"]
    assert "k_after" in body_g.initializers
    check(mdl)
    x = rand(4)
    np.testing.assert_allclose(ort_run(mdl, {"x": x})[0], ort_run(p, {"x": x})[0])


def test_declined_replacement_leaves_graph_alone():
    mdl = model([node("Neg", ["x"], ["a"]), node("Neg", ["a"], ["y"])], [vi("x", [2])], [vi("y", [2])])
    assert rewrite(mdl, Rule("no", _neg_neg(), lambda m: None)) == 0
    assert ops(mdl) == ["Neg", "Neg"]


def test_pattern_errors_are_usage_errors():
    with pytest.raises(UsageError, match="not defined yet"):
        Pattern("bad").node("b", "Neg", inputs={0: "a"})
    dangling = Pattern("p").node("a", "Neg").node("b", "Relu")
    mdl = model([node("Relu", ["x"], ["y"])], [vi("x", [2])], [vi("y", [2])])
    with pytest.raises(UsageError, match="do not feed the root"):
        find_matches(mdl, dangling)
    reads_removed = Rule("bad", _neg_neg(), lambda m: m.node("Identity", [m["a"].outputs[0]]))
    two = model([node("Neg", ["x"], ["a"]), node("Neg", ["a"], ["y"])], [vi("x", [2])], [vi("y", [2])])
    with pytest.raises(UsageError, match="being removed"):
        rewrite(two, reads_removed)
