"""graphkit fold | prune | fuse | simplify | toposort | extract: files, exit codes, --verify, --json."""
from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest
from onnx import helper

import graphkit as gk
import graphkit.passes.fuse as fuse_module
from graphkit.cli.main import main
from graphkit.rewriter import Const, Pattern, Rule
from tests.graphkit.passes_fixtures import check, init, ops, ort_run, proto, rand, vi

node = helper.make_node


@pytest.fixture
def conv_file(tmp_path):
    """x -> Conv -> Add(per-channel bias) -> Identity -> y, a dead Neg, and a constant Add chain."""
    rng = np.random.default_rng(0)
    p = proto([node("Add", ["k0", "k0"], ["k"]), node("Conv", ["x", "W"], ["c"], name="conv"),
               node("Add", ["c", "C"], ["a"]), node("Mul", ["a", "k"], ["i"]), node("Identity", ["i"], ["y"]),
               node("Neg", ["x"], ["dead"])],
              [vi("x", [1, 2, 3, 3])], [vi("y", [1, 4, 3, 3])],
              [init("W", rng.standard_normal((4, 2, 1, 1)).astype(np.float32)),
               init("C", rng.standard_normal((1, 4, 1, 1)).astype(np.float32)),
               init("k0", np.array(0.5, np.float32))])
    path = tmp_path / "m.onnx"
    onnx.save(p, path)
    return str(path)


@pytest.mark.parametrize("cmd,expected", [
    ("fold", ["Conv", "Add", "Mul", "Identity", "Neg"]),
    ("prune", ["Add", "Conv", "Add", "Mul"]),
    ("fuse", ["Add", "Conv", "Mul", "Identity", "Neg"]),
    ("simplify", ["Conv"]),
    ("toposort", ["Add", "Conv", "Add", "Mul", "Identity", "Neg"]),
])
def test_each_command_writes_a_valid_equivalent_model(cmd, expected, conv_file, tmp_path, capsys):
    out = str(tmp_path / f"{cmd}.onnx")
    assert main([cmd, conv_file, "-o", out, "--verify"]) == 0
    text = capsys.readouterr().out
    assert "verified on" in text and f"wrote {out}" in text
    m = gk.load(out)
    assert ops(m) == expected
    check(m)
    x = rand(1, 2, 3, 3)
    np.testing.assert_allclose(ort_run(m, {"x": x})[0], ort_run(onnx.load(conv_file), {"x": x})[0], rtol=1e-5, atol=1e-6)


def test_json_report(conv_file, tmp_path, capsys):
    out = str(tmp_path / "o.onnx")
    assert main(["simplify", conv_file, "-o", out, "--json", "--size-limit", "1000"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["pass"] == "simplify" and data["nodes_before"] == 6 and data["nodes_after"] == 1
    assert {c["pass"] for c in data["children"]} == {"fold_constants", "prune", "fuse"}


def test_never_overwrites_the_input_without_in_place(conv_file, capsys):
    with open(conv_file, "rb") as f:
        before = f.read()
    assert main(["prune", conv_file, "-o", conv_file]) == 2
    assert "--in-place" in capsys.readouterr().err
    assert main(["prune", conv_file]) == 2
    with open(conv_file, "rb") as f:
        assert f.read() == before
    assert main(["prune", conv_file, "--in-place"]) == 0
    assert ops(gk.load(conv_file)) == ["Add", "Conv", "Add", "Mul"]


def test_bad_input_is_exit_2(tmp_path, capsys):
    assert main(["fold", str(tmp_path / "missing.onnx"), "-o", str(tmp_path / "o.onnx")]) == 2
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    assert main(["simplify", str(junk), "-o", str(tmp_path / "o.onnx")]) == 2
    assert "Error" in capsys.readouterr().err


def test_toposort_cycle_is_exit_2(tmp_path, capsys):
    p = proto([node("Neg", ["b"], ["a"], name="n1"), node("Neg", ["a"], ["b"], name="n2")], [], [vi("b", [1])])
    path = tmp_path / "cycle.onnx"
    onnx.save(p, path)
    assert main(["toposort", str(path), "-o", str(tmp_path / "o.onnx")]) == 2
    assert "cycle" in capsys.readouterr().err


def test_extract(conv_file, tmp_path, capsys):
    out = str(tmp_path / "sub.onnx")
    assert main(["extract", conv_file, "--inputs", "c", "--outputs", "a", "-o", out, "--verify"]) == 0
    sub = gk.load(out)
    assert ops(sub) == ["Add"] and [v.name for v in sub.graph.inputs] == ["c"]
    check(sub)
    assert main(["extract", conv_file, "--inputs", "nope", "--outputs", "a", "-o", out]) == 2


def test_verify_catches_a_wrong_fusion(conv_file, tmp_path, monkeypatch, capsys):
    """A buggy conv_add rule that forgets the bias: --verify must refuse it (exit 1, no file)."""
    def buggy_rules(model, shape_of):
        pattern = (Pattern("conv_add").node("conv", "Conv", inputs={1: Const()})
                   .node("add", "Add", inputs=["conv", Const()], commutative=True))

        def replace(m):  # drops the Add's constant instead of folding it into the bias
            conv = m["conv"]
            return m.node("Conv", list(conv.inputs), name=conv.name)
        return [Rule("conv_add", pattern, replace)]

    monkeypatch.setattr(fuse_module, "make_rules", buggy_rules)
    out = str(tmp_path / "bad.onnx")
    assert main(["fuse", conv_file, "-o", out]) == 0  # without --verify the bug goes through
    assert main(["fuse", conv_file, "-o", str(tmp_path / "bad2.onnx"), "--verify"]) == 1
    err = capsys.readouterr().err
    assert "verification failed" in err and "'y'" in err and "max error" in err
    assert not os.path.exists(tmp_path / "bad2.onnx")
