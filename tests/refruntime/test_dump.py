"""refruntime.dump: every intermediate streamed to .npy files with a JSON manifest."""
from __future__ import annotations

import json
import os
import tracemalloc

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from refruntime import KernelError, Session
from refruntime.dump import DumpError, DumpWriter, dump_intermediates, safe_stem, tensor_stats

# value names a file system would not take as they are, two that sanitize alike, two that differ by case
ODD_NAMES = ["conv/1:0", "../bn out", "A", "a", "x:y", "x/y"]


def small_cnn(opset=17):
    """Conv -> BN -> Relu -> MaxPool -> Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm -> Softmax."""
    rng = np.random.default_rng(0)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)
    inits = {"w1": f(4, 3, 3, 3), "b1": f(4), "s": f(4), "bb": f(4), "m": f(4),
             "v": rng.uniform(0.5, 1.5, 4).astype(np.float32), "w2": f(6, 4, 3, 3), "wg": f(6, 5), "bg": f(5)}
    n = helper.make_node
    c, bn, r1, p, c2, r2 = ODD_NAMES
    g, fl, gm = "gap", "flat", "logits"
    nodes = [n("Conv", ["x", "w1", "b1"], [c], name="conv1", pads=[1, 1, 1, 1]),
             n("BatchNormalization", [c, "s", "bb", "m", "v"], [bn], name="bn1"),
             n("Relu", [bn], [r1], name="relu1"),
             n("MaxPool", [r1], [p], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             n("Conv", [p, "w2"], [c2], name="conv2", pads=[1, 1, 1, 1]),
             n("Relu", [c2], [r2], name="relu2"),
             n("GlobalAveragePool", [r2], [g], name="gap"),
             n("Flatten", [g], [fl], name="flatten"),
             n("Gemm", [fl, "wg", "bg"], [gm], name="fc"),
             n("Softmax", [gm], ["prob"], name="softmax")]
    graph = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8, 8])],
                              [helper.make_tensor_value_info("prob", TensorProto.FLOAT, [2, 5])],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


X = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)


def test_every_intermediate_is_dumped_and_equals_capture_all(tmp_path):
    session = Session(small_cnn())
    manifest = dump_intermediates(session, {"x": X}, tmp_path / "d")
    every = session.run({"x": X}, capture="all")
    by_output = {e["output"]: e for e in manifest["values"]}
    assert set(by_output) == set(every) and manifest["count"] == len(every) == 10
    assert manifest["complete"] and manifest["error"] is None
    for name, value in every.items():
        entry = by_output[name]
        loaded = np.load(tmp_path / "d" / entry["file"])
        np.testing.assert_array_equal(loaded, value)
        assert entry["shape"] == list(value.shape) and entry["dtype"] == str(value.dtype)
    assert [e["node"] for e in manifest["values"]][:3] == ["conv1", "bn1", "relu1"]
    assert by_output["prob"]["op"] == "Softmax" and by_output["prob"]["kernel"] == "native"
    on_disk = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert on_disk == manifest
    assert sorted(os.listdir(tmp_path / "d")) == sorted([e["file"] for e in manifest["values"]] + ["manifest.json"])


def test_file_names_are_safe_unique_and_keep_the_real_name(tmp_path):
    manifest = dump_intermediates(Session(small_cnn()), {"x": X}, tmp_path / "d")
    files = [e["file"] for e in manifest["values"]]
    assert len(set(files)) == len(files)
    assert len({f.lower() for f in files}) == len(files)  # case-insensitive file systems too
    for f in files:
        assert os.sep not in f and "/" not in f and ":" not in f and " " not in f and not f.startswith(".")
        assert f.endswith(".npy") and os.path.dirname(os.path.realpath(tmp_path / "d" / f)) == \
            os.path.realpath(tmp_path / "d")
    assert [e["output"] for e in manifest["values"]][:6] == ODD_NAMES
    assert safe_stem("../a b:c") == "_a_b_c" and safe_stem("") == "value" and safe_stem("é") == "_"
    assert len(safe_stem("n" * 1000)) <= 80


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_manifest_stats(tmp_path):
    x = np.array([[1.0, -2.0, np.nan], [np.inf, 0.5, -np.inf]], np.float32)
    nodes = [helper.make_node("Identity", ["x"], ["same"], name="id"),
             helper.make_node("Abs", ["x"], ["abs"], name="abs"),
             helper.make_node("Greater", ["x", "zero"], ["pos"], name="gt"),
             helper.make_node("Mul", ["x", "zero"], ["allnan"], name="mul")]
    graph = helper.make_graph(
        nodes, "stats", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in ("same", "abs", "pos", "allnan")],
        [numpy_helper.from_array(np.array(0.0, np.float32), "zero")])
    session = Session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    manifest = dump_intermediates(session, {"x": x}, tmp_path / "d")
    e = {v["output"]: v for v in manifest["values"]}
    assert e["same"]["nan_count"] == 1 and e["same"]["inf_count"] == 2
    assert (e["same"]["min"], e["same"]["max"]) == (-2.0, 1.0)
    assert e["same"]["mean"] == pytest.approx((1.0 - 2.0 + 0.5) / 3)
    assert e["abs"]["nan_count"] == 1 and e["abs"]["inf_count"] == 2 and e["abs"]["min"] == 0.5
    assert e["pos"]["dtype"] == "bool" and (e["pos"]["min"], e["pos"]["max"]) == (0, 1)
    assert e["pos"]["mean"] == pytest.approx(3 / 6) and e["pos"]["nan_count"] == 0
    # 0 * inf and 0 * nan are NaN, the rest are (signed) zeros
    assert e["allnan"]["nan_count"] == 3 and e["allnan"]["min"] == 0.0
    ints = tensor_stats(np.array([3, -7, 10], np.int64))
    assert ints == {"min": -7, "max": 10, "mean": 2.0, "nan_count": 0, "inf_count": 0}
    assert tensor_stats(np.full(3, np.nan, np.float32))["min"] is None
    assert tensor_stats(np.array(["a"])) == {}
    assert tensor_stats(np.zeros((0, 3), np.float32))["mean"] is None


