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
