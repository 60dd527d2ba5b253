"""refruntime's native If, Loop and Scan against onnxruntime, on models built with onnx.helper.

Every body reads values of an enclosing graph (outer scope), some through two levels of nesting.
Sessions run with fallback disabled, so the native control-flow kernels are what is compared.
"""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, checker, helper

from refruntime import Session
from refruntime.errors import LimitError

OPSET = 17
F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


def vi(name, elem, shape=None):
    return helper.make_tensor_value_info(name, elem, shape)


def model(nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "main", inputs, outputs, initializer=list(initializers))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)
    checker.check_model(m, full_check=True)
    return m


def const(name, value):
    return helper.make_node("Constant", [], [name], value=helper.make_tensor(
        name + "_t", helper.np_dtype_to_tensor_dtype(np.asarray(value).dtype),
        np.shape(value), np.asarray(value).reshape(-1).tolist()))


def compare_with_ort(m, feeds, **session_args):
    ours = Session(m, allow_fallback=False, **session_args)
    assert ours.fallback_nodes() == []
    got = ours.run(feeds)
    ref = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = ref.run(None, feeds)
    assert list(got) == [o.name for o in m.graph.output]
    for (name, value), exp in zip(got.items(), expected):
        assert value.dtype == exp.dtype, f"{name}: dtype {value.dtype} != {exp.dtype}"
        assert value.shape == exp.shape, f"{name}: shape {value.shape} != {exp.shape}"
        np.testing.assert_allclose(value, exp, rtol=1e-6, atol=1e-6, err_msg=name)
    return got


# --- If ----------------------------------------------------------------------------------------

def nested_if_model():
    """then: an inner If (on `inner`) whose branches read x and y from the outermost graph;
    else: x * y read from the outer scope."""
    inner_then = helper.make_graph([helper.make_node("Sub", ["x", "y"], ["it"])], "inner_then", [],
                                   [vi("it", F, [3])])
    inner_else = helper.make_graph([helper.make_node("Add", ["x", "two"], ["ie"])], "inner_else", [],
                                   [vi("ie", F, [3])])
    then_branch = helper.make_graph(
        [helper.make_node("If", ["inner"], ["t_in"], then_branch=inner_then, else_branch=inner_else),
         helper.make_node("Add", ["t_in", "y"], ["t_out"])],
        "then", [], [vi("t_out", F, [3])])
    else_branch = helper.make_graph([helper.make_node("Mul", ["x", "y"], ["e_out"])], "else", [],
                                    [vi("e_out", F, [3])])
    return model(
        [const("two", np.full(3, 2.0, np.float32)),
         helper.make_node("If", ["cond"], ["out"], name="outer_if",
                          then_branch=then_branch, else_branch=else_branch)],
        [vi("cond", B, []), vi("inner", B, []), vi("x", F, [3]), vi("y", F, [3])],
        [vi("out", F, [3])])


@pytest.mark.parametrize("cond", [True, False])
@pytest.mark.parametrize("inner", [True, False])
def test_if_reads_outer_scope_through_nested_branches(cond, inner):
    rng = np.random.default_rng(0)
    feeds = {"cond": np.array(cond), "inner": np.array(inner),
             "x": rng.standard_normal(3).astype(np.float32), "y": rng.standard_normal(3).astype(np.float32)}
    compare_with_ort(nested_if_model(), feeds)


# --- Loop --------------------------------------------------------------------------------------

