"""Every pass that follows producers and consumers refuses a cyclic graph with toposort's error."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

import graphkit as gk
from graphkit.cli.main import main
from graphkit.errors import GraphError
from graphkit.passes import FoldConstants, Fuse, Prune, Sequential
from graphkit.passes.base import graphs_of
from graphkit.surgery._util import all_graphs
from tests.graphkit.passes_fixtures import check, if_model, init, model, ops, proto, vi

node = helper.make_node
PASSES = [gk.simplify, gk.fold_constants, gk.prune, gk.fuse]


def cyclic_nodes():
    # a constant chain (foldable) and a dead node, so that each pass would have work to do
    return [node("Add", ["k", "k"], ["k2"], name="konst"), node("Add", ["x", "c"], ["a"], name="first"),
            node("Neg", ["a"], ["b"], name="second"), node("Mul", ["b", "k2"], ["c"], name="third"),
            node("Abs", ["x"], ["dead"], name="dead")]


def cyclic_model():
    return model(cyclic_nodes(), [vi("x", [2])], [vi("c", [2])], [init("k", np.ones(2, np.float32))])


def toposort_message(m) -> str:
    with pytest.raises(GraphError) as info:
        gk.toposort(m)
    return str(info.value)


@pytest.mark.parametrize("apply", PASSES, ids=lambda f: f.__name__)
def test_pass_on_cycle_raises_toposorts_error_and_changes_nothing(apply):
    m = cyclic_model()
    expected = toposort_message(m)
    assert "cycle" in expected and "'first'" in expected and "'third'" in expected
    before = [(n.name, n.op_type) for n in m.graph]
    with pytest.raises(GraphError) as info:
        apply(m)
    assert str(info.value) == expected
    assert [(n.name, n.op_type) for n in m.graph] == before


@pytest.mark.parametrize("apply", PASSES, ids=lambda f: f.__name__)
def test_self_loop_is_named(apply):
    m = model([node("Add", ["x", "a"], ["a"], name="loopy")], [vi("x", [2])], [vi("a", [2])])
    with pytest.raises(GraphError, match="'loopy' reads its own output 'a'"):
        apply(m)


def test_cycle_inside_a_subgraph_is_named():
    then_nodes = [node("Neg", ["t2"], ["t1"], name="then_a"), node("Relu", ["t1"], ["t2"], name="then_b")]
    m = gk.load(if_model(then_nodes, [node("Abs", ["x"], ["e"])], "t2", "e").SerializeToString())
    expected = toposort_message(m)
    assert "'if/then_branch'" in expected or "if" in expected
    with pytest.raises(GraphError) as info:
        gk.simplify(m)
    assert str(info.value) == expected and "then_a" in expected


def test_composed_passes_check_too():
    with pytest.raises(GraphError, match="cycle"):
        Sequential(Prune(), FoldConstants(), Fuse())(cyclic_model())


def test_unsorted_acyclic_graph_still_simplifies():
    nodes = [node("Relu", ["a"], ["y"], name="relu"), node("Identity", ["k2"], ["a0"], name="id"),
             node("Add", ["x", "a0"], ["a"], name="add"), node("Add", ["k", "k"], ["k2"], name="konst")]
    m = model(nodes, [vi("x", [2])], [vi("y", [2])], [init("k", np.ones(2, np.float32))])
    assert gk.simplify(m).modified  # folded and pruned; simplify does not reorder
    assert sorted(ops(m)) == ["Add", "Relu"]
    gk.toposort(m)
    check(m)


def test_cli_simplify_on_cycle_exits_2_naming_it(tmp_path, capsys):
    path = tmp_path / "cyclic.onnx"
    onnx.save(proto(cyclic_nodes(), [vi("x", [2])], [vi("c", [2])], [init("k", np.ones(2, np.float32))]), path)
    assert main(["simplify", str(path), "-o", str(tmp_path / "out.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "GraphError" in err[0] and "cycle" in err[0] and "'first'" in err[0]
    assert not (tmp_path / "out.onnx").exists()


def test_graphs_of_is_all_graphs():
    m = gk.load(if_model([node("Neg", ["x"], ["t"])], [node("Abs", ["x"], ["e"])], "t", "e").SerializeToString())
    assert [id(g) for g in graphs_of(m)] == [id(g) for g in all_graphs(m.graph)]
    assert len(list(graphs_of(m))) == 3
