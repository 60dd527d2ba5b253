"""`graphkit verify` / `graphkit export`: exit codes 0/1/2, --json keys, --html, --reduce."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from graphkit.cli.main import main
from tests.graphkit.test_verify import conv_bn_relu


@pytest.fixture()
def bn_model(tmp_path):
    path = tmp_path / "bn12.onnx"
    onnx.save(conv_bn_relu(12), path)
    return str(path)


def test_exit_0_when_runtimes_agree(bn_model, capsys):
    assert main(["verify", bn_model, "--runtimes", "torch,ort"]) == 0
    assert "verdict: PASS" in capsys.readouterr().out


def test_exit_1_and_json_keys_on_a_mismatch(bn_model, capsys, tmp_path):
    html = tmp_path / "r.html"
    code = main(["verify", bn_model, "--runtimes", "torch,onnx-reference", "--per-node", "--json",
                 "--html", str(html), "--reduce", str(tmp_path / "red")])
    assert code == 1
    data = json.loads(capsys.readouterr().out)
    assert {"runtimes", "outputs", "per_node", "first_divergence", "verdict"} <= set(data)
    assert data["verdict"] == "mismatch" and data["first_divergence"]["node"] == "bn"
    assert data["reduced"]["reproduces"]
    assert (tmp_path / "red" / "reduced.onnx").exists() and "<svg" in html.read_text()


def test_exit_2_on_bad_usage(bn_model, tmp_path, capsys):
    assert main(["verify", str(tmp_path / "missing.onnx")]) == 2
    assert main(["verify", bn_model, "--runtimes", "ref,nope"]) == 2
    assert main(["verify", bn_model, "--shape", "x=1,3"]) == 2
    np.savez(tmp_path / "in.npz", wrong=np.zeros(3, np.float32))
    assert main(["verify", bn_model, "--inputs", str(tmp_path / "in.npz")]) == 2
    err = capsys.readouterr().err
    assert "unknown runtime" in err and "not inputs of the model" in err


def test_against_model_cli(bn_model, tmp_path, capsys):
    from onnx import numpy_helper

    model = onnx.load(bn_model)
    w = next(t for t in model.graph.initializer if t.name == "w")
    arr = numpy_helper.to_array(w).copy()
    arr[1] *= 1.1
    w.CopyFrom(numpy_helper.from_array(arr, "w"))
    other = tmp_path / "changed.onnx"
    onnx.save(model, other)
    assert main(["verify", str(other), "--against-model", bn_model, "--per-node", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["first_divergence"]["node"] == "conv" and data["against_model"] == bn_model
    assert main(["verify", bn_model, "--against-model", bn_model, "--per-node"]) == 0


def test_export_cli(tmp_path, capsys):
    src = tmp_path / "nets.py"
    src.write_text(
        "import torch\n"
        "class Tiny(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__(); torch.manual_seed(0)\n"
        "        self.c = torch.nn.Conv2d(1, 4, 3); self.fc = torch.nn.Linear(4 * 6 * 6, 3)\n"
        "    def forward(self, x):\n"
        "        return self.fc(torch.flatten(torch.relu(self.c(x)), 1))\n"
        "def make():\n    return Tiny()\n")
    out = tmp_path / "tiny.onnx"
    assert main(["export", f"{src}:make", "--input-shape", "2,1,8,8", "-o", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {o["runtime"] for o in data["outputs"]} == {"ort", "module"} and data["verdict"] == "pass"
    dim = onnx.load(out).graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_param  # dynamic batch
    assert main(["export", f"{src}:Nope", "--input-shape", "1,1,8,8", "-o", str(out)]) == 2


def _save(tmp_path, model, name="m.onnx") -> str:
    path = tmp_path / name
    onnx.save(model, path)
    return str(path)


def _one_line_exit_2(capsys, argv) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "verdict" not in captured.out
    return err


def test_bad_input_exits_2_with_one_line_not_a_verdict(bn_model, tmp_path, capsys):
    from onnx import TensorProto, helper

    err = _one_line_exit_2(capsys, ["verify", bn_model, "--runtimes", "ort"])
    assert "needs two" in err
    np.savez(tmp_path / "i32.npz", x=np.zeros((1, 3, 8, 8), np.int32))  # float64 is cast with a note (feeds.py)
    err = _one_line_exit_2(capsys, ["verify", bn_model, "--inputs", str(tmp_path / "i32.npz")])
    assert "'x'" in err and "int32" in err
    np.savez(tmp_path / "shape.npz", x=np.zeros((1, 3, 9, 8), np.float32))
    _one_line_exit_2(capsys, ["verify", bn_model, "--inputs", str(tmp_path / "shape.npz")])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    cycle = helper.make_model(helper.make_graph(
        [helper.make_node("Add", ["x", "b"], ["a"], name="first"), helper.make_node("Relu", ["a"], ["b"], name="second"),
         helper.make_node("Identity", ["a"], ["y"], name="out")], "g", [x], [y]),
        opset_imports=[helper.make_opsetid("", 17)])
    err = _one_line_exit_2(capsys, ["verify", _save(tmp_path, cycle, "cycle.onnx")])
    assert "cycle" in err
    unknown = helper.make_model(helper.make_graph([helper.make_node("Frobnicate", ["x"], ["y"], name="f",
                                                                    domain="example.com")], "g", [x], [y]),
                                opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("example.com", 1)])
    err = _one_line_exit_2(capsys, ["verify", _save(tmp_path, unknown, "unknown.onnx")])
    assert "no runtime can run the model" in err and "Frobnicate" in err


def test_a_model_the_spec_rejects_is_refused_unless_no_strict(tmp_path, capsys):
    """Relu's output declared int64 in value_info: onnx's type inference rejects it, and so does ORT."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["r"], name="relu"),
                               helper.make_node("Neg", ["r"], ["y"], name="neg")], "g", [x], [y],
                              value_info=[helper.make_tensor_value_info("r", TensorProto.INT64, [2])])
    path = _save(tmp_path, helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    err = _one_line_exit_2(capsys, ["verify", path, "--runtimes", "ref,ort"])
    assert "relu" in err
    assert main(["verify", path, "--runtimes", "ref,onnx-reference", "--no-strict"]) == 0


def test_per_output_tolerance_and_error_statistic(tmp_path, capsys):
    """Two models whose output differs by 1e-3 in one element of 64: --tol and the error
    statistic decide, and integers stay exact."""
    from onnx import TensorProto, helper, numpy_helper

    def model(bump: float):
        b = np.zeros(64, np.float32)
        b[0] = bump
        g = helper.make_graph([helper.make_node("Add", ["x", "b"], ["y"], name="add")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [64])],
                              [numpy_helper.from_array(b, "b")])
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])

    a, b = _save(tmp_path, model(0.0), "a.onnx"), _save(tmp_path, model(1e-3), "b.onnx")
    base = ["verify", b, "--against-model", a, "--runtimes", "ref"]
    assert main(base) == 1
    assert main([*base, "--tol", "y=2e-3,0"]) == 0
    assert main([*base, "--check-error-stat", "median"]) == 0
    assert main([*base, "--check-error-stat", "0.999"]) == 1
    capsys.readouterr()
    err = _one_line_exit_2(capsys, [*base, "--check-error-stat", "p99"])
    assert "quantile" in err
    err = _one_line_exit_2(capsys, [*base, "--tol", "y=1e-3"])
    assert "NAME=ATOL,RTOL" in err
