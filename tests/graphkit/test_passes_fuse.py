"""fuse: exact structure after each rule, numerics against onnxruntime on the original."""
from __future__ import annotations

import numpy as np
from onnx import helper

import graphkit as gk
from tests.graphkit.passes_fixtures import check, if_model, init, model, ops, ort_run, rand, vi

node = helper.make_node


def _conv_bn(bias=True, extra_use=False, opset=17):
    rng = np.random.default_rng(1)
    inits = [init("W", rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
             init("scale", rng.uniform(0.5, 1.5, 4).astype(np.float32)),
             init("bbn", rng.standard_normal(4).astype(np.float32)),
             init("mean", rng.standard_normal(4).astype(np.float32)),
             init("var", rng.uniform(0.5, 2, 4).astype(np.float32))]
    conv_in = ["x", "W"]
    if bias:
        inits.append(init("B", rng.standard_normal(4).astype(np.float32)))
        conv_in.append("B")
    nodes = [node("Conv", conv_in, ["c"], name="conv", pads=[1, 1, 1, 1]),
             node("BatchNormalization", ["c", "scale", "bbn", "mean", "var"], ["y"], name="bn", epsilon=1e-3)]
    outputs = [vi("y", [1, 4, 5, 5])]
    if extra_use:
        nodes.append(node("Relu", ["c"], ["z"]))
        outputs.append(vi("z", [1, 4, 5, 5]))
    return model(nodes, [vi("x", [1, 3, 5, 5])], outputs, inits, opset=opset)


def test_conv_bn_becomes_one_conv_with_same_outputs():
    for bias in (True, False):
        m = _conv_bn(bias)
        x = rand(1, 3, 5, 5)
        before = ort_run(m, {"x": x})[0]
        report = gk.fuse(m)
        assert ops(m) == ["Conv"] and report.counts["conv_bn"] == 1
        conv = m.graph.nodes[0]
        assert conv.name == "conv" and conv.outputs[0].name == "y"
        assert conv.attributes["pads"] == [1, 1, 1, 1]
        assert len(conv.inputs) == 3 and conv.inputs[2].const_value.dtype == np.float32
        gk.prune(m)
        assert sorted(m.graph.initializers) == sorted(v.name for v in conv.inputs[1:])
        check(m)
        np.testing.assert_allclose(ort_run(m, {"x": x})[0], before, rtol=1e-5, atol=1e-5)


def test_conv_bn_not_fused_when_conv_output_escapes():
    m = _conv_bn(extra_use=True)
    assert not gk.fuse(m).modified
    assert ops(m) == ["Conv", "BatchNormalization", "Relu"]


def test_conv_add_per_channel_bias_is_fused_other_shapes_are_not():
    w = init("W", rand(4, 3, 1, 1))
    for shape, fused in (((1, 4, 1, 1), True), ((4, 1, 1), True), ((1,), True), ((1, 1, 1, 5), False),
                         ((4,), False)):
        c = init("C", rand(*shape, seed=2))
        m = model([node("Conv", ["x", "W"], ["c"]), node("Add", ["C", "c"], ["y"])],
                  [vi("x", [1, 3, 5, 5])], [vi("y", None)], [w, c])
        x = rand(1, 3, 5, 5)
        before = ort_run(m, {"x": x})[0] if fused else None
        gk.fuse(m)
        assert ops(m) == (["Conv"] if fused else ["Conv", "Add"]), shape
        if fused:
            np.testing.assert_allclose(ort_run(m, {"x": x})[0], before, rtol=1e-5, atol=1e-5)


def test_matmul_add_becomes_gemm_when_shapes_allow():
    b, c = init("B", rand(8, 5)), init("C", rand(5, seed=3))
    m = model([node("MatMul", ["a", "B"], ["mm"]), node("Add", ["mm", "C"], ["y"], name="add")],
              [vi("a", [4, 8])], [vi("y", [4, 5])], [b, c])
    a = rand(4, 8)
    before = ort_run(m, {"a": a})[0]
    report = gk.fuse(m)
    assert ops(m) == ["Gemm"] and report.counts["matmul_add"] == 1
    assert [v.name for v in m.graph.nodes[0].inputs] == ["a", "B", "C"]
    check(m)
    np.testing.assert_allclose(ort_run(m, {"a": a})[0], before, rtol=1e-5, atol=1e-5)

    batched = model([node("MatMul", ["a", "B"], ["mm"]), node("Add", ["mm", "C"], ["y"])],
                    [vi("a", [2, 4, 8])], [vi("y", [2, 4, 5])], [b, c])
    gk.fuse(batched)
    assert ops(batched) == ["MatMul", "Add"]  # 3-D A: no Gemm

    dynamic_b = model([node("MatMul", ["a", "b"], ["mm"]), node("Add", ["mm", "C"], ["y"])],
                      [vi("a", [4, 8]), vi("b", [8, 5])], [vi("y", [4, 5])], [c])
    gk.fuse(dynamic_b)
    assert ops(dynamic_b) == ["MatMul", "Add"]

    wide_c = model([node("MatMul", ["a", "B"], ["mm"]), node("Add", ["mm", "C"], ["y"])],
                   [vi("a", ["M", 8])], [vi("y", ["M", 5])], [b, init("C", rand(3, 5))])
    gk.fuse(wide_c)
    assert ops(wide_c) == ["MatMul", "Add"]  # C rows must match an unknown M: not provable


def test_bn_mul_add_fold_into_batchnorm():
    rng = np.random.default_rng(0)
    inits = [init(n, rng.uniform(0.5, 1.5, 3).astype(np.float32)) for n in ("s", "b", "mean", "var")]
    inits += [init("k", rng.standard_normal((3, 1, 1)).astype(np.float32)),
              init("d", rng.standard_normal((1, 3, 1, 1)).astype(np.float32))]
    m = model([node("Relu", ["x"], ["r"]), node("BatchNormalization", ["r", "s", "b", "mean", "var"], ["n"]),
               node("Mul", ["n", "k"], ["nk"]), node("Add", ["d", "nk"], ["y"])],
              [vi("x", [2, 3, 4, 4])], [vi("y", [2, 3, 4, 4])], inits)
    x = rand(2, 3, 4, 4)
    before = ort_run(m, {"x": x})[0]
    gk.fuse(m)
    assert ops(m) == ["Relu", "BatchNormalization"]
    np.testing.assert_allclose(ort_run(m, {"x": x})[0], before, rtol=1e-5, atol=1e-5)


def test_fusion_inside_an_if_branch():
    rng = np.random.default_rng(0)
    inits = [init("W", rng.standard_normal((4, 1, 1, 1)).astype(np.float32)),
             init("C", rng.standard_normal((1, 4, 1, 1)).astype(np.float32))]
    then_nodes = [node("Reshape", ["x", "shape"], ["x4"]), node("Conv", ["x4", "W"], ["c"]),
                  node("Add", ["c", "C"], ["t4"]), node("ReduceSum", ["t4"], ["t"], keepdims=0)]
    else_nodes = [node("Neg", ["x"], ["e0"]), node("ReduceSum", ["e0"], ["e"], keepdims=0)]
    p = if_model(then_nodes, else_nodes, "t", "e", out_shape=(), inits=[*inits, init("shape", np.array([1, 1, 2, 2]))])
    m = gk.load(p.SerializeToString())
    report = gk.fuse(m)
    then_g = m.graph.nodes[0].attributes["then_branch"]
    assert ops(then_g) == ["Reshape", "Conv", "ReduceSum"] and report.details[0]["graph"] == "if"
    check(m)
    x = rand(4)
    np.testing.assert_allclose(ort_run(m, {"x": x, "cond": np.array(True)})[0],
                               ort_run(p, {"x": x, "cond": np.array(True)})[0], rtol=1e-5)
