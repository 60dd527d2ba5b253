"""graphkit.io: load/save, lazy external data, security of locations, atomic saves."""
from __future__ import annotations

import importlib
import mmap
import os
import subprocess
import sys
import textwrap

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphkit as gk
from graphkit.errors import LoadError, SaveError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _model(n_weights: int = 4096) -> onnx.ModelProto:
    w = numpy_helper.from_array(np.arange(n_weights, dtype=np.float32), "w")
    b = numpy_helper.from_array(np.ones(4, dtype=np.float32), "b")  # small: stays inline
    nodes = [helper.make_node("Add", ["x", "w"], ["s"]), helper.make_node("ReduceSum", ["s"], ["t"], keepdims=0),
             helper.make_node("Add", ["t", "b"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n_weights])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [w, b])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _base_of_chain(array):
    base = array
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None) if not isinstance(base, memoryview) else base.obj
    return base


def _external_model(tmp_path, location: str, data: bytes | None = None, length: int | None = None) -> str:
    """A model whose initializer `w` (16 float32) points at `location`."""
    proto = _model(16)
    w = proto.graph.initializer[0]
    raw = w.raw_data
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", str(length or len(raw)))):
        e = w.external_data.add()
        e.key, e.value = k, v
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    if data is not None:
        (folder / "w.bin").write_bytes(data)
    path = folder / "m.onnx"
    path.write_bytes(proto.SerializeToString())
    return str(path)


# -- load -------------------------------------------------------------------------------------
def test_load_from_path_bytes_and_proto(tmp_path):
    proto = _model()
    path = tmp_path / "m.onnx"
    onnx.save(proto, path)
    for source in (path, str(path), proto.SerializeToString(), proto):
        m = gk.load(source)
        assert [n.op_type for n in m.graph] == ["Add", "ReduceSum", "Add"]
        assert m.opset_imports == {"": 13}
    assert gk.load(path).source_path == str(path)


@pytest.mark.parametrize("content", [b"", b"hello, this is not a model\n", b"\x08\x07\x12\xff\xff"])
def test_load_unreadable_bytes_is_one_line_load_error(tmp_path, content):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(LoadError) as info:
        gk.load(path)
    assert "\n" not in str(info.value) and "bad.onnx" in str(info.value)


def test_load_missing_file(tmp_path):
    with pytest.raises(LoadError, match="not found"):
        gk.load(tmp_path / "nope.onnx")


# -- external data: lazy, safe -------------------------------------------------------------------
def test_external_data_roundtrip_is_memory_mapped(tmp_path):
    proto = _model()
    src = tmp_path / "a.onnx"
    gk.save(gk.load(proto), src, external_data=True)
    assert (tmp_path / "a.onnx.data").stat().st_size >= 4096 * 4
    saved = onnx.load(src, load_external_data=False)
    assert saved.graph.initializer[0].data_location == TensorProto.EXTERNAL
    assert saved.graph.initializer[1].data_location != TensorProto.EXTERNAL  # under size_threshold
    onnx.checker.check_model(str(src))

    m = gk.load(src)
    w = m.graph.initializers["w"].const_value
    assert w.is_external and w._array is None and w.nbytes == 4096 * 4  # header only, nothing read
    arr = w.numpy()
    assert isinstance(_base_of_chain(arr), mmap.mmap), "external data must be a view of a memory map"
    assert not arr.flags.writeable
    np.testing.assert_array_equal(arr, np.arange(4096, dtype=np.float32))

    # a model with external tensors saved elsewhere keeps external data (auto) and copies the bytes
    other = tmp_path / "out"
    other.mkdir()
    gk.save(m, other / "b.onnx")
    assert (other / "b.onnx.data").exists()
    np.testing.assert_array_equal(gk.load(other / "b.onnx").graph.initializers["w"].const_value.numpy(), arr)
    # and inline on request
    gk.save(m, other / "c.onnx", external_data=False)
    assert not (other / "c.onnx.data").exists()
    np.testing.assert_array_equal(gk.load(other / "c.onnx").graph.initializers["w"].const_value.numpy(), arr)


@pytest.mark.parametrize("location", ["/etc/passwd", "../w.bin", "sub/../../w.bin", "..\\w.bin"])
def test_unsafe_locations_are_refused(tmp_path, location):
    path = _external_model(tmp_path, location, data=b"\0" * 64)
    with pytest.raises(LoadError, match="refused"):
        gk.load(path)


def test_symlink_escaping_the_folder_is_refused(tmp_path):
    outside = tmp_path / "secret.bin"
    outside.write_bytes(b"\0" * 64)
    path = _external_model(tmp_path, "w.bin")
    os.symlink(outside, tmp_path / "model" / "w.bin")
    with pytest.raises(LoadError, match="outside the model folder"):
        gk.load(path)


def test_symlink_inside_the_folder_is_fine(tmp_path):
    path = _external_model(tmp_path, "link.bin", data=np.arange(16, dtype=np.float32).tobytes())
    os.symlink(tmp_path / "model" / "w.bin", tmp_path / "model" / "link.bin")
    np.testing.assert_array_equal(gk.load(path).graph.initializers["w"].const_value.numpy(), np.arange(16))


