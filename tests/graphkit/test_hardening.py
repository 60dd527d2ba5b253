"""Hostile files through graphkit: load (check=True), save (atomic pairs), verify, and the CLI
(exit 2 with one stderr line for each hostile file)."""
from __future__ import annotations

import importlib
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphkit as gk
from graphkit.cli.main import main
from graphkit.errors import GraphError, GraphkitError, LoadError, SaveError

F = TensorProto.FLOAT


def vi(name, elem=F, shape=("n",)):
    return helper.make_tensor_value_info(name, elem, shape)


def model(nodes, inputs=("x",), outputs=("y",), inits=(), opset=17):
    graph = helper.make_graph(nodes, "g", [vi(i) for i in inputs], [vi(o) for o in outputs], list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


RELU = model([helper.make_node("Relu", ["x"], ["y"])])


# -- gk.load(check=True) --------------------------------------------------------------------------
@pytest.mark.parametrize("proto, match", [
    (model([helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Relu", ["x"], ["y"])]), "'y' is produced twice"),
    (model([helper.make_node("Add", ["x", "nowhere"], ["y"])]), "reads 'nowhere'"),
    (model([helper.make_node("Relu", ["b"], ["a"], name="n1"), helper.make_node("Relu", ["a"], ["b"], name="n2"),
            helper.make_node("Relu", ["a"], ["y"], name="n3")]), r"cycle through nodes 'n1' \(Relu\), 'n2'"),
    (model([helper.make_node("Relu", ["x"], ["z"])]), "graph output 'y' is not produced"),
    (model([helper.make_node("Softmax", ["x"], ["y"], axis="one")]), r"onnx.checker: .*attribute.*axis"),
    (model([helper.make_node("Concat", ["x", "x"], ["y"])]), "Required attribute 'axis' is missing"),
    (model([helper.make_node("Relu", ["x"], ["y"])], opset=999), "version 999"),
    (model([helper.make_node("Relu", ["w"], ["y"])], inputs=(),
           inits=[onnx.TensorProto(name="w", data_type=F, dims=[4], raw_data=b"\0" * 3)]), "raw_data size"),
])
def test_load_check_refuses_malformed_graphs(proto, match):
    gk.load(proto)  # without check, a malformed model still loads (surgery can repair it)
    with pytest.raises(LoadError, match=match):
        gk.load(proto, check=True)


def test_load_check_accepts_a_valid_model_with_external_data(tmp_path):
    w = numpy_helper.from_array(np.arange(4096, dtype=np.float32), "w")
    proto = model([helper.make_node("Add", ["x", "w"], ["y"])], inits=[w])
    gk.save(gk.load(proto), tmp_path / "m.onnx", external_data=True)
    assert gk.load(tmp_path / "m.onnx", check=True).graph.initializers["w"].const_value.is_external
    assert gk.load(RELU, check=True)


def test_names_that_are_not_utf8_are_refused_at_load():
    blob = model([helper.make_node("Relu", ["x"], ["y"], name="nn")]).SerializeToString().replace(b"nn", b"n\xff")
    with pytest.raises(LoadError, match="not valid UTF-8"):
        gk.load(blob)
    blob = helper.make_model(RELU.graph, producer_name="PPPP").SerializeToString().replace(b"PPPP", b"P\xffPP")
    with pytest.raises(LoadError, match="not valid UTF-8"):
        gk.load(blob)


def test_malformed_tensor_data_is_a_graph_error():
    bad = onnx.TensorProto(name="w", data_type=F, dims=[4], raw_data=b"\0" * 3)
    m = gk.load(model([helper.make_node("Relu", ["w"], ["y"])], inputs=(), inits=[bad]))
    with pytest.raises(GraphError, match=r"tensor 'w'.*malformed"):
        m.graph.initializers["w"].const_value.numpy()
    odd = onnx.TensorProto(name="w", data_type=999, dims=[1], raw_data=b"\0")
    m = gk.load(model([helper.make_node("Relu", ["w"], ["y"])], inputs=(), inits=[odd]))
    with pytest.raises(GraphError, match="unknown ONNX element type 999"):
        _ = m.graph.initializers["w"].const_value.dtype


# -- external data: the check lives in refruntime, graphkit uses it ------------------------------------
def test_graphkit_and_refruntime_share_the_location_check():
    from graphkit.io import external_data as gk_external
    from refruntime import external_data as rr_external

    assert gk_external.check_location is rr_external.check_location


def _external(tmp_path, location, data=None):
    w = numpy_helper.from_array(np.arange(16, dtype=np.float32), "w")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "64")):
        e = w.external_data.add()
        e.key, e.value = key, value
    folder = tmp_path / "m"
    folder.mkdir(exist_ok=True)
    if data is not None:
        (folder / "w.bin").write_bytes(data)
    path = folder / "m.onnx"
    path.write_bytes(model([helper.make_node("Relu", ["w"], ["y"])], inputs=(), inits=[w]).SerializeToString())
    return str(path)


def test_verify_reads_external_data_through_the_same_checks(tmp_path):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 64)
    path = _external(tmp_path, "w.bin")
    os.symlink(tmp_path / "secret.bin", tmp_path / "m" / "w.bin")
    with pytest.raises(LoadError, match="outside the model folder"):
        gk.verify(path, runtimes="ref,ort")
    with pytest.raises(LoadError, match=r"contains '\.\.'"):
        gk.verify(_external(tmp_path, "../secret.bin"), runtimes="ref,ort")


def test_verify_with_truncated_external_data(tmp_path):
    with pytest.raises(LoadError, match="truncated"):
        gk.verify(_external(tmp_path, "w.bin", data=b"\0" * 40), runtimes="ref,ort")


# -- save: the model and its data file are swapped together ---------------------------------------------
def _weights_model(value: float):
    w = numpy_helper.from_array(np.full(4096, value, np.float32), "w")
    return gk.load(model([helper.make_node("Add", ["x", "w"], ["y"])], inits=[w]))


def test_failed_model_move_restores_the_previous_data_file(tmp_path, monkeypatch):
    dest = tmp_path / "m.onnx"
    gk.save(_weights_model(1.0), dest, external_data=True)
    old_model, old_data = dest.read_bytes(), (tmp_path / "m.onnx.data").read_bytes()
    save_module = importlib.import_module("graphkit.io.save")
    real_replace = os.replace

    def replace(src, dst):
        if os.fspath(dst) == os.fspath(dest):
            raise OSError(5, "Input/output error")
        return real_replace(src, dst)

    monkeypatch.setattr(save_module.os, "replace", replace)
    with pytest.raises(SaveError, match="Input/output error"):
        gk.save(_weights_model(2.0), dest, external_data=True)
    monkeypatch.undo()
    assert dest.read_bytes() == old_model and (tmp_path / "m.onnx.data").read_bytes() == old_data
    assert sorted(os.listdir(tmp_path)) == ["m.onnx", "m.onnx.data"]
    np.testing.assert_array_equal(gk.load(dest).graph.initializers["w"].const_value.numpy(), 1.0)


def test_failed_model_move_leaves_no_new_data_file(tmp_path, monkeypatch):
    dest = tmp_path / "m.onnx"
    save_module = importlib.import_module("graphkit.io.save")
    real_replace = os.replace

    def replace(src, dst):
        if os.fspath(dst) == os.fspath(dest):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(save_module.os, "replace", replace)
    with pytest.raises(SaveError, match="No space left"):
        gk.save(_weights_model(2.0), dest, external_data=True)
    assert os.listdir(tmp_path) == []


def test_successful_save_over_a_pair_leaves_no_backup(tmp_path):
    dest = tmp_path / "m.onnx"
    gk.save(_weights_model(1.0), dest, external_data=True)
    gk.save(_weights_model(2.0), dest, external_data=True)
    assert sorted(os.listdir(tmp_path)) == ["m.onnx", "m.onnx.data"]
    np.testing.assert_array_equal(gk.load(dest).graph.initializers["w"].const_value.numpy(), 2.0)


# -- CLI: one line on stderr, exit 2 ---------------------------------------------------------------------
def _hostile_files(tmp_path) -> dict[str, str]:
    files = {}
    good = RELU.SerializeToString()
    folder = tmp_path / "hostile"
    folder.mkdir()

    def put(name, blob):
        path = folder / name
        path.write_bytes(blob)
        files[name] = str(path)

    put("truncated.onnx", good[: len(good) // 2])
    put("garbage.onnx", bytes(range(256)) * 4)
    put("empty.onnx", b"")
    put("cycle.onnx", model([helper.make_node("Relu", ["b"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
                             helper.make_node("Relu", ["a"], ["y"])]).SerializeToString())
    put("opset999.onnx", model([helper.make_node("Relu", ["x"], ["y"])], opset=999).SerializeToString())
    put("wrong_attr.onnx", model([helper.make_node("Softmax", ["x"], ["y"], axis="one")]).SerializeToString())
    put("huge.onnx", model([helper.make_node("ConstantOfShape", ["s"], ["y"])], inputs=(),
                           inits=[numpy_helper.from_array(np.array([10**13], np.int64), "s")]).SerializeToString())
    put("bad_dtype.onnx", model([helper.make_node("Relu", ["x"], ["y"])]).SerializeToString()
        .replace(b"\x08\x01\x12", b"\x08\x63\x12", 1))  # elem_type 1 -> 99 in the first type
    put("not_utf8.onnx", model([helper.make_node("Relu", ["x"], ["y"], name="nn")]).SerializeToString()
        .replace(b"nn", b"n\xff"))
    (tmp_path / "secret.bin").write_bytes(b"\0" * 64)
    files["symlink_escape.onnx"] = _external(folder, "link.bin")
    os.symlink(tmp_path / "secret.bin", folder / "m" / "link.bin")
    trunc = tmp_path / "t"
    trunc.mkdir()
    files["short_external.onnx"] = _external(trunc, "w.bin", data=b"\0" * 40)
    return files


# files a command handles fine: inspect shows a graph it cannot run (a name that is not UTF-8 is refused by both)
FINE = {"inspect": {"cycle.onnx", "opset999.onnx", "wrong_attr.onnx", "huge.onnx", "bad_dtype.onnx"},
        "run": set()}


@pytest.mark.parametrize("command", ["inspect", "run"])
def test_cli_exits_2_with_one_line_for_each_hostile_file(tmp_path, capsys, command):
    for name, path in _hostile_files(tmp_path).items():
        code = main([command, path])
        out, err = capsys.readouterr()
        if name in FINE[command]:
            assert code == 0, (name, err)
            continue
        assert code == 2, (name, code, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"graphkit {command}: "), (name, err)


def test_cli_verify_exits_2_for_hostile_files(tmp_path, capsys):
    files = _hostile_files(tmp_path)
    for name in ("truncated.onnx", "garbage.onnx", "symlink_escape.onnx", "short_external.onnx"):
        code = main(["verify", files[name], "--runtimes", "ref"])
        _, err = capsys.readouterr()
        assert code == 2 and len(err.strip().splitlines()) == 1, (name, err)


def test_all_graphkit_errors_share_a_base():
    for cls in (LoadError, SaveError, GraphError):
        assert issubclass(cls, GraphkitError)


# -- findings of the CLI fuzzer (tests/fuzzing.py CliRunner, tools/fuzz.py) -----------------------------
def _graphkit(*args, timeout=120):
    """`graphkit ARGS` in a subprocess: onnxruntime logs from C++ straight to fd 2, which capsys
    cannot see, and --timeout's last resort ends the process."""
    import subprocess
    import sys

    code = "import sys; from graphkit.cli.main import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, check=False)


def _one_line(done, code=2):
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code and len(lines) == 1 and lines[0].startswith("graphkit"), (done.returncode,
                                                                                           done.stderr)
    return lines[0]


def test_attribute_names_that_are_not_utf8_are_refused_at_load(tmp_path, capsys):
    """Fuzz findings: `graphkit inspect` raised TypeError ('<' between bytes and str) in summary.py
    `_value_key`, which sorted a computed node's attributes by name, one of them bytes; `simplify`
    raised TypeError ('keywords must be strings') in passes/fuse.py, which hands attributes on as
    keywords. gk.load now refuses such a file, naming the node and the attribute, as refruntime does."""
    gemm = model([helper.make_node("Constant", [], ["c"], value=helper.make_tensor("v", F, [2, 2], [1.0] * 4)),
                  helper.make_node("Gemm", ["c", "c"], ["y"], alpha=0.5, beta=1.0, name="gm")], inputs=())
    path = tmp_path / "bad_attr.onnx"
    path.write_bytes(gemm.SerializeToString().replace(b"alpha", b"alp\xffa"))
    with pytest.raises(LoadError, match=r"node 'gm' \(Gemm\): attribute name b'alp\\xffa' is not valid UTF-8"):
        gk.load(str(path))
    for command in (["inspect"], ["inspect", "--json", "--show", "nodes"], ["simplify", "-o", str(tmp_path / "o.onnx")],
                    ["run"]):
        assert main([command[0], str(path), *command[1:]]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and "attribute name b'alp\\xffa' is not valid UTF-8" in lines[0], lines


def test_inspect_counts_folded_parameters_when_a_constant_reads_its_own_result(tmp_path, capsys):
    """Fuzz finding: summary.py `_value_key` recursed through the producers of computed constants,
    RecursionError on a cycle: a node turned into a Constant that kept its input and lost its value
    (a mutation of a quantized LSTM) closed a loop through a chain of computed constants."""
    nodes = [helper.make_node("Neg", ["v0"], ["v1"]), helper.make_node("Neg", ["k"], ["v2"]),
             helper.make_node("Neg", ["v2"], ["v3"]), helper.make_node("Constant", ["v3"], ["k"]),
             helper.make_node("Add", ["k", "v1"], ["y"])]
    path = tmp_path / "cycle.onnx"
    onnx.save(model(nodes[::-1], inputs=(), inits=[numpy_helper.from_array(np.ones(3, np.float32), "v0")]), path)
    assert main(["inspect", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "parameters: 3" in out and not err, err


def test_a_model_onnxruntime_refuses_is_reported_once(tmp_path):
    """Fuzz finding: onnxruntime logged its own error (in colour, from C++) before graphkit's line."""
    tree = helper.make_node("TreeEnsembleRegressor", ["x"], ["y"], domain="ai.onnx.ml", name="trees", n_targets=-1,
                            nodes_treeids=[0], nodes_nodeids=[0], nodes_featureids=[0], nodes_modes=["LEAF"],
                            nodes_values=[0.0], nodes_truenodeids=[0], nodes_falsenodeids=[0],
                            target_treeids=[0], target_nodeids=[0], target_ids=[0], target_weights=[1.0])
    graph = helper.make_graph([tree], "g", [vi("x", shape=(1, 2))], [vi("y", shape=(1, 1))])
    path = tmp_path / "trees.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                      helper.make_opsetid("ai.onnx.ml", 3)]), path)
    for extra in ([], ["--per-node"]):
        line = _one_line(_graphkit("verify", path, *extra))
        assert "ref: ModelError: " in line and "node 'trees'" in line and "ort: Fail:" in line


def test_quantize_reports_a_calibration_failure_once(tmp_path):
    """Fuzz finding: onnxruntime logged the failing node of the calibration run before graphkit's line."""
    path = tmp_path / "s2d.onnx"
    graph = helper.make_graph([helper.make_node("SpaceToDepth", ["x"], ["y"], blocksize=2)], "g",
                              [vi("x", shape=(1, 1, 3, 3))], [vi("y", shape=None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    line = _one_line(_graphkit("quantize", path, "-o", tmp_path / "q.onnx", "--random", "2",
                               "--preprocess", "none"))
    assert "QuantizationError" in line and "SpaceToDepth" in line


# -- --timeout: run and verify stop a run that takes too long ---------------------------------------------
def _slow_loop(path, trips=999_999):
    """A Loop of `trips` iterations (below max_loop_iterations, far above a second)."""
    body = helper.make_graph([helper.make_node("Add", ["v", "one"], ["v2"], name="inc"),
                              helper.make_node("Identity", ["cond"], ["c2"], name="keep")], "body",
                             [vi("i", TensorProto.INT64, ()), vi("cond", TensorProto.BOOL, ()), vi("v", shape=(1,))],
                             [vi("c2", TensorProto.BOOL, ()), vi("v2", shape=(1,))],
                             [helper.make_tensor("one", F, [1], [1.0])])
    graph = helper.make_graph([helper.make_node("Loop", ["n", "", "x"], ["y"], body=body, name="loop")], "g",
                              [vi("x", shape=(1,))], [vi("y", shape=(1,))],
                              [helper.make_tensor("n", TensorProto.INT64, [], [trips])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_run_timeout_stops_the_run_naming_the_node(tmp_path):
    import time

    path = _slow_loop(tmp_path / "slow.onnx")
    start = time.perf_counter()
    line = _one_line(_graphkit("run", path, "--timeout", "1"))
    assert time.perf_counter() - start < 30
    assert "LimitError: the run took longer than max_seconds=1 s; it was running node" in line and "'loop'" in line


def test_verify_timeout_bounds_every_refruntime_run(tmp_path):
    path = _slow_loop(tmp_path / "slow.onnx")
    line = _one_line(_graphkit("verify", path, "--runtimes", "ref,ref64", "--timeout", "1"))
    assert "ref: LimitError: the run took longer than max_seconds=1 s" in line
    assert "ref64: LimitError: the run took longer than max_seconds=1 s" in line
    report = gk.verify(str(_slow_loop(tmp_path / "short.onnx", trips=3)), runtimes=("ref", "ref64"), timeout=60)
    assert report.passed
    from graphkit.verification.runtimes.ref import _BOUND

    assert _BOUND.get() == (None, None)  # the bound ends with the call


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
@pytest.mark.parametrize("command", ["run", "verify"])
def test_timeout_must_be_a_positive_number(tmp_path, capsys, command, value):
    path = tmp_path / "relu.onnx"
    onnx.save(RELU, path)
    assert main([command, str(path), "--timeout", value]) == 2
    assert "--timeout must be a positive number of seconds" in capsys.readouterr().err


def test_run_and_verify_default_to_a_generous_bound():
    from graphkit.cli.cmd_run import DEFAULT_TIMEOUT
    from graphkit.cli.main import build_parser

    parser = build_parser()
    for command in ("run", "verify"):
        assert parser.parse_args([command, "m.onnx"]).timeout == DEFAULT_TIMEOUT == 600


def test_random_inputs_too_large_to_draw_are_refused_before_allocating(tmp_path):
    """numpy draws random values in float64 before casting: a bfloat16 input of 1e9 values (2 GB
    as itself) needs 8 GB on the way, and is refused with one line, not a MemoryError."""
    import subprocess
    import sys

    from onnx import TensorProto, helper

    node = helper.make_node("Identity", ["x"], ["y"])
    graph = helper.make_graph([node], "big", [helper.make_tensor_value_info("x", TensorProto.BFLOAT16, [1, 10**9])],
                              [helper.make_tensor_value_info("y", TensorProto.BFLOAT16, [1, 10**9])])
    path = tmp_path / "big.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    done = subprocess.run([sys.executable, "-m", "graphkit.cli.main", "run", str(path)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, (done.returncode, done.stderr)
    assert "random input 'x' of shape [1, 1000000000] would need 8000000000 bytes" in done.stderr


def test_simplify_leaves_a_batch_norm_with_scalar_parameters_alone():
    """fuse.py's BatchNormalization -> Add rule read scale.shape[0] of a 0-d scale (IndexError, found
    by tools/fuzz.py): parameters that are not one per channel are not fused."""
    inits = {"s": np.array(1.5, np.float32), "b": np.ones(3, np.float32), "m": np.zeros((4, 4), np.float32),
             "v": np.array(1.0, np.float32), "c": np.array(2.0, np.float32)}
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["bn"]),
             helper.make_node("Add", ["bn", "c"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = gk.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)]))
    gk.simplify(model)
    assert sorted(n.op_type for n in model.graph.nodes) == ["Add", "BatchNormalization"]
