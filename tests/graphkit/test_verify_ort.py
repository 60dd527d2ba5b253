"""onnxruntime in verification: `bisect_ort` names the optimizer that changes the outputs, and
the `ort` runtime compares only the values that survive its optimized graph.

Every model here is built so that the difference is certain by construction, not a rounding
accident of one CPU's kernels: values are small integers or powers of two (exact in float32), and
each model provokes one rewrite whose effect on the numbers follows from its definition.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from graphkit.verification.ort_bisect import minimal_subset, transformers_that_modified
from graphkit.verification.runtimes import make_runtime

F = np.float32


def _model(nodes, inputs, outputs, initializers, opset=13):
    graph = helper.make_graph(nodes, "g", inputs, outputs, [numpy_helper.from_array(v, k) for k, v in initializers.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _float(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def agree(expected: dict, actual: dict) -> bool:
    """The caller's tolerance (allclose; an Inf matches only the same Inf)."""
    return all(np.allclose(v, actual[k], atol=1e-5, rtol=1e-4, equal_nan=True) for k, v in expected.items())


def _ort(model, level: str, feeds):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def double_qdq(x="x", out="y_qdq"):
    """Q/DQ at scale 1 then Q/DQ at scale 0.5. ORT's DoubleQDQPairsRemover keeps one pair with a
    scale for the common range (0.5), so values round to halves instead of integers."""
    nodes = [helper.make_node("QuantizeLinear", [x, "s1", "z"], ["a1"], name="q_coarse"),
             helper.make_node("DequantizeLinear", ["a1", "s1", "z"], ["a2"], name="dq_coarse"),
             helper.make_node("QuantizeLinear", ["a2", "s2", "z"], ["a3"], name="q_fine"),
             helper.make_node("DequantizeLinear", ["a3", "s2", "z"], [out], name="dq_fine")]
    return nodes, {"s1": F(1.0), "s2": F(0.5), "z": np.uint8(128)}


def scaled_matmul(x="x", out="y_mm"):
    """(x * 0.5) @ ones. ORT's MatMulScaleFusion makes it FusedMatMul(x, ones, alpha=0.5), which
    computes x @ ones first: 2**127 + 2**127 overflows to inf where 2**126 + 2**126 did not."""
    nodes = [helper.make_node("Mul", [x, "half"], ["xs"], name="halve"),
             helper.make_node("MatMul", ["xs", "ones"], [out], name="matmul")]
    return nodes, {"half": F(0.5), "ones": np.ones((2, 3), F)}


def test_double_qdq_model_differs_by_construction():
    nodes, inits = double_qdq()
    model = _model(nodes, [_float("x", [4])], [_float("y_qdq", [4])], inits)
    x = np.array([0.4, -1.3, 2.6, 0.2], F)
    assert np.array_equal(_ort(model, "ORT_DISABLE_ALL", {"x": x})[0], np.round(x))
    assert np.array_equal(_ort(model, "ORT_ENABLE_ALL", {"x": x})[0], np.round(2 * x) / 2)


def test_bisect_names_double_qdq_pairs_remover_and_its_nodes():
    from graphkit.verification.ort_bisect import bisect_ort

    nodes, inits = double_qdq()
    model = _model(nodes, [_float("x", [4])], [_float("y_qdq", [4])], inits)
    result = bisect_ort(model, {"x": np.array([0.4, -1.3, 2.6, 0.2], F)}, agree)
    assert result["optimizer"] == "DoubleQDQPairsRemover"
    assert result["optimizers"] == ["DoubleQDQPairsRemover"]
    assert result["level"] == "ORT_ENABLE_BASIC"
    # the inner pair is removed; the outer pair gets the new scale
    assert {"dq_coarse", "q_fine"} <= set(result["nodes"]) <= {"q_coarse", "dq_coarse", "q_fine", "dq_fine"}
    assert result["created"] == []
    assert result["sessions"] >= 5 and "DoubleQDQPairsRemover" in result["note"]


