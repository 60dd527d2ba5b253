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
