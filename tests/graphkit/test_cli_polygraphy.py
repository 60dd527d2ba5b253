"""What a Polygraphy user reaches for, through the `graphkit` command in a subprocess: random inputs
with ranges (derived from the graph by default), saved inputs, golden outputs, .npy and float64
inputs, --shape everywhere, run --check-finite / --profile, inspect --show, reshape (a baked batch
made dynamic, run at batch 2 and 3 against onnxruntime), export with several inputs, --json on
every command. Exit codes: 0 ok, 1 a check failed, 2 bad input with exactly one line on stderr."""
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

import graphkit as gk
from graphkit.errors import GraphError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIGHT = os.path.join(os.path.dirname(onnx.backend.test.__file__), "data", "light", "light_squeezenet.onnx")
F, I64 = TensorProto.FLOAT, TensorProto.INT64


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "graphkit.cli.main", *map(str, args)], capture_output=True,
                          text=True, check=False, cwd=REPO)


def exit_2(*args: str) -> str:
    """Run, expect exit 2 with exactly one stderr line and nothing on stdout; return that line."""
    out = cli(*args)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr and out.stdout == ""
    return lines[0]


def ok_json(*args: str, code: int = 0) -> dict:
    out = cli(*args, "--json")
    assert out.returncode == code, out.stderr
    return json.loads(out.stdout)


def _save(path, nodes, inputs, outputs, inits=(), opset=17) -> str:
    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, list(inits)),
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = min(model.ir_version, 10)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return str(path)


