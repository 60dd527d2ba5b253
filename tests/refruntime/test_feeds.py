"""Feeds are validated before anything runs: each mistake names the input, expected vs got."""
import numpy as np
import pytest
from onnx import TensorProto, helper

from refruntime import FeedError, RefRuntimeError, Session


@pytest.fixture(scope="module")
def session():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    return Session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


def test_good_feed_with_any_batch(session):
    for batch in (1, 5):
        x = np.random.default_rng(0).standard_normal((batch, 3, 4)).astype(np.float32)
        np.testing.assert_array_equal(session.run({"x": x})["y"], np.maximum(x, 0))


@pytest.mark.parametrize(
    "feeds, message",
    [
        ({}, "missing input(s): x: float32[batchx3x4]"),
        ({"x": np.zeros((1, 3, 4), np.float32), "z": np.zeros(1)}, "unknown input name(s) ['z']"),
        ({"x": np.zeros((1, 3, 4), np.float64)}, "input 'x': expected dtype float32, got float64"),
        ({"x": np.zeros((3, 4), np.float32)}, "input 'x': expected rank 3 (shape (batch, 3, 4)), got rank 2"),
        ({"x": np.zeros((1, 3, 5), np.float32)}, "input 'x': dimension 2 must be 4"),
        ({"x": [[["a"]]]}, "input 'x': expected dtype float32, got <U1"),
    ],
)
def test_bad_feeds_name_the_input(session, feeds, message):
    with pytest.raises(FeedError) as info:
        session.run(feeds)
    assert message in str(info.value)
    assert isinstance(info.value, RefRuntimeError)


def test_feeds_must_be_a_mapping(session):
    with pytest.raises(FeedError, match="feeds must be a dict"):
        session.run([np.zeros((1, 3, 4), np.float32)])


def test_initializer_backed_input_is_optional():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    init = helper.make_tensor("x", TensorProto.FLOAT, [2], [-1.0, 2.0])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y], [init])
    session = Session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    np.testing.assert_array_equal(session.run({})["y"], [0.0, 2.0])
    np.testing.assert_array_equal(session.run({"x": np.array([3.0, -4.0], np.float32)})["y"], [3.0, 0.0])
