"""Hostile models and inputs: Session and run raise refruntime's own errors, never crash or hang.

External data is read only inside the model's folder; tensors above max_tensor_bytes are refused
before they are allocated (by the op's own check or the executor's guards); loops are bounded per
run; malformed graphs, attributes and opsets are ModelErrors at Session creation.
"""
from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from refruntime import Session
from refruntime.errors import KernelError, LimitError, ModelError, RefRuntimeError, UnsupportedOpError
from refruntime.plan import Options

F = TensorProto.FLOAT


def vi(name, elem=F, shape=None):
    return helper.make_tensor_value_info(name, elem, shape)


def const(name, value):
    return numpy_helper.from_array(np.asarray(value), name)


def model(nodes, inputs=(), outputs=("y",), inits=(), opset=17):
    graph = helper.make_graph(nodes, "g", list(inputs), [vi(o) for o in outputs], list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


# -- external data --------------------------------------------------------------------------------
def _external_model(folder, location: str, length: int = 64) -> str:
    w = const("w", np.arange(16, dtype=np.float32))
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(length))):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    path = os.path.join(folder, "m.onnx")
    onnx.save(model([helper.make_node("Relu", ["w"], ["y"])], inits=[w]), path)
    return path


@pytest.fixture
def model_dir(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "secret.bin").write_bytes(np.arange(16, dtype=np.float32).tobytes())
    return folder


@pytest.mark.parametrize("location, match", [
    ("/etc/passwd", "absolute location"),
    ("../secret.bin", r"contains '\.\.'"),
    ("sub/../../secret.bin", r"contains '\.\.'"),
])
def test_unsafe_external_locations_are_refused(model_dir, location, match):
    with pytest.raises(ModelError, match=rf"tensor 'w'.*refused.*{match}|tensor 'w'.*{match}"):
        Session(_external_model(model_dir, location))


def test_symlink_escaping_the_model_folder_is_refused(model_dir):
    os.symlink(model_dir.parent / "secret.bin", model_dir / "link.bin")
    with pytest.raises(ModelError, match=r"tensor 'w'.*'link\.bin' resolves outside the model folder"):
        Session(_external_model(model_dir, "link.bin"))


def test_symlink_inside_the_model_folder_is_fine(model_dir):
    (model_dir / "w.bin").write_bytes(np.arange(16, dtype=np.float32).tobytes())
    os.symlink(model_dir / "w.bin", model_dir / "link.bin")
    out = Session(_external_model(model_dir, "link.bin")).run({})
    np.testing.assert_array_equal(out["y"], np.arange(16, dtype=np.float32))


def test_external_file_shorter_than_declared(model_dir):
    (model_dir / "w.bin").write_bytes(b"\0" * 40)
    with pytest.raises(ModelError, match=r"tensor 'w'.*'w\.bin' is truncated.*0\.\.64.*has 40"):
        Session(_external_model(model_dir, "w.bin"))


def test_missing_external_file_and_folder_location(model_dir):
    with pytest.raises(ModelError, match=r"tensor 'w'.*'nope\.bin' not found"):
        Session(_external_model(model_dir, "nope.bin"))
    (model_dir / "sub").mkdir()
    with pytest.raises(ModelError, match=r"'sub' is not a file"):
        Session(_external_model(model_dir, "sub"))


def test_external_length_that_does_not_match_the_shape(model_dir):
    (model_dir / "w.bin").write_bytes(b"\0" * 128)
    with pytest.raises(ModelError, match=r"length 128 does not match.*64 bytes"):
        Session(_external_model(model_dir, "w.bin", length=128))


def test_external_data_in_a_proto_without_a_folder_is_refused(model_dir):
    (model_dir / "w.bin").write_bytes(np.arange(16, dtype=np.float32).tobytes())
    proto = onnx.load(_external_model(model_dir, "w.bin"), load_external_data=False)
    with pytest.raises(ModelError, match="not loaded from a file"):
        Session(proto)


def test_constant_attribute_with_escaping_external_data_is_refused(model_dir):
    t = const("v", np.zeros(4, np.float32))
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    entry = t.external_data.add()
    entry.key, entry.value = "location", "../secret.bin"
    path = model_dir / "c.onnx"
    onnx.save(model([helper.make_node("Constant", [], ["y"], value=t)]), path)
    with pytest.raises(ModelError, match=r"'\.\.'"):
        Session(path)