def test_truncated_external_file(tmp_path):
    path = _external_model(tmp_path, "w.bin", data=b"\0" * 40)  # 64 bytes needed
    with pytest.raises(LoadError, match=r"'w'.*w\.bin.*truncated"):
        gk.load(path)


def test_missing_external_file(tmp_path):
    path = _external_model(tmp_path, "w.bin", data=None)
    with pytest.raises(LoadError, match=r"'w'.*w\.bin.*not found"):
        gk.load(path)


def test_loading_external_weights_does_not_copy_them(tmp_path):
    n = 32 * 1024 * 1024  # 128 MB of float32
    big = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[n])
    big.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "w.bin"), ("offset", "0"), ("length", str(4 * n))):
        e = big.external_data.add()
        e.key, e.value = k, v
    with open(tmp_path / "w.bin", "wb") as f:
        f.truncate(4 * n)  # sparse file: cheap to create
    graph = helper.make_graph([helper.make_node("Identity", ["w"], ["y"])], "g", [],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n])], [big])
    onnx.save(helper.make_model(graph), tmp_path / "big.onnx")
    script = textwrap.dedent(f"""
        import resource, graphkit as gk, numpy as np
        def rss(): return int(open('/proc/self/statm').read().split()[1]) * resource.getpagesize()
        import graphkit.io
        before = rss()
        m = gk.load({str(tmp_path / 'big.onnx')!r})
        arr = m.graph.initializers['w'].const_value.numpy()
        total = float(arr[::4096].sum())  # touch one float per page: maps, never copies
        print(rss() - before)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=True)
    grown = int(out.stdout.strip())
    assert grown < 1.3 * 4 * n, f"resident memory grew by {grown} bytes for {4 * n} bytes of weights"


# -- save: atomic, never clobbering what the model reads ----------------------------------------
def test_save_failure_leaves_nothing_behind(tmp_path, monkeypatch):
    dest = tmp_path / "m.onnx"
    dest.write_bytes(b"previous")
    m = gk.load(_model())
    save_module = importlib.import_module("graphkit.io.save")  # the module, not gk.save

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(save_module, "model_to_proto", boom)
    with pytest.raises(SaveError, match="No space left"):
        gk.save(m, dest, external_data=True)
    assert sorted(os.listdir(tmp_path)) == ["m.onnx"]
    assert dest.read_bytes() == b"previous"


def test_save_refuses_to_clobber_source_external_data(tmp_path):
    src = tmp_path / "m.onnx"
    gk.save(gk.load(_model()), src, external_data=True)
    before = (src.read_bytes(), (tmp_path / "m.onnx.data").read_bytes())
    m = gk.load(src)
    with pytest.raises(SaveError, match="still read"):
        gk.save(m, src)  # would rewrite m.onnx.data, which m's tensors are views of
    assert (src.read_bytes(), (tmp_path / "m.onnx.data").read_bytes()) == before
    assert [f for f in os.listdir(tmp_path) if f.endswith(".tmp")] == []
    # in place with another data file name is fine, and the model stays valid
    gk.save(m, src, location="m.v2.data")
    np.testing.assert_array_equal(gk.load(src).graph.initializers["w"].const_value.numpy(),
                                  np.arange(4096, dtype=np.float32))


def test_overwrite_policy(tmp_path):
    dest = tmp_path / "m.onnx"
    m = gk.load(_model())
    gk.save(m, dest)
    with pytest.raises(SaveError, match="exists"):
        gk.save(m, dest, overwrite=False)
    gk.save(gk.load(dest), dest)  # inline model over its own source: safe, it is in memory
    assert onnx.load(dest).graph.node[0].op_type == "Add"
    with pytest.raises(SaveError, match="does not exist"):
        gk.save(m, tmp_path / "no" / "m.onnx")
    with pytest.raises(SaveError, match="file name"):
        gk.save(m, dest, external_data=True, location="sub/x.data")
    assert oct(dest.stat().st_mode & 0o777) != oct(0o600)  # not mkstemp's private mode


def test_roundtrip_keeps_metadata_and_unknown_domains(tmp_path):
    proto = _model()
    proto.doc_string = "model doc"
    helper.set_model_props(proto, {"author": "me"})
    node = helper.make_node("Mystery", ["y"], ["z"], domain="com.example", doc_string="?", beta=2)
    entry = node.metadata_props.add()
    entry.key, entry.value = "k", "v"
    proto.graph.node.append(node)
    proto.graph.value_info.append(helper.make_tensor_value_info("s", TensorProto.FLOAT, [4096]))
    proto.opset_import.append(helper.make_opsetid("com.example", 3))
    m = gk.load(proto)
    gk.save(m, tmp_path / "m.onnx")
    assert onnx.load(tmp_path / "m.onnx").SerializeToString() == proto.SerializeToString()
    assert m.metadata_props == {"author": "me"}
    mystery = m.graph.find(domain="com.example")[0]
    assert mystery.metadata_props == {"k": "v"} and mystery.attributes["beta"] == 2
