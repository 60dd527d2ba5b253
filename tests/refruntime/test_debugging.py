"""The debugging features: intermediates, hooks, NaN origin, profile, float64 oracle, memory."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from refruntime import ModelError, NonFiniteError, Session, StopRun, UnsupportedOpError


def chain_model(opset=17):
    """y = sqrt(relu(x) - 1) * w: a chain whose Sqrt makes NaN for inputs below 1."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    one = numpy_helper.from_array(np.array(1.0, np.float32), "one")
    w = numpy_helper.from_array(np.full((2, 3), 3.0, np.float32), "w")
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Sub", ["r", "one"], ["s"], name="sub"),
        helper.make_node("Sqrt", ["s"], ["q"], name="sqrt"),
        helper.make_node("Mul", ["q", "w"], ["y"], name="mul"),
    ]
    graph = helper.make_graph(nodes, "chain", [x], [y], [one, w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def expected(x):
    with np.errstate(invalid="ignore"):
        return np.sqrt(np.maximum(x, 0) - 1) * 3


X_OK = np.array([[2, 5, 10], [1, 1.5, 3]], np.float32)
X_NAN = np.array([[2, 5, 10], [1, 0.5, 3]], np.float32)


def test_capture_all_and_by_name():
    session = Session(chain_model())
    out = session.run({"x": X_OK}, capture="all")
    assert next(iter(out)) == "y"  # graph outputs first
    np.testing.assert_allclose(out["r"], np.maximum(X_OK, 0))
    np.testing.assert_allclose(out["s"], np.maximum(X_OK, 0) - 1)
    np.testing.assert_allclose(out["y"], expected(X_OK), rtol=1e-6)
    only = session.run({"x": X_OK}, capture=["s"])
    assert set(only) == {"y", "s"}


def test_intermediates_are_freed_after_last_use():
    session = Session(chain_model())
    frees = {step.label: set(step.frees) for step in session.plan.steps}
    assert frees["sub"] == {"r", "one"} and frees["sqrt"] == {"s"} and "y" not in frees["mul"]


def test_hooks_see_every_node_and_can_stop():
    session = Session(chain_model())
    seen = []
    session.run({"x": X_OK}, before=lambda step, ins: seen.append(("before", step.label)),
                after=lambda step, ins, outs: seen.append(("after", step.label, outs[0].shape)))
    assert [s[1] for s in seen if s[0] == "before"] == ["relu", "sub", "sqrt", "mul"]
    assert all(s[2] == (2, 3) for s in seen if s[0] == "after")

    out = session.run({"x": X_OK}, capture="all", after=lambda step, ins, outs: step.label == "sub")
    assert session.stopped_at == "sub"
    assert set(out) == {"r", "s"}  # nothing after the stop ran

    def raise_stop(step, ins):
        if step.label == "sqrt":
            raise StopRun("sqrt")

    session.run({"x": X_OK}, before=raise_stop)
    assert session.stopped_at == "sqrt"


def test_check_finite_names_the_origin_not_the_followers():
    session = Session(chain_model())
    with pytest.raises(NonFiniteError) as info:
        session.run({"x": X_NAN}, check_finite=True)
    message = str(info.value)
    assert info.value.node_name == "sqrt" and info.value.op_type == "Sqrt"
    assert "1 non-finite values (1 NaN, 0 Inf)" in message and "'q'" in message
    assert "min=-0.5 max=9" in message  # input statistics of the offending node
    # without the switch the NaN flows to the output silently, as in every runtime
    assert np.isnan(session.run({"x": X_NAN})["y"]).sum() == 1


def test_profile_per_node_and_per_op():
    session = Session(chain_model())
    session.run({"x": X_OK}, profile=True)
    profile = session.last_profile
    assert [r.node for r in profile.records] == ["relu", "sub", "sqrt", "mul"]
    assert all(r.output_bytes == 2 * 3 * 4 for r in profile.records)
    assert {s.op_type for s in profile.by_op()} == {"Relu", "Sub", "Sqrt", "Mul"}
    assert "total" in profile.table()


def test_float64_oracle_computes_in_float64():
    x = (np.arange(6, dtype=np.float32).reshape(2, 3) + 1.0) * np.float32(1.1)
    session = Session(chain_model(), precision="float64")
    out = session.run({"x": x}, capture="all")
    assert all(v.dtype == np.float64 for v in out.values())
    truth = np.sqrt(np.maximum(x.astype(np.float64), 0) - 1) * 3
    np.testing.assert_allclose(out["y"], truth, rtol=1e-15)
    cast = Session(chain_model(), precision="float64", cast_outputs=True).run({"x": x})["y"]
    assert cast.dtype == np.float32


def test_unknown_domain_names_node_op_domain_and_opset():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    node = helper.make_node("Frobnicate", ["x"], ["y"], name="mystery", domain="com.example")
    graph = helper.make_graph([node], "g", [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 3)])
    with pytest.raises(UnsupportedOpError) as info:
        Session(model)
    assert all(s in str(info.value) for s in ("'mystery'", "Frobnicate", "com.example", "opset 3"))


def test_cycle_and_dangling_inputs_are_named():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    cyclic = helper.make_graph([helper.make_node("Add", ["x", "b"], ["a"], name="n1"),
                                helper.make_node("Relu", ["a"], ["b"], name="n2"),
                                helper.make_node("Relu", ["a"], ["y"], name="n3")], "g", [x], [y])
    with pytest.raises(ModelError, match="cycle through nodes 'n1' .*'n2'"):
        Session(helper.make_model(cyclic, opset_imports=[helper.make_opsetid("", 17)]))
    dangling = helper.make_graph([helper.make_node("Add", ["x", "ghost"], ["y"], name="n1")], "g", [x], [y])
    with pytest.raises(ModelError, match="'n1' .*reads 'ghost'"):
        Session(helper.make_model(dangling, opset_imports=[helper.make_opsetid("", 17)]))


def test_unsorted_nodes_are_ordered():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    graph = helper.make_graph([helper.make_node("Neg", ["a"], ["y"], name="second"),
                               helper.make_node("Relu", ["x"], ["a"], name="first")], "g", [x], [y])
    session = Session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert [s.label for s in session.plan.steps] == ["first", "second"]
    np.testing.assert_array_equal(session.run({"x": np.array([-1, 2], np.float32)})["y"], [0, -2])
