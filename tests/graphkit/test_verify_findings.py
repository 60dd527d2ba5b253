"""verify's findings inside the graph: origins by replay, amplifiers, the plain-words explanation,
and that the verdict (about outputs) is the same with and without --per-node.

Truths: a weight we perturbed ourselves (the only node that computes differently), a runtime we
build ourselves whose Conv rounds differently (a stand-in for another BLAS: every node is right
within rounding, so there is no origin), float64 formulas. No assertion depends on how a BLAS
rounds on this CPU.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import graphkit as gk
from graphkit.verification import make_runtime
from graphkit.verification.findings import reason
from graphkit.verification.graph import with_input_shapes
from graphkit.verification.runtimes.ref import RefRuntime
from tests.graphkit.test_verify import _perturb_conv_weight
from tests.zoo import light_path, shipped_case


@pytest.mark.parametrize("name", ["light_squeezenet", "light_densenet121", "light_resnet50", "light_inception_v2",
                                  "light_shufflenet"])
def test_a_perturbed_conv_is_the_only_origin(name):
    """Whatever the model and CPU: downstream nodes, Softmax over huge logits included, only pass the
    difference on; run alone from the same inputs they agree exactly."""
    original = onnx.load(light_path(name))
    last_conv = sum(1 for n in original.graph.node if n.op_type == "Conv") - 1
    perturbed, conv = _perturb_conv_weight(original, last_conv)
    report = gk.verify(perturbed, against_model=original, runtimes=("ref",), per_node=True)
    assert [o.info.label for o in report.origins] == [conv]
    assert report.first_divergence["node"] == conv
    assert all(a.local is not None and all(s.max_abs == 0 for s in a.local.values()) for a in report.amplifiers)
    softmax = [a for a in report.amplifiers if a.info.op == "Softmax"]
    if softmax:  # squeezenet: logits of magnitude ~1e10 turn a small input error into a large one
        assert softmax[0].factor > 100 and "Softmax over inputs of magnitude" in reason(softmax[0])


def _softmax_over_large_logits(scale: float = 1000.0) -> onnx.ModelProto:
    """Softmax(scale * x @ w) with w ~ 1000: logits of magnitude ~1.6e7 that differ by a few units."""
    rng = np.random.default_rng(0)
    w = (1000 + rng.normal(0, 1e-3, (16, 8))).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["logits"], name="matmul"),
             helper.make_node("Mul", ["logits", "scale"], ["big"], name="scale_up"),
             helper.make_node("Softmax", ["big"], ["p"], name="softmax", axis=-1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
                              [helper.make_tensor_value_info("p", TensorProto.FLOAT, [4, 8])],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.float32(scale), "scale")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _with_weight(model: onnx.ModelProto, w: np.ndarray) -> onnx.ModelProto:
    out = onnx.ModelProto.FromString(model.SerializeToString())
    out.graph.initializer[0].CopyFrom(numpy_helper.from_array(w.astype(np.float32), "w"))
    return out


def test_softmax_over_large_logits_is_an_amplifier_not_an_origin():
    """w's columns scaled by 1, 1+1e-6, 1+2e-6: the MatMul's output moves by 2e-6 relative (within
    tolerance), the logits by up to ~32, and the Softmax output by far more than tolerance. No node
    computes differently by more than tolerance: no origin, the Softmax amplifies."""
    original = _softmax_over_large_logits()
    w = numpy_helper.to_array(original.graph.initializer[0])
    nudge = 1e-6 * (np.arange(8) % 3)
    changed = _with_weight(original, w * (1 + nudge).astype(np.float32))
    x = np.random.default_rng(1).uniform(0.5, 1.5, (4, 16)).astype(np.float32)
    report = gk.verify(changed, against_model=original, inputs={"x": x}, runtimes=("ref",), per_node=True)
    assert report.verdict == "mismatch"  # the outputs do differ
    assert report.origins == []
    softmax = next(a for a in report.amplifiers if a.info.op == "Softmax")
    shift = 1000 * (x.astype(np.float64) @ (w.astype(np.float64) * nudge))  # float64: the logits' move
    assert shift.max() > 10 and softmax.factor > 1e4
    assert "No node computes a different value on its own" in report.explanation
    assert "Softmax" in report.explanation
    data = report.to_dict()
    assert data["origins"] == [] and [a["op"] for a in data["amplifiers"]] == ["Softmax"]
    assert data["amplifiers"][0]["factor"] > 1e4


class ConvRoundsDifferently(RefRuntime):
    """refruntime, except that every Conv output is scaled by 1 + 2e-6 * (channel % 3): a runtime
    whose convolutions round differently per channel (as another BLAS or kernel tail does), by far
    less than the tolerance. Running one node alone goes through the same change."""

    def __init__(self, model, name="conv-rounds"):
        super().__init__(name, model)

    def for_model(self, model):
        return ConvRoundsDifferently(model, self.name)

    @staticmethod
    def nudge(step, inputs, outputs):
        if step.node.op_type == "Conv":
            y = outputs[0]
            y *= (1 + 2e-6 * (np.arange(y.shape[1]) % 3)).astype(y.dtype).reshape(1, -1, *([1] * (y.ndim - 2)))

    def _run(self, feeds, names):
        if names is None:
            return self.session.run(feeds, after=self.nudge)
        wanted, got = set(names), {}

        def after(step, inputs, outputs):
            self.nudge(step, inputs, outputs)
            got.update((n, v) for n, v in zip(step.outputs, outputs) if n in wanted)

        self.session.run(feeds, after=after, output_names=[])
        return got

    def stream(self, feeds, names, callback):
        def after(step, inputs, outputs):
            self.nudge(step, inputs, outputs)
            for n, v in zip(step.outputs, outputs):
                if n in names:
                    callback(n, v)

        return self.session.run(self._feeds(feeds), after=after)


def test_squeezenet_batch8_rounding_is_amplified_by_softmax_and_has_no_origin():
    """light SqueezeNet with its shipped constant weights: logits of magnitude ~1e10, so per-channel
    rounding differences of a few ulps become visible differences in the softmax."""
    model, feeds, _ = shipped_case("light_squeezenet")
    name = next(iter(feeds))
    x8 = np.concatenate([feeds[name]] * 8) * np.linspace(0.5, 1.5, 8, dtype=np.float32).reshape(8, 1, 1, 1)
    other = ConvRoundsDifferently(with_input_shapes(model, {name: x8.shape}))
    report = gk.verify(model, runtimes=["ref", other], inputs={name: x8}, shapes={name: x8.shape}, per_node=True)
    assert report.origins == [], [o.info.label for o in report.origins]
    assert report.verdict == "mismatch"
    assert any(a.info.op == "Softmax" and a.factor > 100 for a in report.amplifiers)
    assert "accumulated rounding" in report.explanation and "Softmax" in report.explanation


def test_squeezenet_batch8_ref_vs_ort_has_no_origin():
    """The same with the real onnxruntime: however its kernels round on this CPU, no node is an origin."""
    model, feeds, _ = shipped_case("light_squeezenet")
    name = next(iter(feeds))
    x8 = np.concatenate([feeds[name]] * 8) * np.linspace(0.5, 1.5, 8, dtype=np.float32).reshape(8, 1, 1, 1)
    report = gk.verify(model, runtimes=("ref", "ort"), inputs={name: x8}, shapes={name: x8.shape}, per_node=True)
    assert report.origins == [], report.table()
    if report.verdict == "mismatch":
        assert any(a.info.op == "Softmax" for a in report.amplifiers)


def _layer_norm_model(offset: float) -> onnx.ModelProto:
    """LayerNorm written out as exporters did before opset 17 (ReduceMean, Sub, Pow, ...)."""
    rng = np.random.default_rng(2)
    h = 64
    gamma = rng.uniform(0.5, 1.5, h).astype(np.float32)
    beta = rng.normal(0, 0.1, h).astype(np.float32)
    w = (rng.standard_normal((h, h)) / 8).astype(np.float32)
    n = helper.make_node
    nodes = [n("Add", ["x", "offset"], ["xo"], name="shift"),
             n("ReduceMean", ["xo"], ["mu"], name="mean", axes=[-1]),
             n("Sub", ["xo", "mu"], ["d"], name="center"),
             n("Pow", ["d", "two"], ["d2"], name="square"),
             n("ReduceMean", ["d2"], ["var"], name="variance", axes=[-1]),
             n("Add", ["var", "eps"], ["ve"], name="add_eps"),
             n("Sqrt", ["ve"], ["sd"], name="sqrt"),
             n("Div", ["d", "sd"], ["z"], name="normalize"),
             n("Mul", ["z", "gamma"], ["zg"], name="scale"),
             n("Add", ["zg", "beta"], ["ln"], name="shift_out"),
             n("MatMul", ["ln", "w"], ["y"], name="proj")]
    inits = [numpy_helper.from_array(np.float32(offset), "offset"), numpy_helper.from_array(np.float32(2), "two"),
             numpy_helper.from_array(np.float32(1e-5), "eps"), numpy_helper.from_array(gamma, "gamma"),
             numpy_helper.from_array(beta, "beta"), numpy_helper.from_array(w, "w")]
    graph = helper.make_graph(nodes, "ln", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 16, h])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8, 16, h])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("offset", [0.0, 300.0])
def test_layernorm_verdict_is_the_same_with_and_without_per_node(offset):
    """offset 0: the outputs match ORT, so PASS both ways. offset 300: x - mean(x) cancels ~8 bits,
    so runtimes that compute the LayerNorm differently (ORT fuses it) may disagree at the outputs;
    whatever the verdict, per-node gives the same one, and no node is an origin."""
    model = _layer_norm_model(offset)
    x = np.random.default_rng(3).standard_normal((8, 16, 64)).astype(np.float32)
    plain = gk.verify(model, runtimes=("ref", "ort"), inputs={"x": x})
    deep = gk.verify(model, runtimes=("ref", "ort"), inputs={"x": x}, per_node=True)
    assert plain.verdict == deep.verdict, deep.table()
    assert deep.origins == [], deep.table()
    if offset == 0.0:
        assert deep.verdict == "pass", deep.table()
    xo = x.astype(np.float64) + offset
    d = xo - xo.mean(-1, keepdims=True)
    truth = d / np.sqrt((d * d).mean(-1, keepdims=True) + 1e-5)
    ref = make_runtime("ref", model).run({"x": x})["y"]
    p = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    np.testing.assert_allclose(ref, (truth * p["gamma"] + p["beta"]) @ p["w"], atol=2e-4 if offset else 2e-5)


def test_a_node_whose_local_error_is_within_tolerance_of_float64_on_both_sides_is_not_an_origin():
    """Two sides within tolerance of float64 differ by rounding only: a finding, not an origin."""
    from graphkit.verification.compare import Stats
    from graphkit.verification.graph import NodeInfo
    from graphkit.verification.per_node import NodeComparison
    from graphkit.verification.replay import NodeReplay

    node = helper.make_node("Add", ["a", "b"], ["c"], name="add")
    nc = NodeComparison(0, NodeInfo(0, node), {"x": {"c": Stats(False, 2e-5, 1e-4, 1e-5, max_expected=1.0)}})
    bad, good = Stats(False, 1.5e-5), Stats(True, 8e-6)
    both_near_truth = NodeReplay(nc, "x", {"c": bad}, exact={"ref": {"c": good}, "x": {"c": good}})
    one_wrong = NodeReplay(nc, "x", {"c": bad}, exact={"ref": {"c": good}, "x": {"c": Stats(False, 2e-5)}})
    no_float64 = NodeReplay(nc, "x", {"c": bad})
    assert not both_near_truth.is_origin
    assert one_wrong.is_origin and one_wrong.exact_within == ["ref"]
    assert no_float64.is_origin


def test_verify_cli_reports_origins_amplifiers_and_explanation_in_json(tmp_path, capsys):
    import json

    from graphkit.cli.main import main

    original = _softmax_over_large_logits()
    w = numpy_helper.to_array(original.graph.initializer[0]).copy()
    w[0, 0] += 0.5  # a real change: the MatMul computes differently
    changed = _with_weight(original, w)
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    onnx.save(original, a)
    onnx.save(changed, b)
    assert main(["verify", str(b), "--against-model", str(a), "--per-node", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert [(o["node"], o["op"]) for o in data["origins"]] == [("matmul", "MatMul")]
    assert data["origins"][0]["local_error"] > 0.1 and data["origins"][0]["inherited_error"] > 0.1
    assert {x["node"] for x in data["amplifiers"]} == {"scale_up", "softmax"}
    assert data["explanation"].startswith("1 node(s) compute differently on their own")
