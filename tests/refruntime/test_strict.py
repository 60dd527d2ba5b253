"""Strict typing (refruntime/strict.py): a model whose declared types disagree with its ops is a
ModelError naming the node; valid models, contrib-domain nodes and models with external data pass.

Every rejected model here is built wrong on purpose: the test says what is wrong in it.
"""
from __future__ import annotations

import glob
import os
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from refruntime import Session, strict
from refruntime.errors import ModelError, UnsupportedOpError
from refruntime.strict import check_strict
from tests.zoo import LIGHT_MODELS, light_path

F, I64, F16 = TensorProto.FLOAT, TensorProto.INT64, TensorProto.FLOAT16
X2 = {"x": np.ones(2, np.float32)}


def vi(name, elem=F, shape=(2,)):
    return helper.make_tensor_value_info(name, elem, None if shape is None else list(shape))


def model(nodes, inputs, outputs, value_info=(), inits=(), opsets=(("", 17),), functions=()):
    graph = helper.make_graph(nodes, "g", list(inputs), list(outputs), list(inits), value_info=list(value_info))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets],
                             functions=list(functions))


def add_relu(value_info_elem=F, output=None, x_shape=(2,)):
    """x -> Add(x, x) = a -> Relu -> y, with a's declared type and the graph output chosen."""
    nodes = [helper.make_node("Add", ["x", "x"], ["a"], name="add1"), helper.make_node("Relu", ["a"], ["y"], name="r")]
    return model(nodes, [vi("x", shape=x_shape)], [output or vi("y", shape=x_shape)], [vi("a", value_info_elem, x_shape)])


# (what is wrong, model, feeds, message)
REJECTED = {
    "value_info declares an Add output int64 (its inputs are float)":
        (add_relu(value_info_elem=I64), X2,
         (r"node 'add1' \(Add\), output 0 'a' \(value_info: tensor\(int64\)\[2\]\): the model declares INT64 "
          r"but Add produces FLOAT")),
    "the graph output is declared float16 (the computation is float32)":
        (model([helper.make_node("Add", ["x", "x"], ["y"], name="add1")], [vi("x")], [vi("y", F16)]), X2,
         (r"node 'add1' \(Add\), output 0 'y' \(graph output: tensor\(float16\)\[2\]\): the model declares "
          r"FLOAT16 but Add produces FLOAT")),
    "Add of a float and an int64 input":
        (model([helper.make_node("Add", ["x", "z"], ["y"], name="add1")], [vi("x"), vi("z", I64)], [vi("y")]),
         {**X2, "z": np.ones(2, np.int64)},
         (r"node 'add1' \(Add\), input 1 'z' \(B\) is tensor\(int64\), but input 0 'x' is tensor\(float\)\[2\]: "
          r"Add needs one type T for both")),
    "the graph output is declared rank 1 (Add of rank-2 inputs)":
        (model([helper.make_node("Add", ["x", "x"], ["y"], name="add1")], [vi("x", shape=(2, 3))], [vi("y")]),
         {"x": np.ones((2, 3), np.float32)},
         r"node 'add1' \(Add\), output 0 'y' .*declares rank 1 but Add produces rank 2"),
    "the graph output declares a static dimension 4 where Add gives 3":
        (model([helper.make_node("Add", ["x", "x"], ["y"], name="add1")], [vi("x", shape=(2, 3))],
               [vi("y", shape=(2, 4))]),
         {"x": np.ones((2, 3), np.float32)},
         r"node 'add1' \(Add\), output 0 'y' .*declares dimension 1 = 4 but Add produces 3"),
}


@pytest.mark.parametrize("wrong", sorted(REJECTED))
def test_a_model_the_spec_rejects_is_a_model_error_naming_the_node(wrong):
    proto, feeds, message = REJECTED[wrong]
    with pytest.raises(ModelError, match=message) as info:
        Session(proto)
    assert "\n" not in str(info.value) and "strict=False" in str(info.value)
    with pytest.raises(ModelError, match=message):
        check_strict(proto)
    out = Session(proto, strict=False).run(feeds)  # as onnx.reference does
    assert set(out) == {o.name for o in proto.graph.output}


def test_the_first_error_is_reported_and_the_others_counted():
    # a is declared int64 (wrong); so is what Relu then makes of it, against y declared float
    with pytest.raises(ModelError, match=r"node 'add1' \(Add\).*\[and 1 more\]"):
        check_strict(add_relu(value_info_elem=I64))