def test_bisect_names_the_rewrite_rule_inside_a_rule_based_transformer(capfd):
    """-x + 0 turns -0 into +0 (IEEE 754); ORT's NoopElimination rule drops the Add, so 1/(-x)
    at x = +0 becomes -inf instead of +inf. The rule is found inside Level1_RuleBasedTransformer."""
    from graphkit.verification.ort_bisect import bisect_ort

    nodes = [helper.make_node("Neg", ["x"], ["nx"], name="neg"),
             helper.make_node("Add", ["nx", "zero"], ["x0"], name="add_zero"),
             helper.make_node("Div", ["one", "x0"], ["y"], name="reciprocal")]
    model = _model(nodes, [_float("x", [3])], [_float("y", [3])], {"zero": F(0.0), "one": F(1.0)})
    x = np.array([0.0, 2.0, -4.0], F)
    assert _ort(model, "ORT_DISABLE_ALL", {"x": x})[0][0] == np.inf
    assert _ort(model, "ORT_ENABLE_ALL", {"x": x})[0][0] == -np.inf
    capfd.readouterr()
    result = bisect_ort(model, {"x": x}, agree)
    assert capfd.readouterr().err == ""  # ORT's captured log never reaches the user
    assert result["optimizer"] == "NoopElimination"
    assert result["level"] == "ORT_ENABLE_BASIC"
    assert result["nodes"] == ["add_zero"] and result["created"] == []


def test_bisect_finds_an_extended_level_fusion_and_the_node_it_creates():
    from graphkit.verification.ort_bisect import bisect_ort

    nodes, inits = scaled_matmul()
    model = _model(nodes, [_float("x", [2, 2])], [_float("y_mm", [2, 3])], inits)
    x = np.array([[2.0 ** 127, 2.0 ** 127], [1.0, 2.0]], F)
    assert np.isfinite(_ort(model, "ORT_DISABLE_ALL", {"x": x})[0]).all()
    result = bisect_ort(model, {"x": x}, agree)
    assert result["optimizer"] == "MatMulScaleFusion"
    assert result["level"] == "ORT_ENABLE_EXTENDED"
    assert set(result["nodes"]) == {"halve", "matmul"}
    assert [(c["op"], c["domain"]) for c in result["created"]] == [("FusedMatMul", "com.microsoft")]


def test_bisect_finds_both_culprits_when_each_alone_changes_an_output():
    from graphkit.verification.ort_bisect import bisect_ort

    qdq_nodes, qdq_inits = double_qdq(x="v", out="y_qdq")
    mm_nodes, mm_inits = scaled_matmul(x="x", out="y_mm")
    model = _model(qdq_nodes + mm_nodes, [_float("v", [4]), _float("x", [2, 2])],
                   [_float("y_qdq", [4]), _float("y_mm", [2, 3])], {**qdq_inits, **mm_inits})
    feeds = {"v": np.array([0.4, -1.3, 2.6, 0.2], F), "x": np.array([[2.0 ** 127, 2.0 ** 127], [1.0, 2.0]], F)}
    result = bisect_ort(model, feeds, agree)
    assert result["optimizers"] == ["DoubleQDQPairsRemover", "MatMulScaleFusion"]
    assert result["level"] == "ORT_ENABLE_BASIC"
    assert {"dq_coarse", "q_fine", "halve", "matmul"} <= set(result["nodes"])


def test_bisect_without_ort_log_tries_every_known_transformer(monkeypatch):
    from graphkit.verification import ort_bisect

    monkeypatch.setattr(ort_bisect, "transformers_that_modified", lambda log: ([], False))
    nodes, inits = double_qdq()
    model = _model(nodes, [_float("x", [4])], [_float("y_qdq", [4])], inits)
    result = ort_bisect.bisect_ort(model, {"x": np.array([0.4, -1.3, 2.6, 0.2], F)}, agree)
    assert result["optimizers"] == ["DoubleQDQPairsRemover"]
    assert "log could not be read" in result["note"]


