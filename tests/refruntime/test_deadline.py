"""Options.max_seconds: a run that takes too long stops with a LimitError naming the node it was
running; a node stuck in one C call ends the process after a grace period (the CLI's choice)."""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
from onnx import TensorProto, helper

from refruntime import Session
from refruntime.errors import LimitError


def _counting_loop():
    body = helper.make_graph(
        [helper.make_node("Add", ["v", "one"], ["v2"], name="inc"), helper.make_node("Identity", ["cond"], ["c2"], name="keep")],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("c2", TensorProto.BOOL, []), helper.make_tensor_value_info("v2", TensorProto.FLOAT, [1])],
        [helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])])
    graph = helper.make_graph([helper.make_node("Loop", ["n", "", "v0"], ["y"], body=body, name="loop")], "g",
                              [helper.make_tensor_value_info("n", TensorProto.INT64, []),
                               helper.make_tensor_value_info("v0", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_long_run_stops_naming_the_node_and_the_session_stays_usable():
    session = Session(_counting_loop(), max_seconds=0.3, max_loop_iterations=10**9)
    start = time.perf_counter()
    # the Loop's body node when the watchdog caught it there, else the Loop node itself
    with pytest.raises(LimitError, match=r"max_seconds=0.3 s; it was running node '(inc|keep)' \(\w+\) inside "
                                         r"node 'loop' \(Loop\)|max_seconds=0.3 s; it was running node 'loop' \(Loop\)"):
        session.run({"n": np.array(10**9), "v0": np.zeros(1, np.float32)})
    assert time.perf_counter() - start < 3
    np.testing.assert_array_equal(session.run({"n": np.array(4), "v0": np.zeros(1, np.float32)})["y"], [4.0])


def test_a_fast_run_is_not_disturbed():
    session = Session(_counting_loop(), max_seconds=30)
    for _ in range(20):
        assert session.run({"n": np.array(2), "v0": np.ones(1, np.float32)})["y"][0] == 3.0


def test_a_node_stuck_in_c_code_ends_the_process_with_one_line():
    code = ("import time\nfrom refruntime.deadline import Watchdog\n"
            "with Watchdog(0.2, hard_exit_after=0.5):\n    time.sleep(30)\n")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=20)
    assert done.returncode == 2 and time.perf_counter() - start < 10
    assert len(done.stderr.strip().splitlines()) == 1 and "LimitError" in done.stderr