def test_an_unnamed_node_is_named_by_its_op_and_outputs():
    nodes = [helper.make_node("Add", ["x", "x"], ["a"]), helper.make_node("Relu", ["a"], ["y"])]
    proto = model(nodes, [vi("x")], [vi("y")], [vi("a", I64)])  # a declared int64: wrong
    with pytest.raises(ModelError, match=r"node <Add -> \['a'\]>, output 0 'a'"):
        check_strict(proto)


def test_an_error_inside_a_subgraph_names_the_node_and_its_if():
    then_g = helper.make_graph([helper.make_node("Relu", ["x"], ["o"], name="inner")], "then", [], [vi("o", I64)])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["o2"], name="neg")], "else", [], [vi("o2")])
    proto = model([helper.make_node("If", ["c"], ["y"], name="branch", then_branch=then_g, else_branch=else_g)],
                  [vi("x"), vi("c", TensorProto.BOOL, ())], [vi("y")])  # then's output declared int64: wrong
    with pytest.raises(ModelError, match=r"node 'inner' \(Relu\) \(in the 'then_branch' subgraph of node "
                                         r"'branch' \(If\)\), output 0 'o'.*declares INT64 but Relu produces FLOAT"):
        check_strict(proto)


def test_the_error_is_at_the_producer_not_at_the_consumer_of_a_wrong_declaration():
    # Reshape's output r is declared int64 (wrong); the Add after it then mixes int64 and float
    nodes = [helper.make_node("Reshape", ["w", "s"], ["r"], name="reshape"),
             helper.make_node("Add", ["r", "x"], ["y"], name="add")]
    inits = [numpy_helper.from_array(np.ones((4, 3), np.float32), "w"),
             numpy_helper.from_array(np.array([3, 4], np.int64), "s")]
    proto = model(nodes, [vi("x", shape=(3, 4))], [vi("y", shape=(3, 4))], [vi("r", I64, (3, 4))], inits)
    with pytest.raises(ModelError, match=r"node 'reshape' \(Reshape\), output 0 'r'.*INT64 but Reshape produces FLOAT"):
        check_strict(proto)


# -- contrib and custom domains ---------------------------------------------------------------------
MS = ("com.microsoft", 1)


def test_a_contrib_op_node_is_accepted_among_standard_nodes():
    nodes = [helper.make_node("Gelu", ["x"], ["g"], domain="com.microsoft", name="gelu"),
             helper.make_node("Relu", ["g"], ["r"], name="relu"), helper.make_node("Add", ["r", "x"], ["y"], name="add")]
    check_strict(model(nodes, [vi("x")], [vi("y")], opsets=(("", 17), MS)))
    check_strict(model(nodes, [vi("x")], [vi("y")], [vi("g")], opsets=(("", 17), MS)))  # g declared too
    # an op of a domain refruntime does not know: strict lets it through, planning names it
    unknown = [helper.make_node("Frobnicate", ["x"], ["g"], domain="example.com", name="frob"), *nodes[1:]]
    proto = model(unknown, [vi("x")], [vi("y")], opsets=(("", 17), ("example.com", 1)))
    check_strict(proto)
    with pytest.raises(UnsupportedOpError, match="Frobnicate"):
        Session(proto, allow_fallback=False)


def test_standard_nodes_after_a_contrib_op_are_still_checked():
    # left alone, onnx stops reporting errors after a node it has no schema for
    nodes = [helper.make_node("Gelu", ["x"], ["g"], domain="com.microsoft", name="gelu"),
             helper.make_node("Relu", ["g"], ["r"], name="relu"), helper.make_node("Add", ["x", "x"], ["y"], name="add")]
    proto = model(nodes, [vi("x")], [vi("y", I64), vi("r")], opsets=(("", 17), MS))  # y declared int64: wrong
    with pytest.raises(ModelError, match=r"node 'add' \(Add\), output 0 'y'.*INT64 but Add produces FLOAT"):
        check_strict(proto)
    # g declared float; Add of it and an int64 input breaks Add's type constraint
    nodes[2] = helper.make_node("Add", ["g", "z"], ["y"], name="add")
    proto = model(nodes, [vi("x"), vi("z", I64)], [vi("y"), vi("r")], [vi("g")], opsets=(("", 17), MS))
    with pytest.raises(ModelError, match=r"node 'add' \(Add\), input 1 'z' \(B\) is tensor\(int64\), but input 0 'g'"):
        check_strict(proto)


