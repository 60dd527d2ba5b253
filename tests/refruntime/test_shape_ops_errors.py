"""Shape ops report user mistakes as refruntime errors that name the node, the op and the shapes."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from refruntime import Session
from refruntime.errors import KernelError, LimitError


def one_node(op_type, feeds, name, n_outputs=1, opset=21, declare_shapes=True, **attrs):
    """declare_shapes=False: inputs without shapes, so feeds whose shapes conflict make a valid model
    that fails at run time (declared, the conflict fails the strict check at Session creation)."""
    node = helper.make_node(op_type, list(feeds), [f"y{i}" for i in range(n_outputs)], name=name, **attrs)
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape if declare_shapes else None)
         for k, v in feeds.items()],
        [helper.make_tensor_value_info(f"y{i}", TensorProto.UNDEFINED, None) for i in range(n_outputs)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def run(model, feeds, **session_args):
    return Session(model, allow_fallback=False, **session_args).run(feeds)


def test_reshape_that_cannot_hold_the_data_names_node_and_shapes():
    feeds = {"data": np.zeros((2, 3, 4), np.float32), "shape": np.array([5, 5], np.int64)}
    with pytest.raises(KernelError, match=r"'to_square' \(Reshape\).*24 elements.*\(2, 3, 4\).*\(5, 5\)") as info:
        run(one_node("Reshape", feeds, "to_square"), feeds)
    assert info.value.node_name == "to_square" and info.value.op_type == "Reshape"


def test_reshape_with_inferred_dim_that_does_not_divide():
    feeds = {"data": np.zeros((2, 3, 4), np.float32), "shape": np.array([5, -1], np.int64)}
    with pytest.raises(KernelError, match=r"'bad_infer' \(Reshape\).*24 elements.*\(5, -1\)"):
        run(one_node("Reshape", feeds, "bad_infer"), feeds)


def test_concat_with_mismatched_dims_names_node_and_shapes():
    feeds = {"a": np.zeros((2, 3), np.float32), "b": np.zeros((4, 5), np.float32)}
    with pytest.raises(KernelError, match=r"'join' \(Concat\).*input 1 \('b'\).*\(4, 5\).*\(2, 3\)") as info:
        run(one_node("Concat", feeds, "join", axis=1, declare_shapes=False), feeds)
    assert info.value.node_name == "join"


def test_concat_with_mismatched_ranks():
    feeds = {"a": np.zeros((2, 3), np.float32), "b": np.zeros((2, 3, 1), np.float32)}
    with pytest.raises(KernelError, match=r"'join3' \(Concat\).*\(2, 3, 1\)"):
        run(one_node("Concat", feeds, "join3", axis=0, declare_shapes=False), feeds)


def test_constant_of_shape_above_max_tensor_bytes_raises_limit_error():
    feeds = {"shape": np.array([1 << 20, 1 << 20], np.int64)}
    with pytest.raises(LimitError, match=r"'huge' \(ConstantOfShape\).*\(1048576, 1048576\).*max_tensor_bytes"):
        run(one_node("ConstantOfShape", feeds, "huge"), feeds)


def test_constant_of_shape_limit_is_the_session_option():
    feeds = {"shape": np.array([16, 16], np.int64)}  # 1 KiB of float32
    with pytest.raises(LimitError, match=r"1024 bytes, above max_tensor_bytes=1000"):
        run(one_node("ConstantOfShape", feeds, "small"), feeds, max_tensor_bytes=1000)
    assert run(one_node("ConstantOfShape", feeds, "small"), feeds, max_tensor_bytes=1024)["y0"].shape == (16, 16)


@pytest.mark.parametrize("op_type, feeds", [
    ("Expand", {"x": np.zeros((1, 3), np.float32), "shape": np.array([1 << 30, 3], np.int64)}),
    ("Tile", {"x": np.zeros((2, 3), np.float32), "repeats": np.array([1 << 30, 1], np.int64)}),
    ("Range", {"start": np.array(0, np.int64), "limit": np.array(1 << 40, np.int64),
               "delta": np.array(1, np.int64)}),
    ("Pad", {"x": np.zeros((2, 3), np.float32), "pads": np.array([0, 0, 1 << 30, 0], np.int64)}),
])
def test_ops_that_allocate_from_small_inputs_respect_max_tensor_bytes(op_type, feeds):
    with pytest.raises(LimitError, match=rf"'grow' \({op_type}\)"):
        run(one_node(op_type, feeds, "grow"), feeds, max_tensor_bytes=1 << 20)


def test_split_sizes_that_do_not_add_up():
    feeds = {"x": np.zeros((6, 2), np.float32), "split": np.array([2, 3], np.int64)}
    with pytest.raises(KernelError, match=r"'halves' \(Split\).*\[2, 3\].*dimension 6"):
        run(one_node("Split", feeds, "halves", n_outputs=2), feeds)


def test_gather_index_out_of_range():
    feeds = {"x": np.zeros((4, 2), np.float32), "idx": np.array([0, 7], np.int64)}
    with pytest.raises(KernelError, match=r"'pick' \(Gather\).*out of range.*\(4, 2\)"):
        run(one_node("Gather", feeds, "pick"), feeds)


def test_squeeze_of_a_non_unit_axis():
    feeds = {"x": np.zeros((1, 3), np.float32), "axes": np.array([1], np.int64)}
    with pytest.raises(KernelError, match=r"'sq' \(Squeeze\).*axis 1 of shape \(1, 3\)"):
        run(one_node("Squeeze", feeds, "sq"), feeds)