def _vi(name, shape, elem=F):
    return helper.make_tensor_value_info(name, elem, shape)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("models")
    rng = np.random.default_rng(0)

    def w(*shape):
        return (rng.standard_normal(shape) * 0.3).astype(np.float32)

    out = {}
    # Embedding(5, 4): ids -> Cast -> Gather; random ids must stay in [0, 5)
    out["emb"] = _save(d / "emb.onnx", [helper.make_node("Cast", ["ids"], ["ids32"], to=TensorProto.INT32),
                                        helper.make_node("Gather", ["table", "ids32"], ["emb"], name="embedding")],
                       [_vi("ids", ["batch", 3], I64)], [_vi("emb", ["batch", 3, 4])],
                       [numpy_helper.from_array(w(5, 4), "table")])
    # NaN starts at the node named 'log': log(relu(x) - 10)
    out["nan"] = _save(d / "nan.onnx", [helper.make_node("Relu", ["x"], ["r"], name="relu"),
                                        helper.make_node("Sub", ["r", "ten"], ["s"], name="shift"),
                                        helper.make_node("Log", ["s"], ["l"], name="log"),
                                        helper.make_node("Add", ["l", "x"], ["y"], name="add")],
                       [_vi("x", [2, 3])], [_vi("y", [2, 3])], [numpy_helper.from_array(np.array(10, np.float32), "ten")])
    # x @ w -> Relu, two outputs; a static batch of 1
    out["mlp"] = _save(d / "mlp.onnx", [helper.make_node("MatMul", ["x", "w"], ["m"], name="mm"),
                                        helper.make_node("Relu", ["m"], ["y"], name="relu"),
                                        helper.make_node("Sigmoid", ["m"], ["z"], name="sigmoid")],
                       [_vi("x", [1, 4])], [_vi("y", [1, 3]), _vi("z", [1, 3])], [numpy_helper.from_array(w(4, 3), "w")])
    # two inputs
    out["two"] = _save(d / "two.onnx", [helper.make_node("Add", ["a", "b"], ["y"], name="add")],
                       [_vi("a", [2]), _vi("b", [2])], [_vi("y", [2])])
    # ResNet-like, exported at batch 1: the batch is baked into two Reshape targets
    out["resnet"] = _save(d / "resnet_like.onnx", [
        helper.make_node("Conv", ["x", "c1w", "c1b"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "c2w", "c2b"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "r1"], ["res"], name="residual"),
        helper.make_node("Relu", ["res"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["gap"], name="pool"),
        helper.make_node("Reshape", ["gap", "flat_shape"], ["flat"], name="baked_reshape"),
        helper.make_node("Gemm", ["flat", "fcw", "fcb"], ["logits"], name="fc", transB=1),
        helper.make_node("Flatten", ["logits"], ["f2"], name="flatten"),
        helper.make_node("Reshape", ["f2", "out_shape"], ["y"], name="out_reshape")],
        [_vi("x", [1, 3, 8, 8])], [_vi("y", [1, 10])],
        [numpy_helper.from_array(w(8, 3, 3, 3), "c1w"), numpy_helper.from_array(w(8), "c1b"),
         numpy_helper.from_array(w(8, 8, 3, 3), "c2w"), numpy_helper.from_array(w(8), "c2b"),
         numpy_helper.from_array(np.array([1, 8], np.int64), "flat_shape"),
         numpy_helper.from_array(w(10, 8), "fcw"), numpy_helper.from_array(w(10), "fcb"),
         numpy_helper.from_array(np.array([1, 10], np.int64), "out_shape")])
    # a Reshape to [2, 4] of a batch-1 input: the batch cannot follow it
    out["stuck"] = _save(d / "stuck.onnx", [helper.make_node("Reshape", ["x", "s"], ["y"], name="pairs")],
                         [_vi("x", [1, 8])], [_vi("y", [2, 4])], [numpy_helper.from_array(np.array([2, 4], np.int64), "s")])
    # a symbolic 'seq' that cannot be 1 (pairs of values), and a constant chain for simplify to fold
    out["seq"] = _save(d / "seq.onnx", [helper.make_node("Add", ["k", "k"], ["k2"], name="double"),
                                        helper.make_node("Reshape", ["x", "pair_shape"], ["p"], name="pairs"),
                                        helper.make_node("Mul", ["p", "k2"], ["y"], name="scale")],
                       [_vi("x", [1, "seq"])], [_vi("y", [1, "half", 2])],
                       [numpy_helper.from_array(np.array([1, -1, 2], np.int64), "pair_shape"),
                        numpy_helper.from_array(np.array(0.5, np.float32), "k")])
    return out


# -- 1. inputs ----------------------------------------------------------------------------------------
def test_random_ids_stay_inside_the_embedding_table(models, tmp_path):
    saved = tmp_path / "in.npz"
    data = ok_json("run", models["emb"], "--shape", "ids=64,3", "--save-inputs", saved)
    ids = np.load(saved)["ids"]
    assert ids.shape == (64, 3) and ids.min() >= 0 and ids.max() <= 4 and len(np.unique(ids)) == 5
    assert data["inputs"][0]["source"] == "random integers in [0, 4]"
    assert any("Gather 'embedding', 5 rows" in n for n in data["notes"])
    import onnxruntime as ort  # the truth: onnxruntime runs the saved ids too

    session = ort.InferenceSession(models["emb"], providers=["CPUExecutionProvider"])
    table = numpy_helper.to_array(onnx.load(models["emb"]).graph.initializer[0])
    np.testing.assert_array_equal(session.run(None, {"ids": ids})[0], table[ids])
    # an explicit range wins; a bare [LO,HI] applies to every input; floats uniform in [LO, HI)
    ok_json("run", models["emb"], "--val-range", "ids:[2,3]", "--save-inputs", saved)
    assert set(np.unique(np.load(saved)["ids"])) <= {2, 3}
    ok_json("run", models["two"], "--val-range", "[5,6]", "--save-inputs", saved)
    both = np.load(saved)
    assert all(5 <= both[n].min() and both[n].max() < 6 for n in ("a", "b"))
    assert "--val-range" in exit_2("run", models["emb"], "--val-range", "ids:[3,2]")
    assert "unknown input(s) nope" in exit_2("run", models["emb"], "--val-range", "nope:[0,1]")


def test_golden_outputs_pass_then_fail_when_perturbed(models, tmp_path):
    gold, inputs = tmp_path / "gold.npz", tmp_path / "in.npz"
    assert cli("run", models["mlp"], "--save-inputs", inputs, "--save-outputs", gold).returncode == 0
    same = cli("run", models["mlp"], "--inputs", inputs, "--load-outputs", gold)
    assert same.returncode == 0 and "verdict: PASS" in same.stdout, same.stderr
    bad = dict(np.load(gold))
    bad["z"] = bad["z"] + 1e-3
    np.savez(tmp_path / "bad.npz", **bad)
    off = cli("run", models["mlp"], "--inputs", inputs, "--load-outputs", tmp_path / "bad.npz")
    assert off.returncode == 1 and "MISMATCH" in off.stdout and "verdict: MISMATCH" in off.stdout
    rows = {line.split()[0]: line for line in off.stdout.splitlines() if line.startswith(("y ", "z "))}
    assert rows["y"].endswith("ok") and "MISMATCH" in rows["z"]  # the per-output table
    loose = cli("run", models["mlp"], "--inputs", inputs, "--load-outputs", tmp_path / "bad.npz", "--atol", "1e-2")
    assert loose.returncode == 0
    # verify compares every runtime with the saved outputs (the baseline named 'golden')
    report = ok_json("verify", models["mlp"], "--inputs", inputs, "--load-outputs", tmp_path / "bad.npz", code=1)
    assert report["baseline"] == "golden" and report["verdict"] == "mismatch"
    assert {(o["name"], o["runtime"], o["within"]) for o in report["outputs"]} == {
        ("y", "ref", True), ("z", "ref", False), ("y", "ort", True), ("z", "ort", False)}
    # a golden file that does not fit the model is refused before anything runs
    np.savez(tmp_path / "alien.npz", logits=np.zeros(3, np.float32))
    assert "not an output of the model" in exit_2("run", models["mlp"], "--load-outputs", tmp_path / "alien.npz")


def test_npy_float64_and_shape_checks_on_given_inputs(models, tmp_path):
    x = np.random.default_rng(1).standard_normal((1, 4))  # float64: numpy's default
    np.save(tmp_path / "x.npy", x)
    out = cli("run", models["mlp"], "--inputs", tmp_path / "x.npy", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["notes"] == ["input 'x': float64 cast to the model's float32"]
    w = numpy_helper.to_array(onnx.load(models["mlp"]).graph.initializer[0])
    y = next(o for o in data["outputs"] if o["name"] == "y")
    assert y["max"] == pytest.approx(float(np.maximum(x.astype(np.float32) @ w, 0).max()), rel=1e-6)
    assert "holds one array" in exit_2("run", models["two"], "--inputs", tmp_path / "x.npy")
    assert "--shape x=2,4, but --inputs" in exit_2("run", models["mlp"], "--inputs", tmp_path / "x.npy",
                                                   "--shape", "x=2,4")
    np.save(tmp_path / "wide.npy", np.zeros((1, 5), np.float32))
    assert "the model takes float32[1, 4]" in exit_2("run", models["mlp"], "--inputs", tmp_path / "wide.npy")
    # --shape applies to the run itself: the declared [1, 4] is overridden
    data = ok_json("run", models["mlp"], "--shape", "x=3,4")
    assert {o["name"]: o["shape"] for o in data["outputs"]} == {"y": [3, 3], "z": [3, 3]}


# -- 2. run --check-finite, --profile -----------------------------------------------------------------
def test_check_finite_names_the_node_where_nan_starts(models):
    plain = cli("run", models["nan"])
    assert plain.returncode == 0 and "--check-finite" in plain.stdout and "NaN 6" in plain.stdout
    checked = cli("run", models["nan"], "--check-finite")
    assert checked.returncode == 1 and "check-finite: FAILED: node 'log' (Log)" in checked.stdout
    data = ok_json("run", models["nan"], "--check-finite", code=1)
    assert data["check_finite"]["ok"] is False and data["check_finite"]["node"] == "log"
    assert ok_json("run", models["mlp"], "--check-finite")["check_finite"]["ok"] is True


def test_profile_reports_warm_medians_and_the_first_call_apart(models):
    data = ok_json("run", models["mlp"], "--profile", "--warmup", "1", "--iterations", "3")
    p = data["profile"]
    assert p["iterations"] == 3 and p["warmup"] == 1 and p["first_call_ms"] > 0
    assert {o["op"] for o in p["ops"]} == {"MatMul", "Relu", "Sigmoid"}
    assert {o["op"] for o in p["first_call"]["ops"]} == {"MatMul", "Relu", "Sigmoid"}
    assert 0 < p["run_ms"]["min"] <= p["run_ms"]["median"] <= p["run_ms"]["max"]
    text = cli("run", models["mlp"], "--profile", "--iterations", "2").stdout
    assert "first call" in text and "warm: median" in text and "first ms" in text
    assert "--iterations" in exit_2("run", models["mlp"], "--profile", "--iterations", "0")


# -- 3. inspect --show ----------------------------------------------------------------------------------
def test_inspect_shows_nodes_tensors_weights_and_io(models):
    data = ok_json("inspect", models["emb"], "--show", "io,nodes", "--show", "tensors", "--show", "weights")
    assert [(n["name"], n["op"]) for n in data["node_list"]] == [("Cast(ids32)", "Cast"), ("embedding", "Gather")]
    gather = data["node_list"][1]
    assert [(v["name"], v["dtype"], v["shape"]) for v in gather["inputs"]] == [
        ("table", "float32", [5, 4]), ("ids32", "int32", ["batch", 3])]
    assert {t["name"]: (t["producer"], t["consumers"]) for t in data["tensors"]} == {
        "ids": (None, ["Cast(ids32)"]), "ids32": ("Cast(ids32)", ["embedding"]), "emb": ("embedding", [])}
    assert data["weights"] == [{"name": "table", "dtype": "float32", "shape": [5, 4], "parameters": 20, "bytes": 80,
                                "external": False, "constant_node": False, "graph": "g", "read_by": ["embedding"]}]
    assert data["io"]["inputs"][0]["default_range"] == {"lo": 0, "hi": 4, "why": "indices of Gather 'embedding', 5 rows"}
    text = cli("inspect", models["emb"], "--show", "layers").stdout  # Polygraphy's word works too
    assert "[1] Gather 'embedding': table float32[5, 4], ids32 int32[batch, 3] -> emb float32[batch, 3, 4]" in text
    assert "--show bogus" in exit_2("inspect", models["emb"], "--show", "bogus")


def test_inspect_counts_parameters_after_folding():
    out = cli("inspect", LIGHT)
    assert out.returncode == 0 and "parameters: 757 (926,568 after folding)" in out.stdout
    data = ok_json("inspect", LIGHT)
    assert data["parameters"] == 757 and data["parameters_after_folding"] == 926568


# -- 4. reshape -----------------------------------------------------------------------------------------
def test_reshape_makes_a_baked_batch_dynamic_then_runs_at_2_and_3_against_ort(models, tmp_path):
    import onnxruntime as ort

    from refruntime import Session

    out = tmp_path / "dyn.onnx"
    data = ok_json("reshape", models["resnet"], "--batch", "dynamic", "-o", out, "--verify")
    assert [(r["node"], r["from"], r["to"]) for r in data["rewrites"]] == [
        ("baked_reshape", [1, 8], [0, 8]), ("out_reshape", [1, 10], [0, 10])]
    assert data["outputs"] == [{"name": "y", "before": [1, 10], "after": ["batch", 10]}]
    assert data["verification"]["batches"] == [2, 3] and data["verification"]["runtimes"] == ["ref", "ort"]
    original = ort.InferenceSession(models["resnet"], providers=["CPUExecutionProvider"])
    dynamic = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for batch in (2, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 8, 8)).astype(np.float32)
        expected = np.concatenate([original.run(None, {"x": x[i:i + 1]})[0] for i in range(batch)])
        np.testing.assert_allclose(dynamic.run(None, {"x": x})[0], expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(Session(str(out)).run({"x": x})["y"], expected, rtol=1e-5, atol=1e-6)
    fixed = ok_json("reshape", models["resnet"], "--batch", "4", "-o", tmp_path / "b4.onnx", "--verify")
    assert fixed["outputs"][0]["after"] == [4, 10] and fixed["verification"]["batches"] == [4]
    text = cli("reshape", models["resnet"], "--shape", "x=2,3,16,16", "-o", tmp_path / "big.onnx", "--verify")
    assert text.returncode == 0 and "x: float32[1, 3, 8, 8] -> float32[2, 3, 16, 16]" in text.stdout


def test_reshape_refuses_where_the_batch_cannot_follow(models, tmp_path):
    line = exit_2("reshape", models["stuck"], "--batch", "dynamic", "-o", tmp_path / "o.onnx")
    assert "node 'pairs' (Reshape)" in line and "'y'" in line
    assert not (tmp_path / "o.onnx").exists()
    line = exit_2("reshape", models["stuck"], "--shape", "x=1,6", "-o", tmp_path / "o.onnx")
    assert "node 'pairs' (Reshape) cannot make 6 values of shape [1, 6] into [2, 4]" in line
    assert "unknown input(s) nope" in exit_2("reshape", models["stuck"], "--shape", "nope=1", "-o", tmp_path / "o.onnx")


def test_make_batch_symbolic_rewrites_baked_targets_and_leaves_a_refused_model_unchanged(models):
    m = gk.load(models["resnet"])
    changes = gk.make_batch_symbolic(m, "N")
    assert [c["node"] for c in changes] == ["baked_reshape", "out_reshape"]
    assert m.graph.inputs[0].shape == ("N", 3, 8, 8) and m.graph.outputs[0].shape == ("N", 10)
    stuck = gk.load(models["stuck"])
    with pytest.raises(GraphError, match="node 'pairs'"):
        gk.make_batch_symbolic(stuck)
    assert stuck.graph.inputs[0].shape == (1, 8) and stuck.graph.outputs[0].shape == (2, 4)


def test_shape_for_simplify_fold_and_verify(models, tmp_path):
    # seq = 1 cannot be cut into pairs: the check needs --shape
    assert cli("simplify", models["seq"], "-o", tmp_path / "s.onnx", "--verify").returncode == 1
    out = cli("simplify", models["seq"], "-o", tmp_path / "s.onnx", "--verify", "--shape", "x=1,6")
    assert out.returncode == 0 and "verified on" in out.stdout, out.stderr
    assert cli("fold", models["seq"], "-o", tmp_path / "f.onnx", "--verify", "--shape", "x=1,4").returncode == 0
    data = ok_json("verify", models["seq"], "--shape", "x=1,4")
    assert data["inputs"] == {"x": {"dtype": "float32", "shape": [1, 4]}} and data["verdict"] == "pass"
    assert "--shape" in exit_2("simplify", models["seq"], "-o", tmp_path / "s.onnx", "--verify", "--shape", "x=a")


# -- 5. export ------------------------------------------------------------------------------------------
def test_export_a_module_with_several_inputs(tmp_path):
    pytest.importorskip("torch")
    src = tmp_path / "nets.py"
    src.write_text(textwrap.dedent("""
        import torch

        class TwoInputs(torch.nn.Module):
            def __init__(self):
                super().__init__()
                torch.manual_seed(0)
                self.emb = torch.nn.Embedding(5, 4)
                self.fc = torch.nn.Linear(4, 3)

            def forward(self, ids, scale):
                return self.fc(self.emb(ids).mean(1)) * scale

        class WrongSize(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = torch.nn.Linear(2304, 10)

            def forward(self, x):
                return self.fc(x.flatten(1))
    """))
    out = tmp_path / "two.onnx"
    data = ok_json("export", f"{src}:TwoInputs", "--input-shape", "scale=1,1", "--input-shape", "ids=1,6:int64",
                   "-o", out)
    assert data["verdict"] == "pass" and {o["runtime"] for o in data["outputs"]} == {"ort", "module"}
    assert data["export"]["inputs"] == {"ids": {"dtype": "int64", "shape": [1, 6]},
                                        "scale": {"dtype": "float32", "shape": [1, 1]}}
    assert [i.name for i in onnx.load(out).graph.input] == ["ids", "scale"]  # forward()'s order
    np.savez(tmp_path / "example.npz", scale=np.full((2, 1), 2, np.float32), ids=np.array([[1, 2, 3], [4, 0, 1]]))
    dynamo = cli("export", f"{src}:TwoInputs", "--example", tmp_path / "example.npz", "-o", out, "--exporter", "dynamo",
                 "--json")
    assert dynamo.returncode == 0 and dynamo.stderr == ""  # the exporter's prints and warnings swallowed
    assert json.loads(dynamo.stdout)["verdict"] == "pass"
    line = exit_2("export", f"{src}:WrongSize", "--input-shape", "1,1,28,28", "-o", tmp_path / "w.onnx")
    assert "mat1 and mat2 shapes cannot be multiplied" in line and "input: float32[1, 1, 28, 28]" in line


# -- 9. --json everywhere -------------------------------------------------------------------------------
def test_every_command_speaks_json(models, tmp_path):
    for cmd in ("fold", "prune", "fuse", "simplify", "toposort"):
        data = ok_json(cmd, models["mlp"], "-o", tmp_path / f"{cmd}.onnx", "--verify")
        assert {"pass", "counts", "output", "nodes_before", "nodes_after", "verification", "verification_error"} <= set(data)
    data = ok_json("extract", models["mlp"], "--inputs", "m", "--outputs", "y", "-o", tmp_path / "e.onnx", "--verify")
    assert data["inputs"] == ["m"] and data["outputs"] == ["y"] and data["verification"]["runtime"] == "ref"
    assert {"model", "inputs", "outputs", "fallback_nodes", "check_finite", "golden", "notes", "exit_code"} <= set(
        ok_json("run", models["mlp"]))
    assert {"graph_name", "nodes", "ops", "parameters", "parameters_after_folding"} <= set(ok_json("inspect", models["mlp"]))
    assert ok_json("verify", models["mlp"])["verdict"] == "pass"
    assert {"model", "output", "inputs", "outputs", "rewrites", "verification"} <= set(
        ok_json("reshape", models["mlp"], "--batch", "dynamic", "-o", tmp_path / "r.onnx"))