def test_external_data_is_read_correctly_at_an_offset(model_dir):
    (model_dir / "w.bin").write_bytes(b"\0" * 64 + np.arange(16, dtype=np.float32).tobytes())
    path = _external_model(model_dir, "w.bin")
    proto = onnx.load(path, load_external_data=False)
    for e in proto.graph.initializer[0].external_data:
        if e.key == "offset":
            e.value = "64"
    onnx.save(proto, path)
    np.testing.assert_array_equal(Session(path).run({})["y"], np.arange(16, dtype=np.float32))


# -- tensor size limits -----------------------------------------------------------------------------
X4 = {"x": np.ones((1, 1, 2, 2), np.float32)}
X1 = {"x": np.ones(1, np.float32)}
HUGE_SHAPE = np.array([10**6, 10**6], np.int64)


BLOWUPS = {
    "ConstantOfShape": (model([helper.make_node("ConstantOfShape", ["s"], ["y"])], inits=[const("s", np.array([10**12]))]), {}),
    "Expand": (model([helper.make_node("Expand", ["x", "s"], ["y"])], [vi("x", shape=[1])], inits=[const("s", HUGE_SHAPE)]), X1),
    "Tile": (model([helper.make_node("Tile", ["x", "r"], ["y"])], [vi("x", shape=[1])], inits=[const("r", np.array([10**12]))]), X1),
    "Range": (model([helper.make_node("Range", ["a", "b", "d"], ["y"])], inits=[
        const("a", np.float32(0)), const("b", np.float32(1e6)), const("d", np.float32(1e-9))]), {}),
    "OneHot": (model([helper.make_node("OneHot", ["i", "d", "v"], ["y"])], inits=[
        const("i", np.array([1])), const("d", np.array(10**12)), const("v", np.array([0, 1], np.float32))]), {}),
    "Resize": (model([helper.make_node("Resize", ["x", "", "s"], ["y"])], [vi("x", shape=[1, 1, 2, 2])],
                     inits=[const("s", np.array([1, 1, 1e6, 1e6], np.float32))]), X4),
    "Upsample": (model([helper.make_node("Upsample", ["x", "s"], ["y"])], [vi("x", shape=[1, 1, 2, 2])],
                       inits=[const("s", np.array([1, 1, 1e6, 1e6], np.float32))], opset=9), X4),
    "Pad": (model([helper.make_node("Pad", ["x", "p"], ["y"])], [vi("x", shape=[1])], inits=[const("p", np.array([10**12, 0]))]), X1),
    "Conv": (model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[10**6] * 4)], [vi("x", shape=[1, 1, 2, 2])],
                   inits=[const("w", np.ones((1, 1, 1, 1), np.float32))]), X4),
    "ConvTranspose": (model([helper.make_node("ConvTranspose", ["x", "w"], ["y"], output_shape=[10**6, 10**6])],
                            [vi("x", shape=[1, 1, 2, 2])], inits=[const("w", np.ones((1, 1, 1, 1), np.float32))]), X4),
    "MaxPool": (model([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[1, 1], pads=[10**6] * 4)],
                      [vi("x", shape=[1, 1, 2, 2])]), X4),
    "AveragePool": (model([helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[1, 1], pads=[10**6] * 4)],
                          [vi("x", shape=[1, 1, 2, 2])]), X4),
    "MatMul": (model([helper.make_node("Expand", ["x", "s1"], ["a"]), helper.make_node("Expand", ["x", "s2"], ["b"]),
                      helper.make_node("MatMul", ["a", "b"], ["y"])], [vi("x", shape=[1])],
                     inits=[const("s1", np.array([10**5, 1])), const("s2", np.array([1, 10**5]))]), X1),
    "Gemm": (model([helper.make_node("Expand", ["x", "s1"], ["a"]), helper.make_node("Expand", ["x", "s2"], ["b"]),
                    helper.make_node("Gemm", ["a", "b"], ["y"])], [vi("x", shape=[1])],
                   inits=[const("s1", np.array([10**5, 1])), const("s2", np.array([1, 10**5]))]), X1),
    "Add": (model([helper.make_node("Expand", ["x", "s1"], ["a"]), helper.make_node("Expand", ["x", "s2"], ["b"]),
                   helper.make_node("Add", ["a", "b"], ["y"])], [vi("x", shape=[1])],
                  inits=[const("s1", np.array([10**5, 1])), const("s2", np.array([1, 10**5]))]), X1),
    "Einsum": (model([helper.make_node("Expand", ["x", "s1"], ["a"]),
                      helper.make_node("Einsum", ["a", "a"], ["y"], equation="i,j->ij")], [vi("x", shape=[1])],
                     inits=[const("s1", np.array([10**5]))]), X1),
}