def conv_relu_flatten():
    """Conv -> Relu -> Flatten -> Softmax with small integer weights (every sum exact in float32).
    ORT fuses Conv+Relu (and at ORT_ENABLE_ALL may lay the conv out as NCHWc)."""
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Flatten", ["r"], ["f"], name="flatten"),
             helper.make_node("Softmax", ["f"], ["y"], name="softmax", axis=1)]
    weights = rng.integers(-2, 3, (4, 3, 3, 3)).astype(F)
    model = _model(nodes, [_float("x", [1, 3, 5, 5])], [_float("y", [1, 100])], {"W": weights}, opset=17)
    return model, {"x": rng.integers(-3, 4, (1, 3, 5, 5)).astype(F)}


def test_bisect_reports_no_optimizer_when_optimizations_change_nothing():
    from graphkit.verification.ort_bisect import bisect_ort

    model, feeds = conv_relu_flatten()
    result = bisect_ort(model, feeds, agree)
    assert result == {"optimizer": None, "optimizers": [], "level": None, "nodes": [], "created": [],
                      "sessions": 2, "note": "ORT's optimizations do not change the outputs"}


def test_surviving_values_leave_out_what_ort_fused_away():
    model, feeds = conv_relu_flatten()
    optimized, plain = make_runtime("ort", model), make_runtime("ort-noopt", model)
    surviving = optimized.surviving_values()
    assert "c" not in surviving and {"f", "y"} <= surviving
    assert plain.surviving_values() is None
    got = optimized.intermediates(feeds, ["c", "f"])
    expected = plain.intermediates(feeds, ["c", "f"])
    assert sorted(got) == ["f"] and sorted(expected) == ["c", "f"]
    assert np.array_equal(got["f"], expected["f"])
    assert optimized.intermediates(feeds, ["c"]) == {}


def test_ort_compared_with_itself_can_still_report_every_value():
    model, feeds = conv_relu_flatten()
    runtime = make_runtime("ort", model)
    runtime.compare_every_value()
    assert runtime.surviving_values() is None
    assert sorted(runtime.intermediates(feeds, ["c", "f"])) == ["c", "f"]


def test_minimal_subset_finds_two_needed_items_among_many():
    def restores(subset):
        return {"c", "f"} <= set(subset)

    assert minimal_subset(list("abcdefgh"), restores) == ["c", "f"]
    assert minimal_subset(["only"], restores) == ["only"]


def test_modified_transformers_are_read_from_ort_log_lines():
    log = ("[I:onnxruntime:, graph_transformer.cc:15 Apply] GraphTransformer ConstantFolding modified: 0 with status: OK\n"
           "[I:onnxruntime:, graph_transformer.cc:15 Apply] GraphTransformer ConvActivationFusion modified: 1 with status: OK\n"
           "[I:onnxruntime:, graph_transformer.cc:15 Apply] GraphTransformer ConvActivationFusion modified: 1 with status: OK\n")
    assert transformers_that_modified(log) == (["ConvActivationFusion"], True)
    assert transformers_that_modified("") == ([], False)


def test_the_models_built_here_are_valid_onnx():
    qdq_nodes, qdq_inits = double_qdq()
    mm_nodes, mm_inits = scaled_matmul()
    for model in (_model(qdq_nodes, [_float("x", [4])], [_float("y_qdq", [4])], qdq_inits),
                  _model(mm_nodes, [_float("x", [2, 2])], [_float("y_mm", [2, 3])], mm_inits),
                  conv_relu_flatten()[0]):
        onnx.checker.check_model(model, full_check=True)


def test_verify_cli_bisect_ort_names_the_optimizer_in_json(tmp_path, capsys):
    import json

    from graphkit.cli.main import main

    nodes, inits = scaled_matmul()
    model = _model(nodes, [_float("x", [1, 2])], [_float("y_mm", [1, 3])], inits)
    path = tmp_path / "scaled.onnx"
    onnx.save(model, path)
    np.savez(tmp_path / "x.npz", x=np.full((1, 2), 2.0 ** 127, F))
    code = main(["verify", str(path), "--runtimes", "ort-noopt,ort", "--bisect-ort", "--json",
                 "--inputs", str(tmp_path / "x.npz")])
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and data["verdict"] == "mismatch"
    assert data["ort_bisect"]["optimizer"] == "MatMulScaleFusion"
    assert set(data["ort_bisect"]["nodes"]) == {"halve", "matmul"}