def test_non_tensor_values_get_an_entry_without_file(tmp_path):
    nodes = [helper.make_node("SequenceConstruct", ["x", "x"], ["seq"], name="seq"),
             helper.make_node("SequenceLength", ["seq"], ["len"], name="len")]
    graph = helper.make_graph(nodes, "s", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("len", TensorProto.INT64, [])])
    manifest = dump_intermediates(Session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])),
                                  {"x": np.ones(2, np.float32)}, tmp_path / "d")
    seq, length = manifest["values"]
    assert seq["file"] is None and seq["type"] == "list" and seq["length"] == 2
    assert length["file"] and int(np.load(tmp_path / "d" / length["file"])) == 2


def test_non_empty_folder_is_refused_unless_overwrite(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "precious.txt").write_text("mine")
    session = Session(small_cnn())
    with pytest.raises(DumpError, match=r"not empty \(1 entries: precious.txt\).*--force"):
        dump_intermediates(session, {"x": X}, folder)
    assert os.listdir(folder) == ["precious.txt"]
    manifest = dump_intermediates(session, {"x": X}, folder, overwrite=True)
    assert (folder / "precious.txt").read_text() == "mine" and manifest["count"] == 10
    (tmp_path / "file").write_text("")
    with pytest.raises(DumpError, match="not a folder"):
        dump_intermediates(session, {"x": X}, tmp_path / "file")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert dump_intermediates(session, {"x": X}, empty)["count"] == 10


def test_failed_run_still_writes_the_manifest(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Reshape", ["r", "shape"], ["y"], name="reshape")]
    graph = helper.make_graph(nodes, "bad", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
                                             helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    session = Session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    with pytest.raises(KernelError, match="reshape"):
        dump_intermediates(session, {"x": np.ones((2, 3), np.float32), "shape": np.array([4, 4])}, tmp_path / "d")
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert not manifest["complete"] and "KernelError" in manifest["error"]
    assert [e["output"] for e in manifest["values"]] == ["r"]


def test_writer_as_a_bare_hook_returns_outputs_via_run(tmp_path):
    session = Session(small_cnn())
    writer = DumpWriter(tmp_path / "d")
    outputs = writer.run(session, {"x": X}, profile=True)
    assert list(outputs) == ["prob"] and writer.manifest["count"] == 10
    assert session.last_profile is not None and len(session.last_profile.records) == 10


def long_chain(n_nodes: int, n_elements: int):
    """x -> Add -> Mul -> Add -> ... : every intermediate is as large as x."""
    nodes, prev = [], "x"
    for i in range(n_nodes):
        op = "Add" if i % 2 == 0 else "Mul"
        nodes.append(helper.make_node(op, [prev, "k"], [f"t{i}"], name=f"n{i}"))
        prev = f"t{i}"
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n_elements])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [n_elements])],
                              [numpy_helper.from_array(np.array(1.0001, np.float32), "k")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_dump_memory_is_bounded_by_live_tensors_not_the_run(tmp_path):
    n_nodes, n_elements = 30, 1 << 20  # 30 intermediates of 4 MiB: 120 MiB in all
    tensor = 4 * n_elements
    session = Session(long_chain(n_nodes, n_elements))
    x = np.ones(n_elements, np.float32)
    dumped = _peak(lambda: dump_intermediates(session, {"x": x}, tmp_path / "d"))
    assert len(os.listdir(tmp_path / "d")) == n_nodes + 1
    assert dumped < 6 * tensor, f"dump peak {dumped / 2**20:.1f} MiB"
    captured = _peak(lambda: session.run({"x": x}, capture="all"))  # the contrast: keeps everything
    assert captured > (n_nodes - 1) * tensor