@pytest.mark.parametrize("op", sorted(BLOWUPS))
def test_ops_that_blow_up_small_inputs_raise_limit_error(op):
    proto, feeds = BLOWUPS[op]
    with pytest.raises(LimitError, match=rf"\({op}\).*max_tensor_bytes=16777216"):
        Session(proto, max_tensor_bytes=1 << 24).run(feeds)


def test_default_tensor_limit_holds_without_options():
    proto, feeds = BLOWUPS["Conv"]
    with pytest.raises(LimitError, match=f"max_tensor_bytes={Options().max_tensor_bytes}"):
        Session(proto).run(feeds)


def test_a_kernel_running_out_of_memory_is_a_limit_error(monkeypatch):
    proto = model([helper.make_node("Relu", ["x"], ["y"], name="r")], [vi("x", shape=[1])])
    session = Session(proto)

    class Boom:
        needs_scope = False

        def run(self, *inputs):
            raise MemoryError("Unable to allocate 3 TiB")

    session.plan.steps[0].kernel = Boom()
    with pytest.raises(LimitError, match=r"'r' \(Relu\) ran out of memory.*3 TiB"):
        session.run(X1)


def test_huge_initializer_header_is_refused_before_reading():
    t = onnx.TensorProto(name="w", data_type=F, dims=[10**12])
    with pytest.raises(LimitError, match=r"initializer 'w'.*max_tensor_bytes"):
        Session(model([helper.make_node("Relu", ["w"], ["y"])], inits=[t]))


# -- loops ----------------------------------------------------------------------------------------------
def _loop_body(scan: bool = False):
    outputs = [vi("co", TensorProto.BOOL, []), vi("vo", shape=[1])] + ([vi("so", shape=[1024])] if scan else [])
    nodes = [helper.make_node("Identity", ["c"], ["co"]), helper.make_node("Identity", ["v"], ["vo"])]
    inits = []
    if scan:
        nodes.append(helper.make_node("Expand", ["v", "n"], ["so"]))
        inits.append(const("n", np.array([1024])))
    return helper.make_graph(nodes, "body", [vi("i", TensorProto.INT64, []), vi("c", TensorProto.BOOL, []),
                                             vi("v", shape=[1])], outputs, inits)


def test_loop_without_trip_count_and_always_true_stops_at_the_limit():
    proto = model([helper.make_node("Loop", ["", "c", "x"], ["y"], body=_loop_body(), name="forever")],
                  [vi("x", shape=[1])], inits=[const("c", np.array(True))])
    with pytest.raises(LimitError, match=r"'forever'.*max_loop_iterations=1000"):
        Session(proto, max_loop_iterations=1000).run(X1)


def test_nested_loops_share_one_iteration_budget():
    inner = helper.make_node("Loop", ["m", "", "v"], ["vo"], body=_loop_body(), name="inner")
    outer_body = helper.make_graph([helper.make_node("Identity", ["c"], ["co"]), inner], "outer_body",
                                   [vi("i", TensorProto.INT64, []), vi("c", TensorProto.BOOL, []), vi("v", shape=[1])],
                                   [vi("co", TensorProto.BOOL, []), vi("vo", shape=[1])],
                                   [const("m", np.array(100))])
    proto = model([helper.make_node("Loop", ["M", "", "x"], ["y"], body=outer_body, name="outer")],
                  [vi("x", shape=[1])], inits=[const("M", np.array(100))])
    session = Session(proto, max_loop_iterations=1000)  # each loop is under 1000, together 100 + 100*100
    with pytest.raises(LimitError, match=r"loops together passed max_loop_iterations=1000"):
        session.run(X1)
    assert Session(proto, max_loop_iterations=20_000).run(X1)["y"].shape == (1,)  # budget resets per run