def test_a_model_local_function_runs_strict():
    body = [helper.make_node("Mul", ["a", "a"], ["sq"]), helper.make_node("Relu", ["sq"], ["b"])]
    fn = helper.make_function("custom", "SquareRelu", ["a"], ["b"], body, [helper.make_opsetid("", 17)])
    nodes = [helper.make_node("SquareRelu", ["x"], ["s"], domain="custom", name="call"),
             helper.make_node("Add", ["s", "x"], ["y"], name="add")]
    proto = model(nodes, [vi("x")], [vi("y")], opsets=(("", 17), ("custom", 1)), functions=[fn])
    check_strict(proto)
    np.testing.assert_array_equal(Session(proto).run({"x": np.array([-2, 3], np.float32)})["y"], [2, 12])
    wrong = model(nodes, [vi("x")], [vi("y")], [vi("s", I64)], opsets=(("", 17), ("custom", 1)), functions=[fn])
    with pytest.raises(ModelError, match=r"Relu.*output 0 's'.*INT64 but Relu produces FLOAT"):
        Session(wrong)  # s (the function's output) declared int64: wrong


# -- valid models pass ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_light_zoo_models_are_accepted(name):
    check_strict(onnx.load(light_path(name)))


def test_onnx_conformance_models_are_accepted():
    """Every model of onnx's conformance suite: the node cases built in memory and the .onnx files."""
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        protos = {c.name: c.model for c in collect_testcases(None) if c.model is not None}
    data = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
    for sub in ("light", "node", "pytorch-converted", "pytorch-operator", "simple"):
        for path in glob.glob(os.path.join(data, sub, "**", "*.onnx"), recursive=True):
            protos[os.path.relpath(path, data)] = onnx.load(path, load_external_data=False)
    assert len(protos) > 2000
    refused = {}
    for name, proto in protos.items():
        try:
            check_strict(proto)
        except ModelError as exc:
            refused[name] = str(exc)
    assert not refused, refused


def test_an_error_in_onnx_own_function_body_is_not_the_model_s():
    # MeanVarianceNormalization-13 without `axes`: onnx's function body fails its own inference
    # (a Constant of the missing attribute); onnxruntime runs the model, and so do we
    proto = model([helper.make_node("MeanVarianceNormalization", ["x"], ["y"], name="mvn")],
                  [vi("x", shape=(1, 2, 3, 3))], [vi("y", shape=(1, 2, 3, 3))], opsets=(("", 13),))
    with pytest.raises(onnx.shape_inference.InferenceError):
        onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    check_strict(proto)


def test_a_node_list_out_of_order_is_accepted_and_still_checked():
    nodes = [helper.make_node("Relu", ["a"], ["y"], name="r"), helper.make_node("Add", ["x", "x"], ["a"], name="add1")]
    out = Session(model(nodes, [vi("x")], [vi("y")])).run({"x": np.array([-1, 2], np.float32)})
    np.testing.assert_array_equal(out["y"], [0, 4])
    with pytest.raises(ModelError, match=r"node 'r' \(Relu\), output 0 'y'.*INT64 but Relu produces FLOAT"):
        check_strict(model(nodes, [vi("x")], [vi("y", I64)]))  # y declared int64: wrong


# -- weights are not needed -----------------------------------------------------------------------------
def _reshape_model(declared_r):
    nodes = [helper.make_node("Reshape", ["w", "s"], ["r"], name="reshape"),
             helper.make_node("Add", ["r", "x"], ["y"], name="add")]
    inits = [numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "w"),
             numpy_helper.from_array(np.array([3, 4], np.int64), "s")]
    return model(nodes, [vi("x", shape=(3, 4))], [vi("y", shape=(3, 4))], [vi("r", declared_r, (3, 4))], inits)