def counting_loop_model():
    """for i < M (while cond): acc = acc + w * i (w from the outer scope); scan output per
    iteration: an inner If on (i is even) that reads `w` and `bias` from two scopes up."""
    even_then = helper.make_graph([helper.make_node("Add", ["acc_new", "bias"], ["s_then"])], "even", [],
                                  [vi("s_then", F, [2])])
    even_else = helper.make_graph([helper.make_node("Sub", ["acc_new", "w"], ["s_else"])], "odd", [],
                                  [vi("s_else", F, [2])])
    body = helper.make_graph(
        [helper.make_node("Cast", ["i"], ["i_f"], to=F),
         helper.make_node("Mul", ["w", "i_f"], ["wi"]),
         helper.make_node("Add", ["acc", "wi"], ["acc_new"]),
         helper.make_node("Mod", ["i", "two_i"], ["parity"]),
         helper.make_node("Equal", ["parity", "zero_i"], ["is_even"]),
         helper.make_node("If", ["is_even"], ["scan_val"], then_branch=even_then, else_branch=even_else),
         helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body",
        [vi("i", I64, []), vi("cond_in", B, []), vi("acc", F, [2])],
        [vi("cond_out", B, []), vi("acc_new", F, [2]), vi("scan_val", F, [2])])
    return model(
        [const("two_i", np.array(2, np.int64)), const("zero_i", np.array(0, np.int64)),
         helper.make_node("Loop", ["M", "cond", "acc0"], ["acc_final", "scans"], name="counting_loop",
                          body=body)],
        [vi("M", I64, []), vi("cond", B, []), vi("acc0", F, [2]), vi("w", F, [2]), vi("bias", F, [2])],
        [vi("acc_final", F, [2]), vi("scans", F, ["trips", 2])])


def loop_feeds(m):
    return {"M": np.array(m, np.int64), "cond": np.array(True), "acc0": np.array([1.0, -1.0], np.float32),
            "w": np.array([0.5, 2.0], np.float32), "bias": np.array([10.0, 20.0], np.float32)}


@pytest.mark.parametrize("trips", [1, 5])
def test_loop_reads_outer_scope_and_stacks_scan_outputs(trips):
    got = compare_with_ort(counting_loop_model(), loop_feeds(trips))
    assert got["scans"].shape == (trips, 2)


def test_loop_with_zero_trips_returns_initial_values():
    got = Session(counting_loop_model(), allow_fallback=False).run(loop_feeds(0))
    np.testing.assert_array_equal(got["acc_final"], [1.0, -1.0])
    assert got["scans"].shape == (0, 2) and got["scans"].dtype == np.float32


def while_loop_model(with_trip_count: bool):
    """while n < limit: n = n + step (limit and step from the outer scope); no M unless asked."""
    body = helper.make_graph(
        [helper.make_node("Add", ["n", "step"], ["n_new"]),
         helper.make_node("Less", ["n_new", "limit"], ["keep_going"])],
        "body", [vi("i", I64, []), vi("c", B, []), vi("n", I64, [])],
        [vi("keep_going", B, []), vi("n_new", I64, [])])
    return model(
        [helper.make_node("Loop", ["M" if with_trip_count else "", "cond", "n0"], ["n_final"],
                          name="while_loop", body=body)],
        ([vi("M", I64, [])] if with_trip_count else [])
        + [vi("cond", B, []), vi("n0", I64, []), vi("limit", I64, []), vi("step", I64, [])],
        [vi("n_final", I64, [])])


def test_while_loop_stops_on_body_condition():
    feeds = {"cond": np.array(True), "n0": np.array(0, np.int64), "limit": np.array(17, np.int64),
             "step": np.array(3, np.int64)}
    got = compare_with_ort(while_loop_model(False), feeds)
    assert int(got["n_final"]) == 18


def test_loop_trip_count_above_max_loop_iterations_raises_limit_error():
    feeds = dict(loop_feeds(100))
    session = Session(counting_loop_model(), allow_fallback=False, max_loop_iterations=10)
    with pytest.raises(LimitError, match=r"counting_loop.*M=100.*max_loop_iterations=10"):
        session.run(feeds)
    # at the limit it runs
    got = Session(counting_loop_model(), allow_fallback=False, max_loop_iterations=5).run(loop_feeds(5))
    assert got["scans"].shape == (5, 2)


def test_while_loop_past_max_loop_iterations_raises_limit_error():
    feeds = {"cond": np.array(True), "n0": np.array(0, np.int64), "limit": np.array(1000, np.int64),
             "step": np.array(1, np.int64)}
    session = Session(while_loop_model(False), allow_fallback=False, max_loop_iterations=50)
    with pytest.raises(LimitError, match=r"while_loop.*still true after max_loop_iterations=50"):
        session.run(feeds)


# --- Scan --------------------------------------------------------------------------------------

def scan_model():
    """Running sum over axis 1 of x (read backwards), plus an outer-scope bias; the scan output
    goes through a nested Loop that adds the outer `bias` `reps` times (reps from the outer scope)."""
    loop_body = helper.make_graph(
        [helper.make_node("Add", ["v", "bias"], ["v_new"]),
         helper.make_node("Identity", ["c"], ["c_out"])],
        "add_bias", [vi("j", I64, []), vi("c", B, []), vi("v", F, [2])],
        [vi("c_out", B, []), vi("v_new", F, [2])])
    body = helper.make_graph(
        [helper.make_node("Add", ["state", "x_t"], ["state_new"]),
         helper.make_node("Loop", ["reps", "", "state_new"], ["y_t"], body=loop_body)],
        "scan_body", [vi("state", F, [2]), vi("x_t", F, [2])],
        [vi("state_new", F, [2]), vi("y_t", F, [2])])
    return model(
        [helper.make_node("Scan", ["s0", "x"], ["s_final", "ys"], name="scan", body=body,
                          num_scan_inputs=1, scan_input_axes=[1], scan_input_directions=[1],
                          scan_output_axes=[-1], scan_output_directions=[0])],
        [vi("s0", F, [2]), vi("x", F, [2, 4]), vi("bias", F, [2]), vi("reps", I64, [])],
        [vi("s_final", F, [2]), vi("ys", F, [2, 4])])


def test_scan_axes_directions_and_nested_loop_read_outer_scope():
    rng = np.random.default_rng(1)
    feeds = {"s0": np.zeros(2, np.float32), "x": rng.standard_normal((2, 4)).astype(np.float32),
             "bias": np.array([0.25, -1.0], np.float32), "reps": np.array(3, np.int64)}
    got = compare_with_ort(scan_model(), feeds)
    expected_final = feeds["x"].sum(axis=1)
    np.testing.assert_allclose(got["s_final"], expected_final, rtol=1e-6)


def test_scan_reverse_output_direction_matches_onnxruntime():
    body = helper.make_graph(
        [helper.make_node("Mul", ["state", "x_t"], ["state_new"]),
         helper.make_node("Add", ["state_new", "offset"], ["y_t"])],
        "scan_body", [vi("state", F, [3]), vi("x_t", F, [3])],
        [vi("state_new", F, [3]), vi("y_t", F, [3])])
    m = model(
        [helper.make_node("Scan", ["s0", "x"], ["s_final", "ys"], body=body, num_scan_inputs=1,
                          scan_output_directions=[1])],
        [vi("s0", F, [3]), vi("x", F, [5, 3]), vi("offset", F, [3])],
        [vi("s_final", F, [3]), vi("ys", F, [5, 3])])
    rng = np.random.default_rng(2)
    compare_with_ort(m, {"s0": np.ones(3, np.float32), "x": rng.uniform(0.5, 1.5, (5, 3)).astype(np.float32),
                         "offset": np.array([1.0, 2.0, 3.0], np.float32)})