def test_loop_scan_outputs_are_bounded_by_max_tensor_bytes():
    proto = model([helper.make_node("Loop", ["M", "", "x"], ["y", "s"], body=_loop_body(scan=True), name="grow")],
                  [vi("x", shape=[1])], outputs=("y", "s"), inits=[const("M", np.array(10_000))])
    with pytest.raises(LimitError, match=r"'grow'.*scan output 0 grows past max_tensor_bytes=1048576"):
        Session(proto, max_tensor_bytes=1 << 20).run(X1)


def test_default_loop_limit_keeps_a_runaway_loop_short():
    assert Options().max_loop_iterations <= 1_000_000


# -- malformed graphs -----------------------------------------------------------------------------------
X = [vi("x", shape=[2, 3])]


@pytest.mark.parametrize("nodes, inits, error, match", [
    ([helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Relu", ["x"], ["y"])], [], ModelError,
     "'y' is produced twice"),
    ([helper.make_node("Add", ["x", "nowhere"], ["y"])], [], ModelError, "reads 'nowhere'"),
    ([helper.make_node("Relu", ["b"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
      helper.make_node("Relu", ["a"], ["y"])], [], ModelError, r"cycle through nodes .*Relu"),
    ([helper.make_node("Relu", ["x"], ["z"])], [], ModelError, "graph output 'y' is not produced"),
    ([helper.make_node("Softmax", ["x"], ["y"], axis="one")], [], ModelError, "attribute 'axis' must be INT, got STRING"),
    ([helper.make_node("Transpose", ["x"], ["y"], perm=1.5)], [], ModelError, "'perm' must be INTS, got FLOAT"),
    ([helper.make_node("Cast", ["x"], ["y"], to="float")], [], ModelError, "'to' must be INT"),
    ([helper.make_node("Concat", ["x", "x"], ["y"])], [], ModelError, r"required attribute\(s\) 'axis' missing"),
    ([helper.make_node("Relu", ["x"], ["y"], bogus=1)], [], ModelError, "'bogus' is not defined for Relu"),
    ([helper.make_node("Add", ["x"], ["y"])], [], ModelError, r"required input 1 \('B'\) is missing"),
    ([helper.make_node("Relu", ["x"], ["y", "z"])], [], ModelError, "has 2 outputs"),
    ([helper.make_node("Relu", ["w"], ["y"])], [onnx.TensorProto(name="w", data_type=F, dims=[4], raw_data=b"\0" * 3)],
     ModelError, r"initializer 'w': raw_data has 3 bytes.*need 16"),
    ([helper.make_node("Relu", ["w"], ["y"])], [onnx.TensorProto(name="w", data_type=999, dims=[1], raw_data=b"\0")],
     ModelError, "initializer 'w': unknown data type 999"),
    ([helper.make_node("Relu", ["w"], ["y"])], [onnx.TensorProto(name="w", data_type=F, dims=[-4])],
     ModelError, "negative dimension"),
    ([helper.make_node("Frobnicate", ["x"], ["y"])], [], UnsupportedOpError, "Frobnicate"),
])
def test_malformed_graphs_fail_at_session_creation(nodes, inits, error, match):
    with pytest.raises(error, match=match):
        Session(model(nodes, X, inits=inits))


@pytest.mark.parametrize("version, match", [(999, "version 999.*newest version"), (0, "version 0"), (-3, "version -3")])
def test_unknown_opset_versions_are_refused(version, match):
    with pytest.raises(ModelError, match=match):
        Session(model([helper.make_node("Relu", ["x"], ["y"])], X, opset=version))


def test_op_used_before_its_opset_is_refused():
    with pytest.raises(UnsupportedOpError, match=r"'Gelu' does not exist at opset 17"):
        Session(model([helper.make_node("Gelu", ["x"], ["y"])], X, opset=17))


def test_subgraph_attribute_errors_are_found_too():
    then_g = helper.make_graph([helper.make_node("Softmax", ["x"], ["o"], axis="bad")], "then", [], [vi("o")])
    else_g = helper.make_graph([helper.make_node("Identity", ["x"], ["o2"])], "else", [], [vi("o2")])
    proto = model([helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
                  [*X, vi("c", TensorProto.BOOL, [])])
    with pytest.raises(ModelError, match="'axis' must be INT"):
        Session(proto)


def test_graph_input_of_unknown_element_type():
    with pytest.raises(ModelError, match="graph input 'x' has an unknown element type 999"):
        Session(model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", 999, [2])]))


def test_unreadable_and_graphless_files(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\xff\xfe not a protobuf at all \x00\x01")
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        Session(junk)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match="no graph"):
        Session(empty)
    with pytest.raises(ModelError, match="not found"):
        Session(tmp_path / "missing.onnx")
    with pytest.raises(ModelError, match="needs a path"):
        Session(42)


def test_every_error_is_a_refruntime_error():
    for cls in (ModelError, KernelError, LimitError, UnsupportedOpError):
        assert issubclass(cls, RefRuntimeError)


def test_float_errors_stay_quiet_and_the_callers_errstate_is_restored():
    """Kernels ignore floating-point errors (log(0) = -inf, sqrt(-1) = NaN, as numpy and ORT
    give them) without a warning, inside a run (one errstate for the whole run) and when a
    kernel is called on its own (graphkit's constant folding); the caller's errstate is
    restored after the run, even one that raises."""
    import warnings

    from onnx import TensorProto, helper

    from refruntime import Session
    from refruntime.errors import RefRuntimeError
    from refruntime.ops.op_unary_math import Log_6

    nodes = [helper.make_node("Log", ["X"], ["l"]), helper.make_node("Sqrt", ["l"], ["s"]),
             helper.make_node("Pow", ["s", "X"], ["Y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = np.array([0.0, 0.5, 2.0], np.float32)
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        before = np.geterr()
        got = Session(model).run({"X": x})["Y"]
        shape = helper.make_tensor("shape", TensorProto.INT64, [1], [4])
        bad = helper.make_graph([*nodes, helper.make_node("Reshape", ["Y", "shape"], ["Z"])], "bad",
                                graph.input, [helper.make_tensor_value_info("Z", TensorProto.FLOAT, None)], [shape])
        with pytest.raises(RefRuntimeError, match="Reshape"):  # fails inside the run
            Session(helper.make_model(bad, opset_imports=[helper.make_opsetid("", 17)])).run({"X": x})
        assert np.geterr() == before
        (alone,) = Log_6(nodes[0], 13).run(x)
    with np.errstate(all="ignore"):
        want = np.power(np.sqrt(np.log(x)), x)
        np.testing.assert_array_equal(alone, np.log(x))
    np.testing.assert_array_equal(got, want)
    assert alone[0] == -np.inf and np.isnan(got[1])


def test_a_name_that_is_not_utf8_inside_a_subgraph_is_refused_by_every_entry_point(tmp_path):
    """upb returns such names as bytes; found by the CLI fuzzer in an If branch (issue 19)."""
    import subprocess
    import sys

    then = helper.make_graph([helper.make_node("Relu", ["QQx"], ["t"], name="inner")], "then", [],
                             [helper.make_tensor_value_info("t", TensorProto.FLOAT, [2])])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["e"], name="inner2")], "else", [],
                              [helper.make_tensor_value_info("e", TensorProto.FLOAT, [2])])
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y0"], name="id"),
         helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other, name="branch")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2]), helper.make_tensor_value_info("QQx", TensorProto.FLOAT, [2]),
         helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    start = data.index(b"then")
    data = data[:start] + data[start:].replace(b"QQx", b"\xff\xfex", 1)  # only inside the subgraph
    path = tmp_path / "bad.onnx"
    path.write_bytes(data)
    with pytest.raises(ModelError, match=r"subgraph 'then_branch' of node 'branch' \(If\).*not valid UTF-8"):
        Session(str(path))
    for command in ("run", "verify"):
        done = subprocess.run([sys.executable, "-m", "graphkit.cli.main", command, str(path)], check=False,
                              capture_output=True, text=True)
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "not valid UTF-8" in done.stderr


def test_a_node_reading_an_undefined_name_is_refused_before_onnx_shape_inference(tmp_path):
    """onnx's C++ shape inference dereferences the missing input of EyeLike and crashes the process
    (found by fuzzing the conformance models): refruntime.validate.check_structure runs first, in
    Session and in every graphkit inference call. In a subprocess, so a
    regression is a failed test, not a dead test run."""
    import subprocess
    import sys

    from onnx import TensorProto, helper

    node = helper.make_node("EyeLike", ["nowhere"], ["y"], name="eye")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = tmp_path / "eye.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)]).SerializeToString())
    inspect = subprocess.run([sys.executable, "-m", "graphkit.cli.main", "inspect", str(path)], capture_output=True,
                             text=True, check=False)
    assert inspect.returncode == 0 and "EyeLike" in inspect.stdout  # inspect shows malformed models too
    for command in (["run"], ["verify"], ["verify", "--per-node", "--runtimes", "ref,ort"]):
        done = subprocess.run([sys.executable, "-m", "graphkit.cli.main", *command, str(path)], capture_output=True,
                              text=True, check=False)
        assert done.returncode == 2, (command, done.returncode, done.stderr)
        assert done.stderr.count("\n") == 1 and "'nowhere'" in done.stderr, (command, done.stderr)
    empty = helper.make_node("EyeLike", [""], ["y"], name="eye")  # the required input left empty
    graph = helper.make_graph([empty], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)]).SerializeToString())
    for command in (["run"], ["verify"]):
        done = subprocess.run([sys.executable, "-m", "graphkit.cli.main", *command, str(path)], capture_output=True,
                              text=True, check=False)
        assert done.returncode == 2 and "required input 0" in done.stderr, (command, done.returncode, done.stderr)