def test_models_with_external_data_are_checked_without_reading_it(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(_reshape_model(F), path, save_as_external_data=True, location="m.bin", size_threshold=0)
    assert Session(path).run({"x": np.zeros((3, 4), np.float32)})["y"].shape == (3, 4)
    onnx.save(_reshape_model(I64), path, save_as_external_data=True, location="m.bin", size_threshold=0)
    with pytest.raises(ModelError, match=r"node 'reshape' \(Reshape\), output 0 'r'"):  # r declared int64: wrong
        Session(path)
    (tmp_path / "m.bin").unlink()  # the check itself reads no weights
    with pytest.raises(ModelError, match=r"node 'reshape' \(Reshape\)"):
        check_strict(onnx.load(path, load_external_data=False))


def test_a_huge_external_tensor_needs_no_data():
    big = TensorProto(name="w", data_type=F, dims=[1 << 30], data_location=TensorProto.EXTERNAL)  # 4 GiB
    entry = big.external_data.add()
    entry.key, entry.value = "location", "nowhere.bin"
    proto = model([helper.make_node("Relu", ["w"], ["y"], name="r")], [], [vi("y", F, (1 << 30,))], inits=[big])
    check_strict(proto)
    proto.graph.output[0].type.tensor_type.elem_type = F16  # wrong
    with pytest.raises(ModelError, match=r"node 'r' \(Relu\), output 0 'y'.*FLOAT16 but Relu produces FLOAT"):
        check_strict(proto)


def test_weights_are_not_serialized_for_inference(monkeypatch):
    sizes = []
    real = strict._infer
    monkeypatch.setattr(strict, "_infer", lambda data, *a, **k: sizes.append(len(data)) or real(data, *a, **k))
    w = numpy_helper.from_array(np.zeros((1 << 20,), np.float32), "w")  # 4 MiB
    proto = model([helper.make_node("Add", ["x", "w"], ["y"], name="add")], [vi("x", shape=(1 << 20,))],
                  [vi("y", shape=(1 << 20,))], inits=[w])
    check_strict(proto)
    proto.graph.output[0].type.tensor_type.elem_type = I64  # wrong
    with pytest.raises(ModelError, match="'add'"):
        check_strict(proto)
    assert sizes and max(sizes) < 10_000, sizes


# -- hostile models: only ModelError --------------------------------------------------------------------
def _hostile():
    odd_name = add_relu(value_info_elem=I64)
    odd_name.graph.node[0].name = "x): [TypeInferenceError] (op_type:Relu, node name: r): \n"
    bad_elem = add_relu()
    bad_elem.graph.value_info[0].type.tensor_type.elem_type = 999
    no_opset = add_relu(value_info_elem=I64)
    del no_opset.opset_import[:]
    seq_input = model([helper.make_node("Relu", ["x"], ["y"], name="r")], [vi("x")], [vi("y")],
                      inits=[numpy_helper.from_array(np.ones(2, np.float32), "x")])
    seq_input.graph.input[0].type.CopyFrom(helper.make_sequence_type_proto(helper.make_tensor_type_proto(F, [2])))
    return {"node name that mimics onnx's messages": odd_name, "element type 999": bad_elem,
            "no opset import": no_opset, "initializer declared as a sequence input": seq_input}


@pytest.mark.parametrize("case", sorted(_hostile()))
def test_hostile_models_raise_only_model_errors_on_one_line(case):
    try:
        check_strict(_hostile()[case])
    except ModelError as exc:
        assert "\n" not in str(exc)


def test_the_odd_node_name_is_still_named():
    with pytest.raises(ModelError, match=r"node 'x\): \[TypeInferenceError\].*\(Add\), output 0 'a'"):
        check_strict(_hostile()["node name that mimics onnx's messages"])


def test_initializer_against_its_input_declaration():
    proto = model([helper.make_node("Relu", ["w"], ["y"], name="r")], [vi("w", shape=(3,))], [vi("y", shape=None)],
                  inits=[numpy_helper.from_array(np.ones(2, np.float32), "w")])  # w is [2], declared [3]: wrong
    with pytest.raises(ModelError, match=r"initializer 'w' is tensor\(float\)\[2\] but graph input 'w' is declared "
                                         r"tensor\(float\)\[3\]"):
        check_strict(proto)


def test_not_a_model():
    with pytest.raises(ModelError, match="no graph"):
        check_strict(onnx.ModelProto())


# -- the CLI --------------------------------------------------------------------------------------------
def test_graphkit_run_refuses_with_one_line_and_runs_with_no_strict(tmp_path, capsys):
    from graphkit.cli.main import main

    path = tmp_path / "bad.onnx"
    onnx.save(add_relu(value_info_elem=I64), path)  # a declared int64: wrong
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ModelError" in err and "node 'add1' (Add), output 0 'a'" in err
    assert main(["run", str(path), "--no-strict"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "output  y: float32[2]" in captured.out
