"""The two oracles (exact, spec), their independence, dtype-aware tolerances, and refruntime's
self-check of its fused path.

Truths: numpy's float16 arithmetic (each op rounds to float16: what ONNX defines), float64
formulas, hand-built models, and a fault we inject ourselves into a fused kernel.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphkit as gk
from graphkit.verification import make_runtime
from graphkit.verification.runtimes.base import Runtime

STEPS = 24


def _fp16_chain(dtype=TensorProto.FLOAT16) -> onnx.ModelProto:
    """y = tanh(...((x * a0 + b0) * a1 + b1)...): 2 * STEPS + 1 ops, each rounding in float16."""
    rng = np.random.default_rng(0)
    np_dtype = helper.tensor_dtype_to_np_dtype(dtype)
    nodes, inits, cur = [], [], "x"
    for i in range(STEPS):
        a, b = f"a{i}", f"b{i}"
        inits += [numpy_helper.from_array(np.array(rng.uniform(0.9, 1.1), np_dtype), a),
                  numpy_helper.from_array(np.array(rng.uniform(-0.05, 0.05), np_dtype), b)]
        nodes += [helper.make_node("Mul", [cur, a], [f"m{i}"], name=f"mul{i}"),
                  helper.make_node("Add", [f"m{i}", b], [f"s{i}"], name=f"add{i}")]
        cur = f"s{i}"
    nodes.append(helper.make_node("Tanh", [cur], ["y"], name="tanh"))
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", dtype, [256])],
                              [helper.make_tensor_value_info("y", dtype, [256])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _chain_in_numpy(model: onnx.ModelProto, x: np.ndarray, dtype) -> np.ndarray:
    """The chain computed op by op in `dtype` (numpy rounds every float16 op to float16)."""
    p = {t.name: numpy_helper.to_array(t).astype(dtype) for t in model.graph.initializer}
    y = x.astype(dtype)
    for i in range(STEPS):
        y = (y * p[f"a{i}"]).astype(dtype)
        y = (y + p[f"b{i}"]).astype(dtype)
    return np.tanh(y).astype(dtype)


class Float32Inside(Runtime):
    """A runtime that keeps float32 between float16 ops (what onnxruntime's CPU provider does by
    inserting casts): the float32 twin of the model on refruntime, outputs rounded to float16."""

    def __init__(self, model: onnx.ModelProto, name: str = "fp32-inside"):
        super().__init__(name, model)
        self.inner = make_runtime("ref", _as_float32(model))

    def for_model(self, model):
        return Float32Inside(model, self.name)

    def _run(self, feeds, names):
        wide = {k: v.astype(np.float32) if v.dtype == np.float16 else v for k, v in feeds.items()}
        out = self.inner.run(wide, names)
        return {k: v.astype(np.float16) if isinstance(v, np.ndarray) and v.dtype == np.float32 else v
                for k, v in out.items()}


def _as_float32(model: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto.FromString(model.SerializeToString())
    g = out.graph
    for t in g.initializer:
        if t.data_type == TensorProto.FLOAT16:
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float32), t.name))
    for vi in [*g.input, *g.output, *g.value_info]:
        if vi.type.tensor_type.elem_type == TensorProto.FLOAT16:
            vi.type.tensor_type.elem_type = TensorProto.FLOAT
    return out


def test_spec_oracle_sides_with_per_op_rounding_exact_with_float32_inside():
    model = _fp16_chain()
    x = np.random.default_rng(1).uniform(-1, 1, 256).astype(np.float16)
    per_op = _chain_in_numpy(model, x, np.float16)
    exact = _chain_in_numpy(model, x, np.float64)
    # the oracles compute what they are named for
    spec_out = make_runtime("ref-spec", model).run({"x": x})["y"]
    assert spec_out.dtype == np.float16 and np.array_equal(spec_out, per_op)
    exact_out = make_runtime("ref64", model).run({"x": x})["y"]
    np.testing.assert_allclose(exact_out, exact, rtol=1e-6, atol=1e-6)
    # refruntime rounds per op, as ONNX defines
    assert np.array_equal(make_runtime("ref", model).run({"x": x})["y"], per_op)

    report = gk.verify(model, runtimes=["ref", Float32Inside(model)], inputs={"x": x}, oracle=True)
    spec, exact_judgement = report.oracle["spec"], report.oracle["exact"]
    assert spec["sides_with"] == ["ref"], report.table()
    assert exact_judgement["sides_with"] == ["fp32-inside"], report.table()
    text = report.table()
    assert "ref follow(s) ONNX's per-op rounding (spec); fp32-inside is/are closer to exact maths" in text
    assert report.verdict == "pass"  # both within float16's tolerance at the output


def test_fp16_verdict_is_the_same_with_and_without_per_node_against_ort():
    model = _fp16_chain()
    x = np.random.default_rng(1).uniform(-1, 1, 256).astype(np.float16)
    plain = gk.verify(model, runtimes=("ref", "ort"), inputs={"x": x})
    deep = gk.verify(model, runtimes=("ref", "ort"), inputs={"x": x}, per_node=True)
    assert plain.verdict == deep.verdict == "pass", deep.table()
    ort_y = make_runtime("ort", model).run({"x": x})["y"].astype(np.float64)
    exact = _chain_in_numpy(model, x, np.float64)
    assert np.abs(ort_y - exact).max() < 1e-2  # float16's default tolerance is about right for ORT too


def test_float16_values_get_float16_tolerances_by_default():
    from graphkit.verification.tolerance import Tolerances

    t = Tolerances()
    a = np.float16([1.0, 2.0])
    b = np.float16([1.0, 2.0 + 2 * 0.001953125])  # two float16 ulps at 2.0
    assert not gk.verification.compare(a.astype(np.float32), b.astype(np.float32), t.for_value("y", a.astype(np.float32))).within
    assert t.compare("y", a, b).within
    assert t.for_value("q", np.int8([1])).exact
    q = Tolerances().with_model(_quantize_model().graph)
    assert q.compare("q", np.int8([3, -4]), np.int8([4, -4])).within        # one step
    assert not q.compare("q", np.int8([3, -4]), np.int8([5, -4])).within    # two steps
    assert not q.compare("i", np.int64([3]), np.int64([4])).within          # plain integers: exact
    user = Tolerances(atol=0.5, rtol=0.0, per_value={"y": (0.0, 0.0)})
    assert user.compare("z", a, b).within and not user.compare("y", a, b).within


def _quantize_model() -> onnx.ModelProto:
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"]),
             helper.make_node("Cast", ["q"], ["i"], to=TensorProto.INT64)]
    graph = helper.make_graph(nodes, "q", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("i", TensorProto.INT64, [2])],
                              [numpy_helper.from_array(np.float32(0.1), "s"), numpy_helper.from_array(np.int8(0), "zp")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_relative_error_counts_only_meaningful_values_and_error_statistics():
    from graphkit.verification.compare import Tolerance, compare

    e = np.array([1e-7, 1.0, 2.0, 3.0], np.float32)
    a = np.array([2e-7, 1.0, 2.0, 3.0], np.float32)
    s = compare(e, a, Tolerance(1e-5, 1e-4))
    assert s.within and s.max_rel == 0.0  # 1e-7 vs 2e-7 is not a 50 % error against atol 1e-5
    many = np.ones(100, np.float32)
    off = many.copy()
    off[:3] += 1.0  # 3 % of the elements far off
    assert not compare(many, off, Tolerance(1e-5, 1e-4, "max")).within
    assert compare(many, off, Tolerance(1e-5, 1e-4, "median")).within
    assert compare(many, off, Tolerance(1e-5, 1e-4, "0.95")).within
    assert not compare(many, off, Tolerance(1e-5, 1e-4, "0.99")).within
    mean = compare(many, off, Tolerance(1e-2, 0.0, "mean"))  # normalized errors 100,100,100,0...: mean 3
    assert not mean.within and mean.error_stat == pytest.approx(3.0)
    with pytest.raises(ValueError):
        Tolerance(stat="p99")


def test_oracle_is_not_independent_where_refruntime_runs_onnx_reference():
    """A node refruntime has no native kernel for runs the same onnx.reference code in the oracle:
    it is named, and the outputs depending on it get no verdict."""
    from refruntime import Session

    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Det", ["m"], ["d"], name="det"),
             helper.make_node("Relu", ["m"], ["r"], name="relu")]
    graph = helper.make_graph(nodes, "det", [helper.make_tensor_value_info("m", TensorProto.FLOAT, [3, 4, 4])],
                              [helper.make_tensor_value_info("d", TensorProto.FLOAT, [3]),
                               helper.make_tensor_value_info("r", TensorProto.FLOAT, [3, 4, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if "det" not in Session(model).fallback_nodes():
        pytest.skip("Det has a native kernel now: pick another op without one")
    m = rng.standard_normal((3, 4, 4)).astype(np.float32)
    report = gk.verify(model, runtimes=("ref", "ort"), inputs={"m": m}, oracle=True)
    assert report.oracle["not_independent"] == ["det"]
    assert report.oracle["withheld"] == ["d"]
    assert report.oracle["exact"]["sides_with"] == ["ref", "ort"]  # judged on r only
    assert "no verdict on outputs d" in report.table()


def test_self_check_names_a_fused_step_that_differs_from_its_nodes(monkeypatch):
    """Inject a fault into the fused Conv epilogue: verify --per-node reports it as refruntime's."""
    from refruntime import fused_ops
    from tests.graphkit.test_verify import conv_bn_relu

    model = conv_bn_relu(14)
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    clean = gk.verify(model, runtimes=("ref", "ort"), inputs={"x": x}, per_node=True)
    assert clean.self_check == []
    original = fused_ops.FusedConv.run

    def faulty(self, *inputs):
        (y,) = original(self, *inputs)
        return (y + np.float32(1e-3),)

    monkeypatch.setattr(fused_ops.FusedConv, "run", faulty)
    report = gk.verify(model, runtimes=("ref", "ort"), inputs={"x": x}, per_node=True)
    assert len(report.self_check) == 1
    defect = report.self_check[0]
    assert defect["fused_step"] == "Conv conv -> BatchNormalization bn -> Relu relu" and defect["output"] == "y"
    assert defect["max_abs"] == pytest.approx(1e-3, rel=1e-2)
    assert "REFRUNTIME DEFECT" in report.table()