@pytest.mark.parametrize("case", ["axis-2**31", "axis-1e12", "split-num-outputs"])
def test_attribute_values_that_abort_onnx_shape_inference_are_refused_first(tmp_path, case):
    """onnx's C++ shape inference aborts the process on a LayerNormalization whose axis is beyond
    int32 (with its Mean output) and on a Split whose num_outputs is not its output count (found by
    tools/fuzz.py on the conformance models): refruntime.validate refuses them before, naming the
    node, through `run` and `verify` (`simplify` leaves their shapes unknown). In subprocesses, so a
    regression fails the test only."""
    import subprocess
    import sys

    from onnx import TensorProto, helper

    if case == "split-num-outputs":
        node = helper.make_node("Split", ["x"], ["a", "b", "c"], name="cut", axis=0, num_outputs=2)
        outputs, opset, match = ["a", "b", "c"], 18, "'num_outputs' is 2 but the node has 3 outputs"
        inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6])]
    else:
        axis = 1 << 31 if case == "axis-2**31" else 10**12
        node = helper.make_node("LayerNormalization", ["x", "w", "b"], ["y", "mean", "inv"], name="norm", axis=axis)
        outputs, opset, match = ["y", "mean", "inv"], 17, f"attribute 'axis' = {axis} is beyond any tensor's rank"
        inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in (("x", [2, 3, 5]), ("w", [5]),
                                                                                         ("b", [5]))]
    graph = helper.make_graph([node], "g", inputs, [helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
                                                    for n in outputs])
    path = tmp_path / "hazard.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString())
    for command in (["run"], ["verify"]):
        done = subprocess.run([sys.executable, "-m", "graphkit.cli.main", *command, str(path)], capture_output=True,
                              text=True, check=False)
        assert done.returncode == 2, (command, done.returncode, done.stderr)
        assert done.stderr.count("\n") == 1 and match in done.stderr, (command, done.stderr)
    # graph surgery needs no valid model, only one that does not kill it: shapes are left unknown
    done = subprocess.run([sys.executable, "-m", "graphkit.cli.main", "simplify", str(path), "-o",
                           str(tmp_path / "s.onnx")], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "Traceback" not in done.stderr, (done.returncode, done.stderr)
