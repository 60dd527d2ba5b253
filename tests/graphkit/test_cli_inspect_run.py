"""`graphkit inspect` and `graphkit run`."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import onnx
import onnx.backend.test
import pytest
from onnx import TensorProto, helper, numpy_helper

from graphkit.cli.main import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(os.path.dirname(onnx.backend.test.__file__), "data")
LIGHT = os.path.join(DATA, "light", "light_squeezenet.onnx")


@pytest.fixture
def small_model(tmp_path) -> str:
    w = numpy_helper.from_array(np.full((2, 3), 0.5, np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"], name="mm"),
             helper.make_node("Relu", ["m"], ["y"], name="relu"),
             helper.make_node("Shape", ["x"], ["s"], name="shape")]
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
                               helper.make_tensor_value_info("s", TensorProto.INT64, [2])], [w])
    path = tmp_path / "small.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return str(path)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "graphkit.cli.main", *args], capture_output=True, text=True, check=False,
                          cwd=REPO)


# -- inspect ------------------------------------------------------------------------------------
def test_inspect_json_keys(small_model, capsys):
    assert main(["inspect", small_model, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {"graph_name", "ir_version", "producer", "opsets", "inputs", "outputs", "nodes", "ops",
            "initializers", "parameters", "parameter_bytes", "functions"} <= set(summary)
    assert summary["ops"] == {"MatMul": 1, "Relu": 1, "Shape": 1}
    assert summary["inputs"] == [{"name": "x", "dtype": "float32", "shape": ["batch", 2]}]  # numpy's dtype names
    assert summary["parameters"] == 6 and summary["parameter_bytes"] == 24
    assert summary["opsets"] == {"ai.onnx": 17}


def test_inspect_text(small_model, capsys):
    assert main(["inspect", small_model]) == 0
    out = capsys.readouterr().out
    assert "MatMul x1" in out and "x  float32[batch, 2]" in out


def test_inspect_does_not_import_torch_or_numba(small_model):
    script = textwrap.dedent(f"""
        import sys
        from graphkit.cli.main import main
        assert main(["inspect", {small_model!r}, "--json"]) == 0
        heavy = sorted(m for m in ("torch", "numba") if m in sys.modules)
        sys.stderr.write("HEAVY=" + ",".join(heavy))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip().endswith("HEAVY="), out.stderr


@pytest.mark.parametrize("content", [None, b"this is not an onnx model\n"])
def test_inspect_bad_file_exits_2_with_one_line(tmp_path, content):
    path = tmp_path / "m.onnx"
    if content is not None:
        path.write_bytes(content)
    out = _cli("inspect", str(path))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "m.onnx" in lines[0] and "LoadError" in lines[0]
    assert out.stdout == ""


# -- run ----------------------------------------------------------------------------------------
def test_run_random_json(small_model, capsys):
    assert main(["run", small_model, "--random", "--seed", "1", "--shape", "x=4,2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    by_name = {o["name"]: o for o in result["outputs"]}
    assert by_name["y"]["shape"] == [4, 3] and by_name["y"]["dtype"] == "float32"
    assert by_name["y"]["min"] >= 0.0
    assert by_name["s"]["dtype"] == "int64" and by_name["s"]["min"] == 2 and by_name["s"]["max"] == 4
    assert isinstance(result["fallback_nodes"], list)


def test_run_inputs_npz_save_outputs_and_profile(small_model, tmp_path, capsys):
    x = np.array([[1.0, -2.0]], np.float32)
    np.savez(tmp_path / "in.npz", x=x)
    out_npz = tmp_path / "out.npz"
    assert main(["run", small_model, "--inputs", str(tmp_path / "in.npz"), "--save-outputs", str(out_npz),
                 "--profile"]) == 0
    text = capsys.readouterr().out
    assert "output  y: float32[1, 3]" in text and "fallback (onnx.reference):" in text and "total" in text
    saved = np.load(out_npz)
    np.testing.assert_allclose(saved["y"], np.maximum(x @ np.full((2, 3), 0.5, np.float32), 0))
    np.testing.assert_array_equal(saved["s"], [1, 2])


def test_run_light_zoo_model_random(tmp_path, capsys):
    out_npz = tmp_path / "out.npz"
    assert main(["run", LIGHT, "--random", "--save-outputs", str(out_npz)]) == 0
    text = capsys.readouterr().out
    assert "softmaxout_1: float32[1, 1000, 1, 1]" in text
    assert np.load(out_npz)["softmaxout_1"].shape == (1, 1000, 1, 1)


@pytest.mark.parametrize("args, message", [
    (["--shape", "x=1,two"], "expected NAME=D1,D2"),
    (["--shape", "nope=1,2"], "unknown input"),
    (["--shape", "x=1,2,3"], "rank 3"),
])
def test_run_bad_shape_is_usage_error(small_model, args, message):
    out = _cli("run", small_model, *args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "UsageError" in lines[0] and message in lines[0]


def test_run_npz_missing_input_is_usage_error(small_model, tmp_path):
    np.savez(tmp_path / "in.npz", other=np.zeros(2, np.float32))
    out = _cli("run", small_model, "--inputs", str(tmp_path / "in.npz"))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "lacks input(s) x" in lines[0]
