"""`graphkit run --dump DIR [--force]`, and fallback nodes in `graphkit run [--profile]`."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from graphkit.cli.main import main
from refruntime import Session
from tests.refruntime.test_dump import small_cnn

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def cnn_file(tmp_path) -> str:
    path = tmp_path / "cnn.onnx"
    onnx.save(small_cnn(), path)
    return str(path)


def test_dump_writes_every_intermediate_and_a_manifest(cnn_file, tmp_path, capsys):
    x = np.random.default_rng(2).standard_normal((2, 3, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "in.npz", x=x)
    out = tmp_path / "dump"
    assert main(["run", cnn_file, "--inputs", str(tmp_path / "in.npz"), "--dump", str(out)]) == 0
    text = capsys.readouterr().out
    assert "output  prob: float32[2, 5]" in text and "dumped 10 values" in text and str(out) in text
    manifest = json.loads((out / "manifest.json").read_text())
    every = Session(cnn_file).run({"x": x}, capture="all")
    assert manifest["complete"] and {e["output"] for e in manifest["values"]} == set(every)
    for e in manifest["values"]:
        np.testing.assert_array_equal(np.load(out / e["file"]), every[e["output"]])
        assert {"node", "op", "output", "file", "shape", "dtype", "min", "max", "mean", "nan_count",
                "inf_count"} <= set(e)


def test_dump_refuses_a_non_empty_folder_unless_force(cnn_file, tmp_path, capsys):
    out = tmp_path / "dump"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(["run", cnn_file, "--dump", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "DumpError" in err[0] and "not empty" in err[0] and "--force" in err[0]
    assert os.listdir(out) == ["notes.txt"]
    assert main(["run", cnn_file, "--dump", str(out), "--force", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["dump"]["values"] == 10 and result["dump"]["manifest"] == str(out / "manifest.json")
    assert (out / "notes.txt").read_text() == "keep me"


def test_force_without_dump_is_a_usage_error(cnn_file):
    out = subprocess.run([sys.executable, "-m", "graphkit.cli.main", "run", cnn_file, "--force"],
                         capture_output=True, text=True, cwd=REPO, check=False)
    assert out.returncode == 2 and "UsageError" in out.stderr and "--force only applies to --dump" in out.stderr


@pytest.fixture
def fallback_file(tmp_path) -> str:
    """Relu (native) -> Det (no native kernel: onnx.reference) -> Neg."""
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Det", ["r"], ["c"], name="det"),
             helper.make_node("Neg", ["c"], ["y"], name="neg")]
    graph = helper.make_graph(nodes, "fb", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
                              [numpy_helper.from_array(np.zeros(1, np.float32), "unused")])
    path = tmp_path / "fb.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return str(path)


def test_run_profile_marks_fallback_per_node_and_per_op(fallback_file, capsys):
    assert main(["run", fallback_file, "--profile", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["fallback_nodes"] == ["det"]
    kernels = {n["node"]: n["kernel"] for n in result["profile"]["nodes"]}
    assert kernels == {"relu": "native", "det": "fallback", "neg": "native"}
    ops = {(o["op"], o["kernel"]) for o in result["profile"]["ops"]}
    assert ops == {("Relu", "native"), ("Det", "fallback"), ("Neg", "native")}

    assert main(["run", fallback_file, "--profile"]) == 0
    text = capsys.readouterr().out
    assert "fallback (onnx.reference): det" in text
    table = {line.split()[0]: line.split()[1] for line in text.splitlines() if line.split()[:1] in (["Det"], ["Relu"])}
    assert table == {"Det": "fallback", "Relu": "native"}


def test_dump_marks_fallback_nodes_in_the_manifest(fallback_file, tmp_path):
    assert main(["run", fallback_file, "--dump", str(tmp_path / "d")]) == 0
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert {e["node"]: e["kernel"] for e in manifest["values"]} == {"relu": "native", "det": "fallback",
                                                                     "neg": "native"}
