"""toposort and simplify on hand-built graphs."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import graphkit as gk
from graphkit.errors import GraphError
from tests.graphkit.passes_fixtures import check, if_model, init, model, ops, ort_run, rand, vi

node = helper.make_node


def test_reversed_chain_is_sorted_and_sorted_graph_is_untouched():
    nodes = [node("Sigmoid", ["b"], ["y"], name="c"), node("Neg", ["a"], ["b"], name="b"),
             node("Relu", ["x"], ["a"], name="a"), node("Abs", ["x"], ["z"], name="z")]
    m = model(nodes, [vi("x", [2])], [vi("y", [2]), vi("z", [2])])
    report = gk.toposort(m)
    assert [n.name for n in m.graph] == ["a", "b", "c", "z"]  # stable: z keeps its relative place
    assert report.counts["reordered"] == 1
    check(m)
    assert not gk.toposort(m).modified


def test_cycle_is_named():
    m = model([node("Add", ["x", "c"], ["a"], name="first"), node("Neg", ["a"], ["b"], name="second"),
               node("Relu", ["b"], ["c"], name="third")], [vi("x", [2])], [vi("c", [2])])
    with pytest.raises(GraphError, match="cycle: 'first' -> 'second' -> 'third' -> 'first'|cycle.*first"):
        gk.toposort(m)


def test_subgraph_reads_count_as_dependencies():
    outer = [node("Neg", ["x"], ["n"], name="neg")]
    p = if_model([node("Relu", ["n"], ["t"])], [node("Abs", ["x"], ["e"])], "t", "e", outer_nodes=outer)
    m = gk.load(p.SerializeToString())
    m.graph.reorder(list(reversed(m.graph.nodes)))  # If first: its branch reads n before Neg
    gk.toposort(m)
    assert ops(m) == ["Neg", "If"]
    check(m)


def test_simplify_reaches_a_fixed_point():
    # constant BN parameters computed by nodes: fold -> fuse into the conv -> prune leftovers
    rng = np.random.default_rng(0)
    nodes = [node("Add", ["v0", "eps"], ["var"]), node("Conv", ["x", "W"], ["c"]),
             node("BatchNormalization", ["c", "s", "b", "m", "var"], ["bn"]), node("Identity", ["bn"], ["i"]),
             node("Relu", ["i"], ["y"]), node("Neg", ["x"], ["dead"])]
    inits = [init("W", rng.standard_normal((2, 3, 1, 1)).astype(np.float32)),
             init("v0", np.ones(2, np.float32)), init("eps", np.full(2, 0.5, np.float32)),
             *(init(n, rng.standard_normal(2).astype(np.float32)) for n in ("s", "b", "m"))]
    m = model(nodes, [vi("x", [1, 3, 2, 2])], [vi("y", [1, 2, 2, 2])], inits)
    x = rand(1, 3, 2, 2)
    before = ort_run(m, {"x": x})[0]
    report = gk.simplify(m, verify=True)
    assert ops(m) == ["Conv", "Relu"]
    assert len(m.graph.initializers) == 2
    counts = report.all_counts()
    assert counts["folded"] == 1 and counts["conv_bn"] == 1 and counts["bypassed"] == 1
    assert not gk.simplify(m).modified
    check(m)
    np.testing.assert_allclose(ort_run(m, {"x": x})[0], before, rtol=1e-5, atol=1e-6)
